import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { integrationView } from '../shared/integration/view.ts';
import type { Issue } from '../shared/issue/index.ts';
import { type Delivery, drain, MAX_RECEIVES } from '../shared/queue/index.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { useTestDb } from './kit/db.ts';
import { pullTimes } from './kit/devices.ts';
import { drop, tempDir, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { addIntegration, cycle, issuesOf, type World, world } from './kit/world.ts';

/**
 * The fan-out's promises, through the in-process queue that runs the same handlers locally: SQS's delivery
 * (redelivery of what failed, partial batches, dead letters, no order), and a cycle on N workers ending in the
 * same integrations, issues and messages as on one, over the same files and times.
 */

useTestDb();
useTempDirs();

describe('the in-process queue delivers as SQS does', () => {
  it('redelivers only the failed messages of a batch, and sets aside one that fails every receive', async () => {
    const seen: Array<[string, number]> = [];
    const run = await drain(
      ['a', 'b', 'c', 'poison'],
      async (batch: Array<Delivery<string>>) => {
        for (const delivery of batch) seen.push([delivery.message, delivery.receive]);
        // b fails its first receive only; poison always.
        const failed = batch
          .map((delivery, index) => ({ delivery, index }))
          .filter(
            ({ delivery }) =>
              delivery.message === 'poison' || (delivery.message === 'b' && delivery.receive === 1),
          )
          .map(({ index }) => index);
        return { failed };
      },
      { workers: 1, batchSize: 10 },
    );
    expect(seen.filter(([message]) => message === 'a')).toEqual([['a', 1]]);
    expect(seen.filter(([message]) => message === 'b')).toEqual([
      ['b', 1],
      ['b', 2],
    ]);
    expect(seen.filter(([message]) => message === 'poison').map(([, receive]) => receive)).toEqual([
      1, 2, 3, 4, 5,
    ]);
    expect(run.deadLetters).toEqual([{ message: 'poison', error: 'reported as failed by its handler' }]);
    expect(run.deliveries).toBe(3 + 1 + MAX_RECEIVES);
  });

  it('a handler that throws fails its whole batch; N workers run at once', async () => {
    let running = 0;
    let most = 0;
    let first = true;
    const run = await drain(
      Array.from({ length: 8 }, (_, n) => n),
      async () => {
        running += 1;
        most = Math.max(most, running);
        await new Promise((resolve) => setImmediate(resolve));
        running -= 1;
        if (first) {
          first = false;
          throw new Error('throttled');
        }
        return { failed: [] };
      },
      { workers: 4, batchSize: 2 },
    );
    expect(most).toBe(4);
    // The failed batch of 2 came back once: 8 + 2 deliveries, nothing dead.
    expect(run.deliveries).toBe(10);
    expect(run.deadLetters).toEqual([]);
  });
});

const START = '2026-11-19T23:00:00.000Z';
const CYCLES = ['2026-11-20T06:00:00.000Z', '2026-11-20T12:00:00.000Z', '2026-11-21T13:00:00.000Z'];

/**
 * A world with 12 integrations in 3 orgs' worth of shapes (one organization here): steady pullers, ones that stop,
 * one refused, spread over 14 files per cycle, dropped before each of the cycles; the result as a user sees it.
 */
async function scenario(workers: number) {
  const w = await world({ heartbeat: true });
  const integrations = [];
  for (let n = 0; n < 12; n += 1)
    integrations.push(await addIntegration(w, { name: `fw-${n}` }, { now: START }));
  // One with 9 days of history in the first cycle's files, folded in whatever order the workers take them: its
  // learned cadence must not depend on it.
  const learned = await addIntegration(w, { name: 'fw-learned' }, { now: addSeconds(START, -10 * 86_400) });
  let from = START;
  for (const [index, now] of CYCLES.entries()) {
    const lines: string[] = [];
    const history = index === 0 ? addSeconds(START, -9 * 86_400) : from;
    for (const time of pullTimes('every-5min-jitter', history, addSeconds(now, -60), 99))
      lines.push(pull(learned.id, time));
    for (const [n, fw] of integrations.entries()) {
      // Integrations 0-3 stop after the first cycle, 4-5 have their password refused, the rest pull on.
      if (n < 4 && index > 0) continue;
      const extra = n === 4 || n === 5 ? { status: 401 } : {};
      for (const time of pullTimes('every-5min', from, addSeconds(now, -60), n + 1))
        lines.push(pull(fw.id, time, extra));
    }
    for (let file = 0; file < 14; file += 1) {
      await drop(
        w,
        lines.filter((_, line) => line % 14 === file),
        `c${index}-f${String(file).padStart(2, '0')}.jsonl`,
      );
    }
    await cycle(w, now, { workers });
    from = now;
  }
  return { w, seen: await seenBy(w, CYCLES.at(-1) as Iso) };
}

/** Everything a user sees: integrations as the API shows them, issues, and the messages sent (in any order). */
async function seenBy(w: World, now: Iso) {
  const integrations = await w.store.integrations.list(w.orgId, { limit: 100 });
  const strip = (issue: Issue) => ({ ...issue, notified: Object.keys(issue.notified).sort() });
  return {
    integrations: integrations.items.map((item) => {
      const {
        id: _,
        username: __,
        updated_at: ___,
        credentials_rotated_at: ____,
        ...view
      } = integrationView(item, now);
      return view;
    }),
    issues: (await issuesOf(w))
      .map(strip)
      .map(({ id: _, integration_id: __, org_id: ___, ...issue }) => issue)
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    sent: w.sent
      .filter((sent) => sent.org_id === w.orgId)
      .map((sent) => `${sent.event} ${sent.criticality} ${sent.subject}`)
      .sort(),
  };
}

describe('a cycle on N workers', () => {
  it('ends in the same integrations, issues and messages for N = 1, 2, 4 and 8', async () => {
    const one = (await scenario(1)).seen;
    // 0-3 stopped, 4-5 never pulled successfully (offline at their threshold, and refused); 6-11 online.
    expect(one.issues.map((issue) => issue.type).sort()).toEqual([
      ...Array(6).fill('fw_integration_offline'),
      'integration_auth_failing',
      'integration_auth_failing',
    ]);
    expect(one.sent.length).toBeGreaterThan(0);

    expect(one.integrations.find((item) => item.name === 'fw-learned')?.cadence).toMatchObject({
      state: 'steady',
      usual_interval_seconds: 300,
    });
    for (const workers of [2, 4, 8]) expect((await scenario(workers)).seen).toEqual(one);
  }, 180_000);

  it('running a cycle again over the same files changes nothing', async () => {
    const { w } = await scenario(4);
    const before = await seenBy(w, CYCLES.at(-1) as Iso);
    const report = await cycle(w, CYCLES.at(-1) as Iso, { workers: 4 });
    expect(report.ingest?.files_processed).toBe(1);
    expect(await seenBy(w, CYCLES.at(-1) as Iso)).toEqual(before);
  }, 120_000);

  it('refuses a bad worker count with an error that names the option, before anything is created', async () => {
    const dir = await tempDir('workers-cli');
    const env = { PULLWATCH_DATA_DIR: join(dir, 'data'), PULLWATCH_LOG_DIR: join(dir, 'logs') };
    const CLI = join(import.meta.dirname, '..', 'bin', 'pullwatch.js');
    const run = (args: string[], extra: Record<string, string> = {}) =>
      new Promise<{ code: number; stderr: string; stdout: string }>((resolve) =>
        execFile(
          process.execPath,
          [CLI, ...args],
          { env: { ...process.env, ...env, ...extra } },
          (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
        ),
      );
    for (const bad of ['0', '-3', 'four', '2.5', '65']) {
      const result = await run(['cycle', `--workers=${bad}`, '--json']);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(`--workers must be a whole number from 1 to 64, not "${bad}"`);
    }
    const fromEnv = await run(['cycle'], { PULLWATCH_WORKERS: '0' });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toContain('PULLWATCH_WORKERS');
    await expect(access(env.PULLWATCH_DATA_DIR)).rejects.toThrow();
  }, 60_000);
});
