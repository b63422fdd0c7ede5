import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { serve } from '../shared/local/serve.ts';

/**
 * The walking skeleton as a user runs it: the local runner (in this process, so the test can stop it), the
 * real CLI as child processes against the same data directory, pull logs dropped into the log directory, and
 * the HTTP API. Time moves through `cycle --now`, never by waiting.
 */

const CLI = join(import.meta.dirname, '..', 'bin', 'pullwatch.js');
const COMMAND_TIMEOUT_MS = 60_000;
const HOUR = 3_600_000;

let tmp: string;
let dataDir: string;
let logDir: string;
let env: Record<string, string>;
/** What the runner printed for the person who started it (the banner, the first key). */
const serverLog: string[] = [];
/** What the runner logged: the logger's JSON lines from stdout and stderr. */
const logged: Array<Record<string, unknown>> = [];
const captures: MockInstance[] = [];
let stop: (() => Promise<void>) | null = null;

let apiBase = '';
let writeKey = '';
let orgId = '';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Every `--json` run whose stdout was not exactly one JSON object (checked in its own test). */
const notOneJsonObject: Array<{ args: string; stdout: string }> = [];

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env, cwd: tmp, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/**
 * Runs a `--json` command that must succeed. Its stdout must be one JSON object; when it is not, the
 * violation is recorded and the last line that parses is used, so the rest of the walk still runs.
 */
// biome-ignore lint/suspicious/noExplicitAny: CLI output is checked field by field
async function cliJson(args: string[]): Promise<{ run: Run; json: any }> {
  const run = await cli([...args, '--json']);
  expect(run.code, `pullwatch ${args.join(' ')} failed: ${run.stderr}`).toBe(0);
  let json: unknown;
  try {
    json = JSON.parse(run.stdout);
  } catch {
    notOneJsonObject.push({ args: args.join(' '), stdout: run.stdout });
    const lines = run.stdout.split('\n').filter((line) => line.trim().startsWith('{'));
    json = JSON.parse(lines.at(-1) ?? 'null');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    notOneJsonObject.push({ args: args.join(' '), stdout: run.stdout });
  }
  return { run, json };
}

