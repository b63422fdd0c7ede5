import { execFileSync } from 'node:child_process';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ingest } from '../shared/ingest/index.ts';
import { readBounded } from '../shared/ingest/lines.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import { useTestDb } from './kit/db.ts';
import { drop, put, tempDir, useTempDirs } from './kit/files.ts';
import { lines, pull } from './kit/lines.ts';
import { at } from './kit/time.ts';
import { addIntegration, current, world } from './kit/world.ts';

/**
 * The log directory is a trust boundary: links, FIFOs, sockets and devices planted in it are refused and
 * reported, never opened, and a file swapped for one of them after the listing is not read either.
 * Real links and FIFOs in temp directories.
 */

useTestDb();
useTempDirs();

const SECRET = 'TOP-SECRET-outside-the-log-dir';
const servers: Server[] = [];
afterAll(() => {
  for (const server of servers) server.close();
});

/** A Unix socket bound at `path` (closed after the file's tests). */
async function socketAt(path: string): Promise<void> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
}

describe('a log directory full of hostile entries', () => {
  it('reads only its own regular files and reports every link, FIFO and socket as refused', async () => {
    const w = await world();
    const inside = await addIntegration(w, { name: 'Inside' });
    const outsider = await addIntegration(w, { name: 'Outsider' });
    // Outside the log directory: a file and a directory whose lines would move `outsider` and leak SECRET.
    const outside = await tempDir('outside');
    const outsideLines = lines(pull(outsider.id, at(1)), `${SECRET} not a log line`);
    await put(outside, 'secret.log', outsideLines);
    await put(outside, 'logs/more.log', outsideLines);

    for (let index = 0; index < 5; index += 1)
      await drop(w, [pull(inside.id, at(index))], `real-${index}.log`);
    await mkdir(join(w.logs, 'sub'));
    await symlink(join(outside, 'secret.log'), join(w.logs, 'file-out.log'));
    await symlink('/etc/passwd', join(w.logs, 'passwd.log'));
    await symlink(join(outside, 'logs'), join(w.logs, 'dir-out'));
    await symlink('..', join(w.logs, 'sub', 'parent'));
    await symlink(w.logs, join(w.logs, 'root-again'));
    await symlink(join(w.logs, 'loop-b'), join(w.logs, 'loop-a'));
    await symlink(join(w.logs, 'loop-a'), join(w.logs, 'loop-b'));
    await symlink(join(w.logs, 'real-0.log'), join(w.logs, 'sub', 'inside-link.log'));
    execFileSync('mkfifo', [join(w.logs, 'pipe.log')]);
    await socketAt(join(w.logs, 'sock.log'));

    const report = await ingest({ store: w.store, source: w.source, now: at(6) });

    expect(report).toMatchObject({ files_seen: 5, files_processed: 5, records: 5, files_failed: [] });
    expect(report.files_refused).toEqual([
      { name: 'dir-out', reason: 'symlink' },
      { name: 'file-out.log', reason: 'symlink' },
      { name: 'loop-a', reason: 'symlink' },
      { name: 'loop-b', reason: 'symlink' },
      { name: 'passwd.log', reason: 'symlink' },
      { name: 'pipe.log', reason: 'not_a_regular_file' },
      { name: 'root-again', reason: 'symlink' },
      { name: 'sock.log', reason: 'not_a_regular_file' },
      { name: 'sub/inside-link.log', reason: 'symlink' },
      { name: 'sub/parent', reason: 'symlink' },
    ]);
    const shown = JSON.stringify(report);
    expect(shown).not.toContain(SECRET);
    expect(shown).not.toContain('root:');
    expect((await current(w, outsider)).last_pull_at).toBeNull();
    expect((await current(w, inside)).last_pull_at).toBe(at(4));
  });

  it('lists a directory that only holds a FIFO without blocking, and a missing directory as empty', async () => {
    const dir = await tempDir('fifo-only');
    execFileSync('mkfifo', [join(dir, 'only.log')]);
    expect(await new DirectorySource(dir).scan()).toEqual({
      files: [],
      refused: [{ name: 'only.log', reason: 'not_a_regular_file' }],
    });
    expect(await new DirectorySource(join(dir, 'missing')).scan()).toEqual({ files: [], refused: [] });
  });

  it('follows the log directory itself when it is a link (configuration, not content)', async () => {
    const real = await tempDir('real-logs');
    await put(real, 'a.log', 'x\n');
    const holder = await tempDir('link-holder');
    await symlink(real, join(holder, 'logs'));
    const { files, refused } = await new DirectorySource(join(holder, 'logs')).scan();
    expect(files.map((file) => file.name)).toEqual(['a.log']);
    expect(refused).toEqual([]);
  });
});

describe('an entry swapped after the listing', () => {
  async function listedFile() {
    const dir = await tempDir('swap');
    const outside = await tempDir('swap-outside');
    await put(outside, 'secret.log', `${SECRET}\n`);
    const path = await put(dir, 'a.log', 'listed\n');
    const [file] = (await new DirectorySource(dir).scan()).files;
    if (!file) throw new Error('not listed');
    return { dir, outside, path, file };
  }

  it('is read as listed when nothing changed', async () => {
    const { file } = await listedFile();
    expect(await readBounded(await file.open(), 1000)).toBe('listed\n');
  });

  it('refuses a link put in place of the file (O_NOFOLLOW)', async () => {
    const { outside, path, file } = await listedFile();
    await rm(path);
    await symlink(join(outside, 'secret.log'), path);
    await expect(file.open()).rejects.toThrow(/ELOOP|symbolic link/);
  });

  it('refuses, without blocking, a FIFO put in place of the file', async () => {
    const { path, file } = await listedFile();
    await rm(path);
    execFileSync('mkfifo', [path]);
    await expect(file.open()).rejects.toThrow(/changed after it was listed/);
  });

  it('refuses another file put in place of the file, or a parent directory swapped for a link', async () => {
    const { path, file } = await listedFile();
    await writeFile(`${path}.new`, `${SECRET}\n`);
    await rename(`${path}.new`, path);
    await expect(file.open()).rejects.toThrow(/changed after it was listed/);

    const nested = await tempDir('swap-parent');
    await put(nested, 'sub/a.log', 'listed\n');
    const [inner] = (await new DirectorySource(nested).scan()).files;
    const elsewhere = await tempDir('swap-elsewhere');
    await put(elsewhere, 'a.log', `${SECRET}\n`);
    await rename(join(nested, 'sub'), join(nested, 'old-sub'));
    await symlink(elsewhere, join(nested, 'sub'));
    await expect(inner?.open()).rejects.toThrow(/changed after it was listed/);
  });

  it('counts a swapped file as failed in the ingest report, with nothing of the outside read', async () => {
    const w = await world();
    const integration = await addIntegration(w, { name: 'Swapped' });
    const outside = await tempDir('swap-ingest');
    await put(outside, 'secret.log', lines(pull(integration.id, at(1)), SECRET));
    const path = await drop(w, [pull(integration.id, at(0))], 'a.log');
    const listed = await w.source.list();
    await rm(path);
    await symlink(join(outside, 'secret.log'), path);
    const report = await ingest({
      store: w.store,
      source: { describe: () => 'swapped', list: async () => listed },
      now: at(2),
    });
    expect(report).toMatchObject({ files_processed: 0, records: 0 });
    expect(report.files_failed.map((failed) => failed.name)).toEqual(['a.log']);
    expect(JSON.stringify(report)).not.toContain(SECRET);
    expect((await current(w, integration)).last_pull_at).toBeNull();
  });
});
