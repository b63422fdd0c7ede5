import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { PullLog, PullLogLine } from '../api/pulls.ts';

/** The content endpoint's pull logs live here, under PULLWATCH_LOG_DIR, beside any others. */
export const CONTENT_LOG_FOLDER = 'content';
const OPEN_PREFIX = '.open-';

/**
 * The local content endpoint's pull log: canonical JSON lines, appended as requests come, in a hidden file the
 * ingest does not list; `seal()` renames it into `content/YYYY-MM-DD/` under a name of its own, and only then
 * does a cycle read it, once (the ledger keys a file by its content). The runner seals before every cycle and
 * when it stops; an open file left by a process that died is sealed by the next runner at start, so a line
 * written is never lost, and a file is never read while it still grows.
 */
export class ContentPullLog implements PullLog {
  private readonly folder: string;
  private file: { handle: FileHandle; path: string; first: string } | null = null;
  /** Appends and seals run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(logDir: string) {
    this.folder = join(logDir, CONTENT_LOG_FOLDER);
  }

  record(line: PullLogLine): Promise<void> {
    return this.serially(async () => {
      if (this.file === null) {
        await mkdir(this.folder, { recursive: true });
        const path = join(
          this.folder,
          `${OPEN_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}.jsonl`,
        );
        this.file = { handle: await open(path, 'a', 0o600), path, first: line.time };
      }
      await this.file.handle.appendFile(`${JSON.stringify(line)}\n`);
    });
  }

  /** Makes what was written so far readable by the next cycle; returns the sealed file's path, if any. */
  seal(): Promise<string | null> {
    return this.serially(async () => {
      const file = this.file;
      if (file === null) return null;
      this.file = null;
      await file.handle.close();
      return sealInto(this.folder, file.path, file.first);
    });
  }

  /** Seals the open files of runners that are gone (a crash, a kill). Their lines were written; now they are read. */
  async recover(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.folder);
    } catch {
      return 0;
    }
    let sealed = 0;
    for (const name of names) {
      const match = new RegExp(`^${OPEN_PREFIX}(\\d+)-[0-9a-f]+\\.jsonl$`).exec(name);
      if (!match || isAlive(Number(match[1]))) continue;
      await sealInto(this.folder, join(this.folder, name), new Date().toISOString());
      sealed += 1;
    }
    return sealed;
  }

  private serially<T>(step: () => Promise<T>): Promise<T> {
    const run = this.queue.then(step, step);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

async function sealInto(folder: string, path: string, first: string): Promise<string> {
  const day = join(folder, first.slice(0, 10));
  await mkdir(day, { recursive: true });
  const sealed = join(
    day,
    `${first.slice(11, 19).replaceAll(':', '')}-${randomBytes(4).toString('hex')}.jsonl`,
  );
  await rename(path, sealed);
  return sealed;
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
