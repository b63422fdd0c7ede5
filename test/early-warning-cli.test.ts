import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addSeconds } from '../shared/time.ts';
import { cliJson } from './kit/cli.ts';
import { pullTimes } from './kit/devices.ts';
import { tempDir, useTempDirs } from './kit/files.ts';
import { lines, pull } from './kit/lines.ts';

/**
 * The early warning as an operator sees it from the CLI on a data directory: a device that pulled every minute
 * for 9 days is learned `steady`; `status --json` names its rhythm and when it would be late; after it stops,
 * `cycle` opens the warning; one created with `--no-early-warning` shows the rhythm and never warns.
 */

useTempDirs();

const CREATED = '2026-11-10T23:00:00.000Z';
const LAST_CYCLE = '2026-11-20T10:07:00.000Z';

describe('pullwatch status --json and cycle with a learned cadence', () => {
  it('shows the rhythm and late_after, warns once the device is silent past it, and not with --no-early-warning', async () => {
    const dir = await tempDir('early-warning-cli');
    const env = { PULLWATCH_DATA_DIR: join(dir, 'data'), PULLWATCH_LOG_DIR: join(dir, 'logs') };
    await mkdir(env.PULLWATCH_LOG_DIR, { recursive: true });
    const org = await cliJson(env, ['org', 'create', 'Acme', '--now', CREATED]);
    const create = (name: string, extra: string[] = []) =>
      cliJson(env, [
        'integration',
        'create',
        '--org',
        org.id,
        '--name',
        name,
        '--kind',
        'firewall',
        '--now',
        CREATED,
        ...extra,
      ]);
    const watched = await create('fw-paris');
    const quiet = await create('fw-lyon', ['--no-early-warning']);
    expect(watched.early_warning).toBe(true);
    expect(quiet.early_warning).toBe(false);
    const times = pullTimes('every-1min', '2026-11-11T00:00:00.000Z', LAST_CYCLE);
    const last = times.at(-1) as string;
    await writeFile(
      join(env.PULLWATCH_LOG_DIR, 'history.jsonl'),
      lines(...times.flatMap((time) => [pull(watched.id, time), pull(quiet.id, time)])),
    );
    expect(await cliJson(env, ['cycle', '--now', LAST_CYCLE])).toMatchObject({ outcome: 'ok' });
    const status = await cliJson(env, ['status', '--org', org.id, '--now', LAST_CYCLE]);
    const byName = Object.fromEntries(status.integrations.map((item: { name: string }) => [item.name, item]));
    expect(byName['fw-paris'].cadence).toEqual({
      state: 'steady',
      usual_interval_seconds: 60,
      late_after: addSeconds(last, 1800),
    });
    expect(byName['fw-lyon'].cadence).toEqual({
      state: 'steady',
      usual_interval_seconds: 60,
      late_after: null,
    });

    // Forty minutes of silence: the feed keeps arriving (another path's line), the device does not.
    const later = addSeconds(LAST_CYCLE, 40 * 60);
    await writeFile(
      join(env.PULLWATCH_LOG_DIR, 'health.log'),
      `127.0.0.1 - - [20/Nov/2026:10:46:00 +0000] "GET /healthz HTTP/1.1" 200 2 "-" "probe"\n`,
    );
    await cliJson(env, ['cycle', '--now', later]);
    const after = await cliJson(env, ['status', '--org', org.id, '--now', later]);
    expect(after.open_issues).toEqual([
      expect.objectContaining({
        type: 'integration_pull_late',
        criticality: 'warning',
        integration_id: watched.id,
        opened_at: addSeconds(last, 1800),
      }),
    ]);
  }, 120_000);
});
