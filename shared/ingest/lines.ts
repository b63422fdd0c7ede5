import type { Readable } from 'node:stream';

/** Stands for a line that was longer than the limit; its content was never held in memory. */
export const TOO_LONG = Symbol('too long');

/**
 * Splits a byte stream into lines without ever holding more than `maxLength` bytes of one line, so a
 * 1 GB file or a 1 GB line costs the same memory as a small one. Splitting on the byte `\n` is safe in
 * UTF-8 (no multi-byte character contains it).
 */
export async function* splitLines(
  stream: Readable,
  maxLength: number,
): AsyncGenerator<string | typeof TOO_LONG> {
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let overflow = false;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    while (start < buffer.length) {
      const newline = buffer.indexOf(10, start);
      const end = newline === -1 ? buffer.length : newline;
      if (!overflow) {
        if (pendingLength + (end - start) > maxLength) {
          overflow = true;
          pending = [];
          pendingLength = 0;
        } else if (end > start) {
          pending.push(buffer.subarray(start, end));
          pendingLength += end - start;
        }
      }
      if (newline === -1) break;
      if (overflow) yield TOO_LONG;
      else
        yield pending.length === 1
          ? (pending[0] as Buffer).toString('utf8')
          : Buffer.concat(pending).toString('utf8');
      pending = [];
      pendingLength = 0;
      overflow = false;
      start = newline + 1;
    }
  }
  if (overflow) yield TOO_LONG;
  else if (pendingLength > 0) yield Buffer.concat(pending).toString('utf8');
}

/** Reads a whole stream, refusing more than `maxBytes` (used for bouncer snapshots, which are small). */
export async function readBounded(stream: Readable, maxBytes: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += buffer.length;
    if (total > maxBytes) {
      stream.destroy();
      return null;
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
