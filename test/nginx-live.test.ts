import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, watch } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingest } from '../shared/ingest/index.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { parseLine } from '../shared/pulls/parse.ts';
import { scanTable } from './api-kit.ts';
import { TEST_SECRET, useTestDb } from './kit/db.ts';
import { tempDir, useTempDirs } from './kit/files.ts';
import { type PullServer, pullServer } from './kit/pull-server.ts';
import { T0 } from './kit/time.ts';
import { current, type World, world } from './kit/world.ts';

/**
 * The README's nginx block, read from the README itself, in a real nginx (unprivileged, in the foreground, on
 * 127.0.0.1) in front of a real pullwatch API: real curl pulls with basic auth, X-Api-Key and ?api_key=, right
 * and wrong. Then the log nginx wrote holds no password in any spelling, pullwatch reads every line of it, and
 * only the integration whose device put its password in the URL is flagged.
 */

const NGINX = '/usr/sbin/nginx';
const CURL = '/usr/bin/curl';
const haveNginx = existsSync(NGINX) && existsSync(CURL);
const run = promisify(execFile);

useTestDb();
useTempDirs();

/** The ```nginx block of the README's "Verifying pulls" section. */
async function readmeSnippet(): Promise<string> {
  const readme = await readFile(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Verifying pulls'), readme.indexOf('## Pull logs'));
  const block = /```nginx\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('README: no nginx block under "Verifying pulls"');
  return block;
}

/** Replaces `from` with `to`, insisting it is there: a README edit that drops it must fail here, not pass. */
function swap(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`README snippet no longer contains ${JSON.stringify(from)}`);
  return text.replaceAll(from, to);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Resolves once `path` exists (nginx writes its pid file after its sockets listen), or fails after `ms`. */
function appears(path: string, ms: number, exited: Promise<string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const dir = join(path, '..');
    const watcher = watch(dir);
    const done = (error?: Error) => {
      clearTimeout(timer);
      watcher.close();
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`${path} did not appear within ${ms} ms`)), ms);
    watcher.on('change', () => {
      if (existsSync(path)) done();
    });
    void exited.then((why) => done(new Error(`nginx exited: ${why}`)));
    if (existsSync(path)) done();
  });
}

async function nobody(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([run('id', ['-u', 'nobody']), run('id', ['-g', 'nobody'])]);
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

interface Device {
  name: string;
  id: string;
  username: string;
  password: string;
}

let w: World;
let api: PullServer;
let nginx: ChildProcess | null = null;
let dir: string;
let base: string;
const devices: Record<'basic' | 'header' | 'query', Device> = {} as never;
const WRONG = 'Wr0ng-pa$$word/with+odd=chars';

beforeAll(async () => {
  if (!haveNginx) return;
  w = await world();
  for (const form of ['basic', 'header', 'query'] as const) {
    const made = await createIntegration(
      w.store,
      TEST_SECRET,
      w.orgId,
      { name: `${form}-firewall`, kind: 'firewall', vendor: 'fortigate' },
      T0,
    );
    devices[form] = {
      name: made.integration.name,
      id: made.integration.id,
      username: made.credentials.username,
      password: made.credentials.password,
    };
  }
  // nginx stamps its lines with the wall clock, so the checks run on it too.
  api = await pullServer(w.store, { clock: new Date().toISOString() });

  dir = await tempDir('nginx');
  const port = await freePort();
  for (const sub of ['temp', 'www']) await mkdir(join(dir, sub));
  for (const device of Object.values(devices)) {
    await mkdir(join(dir, 'www', 'v1', 'integrations', device.id), { recursive: true });
    await writeFile(
      join(dir, 'www', 'v1', 'integrations', device.id, 'content'),
      '192.0.2.1\n198.51.100.0/24\n',
    );
  }
  const snippet = await readmeSnippet();
  const at = snippet.indexOf('\nlocation');
  const [httpPart, serverPart] = [snippet.slice(0, at), snippet.slice(at)];
  const server = swap(
    swap(
      swap(serverPart, '/var/log/nginx/pulls.log', join(dir, 'pulls.log')),
      'root /srv/blocklist;',
      `root ${join(dir, 'www')};`,
    ),
    'http://127.0.0.1:8787',
    api.base,
  );
  const temp = (name: string) => `${name}_temp_path ${join(dir, 'temp', name)};`;
  await writeFile(
    join(dir, 'nginx.conf'),
    [
      // Debian's defaults: errors at `error` level, and a server-wide access log in the stock combined format.
      `error_log ${join(dir, 'error.log')} error;`,
      'worker_processes 1;',
      'events { worker_connections 64; }',
      'http {',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp),
      `access_log ${join(dir, 'access.log')} combined;`,
      httpPart,
      'server {',
      `listen 127.0.0.1:${port};`,
      server,
      '}',
      '}',
    ].join('\n'),
  );
  const pid = join(dir, 'nginx.pid');
  // Unprivileged: as root (a container), nginx runs as nobody and owns only its own directory.
  const user = process.getuid?.() === 0 ? await nobody() : null;
  if (user) await run('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
  nginx = spawn(
    NGINX,
    ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${pid};`],
    { stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}) },
  );
  let stderr = '';
  nginx.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const exited = new Promise<string>((resolve) =>
    nginx?.once('exit', (code) => resolve(`code ${code}: ${stderr}`)),
  );
  await appears(pid, 10_000, exited);
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    const gone = new Promise((done) => nginx?.once('exit', done));
    nginx.kill('SIGQUIT');
    await gone;
  }
  await api?.close();
});