// biome-ignore lint/suspicious/noExplicitAny: API bodies are checked field by field
async function api(path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${apiBase}${path}`, { headers: { authorization: `Bearer ${writeKey}` } });
  return { status: response.status, body: await response.json() };
}

async function outbox(): Promise<Array<Record<string, unknown>>> {
  const path = join(dataDir, 'outbox.jsonl');
  if (!existsSync(path)) return [];
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Takes the logger's JSON lines off a stream and lets everything else (the test runner's own output) through. */
function captureLogLines(stream: NodeJS.WriteStream): MockInstance {
  const write = stream.write.bind(stream);
  return vi.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: never[]) => {
    const text = String(chunk);
    if (!text.startsWith('{"level"')) return write(chunk, ...rest);
    for (const line of text.split('\n').filter(Boolean)) logged.push(JSON.parse(line));
    return true;
  }) as typeof stream.write);
}

/** Waits for the runner to log a line with this message (its startup cycle), by polling; never a fixed sleep. */
async function untilLogged(messages: string[], limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!logged.some((line) => messages.includes(String(line.message)))) {
    if (Date.now() > deadline)
      throw new Error(
        `the runner never logged ${messages}; it logged:\n${logged.map((line) => JSON.stringify(line)).join('\n')}`,
      );
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const iso = (millis: number) => new Date(millis).toISOString();
const pullLine = (fields: Record<string, unknown>) => `${JSON.stringify(fields)}\n`;
const minuteUtc = (at: string) => `${at.slice(0, 16).replace('T', ' ')} UTC`;

// The walk's facts, filled in as it goes.
let integrationId = '';
let integrationName = '';
let createdAt = 0;
let firstPull = '';
let t1 = '';
let t2 = '';
let secondPull = '';
let t3 = '';
let issueId = '';

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pullwatch-e2e-'));
  dataDir = join(tmp, 'data');
  logDir = join(tmp, 'logs');
  const settings = {
    PULLWATCH_DATA_DIR: dataDir,
    PULLWATCH_LOG_DIR: logDir,
    PORT: '0',
    PULLWATCH_CYCLE_SECONDS: '3600',
    // The walk jumps 25 h ahead with no newer pull-log record; the pipeline guard (covered in
    // pipeline-guard.test.ts) would rightly hold the offline flip, so it is off for this walk.
    PULLWATCH_STALE_AFTER_SECONDS: '0',
  };
  const inherited = { ...process.env } as Record<string, string>;
  for (const name of [
    'DYNAMODB_ENDPOINT',
    'SNS_TOPIC_ARN',
    'SNS_ENDPOINT',
    'PULLWATCH_KEY_SECRET',
    'PULLWATCH_LOG_BUCKET',
    'TABLE_NAME',
  ]) {
    delete inherited[name];
  }
  env = { ...inherited, ...settings };
  captures.push(captureLogLines(process.stdout), captureLogLines(process.stderr));
  stop = await serve(loadConfig(settings), (text) => serverLog.push(...text.split('\n')));
  // The startup cycle must be over before logs are dropped, so the timed cycles below are the ones reading them.
  await untilLogged(['cycle done', 'cycle failed']);
}, 60_000);

afterAll(async () => {
  if (stop) await stop();
  for (const capture of captures) capture.mockRestore();
  if (tmp) await rm(tmp, { recursive: true, force: true });
}, 60_000);

describe('pullwatch end to end (local runner + CLI + API, injected time)', () => {
  it('first start prints the API URL, the organization and a write key once; health needs no key', async () => {
    const text = serverLog.join('\n');
    const url = /API\s+(http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(text);
    const key = /\b(pww_[A-Za-z0-9_-]{43})\b/.exec(text);
    const org = /\((org_[0-9a-f]+)\)/.exec(text);
    expect(url?.[1]).toBeDefined();
    expect(key?.[1]).toBeDefined();
    expect(org?.[1]).toBeDefined();
    apiBase = url?.[1] ?? '';
    writeKey = key?.[1] ?? '';
    orgId = org?.[1] ?? '';
    expect(text).toContain(`curl -H "Authorization: Bearer ${writeKey}" ${apiBase}/v1/integrations`);
    expect(text).toContain(`console    ${apiBase}/ `);
    const page = await fetch(`${apiBase}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="/console/app.js');

    const health = await fetch(`${apiBase}/v1/health`);
    expect(health.status).toBe(200);
    const body = await health.json();
    expect(body).toMatchObject({ status: 'ok', last_cycle_outcome: 'ok' });
    expect(JSON.stringify(body)).not.toContain(orgId);

    const anonymous = await fetch(`${apiBase}/v1/integrations`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toContain('application/problem+json');
    const list = await api('/v1/integrations');
    expect(list).toEqual({ status: 200, body: { items: [], next_cursor: null } });

    // Requests and cycles are log lines of the one logger; the key was printed, never logged.
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 'INFO',
        message: 'request',
        service: 'pullwatch',
        request_id: health.headers.get('x-request-id'),
        path: '/v1/health',
        status: 200,
      }),
    );
    expect(logged).toContainEqual(expect.objectContaining({ message: 'cycle done', outcome: 'ok' }));
    expect(JSON.stringify(logged)).not.toContain(writeKey);
  });

  it('integration create --json prints the integration with its credentials, once', async () => {
    expect(orgId).not.toBe('');
    createdAt = Date.now();
    integrationName = 'Edge FW';
    const { run, json } = await cliJson([
      'integration',
      'create',
      '--org',
      orgId,
      '--name',
      integrationName,
      '--kind',
      'firewall',
      '--vendor',
      'paloalto',
    ]);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(json).toMatchObject({
      id: expect.stringMatching(/^int_/),
      name: 'Edge FW',
      kind: 'firewall',
      vendor: 'paloalto',
      source: 'blaas',
      status: 'never_pulled',
      last_pull_at: null,
      username: expect.any(String),
      password: expect.any(String),
    });
    integrationId = json.id;

    // The running server sees it at once (one database), without the password.
    const one = await api(`/v1/integrations/${integrationId}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      id: integrationId,
      name: 'Edge FW',
      status: 'never_pulled',
      last_pull_at: null,
    });
    expect(JSON.stringify(one.body)).not.toContain(json.password);
  }, 90_000);

  it('a cycle reads the dropped pull log and moves last_pull_at', async () => {
    expect(integrationId).not.toBe('');
    t1 = iso(createdAt + HOUR);
    firstPull = iso(createdAt + HOUR - 10 * 60_000);
    await writeFile(
      join(logDir, 'pulls-1.jsonl'),
      [
        pullLine({
          time: firstPull,
          integration_id: integrationId,
          method: 'GET',
          status: 200,
          ip: '203.0.113.7',
          user_agent: 'PAN-OS/11.1',
          bytes: 5123,
        }),
        'this line is not a pull record\n',
      ].join(''),
    );

    const { json } = await cliJson(['cycle', '--now', t1]);
    expect(json).toMatchObject({
      at: t1,
      outcome: 'ok',
      ingest: { files_processed: 1, records: 1, integrations_updated: 1, skipped: { unrecognized: 1 } },
      rules: { opened: [], resolved: [] },
      errors: [],
    });

    const one = await api(`/v1/integrations/${integrationId}`);
    expect(one.body).toMatchObject({
      last_pull_at: firstPull,
      last_attempt_at: firstPull,
      last_attempt_status: 200,
    });
    expect(one.body.status).not.toBe('never_pulled');
    expect(await outbox()).toEqual([]);
  }, 90_000);

  it('status --now derives the status at that instant: online a second before last pull + 24 h, offline at it', async () => {
    expect(firstPull).not.toBe('');
    const threshold = Date.parse(firstPull) + 24 * HOUR;
    const statusAt = async (millis: number) => {
      const { json } = await cliJson(['status', '--now', iso(millis)]);
      // biome-ignore lint/suspicious/noExplicitAny: CLI output is checked field by field
      return json.integrations.find((view: any) => view.id === integrationId);
    };
    // No cycle in between: status is a function of the stored facts and the instant asked about.
    expect(await statusAt(threshold - 1000)).toMatchObject({
      status: 'online',
      last_pull_at: firstPull,
      idle_seconds: 24 * 3600 - 1,
    });
    expect(await statusAt(threshold)).toMatchObject({ status: 'offline', idle_seconds: 24 * 3600 });
    const human = await cli(['status', '--now', iso(threshold)]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`offline\\s+Edge FW \\(${integrationId}\\)`));
    const bad = await cli(['status', '--now', 'yesterday-ish']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--now: not a date');
  }, 90_000);

  it('25 h later a cycle opens one fw_integration_offline at last pull + 24 h and notifies it once', async () => {
    expect(firstPull).not.toBe('');
    t2 = iso(Date.parse(t1) + 25 * HOUR);
    const expectedOpenedAt = iso(Date.parse(firstPull) + 24 * HOUR);

    const { json } = await cliJson(['cycle', '--now', t2]);
    expect(json).toMatchObject({ at: t2, outcome: 'ok', errors: [] });
    expect(json.ingest).toMatchObject({ files_processed: 0, records: 0 });
    expect(json.rules.opened).toHaveLength(1);
    expect(json.notify.sent).toEqual([expect.objectContaining({ event: 'issue_opened' })]);

    const open = await api('/v1/issues?state=open');
    expect(open.status).toBe(200);
    expect(open.body.items).toHaveLength(1);
    const issue = open.body.items[0];
    expect(issue).toMatchObject({
      type: 'fw_integration_offline',
      integration_id: integrationId,
      criticality: 'critical',
      state: 'open',
      opened_at: expectedOpenedAt,
      detected_at: t2,
      resolved_at: null,
      diagnosis: { code: expect.any(String), summary: expect.any(String), steps: expect.any(Array) },
    });
    issueId = issue.id;
    const integration = await api(`/v1/integrations/${integrationId}`);
    expect(integration.body.open_issues).toBe(1);

    const sent = await outbox();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      event: 'issue_opened',
      org_id: orgId,
      issue_id: issueId,
      issue_type: 'fw_integration_offline',
      subject: expect.stringContaining('Edge FW'),
      email: expect.stringContaining(integrationId),
      sms: expect.any(String),
      attributes: {
        org_id: orgId,
        issue_type: 'fw_integration_offline',
        criticality: 'critical',
        event: 'issue_opened',
      },
    });
    const sms = String(sent[0]?.sms);
    expect(sms.length).toBeLessThanOrEqual(160);
    expect(String(sent[0]?.subject)).not.toContain('\n');
    expect(String(sent[0]?.email)).toContain(firstPull);
  }, 90_000);

  it('the opening SMS tells when the firewall last pulled, not when the threshold ran out', async () => {
    const sent = (await outbox()).find((line) => line.event === 'issue_opened');
    expect(sent).toBeDefined();
    const sms = String(sent?.sms);
    const since = /(?:not pulled since|last pulled) (\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC)/.exec(sms);
    // Either wording is right ("last pulled <last pull>" or "offline since <opened_at>"); a claim of
    // "not pulled since" the opening time is off by the whole threshold.
    if (since) expect(since[1]).toBe(minuteUtc(firstPull));
    else expect(sms).toContain(minuteUtc(iso(Date.parse(firstPull) + 24 * HOUR)));
  });

  it('a newer successful pull resolves the issue by itself, with one issue_resolved notification', async () => {
    expect(issueId).not.toBe('');
    secondPull = iso(Date.parse(t2) + 30 * 60_000);
    t3 = iso(Date.parse(secondPull) + 10 * 60_000);
    await writeFile(
      join(logDir, 'pulls-2.jsonl'),
      pullLine({
        time: secondPull,
        integration_id: integrationId,
        method: 'GET',
        status: 304,
        ip: '203.0.113.7',
        // The content endpoint's mark for a device that put its password in the URL.
        credential: 'query',
      }),
    );

    const { json } = await cliJson(['cycle', '--now', t3]);
    expect(json).toMatchObject({ at: t3, outcome: 'ok', errors: [] });
    expect(json.ingest).toMatchObject({ files_processed: 1, records: 1, integrations_updated: 1 });
    expect(json.rules.resolved).toEqual([expect.objectContaining({ issue_id: issueId })]);

    expect((await api('/v1/issues?state=open')).body.items).toEqual([]);
    const resolved = await api('/v1/issues?state=resolved');
    expect(resolved.body.items).toHaveLength(1);
    expect(resolved.body.items[0]).toMatchObject({ id: issueId, state: 'resolved', resolved_at: secondPull });
    const one = await api(`/v1/issues/${issueId}`);
    expect(one.body).toMatchObject({ id: issueId, state: 'resolved' });
    const integration = await api(`/v1/integrations/${integrationId}`);
    expect(integration.body).toMatchObject({
      last_pull_at: secondPull,
      last_attempt_status: 304,
      open_issues: 0,
    });

    const sent = await outbox();
    expect(sent.map((line) => line.event)).toEqual(['issue_opened', 'issue_resolved']);
    expect(sent[1]).toMatchObject({
      event: 'issue_resolved',
      issue_id: issueId,
      org_id: orgId,
      issue_type: 'fw_integration_offline',
    });
    expect(String(sent[1]?.sms).length).toBeLessThanOrEqual(160);
  }, 90_000);

  it('running the cycle again reads no file twice and sends nothing twice', async () => {
    expect(t3).not.toBe('');
    const { json } = await cliJson(['cycle', '--now', iso(Date.parse(t3) + 60_000)]);
    expect(json).toMatchObject({ outcome: 'ok' });
    expect(json.ingest).toMatchObject({ files_processed: 0, files_skipped: 2, records: 0 });
    expect(json.rules).toMatchObject({ opened: [], resolved: [] });
    expect(json.notify.sent).toEqual([]);
    expect((await outbox()).map((line) => line.event)).toEqual(['issue_opened', 'issue_resolved']);
  }, 90_000);

  it("notify preview prints the issue's latest notification in its three forms, as the outbox got it", async () => {
    expect(issueId).not.toBe('');
    const { json } = await cliJson(['notify', 'preview', '--issue', issueId]);
    const sent = (await outbox()).find((line) => line.event === 'issue_resolved');
    expect(json).toEqual({
      issue_id: issueId,
      org_id: orgId,
      event: 'issue_resolved',
      sent_at: t3,
      subject: sent?.subject,
      email: sent?.email,
      sms: sent?.sms,
      chat: sent?.chat,
    });
    const human = await cli(['notify', 'preview', '--issue', issueId]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('== email ==');
    expect(human.stdout).toContain('== sms ==');
    expect(human.stdout).toContain('"threadId": "pullwatch-');
    const missing = await cli(['notify', 'preview', '--issue', 'iss_nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no issue iss_nope');
  }, 90_000);

  it('status --json prints one JSON object with the integration and no open issue', async () => {
    const { run, json } = await cliJson(['status']);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(json).toMatchObject({ org_id: orgId, open_issues: [] });
    expect(json.integrations).toEqual([
      expect.objectContaining({
        id: integrationId,
        name: 'Edge FW',
        last_pull_at: secondPull,
        open_issues: 0,
        credential_in_url: true,
        credential_in_url_at: secondPull,
      }),
    ]);
    expect(JSON.stringify(json)).not.toContain('password');
  }, 90_000);

  it('a bad command exits non-zero with a message on stderr and nothing on stdout', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['bogus', '--json'], /unknown command/],
      [['integration', 'create', '--org', orgId, '--kind', 'firewall', '--json'], /--name/],
      [['integration', 'create', '--org', orgId, '--name', 'X', '--kind', 'router', '--json'], /kind/],
      [
        ['integration', 'create', '--org', 'org_doesnotexist', '--name', 'X', '--kind', 'firewall', '--json'],
        /org_doesnotexist/,
      ],
      [['cycle', '--now', 'not-a-date', '--json'], /--now/],
      [['serve', '--now', '2026-11-21T10:00:00Z', '--json'], /real clock/],
      [['status', '--colour', '--json'], /colour/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args)));
    for (const [index, run] of runs.entries()) {
      const [args, message] = cases[index] as [string[], RegExp];
      expect({ args: args.join(' '), failed: run.code !== 0 }).toEqual({
        args: args.join(' '),
        failed: true,
      });
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(run.stdout).toBe('');
    }
    // Nothing was created by the failed commands.
    expect((await api('/v1/integrations')).body.items).toHaveLength(1);
  }, 90_000);

  it('every --json command printed exactly one JSON object on stdout and nothing else', () => {
    expect(integrationId).not.toBe('');
    expect(notOneJsonObject).toEqual([]);
  });

  it('stopping the runner shuts the API and the database down; the data stays on disk', async () => {
    expect(stop).not.toBeNull();
    const stopping = stop as () => Promise<void>;
    stop = null;
    await stopping();

    await expect(fetch(`${apiBase}/v1/health`)).rejects.toThrow();
    expect(existsSync(join(dataDir, 'db.json'))).toBe(false);

    // With the runner gone, a command opens the database itself and finds the same facts.
    const { json } = await cliJson(['status']);
    expect(json.integrations).toEqual([
      expect.objectContaining({ id: integrationId, last_pull_at: secondPull }),
    ]);
  }, 90_000);
});
