import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { refreshCredentials } from '../shared/integration/ops.ts';
import { openLocal } from '../shared/local/context.ts';
import { cliJson } from './kit/cli.ts';
import { tempDir, useTempDirs } from './kit/files.ts';
import { lines, nginxLine, pullRecord } from './kit/lines.ts';

/**
 * Issue #23 as an operator sees it: nginx logs (whole seconds) of a device that pulls with the replaced password
 * and then the new one in the second of a millisecond refresh, read by the real CLI on a data directory;
 * `pullwatch status --json` must say the device uses the current password.
 */

useTempDirs();

const CREATED = '2026-11-20T07:00:00.000Z';
const REFRESH = '2026-11-20T07:42:47.043Z';
const SECOND = '2026-11-20T07:42:47.000Z';
const CYCLE = '2026-11-20T07:43:47.000Z';

describe('pullwatch status --json after pulls in the second of a refresh', () => {
  it('credentials.last_used and last_attempt_auth are current', async () => {
    const dir = await tempDir('same-second-cli');
    const env = { PULLWATCH_DATA_DIR: join(dir, 'data'), PULLWATCH_LOG_DIR: join(dir, 'logs') };
    await mkdir(env.PULLWATCH_LOG_DIR, { recursive: true });
    const org = await cliJson(env, ['org', 'create', 'Acme', '--now', CREATED]);
    const fw = await cliJson(env, [
      'integration',
      'create',
      '--org',
      org.id,
      '--name',
      'Edge FortiGate',
      '--kind',
      'firewall',
      '--now',
      CREATED,
    ]);
    // No CLI command refreshes credentials (the API does): the same operation, on the same data directory.
    const context = await openLocal(loadConfig(env), { publish: false });
    try {
      await refreshCredentials(context.store, context.secret, org.id, fw.id, 3600, REFRESH);
    } finally {
      await context.close();
    }
    await writeFile(
      join(env.PULLWATCH_LOG_DIR, 'pulls.log'),
      lines(
        nginxLine(pullRecord(fw.id, SECOND, { auth: 'previous_in_grace' })),
        nginxLine(pullRecord(fw.id, SECOND, { auth: 'current' })),
      ),
    );
    expect(await cliJson(env, ['cycle', '--now', CYCLE])).toMatchObject({ outcome: 'ok' });
    const status = await cliJson(env, ['status', '--org', org.id, '--now', CYCLE]);
    expect(status.integrations).toEqual([
      expect.objectContaining({
        id: fw.id,
        last_pull_at: SECOND,
        last_attempt_at: SECOND,
        last_attempt_auth: 'current',
        credentials_rotated_at: REFRESH,
        credentials: { last_used: 'current' },
      }),
    ]);
  }, 120_000);
});
