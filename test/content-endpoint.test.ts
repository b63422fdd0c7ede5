import { spawnSync } from 'node:child_process';
import { readdir, readFile, rename, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { AUTH_OUTCOMES } from '../shared/auth/verify.ts';
import { runCycle } from '../shared/cycle.ts';
import { ConfigError } from '../shared/errors.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { BUILT_IN_BLOCKLIST, LocalBlocklist } from '../shared/local/blocklist.ts';
import { ContentPullLog } from '../shared/local/pull-log.ts';
import { createOrgWithKey } from '../shared/org/index.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { freshStore, type MeteredStore, TEST_SECRET, useTestDb } from './kit/db.ts';
import { tempDir, useTempDirs } from './kit/files.ts';
import { recorder } from './kit/publishers.ts';
import { basic, get, getWithUrlCredentials, type PullServer, pullServer } from './kit/pull-server.ts';
import { at, T0 } from './kit/time.ts';
import { SETTINGS } from './kit/world.ts';

/**
 * The local runner's content endpoint over real HTTP (undici's fetch and node:http against listenLocal), with
 * the real ContentPullLog and LocalBlocklist, then the real cycle reading what it wrote: what a firewall sees,
 * and what pullwatch learns from it.
 */

useTestDb();
useTempDirs();

interface Setup {
  store: MeteredStore;
  orgId: string;
  key: string;
  id: string;
  username: string;
  password: string;
  logs: string;
  pullLog: ContentPullLog;
  s: PullServer;
  url: string;
}

const servers: PullServer[] = [];
const pullLogs: ContentPullLog[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  // Close what is still open (a test that moved its file away sees that seal fail, and that is fine).
  await Promise.all(pullLogs.splice(0).map((log) => log.seal().catch(() => null)));
});

async function setup(options: { blocklist?: LocalBlocklist; clock?: Iso } = {}): Promise<Setup> {
  const store = await freshStore();
  const { org, key } = await createOrgWithKey(store, TEST_SECRET, 'Acme', 'write', T0);
  const made = await createIntegration(
    store,
    TEST_SECRET,
    org.id,
    { name: 'Edge FortiGate', kind: 'firewall', vendor: 'fortigate' },
    T0,
  );
  const logs = await tempDir('content-logs');
  const pullLog = new ContentPullLog(logs);
  pullLogs.push(pullLog);
  const list = options.blocklist ?? (await LocalBlocklist.open(undefined, () => {}));
  const s = await pullServer(store, {
    clock: options.clock ?? at(1),
    content: { log: pullLog, blocklist: () => list.text() },
  });
  servers.push(s);
  return {
    store,
    orgId: org.id,
    key,
    id: made.integration.id,
    username: made.credentials.username,
    password: made.credentials.password,
    logs,
    pullLog,
    s,
    url: `${s.base}/v1/integrations/${made.integration.id}/content`,
  };
}

/** The lines the content endpoint wrote, sealed or not, as objects. */
async function pullLogLines(logs: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else
        for (const line of (await readFile(path, 'utf8')).split('\n').filter(Boolean))
          out.push(JSON.parse(line));
    }
  };
  await walk(logs);
  return out.sort((a, b) => String(a.time).localeCompare(String(b.time)));
}

async function cycleAt(x: Setup, now: Iso) {
  const report = await runCycle({
    store: x.store,
    source: new DirectorySource(x.logs),
    publisher: recorder().publisher,
    now,
    ...SETTINGS,
  });
  expect(report.errors).toEqual([]);
  return report;
}

async function detail(x: Setup) {
  const answer = await get(`${x.s.base}/v1/integrations/${x.id}`, {
    headers: { authorization: `Bearer ${x.key}` },
  });
  expect(answer.status, answer.text).toBe(200);
  return JSON.parse(answer.text);
}

const withoutRequestId = (text: string) => {
  const { request_id: _id, ...rest } = JSON.parse(text);
  return rest;
};

