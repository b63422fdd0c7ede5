import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';
import type { Iso } from '../../shared/time.ts';
import { lines } from './lines.ts';

const made: string[] = [];

/** Removes, after the calling test file's tests, every directory `tempDir` made for it. */
export function useTempDirs(): void {
  afterAll(async () => {
    await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
}

/** A new empty directory `pullwatch-<name>-XXXXXX` under the system temp dir (removed by `useTempDirs`). */
export async function tempDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `pullwatch-${name}-`));
  made.push(dir);
  return dir;
}

/** Something with a pull-log directory: a world, or `{ logs }`. */
export type HasLogs = { logs: string } | string;
const logsOf = (where: HasLogs) => (typeof where === 'string' ? where : where.logs);

/** Writes a file into the log directory (creating sub-directories); `mtime` pins its modification time. */
export async function put(
  where: HasLogs,
  name: string,
  content: string | Buffer,
  mtime?: Iso,
): Promise<string> {
  const path = join(logsOf(where), name);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  if (mtime) await utimes(path, new Date(mtime), new Date(mtime));
  return path;
}

let dropped = 0;

/** Drops a new pull-log file of these lines; unnamed files sort in the order they were dropped. */
export async function drop(where: HasLogs, items: string[], name?: string): Promise<string> {
  dropped += 1;
  return put(where, name ?? `pulls-${String(dropped).padStart(5, '0')}.jsonl`, lines(...items));
}
