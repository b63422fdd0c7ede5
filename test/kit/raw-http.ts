import { connect, type Socket } from 'node:net';

/** One HTTP/1.1 answer as it came off the wire. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A raw TCP connection to a server, to send what no HTTP client would and to see exactly how the connection
 * ends: `ended` when the server closed cleanly (FIN), `error` when it reset or we could not write.
 */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', (error) => {
      this.error = error;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  private wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private changed(limitMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nothing happened in ${limitMs} ms`)), limitMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Writes, ignoring a failed write: what the server answered is what the test looks at. */
  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writable) return resolve();
      this.socket.write(data, () => resolve());
    });
  }

  /** The next answer; 1xx interim answers are returned too. Null when the connection ended first. */
  async answer(limitMs = 10_000): Promise<RawAnswer | null> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end !== -1) {
        const lines = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1]);
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = status < 200 || status === 204 ? 0 : Number(headers['content-length'] ?? 0);
        if (headers['transfer-encoding'] === 'chunked')
          throw new Error('chunked answers are not expected here');
        if (this.buffer.length >= end + 4 + length) {
          const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
          this.buffer = this.buffer.subarray(end + 4 + length);
          return { status, headers, body };
        }
      }
      if (this.ended || this.closed || this.error) return null;
      await this.changed(Math.max(1, deadline - Date.now()));
    }
  }

  /** Waits until the server has closed the connection (or the limit passes). */
  async untilClosed(limitMs = 5_000): Promise<void> {
    const deadline = Date.now() + limitMs;
    while (!this.closed && !this.error && Date.now() < deadline) {
      if (this.ended && !this.socket.writableEnded) this.socket.end();
      await this.changed(Math.max(1, deadline - Date.now())).catch(() => undefined);
    }
  }

  destroy() {
    this.socket.destroy();
  }
}

/** A request head (CRLF line ends, a blank line at the end). */
export const head = (requestLine: string, headers: Record<string, string | number> = {}) =>
  `${requestLine}\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;

/** A chunked body of `size` bytes in chunks of `chunk` bytes, with its last chunk. */
export function chunked(size: number, chunk = 16 * 1024): Buffer {
  const parts: Buffer[] = [];
  for (let sent = 0; sent < size; sent += chunk) {
    const length = Math.min(chunk, size - sent);
    parts.push(Buffer.from(`${length.toString(16)}\r\n`), Buffer.alloc(length, 0x61), Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}