describe('GET|HEAD /v1/integrations/{id}/content', () => {
  it('serves the blocklist as text/plain for each accepted form; HEAD answers the same without a body', async () => {
    const x = await setup();
    const expected = `${BUILT_IN_BLOCKLIST}\n`;
    const answers = [
      await get(x.url, { headers: { authorization: basic(x.username, x.password) } }),
      await get(x.url, { headers: { 'x-api-key': x.password } }),
      await get(`${x.url}?api_key=${encodeURIComponent(x.password)}`),
      await get(`${x.url}?format=txt&api_key=${x.password}&v=2`),
      await getWithUrlCredentials(x.url, `${x.username}:${x.password}`),
    ];
    for (const answer of answers) {
      expect(answer.status, answer.text).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.headers.get('www-authenticate')).toBeNull();
      expect(answer.text).toBe(expected);
    }
    // One IP or CIDR per line, from the documentation ranges only.
    for (const line of answers[0]?.text.trim().split('\n') ?? [])
      expect(line).toMatch(/^(192\.0\.2\.|198\.51\.100\.|203\.0\.113\.|2001:db8:)/);

    const head = await get(x.url, { method: 'HEAD', headers: { 'x-api-key': x.password } });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect(head.headers.get('content-type')).toMatch(/^text\/plain/);

    const lines = await pullLogLines(x.logs);
    expect(lines.map((line) => [line.method, line.status, line.auth, line.integration_id])).toEqual([
      ...answers.map(() => ['GET', 200, 'current', x.id]),
      ['HEAD', 200, 'current', x.id],
    ]);
    expect(lines.map((line) => line.bytes)).toEqual([...answers.map(() => Buffer.byteLength(expected)), 0]);
    // Which form each used, `query` for the two that put the password in the URL; never the password itself.
    expect(lines.map((line) => line.credential)).toEqual([
      'basic',
      'header',
      'query',
      'query',
      'basic',
      'header',
    ]);
    expect(JSON.stringify(lines)).not.toContain(x.password);
    // The peer address is the client's, not a made-up one.
    expect(new Set(lines.map((line) => line.ip))).toEqual(new Set(['127.0.0.1']));
  });

  it('refuses every refusal with the same 401, a Basic challenge, and a body that does not say why', async () => {
    const x = await setup();
    const other = await createIntegration(
      x.store,
      TEST_SECRET,
      x.orgId,
      { name: 'Other', kind: 'firewall' },
      T0,
    );
    const cases: Array<[string, string, Record<string, string>]> = [
      ['wrong_password', x.url, { authorization: basic(x.username, 'not-the-password') }],
      ['wrong_password', x.url, { 'x-api-key': 'not-the-password' }],
      ['wrong_password', `${x.url}?api_key=not-the-password`, {}],
      [
        'wrong_password',
        x.url,
        { authorization: basic(other.credentials.username, other.credentials.password) },
      ],
      ['wrong_password', x.url, { authorization: basic('admin', x.password) }],
      ['no_credentials', x.url, {}],
      ['no_credentials', `${x.url}?api_key=`, { authorization: `Bearer ${x.key}` }],
      [
        'unknown_integration',
        `${x.s.base}/v1/integrations/int_00000000deadbeef/content`,
        { 'x-api-key': x.password },
      ],
      ['unknown_integration', `${x.s.base}/v1/integrations/nothing-here/content`, {}],
    ];
    const bodies = new Set<string>();
    for (const [code, url, headers] of cases) {
      const answer = await get(url, { headers });
      expect(answer.status, `${code} ${url}`).toBe(401);
      expect(answer.headers.get('www-authenticate')).toMatch(/^Basic realm="pullwatch"/);
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
      expect(answer.headers.get('x-pullwatch-auth')).toBeNull();
      for (const outcome of [
        'wrong',
        'password',
        'no_credentials',
        'unknown',
        'expired',
        'grace',
        'integration_id',
      ])
        expect(answer.text.toLowerCase(), code).not.toContain(outcome.replace('integration_id', x.id));
      bodies.add(JSON.stringify(withoutRequestId(answer.text)));
    }
    // Every refusal reads the same.
    expect(bodies.size).toBe(1);
    const head = await get(x.url, { method: 'HEAD' });
    expect(head.status).toBe(401);
    expect(head.text).toBe('');
    expect(head.headers.get('www-authenticate')).toMatch(/^Basic realm="pullwatch"/);

    // The reason is in the pull log, one line per request.
    const lines = await pullLogLines(x.logs);
    expect(lines.map((line) => [line.status, line.auth])).toEqual([
      ...cases.map(([code]) => [401, code]),
      [401, 'no_credentials'],
    ]);
  });

  it('after seal() and a cycle: last pull = the last accepted request, last attempt = the last request', async () => {
    const x = await setup({ clock: at(1) });
    const step = async (minutes: number, url: string, headers: Record<string, string>, method = 'GET') => {
      x.s.clock = addSeconds(at(1), minutes * 60);
      return get(url, { method, headers });
    };
    expect((await step(0, x.url, { authorization: basic(x.username, x.password) })).status).toBe(200);
    expect((await step(5, x.url, { 'x-api-key': x.password })).status).toBe(200);
    expect((await step(10, `${x.url}?api_key=${x.password}`, {})).status).toBe(200);
    // A HEAD proves reachability but delivers no list: not a pull.
    expect((await step(15, x.url, { 'x-api-key': x.password }, 'HEAD')).status).toBe(200);
    expect((await step(20, x.url, { authorization: basic(x.username, 'typo') })).status).toBe(401);
    expect((await step(25, x.url, {})).status).toBe(401);

    // Nothing is readable before the seal: the open file is hidden from the ingest.
    const before = await cycleAt(x, addSeconds(at(1), 26 * 60));
    expect(before.ingest?.files_processed).toBe(0);
    const sealed = await x.pullLog.seal();
    expect(sealed).toMatch(/content\/2026-11-20\/010000-[0-9a-f]{8}\.jsonl$/);
    const report = await cycleAt(x, addSeconds(at(1), 30 * 60));
    expect(report.ingest).toMatchObject({ files_processed: 1, records: 6 });

    const shown = await detail(x);
    expect(shown).toMatchObject({
      last_pull_at: addSeconds(at(1), 10 * 60),
      last_attempt_at: addSeconds(at(1), 25 * 60),
      last_attempt_status: 401,
      last_attempt_auth: 'no_credentials',
      credentials: { last_used: 'current' },
      // The last pull sent its password as ?api_key=: flagged, with when.
      credential_in_url: true,
      credential_in_url_at: addSeconds(at(1), 10 * 60),
    });
    // A second cycle reads nothing again.
    expect((await cycleAt(x, addSeconds(at(1), 31 * 60))).ingest?.files_processed).toBe(0);
    expect(await x.pullLog.seal()).toBeNull();
  });

  it('the grace boundary end to end: the old password passes until previous_valid_until and is refused at it; the issue names both times', async () => {
    const x = await setup({ clock: at(1) });
    const old = { authorization: basic(x.username, x.password) };
    expect((await get(x.url, { headers: old })).status).toBe(200);
    // Refreshed through the API, 0.3 s after the device's pull, with a 10-minute grace.
    x.s.clock = addSeconds(at(1), 0.3);
    const refreshed = await fetch(`${x.s.base}/v1/integrations/${x.id}/credentials/refresh`, {
      method: 'POST',
      headers: { authorization: `Bearer ${x.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ grace_seconds: 600 }),
    });
    expect(refreshed.status).toBe(200);
    const { password: fresh, previous_valid_until: end } = (await refreshed.json()) as {
      password: string;
      previous_valid_until: Iso;
    };
    expect(end).toBe(addSeconds(at(1), 600.3));
    // The new password works at once, in the process that refreshed it.
    const first = await get(x.url, { headers: { 'x-api-key': fresh } });
    expect(first.status).toBe(200);

    x.s.clock = addSeconds(end, -0.001);
    expect((await get(x.url, { headers: old })).status).toBe(200);
    x.s.clock = end;
    expect((await get(x.url, { headers: old })).status).toBe(401);
    x.s.clock = addSeconds(end, 60);
    expect((await get(`${x.url}?api_key=${x.password}`)).status).toBe(401);

    expect((await pullLogLines(x.logs)).map((line) => line.auth)).toEqual([
      'current',
      'current',
      'previous_in_grace',
      'previous_expired',
      'previous_expired',
    ]);
    await x.pullLog.seal();
    await cycleAt(x, addSeconds(end, 120));
    const shown = await detail(x);
    expect(shown).toMatchObject({
      last_pull_at: addSeconds(end, -0.001),
      last_attempt_at: addSeconds(end, 60),
      last_attempt_auth: 'previous_expired',
      credentials: { last_used: 'previous', previous_password_valid: false, previous_valid_until: end },
    });
    // The first refusal of the replaced password after its grace opens the early warning at once.
    const [issue] = shown.issues;
    expect(issue).toMatchObject({
      type: 'integration_auth_failing',
      opened_at: end,
      diagnosis: { code: 'credentials_not_updated' },
    });
    expect(issue.diagnosis.summary).toContain('2026-11-20 01:00 UTC');
    expect(issue.diagnosis.summary).toContain('2026-11-20 01:10 UTC');

    // The device is given the new password: the next pull resolves it and the detail says "current".
    x.s.clock = addSeconds(end, 300);
    expect((await get(x.url, { headers: { authorization: basic(x.username, fresh) } })).status).toBe(200);
    await x.pullLog.seal();
    await cycleAt(x, addSeconds(end, 360));
    const after = await detail(x);
    expect(after.credentials.last_used).toBe('current');
    expect(after.issues).toEqual([]);
  });

  it('two refreshes in a row through the API: the oldest password is refused as wrong, the middle one is in grace', async () => {
    const x = await setup({ clock: at(1) });
    const refresh = async (grace: number) => {
      const answer = await fetch(`${x.s.base}/v1/integrations/${x.id}/credentials/refresh`, {
        method: 'POST',
        headers: { authorization: `Bearer ${x.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ grace_seconds: grace }),
      });
      expect(answer.status).toBe(200);
      return ((await answer.json()) as { password: string }).password;
    };
    const first = x.password;
    const second = await refresh(3600);
    x.s.clock = at(1.5);
    const third = await refresh(3600);
    const tries: Array<[string, number]> = [
      [first, 401],
      [second, 200],
      [third, 200],
    ];
    for (const [password, status] of tries)
      expect((await get(x.url, { headers: { authorization: basic(x.username, password) } })).status).toBe(
        status,
      );
    // Deleted through the API: refused at once, as an unknown integration.
    const deleted = await fetch(`${x.s.base}/v1/integrations/${x.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${x.key}` },
    });
    expect(deleted.status).toBe(204);
    expect((await get(x.url, { headers: { authorization: basic(x.username, third) } })).status).toBe(401);
    expect((await pullLogLines(x.logs)).map((line) => line.auth)).toEqual([
      'wrong_password',
      'previous_in_grace',
      'current',
      'unknown_integration',
    ]);
  });

  it('PULLWATCH_BLOCKLIST_FILE: its list is served; a bad file is refused at open with the line number; a later bad edit keeps the last good list', async () => {
    const dir = await tempDir('blocklist');
    const file = join(dir, 'list.txt');
    await writeFile(file, '# our list\n10.0.0.0/8\n\n198.18.0.1  # a host\n2001:db8:ffff::/64\n');
    const errors: unknown[] = [];
    const list = await LocalBlocklist.open(file, (error) => errors.push(error));
    const x = await setup({ blocklist: list });
    const answer = await get(x.url, { headers: { 'x-api-key': x.password } });
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('10.0.0.0/8\n198.18.0.1\n2001:db8:ffff::/64\n');

    // A bad edit while running: still the last good list, and the error is reported once.
    await writeFile(file, '10.0.0.0/8\n10.0.0.300\n');
    await utimes(file, new Date(at(5)), new Date(at(5)));
    for (let pull = 0; pull < 3; pull += 1) {
      const again = await get(x.url, { headers: { 'x-api-key': x.password } });
      expect(again.text).toBe('10.0.0.0/8\n198.18.0.1\n2001:db8:ffff::/64\n');
    }
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as Error).message)).toContain('line 2');

    // A good edit is served on the next pull.
    await writeFile(file, '192.0.2.10\n');
    await utimes(file, new Date(at(6)), new Date(at(6)));
    expect((await get(x.url, { headers: { 'x-api-key': x.password } })).text).toBe('192.0.2.10\n');

    // At open, a bad file stops the runner with the line at fault.
    const bad = join(dir, 'bad.txt');
    await writeFile(bad, '192.0.2.1\n# fine\n192.0.2.0/33\n');
    const refused = await LocalBlocklist.open(bad, () => {}).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message).toMatch(/line 3 is not an IP address or CIDR range: 192\.0\.2\.0\/33/);
    const missing = await LocalBlocklist.open(join(dir, 'nope.txt'), () => {}).catch(
      (error: unknown) => error,
    );
    expect(missing).toBeInstanceOf(ConfigError);
  });

  it('requests racing seal(): every request is one line, sealed exactly once, counted once by the cycle', async () => {
    const x = await setup({ clock: at(3) });
    const sealed: Array<string | null> = [];
    const requests: Array<Promise<unknown>> = [];
    for (let index = 0; index < 60; index += 1) {
      const headers: Record<string, string> = index % 4 === 0 ? {} : { 'x-api-key': x.password };
      requests.push(get(`${x.url}?n=${index}`, { headers }));
      if (index % 7 === 0) requests.push(x.pullLog.seal().then((path) => sealed.push(path)));
    }
    await Promise.all(requests);
    sealed.push(await x.pullLog.seal());
    const files = sealed.filter((path): path is string => path !== null);
    expect(new Set(files).size).toBe(files.length);
    const lines = await pullLogLines(x.logs);
    expect(lines).toHaveLength(60);
    expect(lines.filter((line) => line.auth === 'no_credentials')).toHaveLength(15);
    const report = await cycleAt(x, at(3.1));
    expect(report.ingest).toMatchObject({ files_processed: files.length, records: 60 });
    expect((await cycleAt(x, at(3.2))).ingest).toMatchObject({ files_processed: 0, records: 0 });
  });

  it('property: any header and query values over HTTP get 200 or 401 and exactly one pull-log line each', async () => {
    const x = await setup({ clock: at(4) });
    // Header values as HTTP carries them (visible ASCII and spaces), queries percent-encoded.
    const headerValue = fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,80}$/);
    const parts = fc.record(
      {
        authorization: fc.oneof(
          headerValue,
          headerValue.map((v) => `Basic ${Buffer.from(v).toString('base64')}`),
        ),
        'x-api-key': fc.oneof(headerValue, fc.constant(x.password)),
        query: fc.string({ maxLength: 60 }).map((v) => `api_key=${encodeURIComponent(v)}`),
      },
      { requiredKeys: [] },
    );
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(parts, async ({ query, ...headers }) => {
        const answer = await get(`${x.url}${query ? `?${query}` : ''}`, { headers });
        sent += 1;
        expect([200, 401]).toContain(answer.status);
      }),
      { numRuns: 60 },
    );
    const lines = await pullLogLines(x.logs);
    expect(lines).toHaveLength(sent);
    for (const line of lines) expect(AUTH_OUTCOMES).toContain(line.auth);
  });

  it('recover() seals the open file of a dead runner, and the next cycle reads it exactly once', async () => {
    const x = await setup({ clock: at(2) });
    for (const minutes of [0, 1, 2]) {
      x.s.clock = addSeconds(at(2), minutes * 60);
      expect((await get(x.url, { headers: { 'x-api-key': x.password } })).status).toBe(200);
    }
    // That runner "dies": its open file is left under its pid, which no longer exists.
    const folder = join(x.logs, 'content');
    const [open] = (await readdir(folder)).filter((name) => name.startsWith('.open-'));
    expect(open).toMatch(new RegExp(`^\\.open-${process.pid}-[0-9a-f]+\\.jsonl$`));
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const orphan = join(folder, `.open-${dead}-0badc0de.jsonl`);
    await rename(join(folder, open as string), orphan);
    // Our own open files are never taken: only the dead pid's.
    const mine = new ContentPullLog(x.logs);
    pullLogs.push(mine);
    await mine.record({
      time: at(3),
      integration_id: x.id,
      method: 'GET',
      status: 200,
      ip: null,
      user_agent: null,
      bytes: 1,
      auth: 'current',
      credential: 'header',
    });

    expect((await cycleAt(x, at(2.5))).ingest?.files_processed).toBe(0);
    expect(await new ContentPullLog(x.logs).recover()).toBe(1);
    const names = await readdir(folder);
    expect(names.filter((name) => name.startsWith('.open-'))).toHaveLength(1);
    const report = await cycleAt(x, at(2.6));
    expect(report.ingest).toMatchObject({ files_processed: 1, records: 3 });
    expect((await detail(x)).last_pull_at).toBe(addSeconds(at(2), 120));
    // Recovering again finds nothing; the next cycle reads nothing twice.
    expect(await new ContentPullLog(x.logs).recover()).toBe(0);
    expect((await cycleAt(x, at(2.7))).ingest).toMatchObject({ files_processed: 0, records: 0 });
  });
});
