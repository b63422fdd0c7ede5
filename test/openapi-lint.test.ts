import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../shared/api/app.ts';
import type { Store } from '../shared/store.ts';
import { TEST_SECRET } from './kit/db.ts';
import { T0 } from './kit/time.ts';

/**
 * The served document passes Redocly's recommended rules and Spectral's `spectral:oas` with no error. Both
 * run offline from node_modules: no telemetry, no update check, and no remote ruleset or $ref to fetch.
 */

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);
const OFFLINE = {
  ...process.env,
  REDOCLY_TELEMETRY: 'off',
  REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
  NO_COLOR: '1',
};

let dir: string;
let file: string;

beforeAll(async () => {
  // Serving the document touches no table.
  const app = createApp({ store: {} as Store, secret: TEST_SECRET, now: () => T0, staleAfterSeconds: 0 });
  // The host a deployment would be reached at; Redocly warns about localhost as a server.
  const reply = await app.request('https://pullwatch.internal/v1/openapi.json');
  expect(reply.status).toBe(200);
  dir = await mkdtemp(join(tmpdir(), 'pullwatch-openapi-'));
  file = join(dir, 'openapi.json');
  await writeFile(file, await reply.text());
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs a CLI; resolves with its exit code and everything it printed. */
async function lint(command: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd: ROOT, env: OFFLINE, timeout: 120_000 });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : -1,
      output: `${failed.stdout}${failed.stderr}`,
    };
  }
}

describe('the OpenAPI document', () => {
  it("passes Redocly's recommended rules with no error", async () => {
    const result = await lint(bin('redocly'), [
      'lint',
      file,
      '--extends',
      'recommended',
      '--format',
      'stylish',
    ]);
    expect(result.code, result.output).toBe(0);
  });

  it('passes Spectral spectral:oas with no error', async () => {
    const result = await lint(bin('spectral'), [
      'lint',
      file,
      '--ruleset',
      join(ROOT, '.spectral.yaml'),
      '--fail-severity',
      'error',
    ]);
    expect(result.code, result.output).toBe(0);
  });
});