/** One real curl request: the HTTP status nginx answered. */
async function curl(path: string, args: string[] = []): Promise<number> {
  const { stdout } = await run(CURL, [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '-A',
    'FortiGate/7.4.3',
    ...args,
    `${base}${path}`,
  ]);
  return Number(stdout);
}

const content = (device: Device, query = '') => `/v1/integrations/${device.id}/content${query}`;

describe.skipIf(!haveNginx)('the README nginx block in a real nginx (needs /usr/sbin/nginx and curl)', () => {
  let log = '';

  it('answers 200 for the right password and 401 for a wrong one, in each form', async () => {
    const { basic, header, query } = devices;
    // Each device's accepted pull comes last, so it is the last attempt even if the second turns in between.
    const answers = [
      await curl(content(basic)),
      await curl(content(basic), ['-u', `${basic.username}:${WRONG}`]),
      await curl(content(basic), ['-u', `${basic.username}:${basic.password}`]),
      await curl(content(header), ['-H', `X-Api-Key: ${WRONG}`]),
      await curl(content(header), ['-H', `X-Api-Key: ${header.password}`]),
      await curl(content(query, `?api_key=${encodeURIComponent(WRONG)}`)),
      await curl(content(query, `?format=plain&api_key=${encodeURIComponent(query.password)}`)),
    ];
    expect(answers).toEqual([401, 401, 200, 401, 200, 401, 200]);
    // nginx writes its access log line when the request ends, before curl sees the end of the answer.
    log = await readFile(join(dir, 'pulls.log'), 'utf8');
    expect(log.trim().split('\n')).toHaveLength(answers.length);
  });

  it('writes no password into any file it was told to keep, in any spelling', async () => {
    expect(log).not.toBe('');
    const spellings = (user: string, password: string) => [
      password,
      encodeURIComponent(password),
      Buffer.from(`${user}:${password}`).toString('base64'),
      Buffer.from(password).toString('base64'),
    ];
    const secrets = [
      ...Object.values(devices).flatMap((device) => spellings(device.username, device.password)),
      ...spellings(devices.basic.username, WRONG),
    ];
    const access = existsSync(join(dir, 'access.log')) ? await readFile(join(dir, 'access.log'), 'utf8') : '';
    const errors = existsSync(join(dir, 'error.log')) ? await readFile(join(dir, 'error.log'), 'utf8') : '';
    for (const [name, text] of [
      ['pulls.log', log],
      ['access.log', access],
      ['error.log', errors],
    ] as const) {
      for (const secret of secrets) expect(text, `${name} holds ${secret}`).not.toContain(secret);
    }
    expect(log).not.toContain('api_key');
    // The pulls go to pulls.log only: the location's access_log replaces the server-wide one.
    expect(access).toBe('');
  });

  it('is read by pullwatch: every line parses, with the outcome and the credential mark', async () => {
    const lines = log.trim().split('\n');
    const parsed = lines.map((line) => parseLine(line));
    expect(parsed.every((result) => result?.ok)).toBe(true);
    const records = parsed.flatMap((result) => (result?.ok ? [result.record] : []));
    expect(records.map((record) => [record.status, record.auth, record.credential_in_url ?? false])).toEqual([
      [401, 'no_credentials', false],
      [401, 'wrong_password', false],
      [200, 'current', false],
      [401, 'wrong_password', false],
      [200, 'current', false],
      [401, 'wrong_password', true],
      [200, 'current', true],
    ]);
    // The marks as nginx wrote them: the last field of each line.
    expect(lines.map((line) => /"([a-z]+)"$/.exec(line)?.[1])).toEqual([
      'none',
      'basic',
      'basic',
      'header',
      'header',
      'query',
      'query',
    ]);
  });

  it('ingested: statuses, outcomes, and credential_in_url only for the device that used the query', async () => {
    await copyFile(join(dir, 'pulls.log'), join(w.logs, 'pulls.log'));
    const now = new Date().toISOString();
    const report = await ingest({ store: w.store, source: w.source, now });
    expect(report).toMatchObject({ files_processed: 1, records: 7, skipped: {} });
    const shown = Object.fromEntries(
      await Promise.all(
        Object.entries(devices).map(async ([form, device]) => {
          const integration = await current(w, device.id);
          return [
            form,
            {
              pulled: integration.last_pull_at !== null,
              last_pull_auth: integration.last_pull_auth,
              last_attempt_status: integration.last_attempt_status,
              last_attempt_auth: integration.last_attempt_auth,
              in_url: integration.credential_in_url_at !== null,
            },
          ];
        }),
      ),
    );
    const pulled = {
      pulled: true,
      last_pull_auth: 'current',
      last_attempt_status: 200,
      last_attempt_auth: 'current',
    };
    expect(shown).toEqual({
      basic: { ...pulled, in_url: false },
      header: { ...pulled, in_url: false },
      query: { ...pulled, in_url: true },
    });
    // Through the API view as the console and `status --json` show it.
    const { integrationView } = await import('../shared/integration/view.ts');
    for (const [form, device] of Object.entries(devices)) {
      const view = integrationView(await current(w, device.id), now);
      expect([form, view.status, view.credential_in_url]).toEqual([form, 'online', form === 'query']);
    }
    const stored = JSON.stringify(await scanTable(w.store));
    for (const device of Object.values(devices)) expect(stored).not.toContain(device.password);
    expect(stored).not.toContain(encodeURIComponent(WRONG));
  });

  it("when the check cannot be reached: 500, pulls.log still clean, but nginx's error log quotes the query (README)", async () => {
    await api.close();
    const secret = 'Unreachable-Check-Secret-0001';
    expect(await curl(content(devices.query, `?api_key=${secret}`))).toBe(500);
    const lines = (await readFile(join(dir, 'pulls.log'), 'utf8')).trim().split('\n');
    const last = lines.at(-1) ?? '';
    expect(last).not.toContain(secret);
    // No answer, so both headers are empty, and nginx writes them as "".
    expect(last).toMatch(/" 500 \d+ "-" "FortiGate\/7\.4\.3" "" ""$/);
    expect(parseLine(last)).toMatchObject({ ok: true, record: { status: 500 } });
    // nginx's own error log writes the request line whole: the one place the README warns about.
    expect(await readFile(join(dir, 'error.log'), 'utf8')).toContain(`?api_key=${secret}`);
  });
});
