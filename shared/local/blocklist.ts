import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { ConfigError } from '../errors.ts';

/**
 * What the local content endpoint serves when PULLWATCH_BLOCKLIST_FILE is not set: addresses from the ranges
 * reserved for documentation (RFC 5737 for IPv4, RFC 3849 for IPv6), so a firewall pointed at it by mistake
 * blocks nobody real.
 */
export const BUILT_IN_BLOCKLIST = [
  '192.0.2.1',
  '192.0.2.77',
  '198.51.100.0/28',
  '198.51.100.23',
  '203.0.113.9',
  '203.0.113.128/25',
  '2001:db8::1',
  '2001:db8:1::/48',
].join('\n');

/** An IP address or CIDR range (v4 or v6), as firewalls' external lists take them. */
export function isAddressOrRange(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (version === 4 ? 32 : 128);
}

/** The list's entries, one per line; `#` comments and blank lines dropped. Throws on the first bad line. */
export function parseBlocklist(text: string, source: string): string[] {
  const entries: string[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    if (!isAddressOrRange(line)) {
      throw new ConfigError(
        `${source}: line ${index + 1} is not an IP address or CIDR range: ${line.slice(0, 80)}`,
      );
    }
    entries.push(line);
  }
  return entries;
}

/**
 * The blocklist the local content endpoint serves. A file is checked when the runner starts (a bad one stops
 * it with the line at fault) and read again when it changes; a later bad edit keeps the last good list served
 * and is reported through `onError`, so a typo never empties a firewall's list.
 */
export class LocalBlocklist {
  private served: string;
  private seen = '';

  private constructor(
    private readonly file: string | undefined,
    initial: string,
    private readonly onError: (error: unknown) => void,
  ) {
    this.served = initial;
  }

  static async open(file: string | undefined, onError: (error: unknown) => void): Promise<LocalBlocklist> {
    if (file === undefined) return new LocalBlocklist(undefined, `${BUILT_IN_BLOCKLIST}\n`, onError);
    const list = new LocalBlocklist(file, '', onError);
    await list.reload(true);
    return list;
  }

  async text(): Promise<string> {
    if (this.file !== undefined) await this.reload(false).catch(this.onError);
    return this.served;
  }

  private async reload(strict: boolean): Promise<void> {
    const file = this.file as string;
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(file);
    } catch (error) {
      throw new ConfigError(`PULLWATCH_BLOCKLIST_FILE: cannot read ${file}`, { cause: error });
    }
    const version = `${info.mtimeMs}:${info.size}`;
    if (version === this.seen && !strict) return;
    // Marked read before it is checked: a bad edit is reported once, not on every pull.
    this.seen = version;
    const entries = parseBlocklist(await readFile(file, 'utf8'), `PULLWATCH_BLOCKLIST_FILE ${file}`);
    this.served = entries.length > 0 ? `${entries.join('\n')}\n` : '';
  }
}
