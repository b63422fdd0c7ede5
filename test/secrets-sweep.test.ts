import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { runCycle } from '../shared/cycle.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { LocalBlocklist } from '../shared/local/blocklist.ts';
import { openLocal, outboxPath } from '../shared/local/context.ts';
import { ContentPullLog } from '../shared/local/pull-log.ts';
import { FilePublisher } from '../shared/notify/publishers.ts';
import { createOrgWithKey } from '../shared/org/index.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { tempDir, useTempDirs } from './kit/files.ts';
import { clf } from './kit/lines.ts';
import { basic, get, type HttpAnswer, pullServer } from './kit/pull-server.ts';
import { at, T0 } from './kit/time.ts';
import { SETTINGS } from './kit/world.ts';

/**
 * No password is ever written or printed: the local runner's pieces (embedded database persisted in a data
 * directory, the API and content endpoint on a real server, the content pull log, a cycle, the file outbox)
 * go through many requests presenting real passwords in every form, current and replaced, right and wrong;
 * then every file under the data and log directories, every response (body and headers), every logged record
 * and everything written to stdout/stderr is searched for every password.
 */

useTempDirs();

const restore: Array<() => void> = [];
afterEach(() => {
  for (const undo of restore.splice(0)) undo();
});

/** Everything written to stdout and stderr from now on (still written through). */
function captureOutput(): string[] {
  const captured: string[] = [];
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restore.push(() => {
      stream.write = write;
    });
  }
  return captured;
}

async function everyFile(dir: string): Promise<Array<{ path: string; content: Buffer }>> {
  const out: Array<{ path: string; content: Buffer }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await everyFile(path)));
    else if (entry.isFile()) out.push({ path, content: await readFile(path) });
  }
  return out;
}

/** The ways a password could appear: as is, URL-encoded, inside a basic header's base64. */
function needles(password: string, username: string): string[] {
  return [
    password,
    encodeURIComponent(password),
    Buffer.from(`${username}:${password}`).toString('base64'),
    Buffer.from(password).toString('base64'),
  ];
}

describe('secrets sweep', () => {
  it('no password, current or replaced, appears in any file, response, log record or output', async () => {
    const output = captureOutput();
    const dataDir = await tempDir('sweep-data');
    const logs = await tempDir('sweep-logs');
    const config = loadConfig({ PULLWATCH_DATA_DIR: dataDir, PULLWATCH_LOG_DIR: logs });
    const context = await openLocal(config, { publish: false });
    const { store, secret } = context;
    try {
      const { org, key } = await createOrgWithKey(store, secret, 'Acme', 'write', T0);
      const made = await Promise.all(
        ['Edge FortiGate', 'Branch PAN'].map((name) =>
          createIntegration(store, secret, org.id, { name, kind: 'firewall', vendor: 'fortigate' }, T0),
        ),
      );
      const [a, b] = made.map((m) => ({
        id: m.integration.id,
        username: m.credentials.username,
        password: m.credentials.password,
      })) as [
        { id: string; username: string; password: string },
        { id: string; username: string; password: string },
      ];
      const pullLog = new ContentPullLog(logs);
      const list = await LocalBlocklist.open(undefined, () => {});
      const s = await pullServer(store, {
        clock: at(1),
        secret,
        content: { log: pullLog, blocklist: () => list.text() },
      });
      const answers: HttpAnswer[] = [];
      const passwords: Array<{ password: string; username: string }> = [a, b];
      try {
        const content = (id: string) => `${s.base}/v1/integrations/${id}/content`;
        let tick = 0;
        const pullWith = async (id: string, username: string, password: string) => {
          const forms: Array<[string, Record<string, string>]> = [
            [content(id), { authorization: basic(username, password) }],
            [content(id), { 'x-api-key': password }],
            [`${content(id)}?api_key=${password}`, {}],
            [`${content(id)}?format=plain&api_key=${encodeURIComponent(password)}&x=1`, {}],
            [
              `${s.base}/v1/pull-auth`,
              { 'x-original-uri': `/v1/integrations/${id}/content?api_key=${password}` },
            ],
            [
              `${s.base}/v1/pull-auth`,
              { 'x-original-uri': `/v1/integrations/${id}/content`, 'x-api-key': password },
            ],
            // Misdirected: the password in a query of other routes, and as a Bearer key.
            [`${s.base}/v1/integrations?api_key=${password}`, {}],
            [`${s.base}/v1/nowhere?api_key=${password}`, {}],
            [`${s.base}/v1/integrations`, { authorization: `Bearer ${password}` }],
            [
              `${s.base}/v1/pull-auth?api_key=${password}`,
              { 'x-original-uri': `/elsewhere?api_key=${password}` },
            ],
          ];
          for (const [url, headers] of forms) {
            tick += 1;
            s.clock = addSeconds(s.clock, 7);
            answers.push(await get(url, { headers }));
            if (tick % 3 === 0) answers.push(await get(url, { method: 'HEAD', headers }));
          }
        };
        // Current passwords, each other's passwords, and a wrong user.
        await pullWith(a.id, a.username, a.password);
        await pullWith(b.id, b.username, b.password);
        await pullWith(a.id, a.username, b.password);
        await pullWith(b.id, a.username, b.password);

        // A refresh through the API with a grace: the new password is shown once, in that answer only.
        const refreshed = await fetch(`${s.base}/v1/integrations/${a.id}/credentials/refresh`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ grace_seconds: 600 }),
        });
        expect(refreshed.status).toBe(200);
        expect(refreshed.headers.get('cache-control')).toBe('no-store');
        const fresh = ((await refreshed.json()) as { password: string }).password;
        passwords.push({ password: fresh, username: a.username });
        const graceEnd = addSeconds(s.clock, 600) as Iso;
        // Old and new in grace, then the old one after it.
        await pullWith(a.id, a.username, a.password);
        await pullWith(a.id, a.username, fresh);
        s.clock = addSeconds(graceEnd, 1);
        await pullWith(a.id, a.username, fresh);
        // The device is still on the old one: the early warning opens, and a notification is written.
        await pullWith(a.id, a.username, a.password);

        // The API's own views of the integrations.
        for (const path of [
          `/v1/integrations/${a.id}`,
          `/v1/integrations/${b.id}`,
          '/v1/integrations',
          '/v1/issues',
        ])
          answers.push(await get(`${s.base}${path}`, { headers: { authorization: `Bearer ${key}` } }));

        // nginx's access log beside it, with the secret in request lines, referrers and lines the ingest
        // skips (and keeps samples of): other paths, unknown ids, bad times.
        const when = clf(s.clock);
        const nginx = [
          `198.51.100.4 - - [${when}] "GET /v1/integrations/${b.id}/content?api_key=${b.password} HTTP/1.1" 200 51 "-" "FortiGate/7.4" "current"`,
          `198.51.100.4 - - [${when}] "GET /v1/other?api_key=${b.password} HTTP/1.1" 200 51 "https://${b.username}:${b.password}@h/" "x" "-"`,
          `198.51.100.4 - - [${when}] "GET /v1/integrations/int_00000000deadbeef/content?api_key=${a.password} HTTP/1.1" 401 51 "-" "x" "unknown_integration"`,
          `198.51.100.4 - - [99/Nov/2026:00:00:00 +0000] "GET /v1/integrations/${b.id}/content?api_key=${fresh} HTTP/1.1" 200 51 "-" "x" "current"`,
          // (A bare token with no name around it cannot be told from any other word, so none is written here.)
          `garbage password=${fresh} Authorization: ${basic(a.username, fresh)} api_key=${b.password}`,
        ];
        await writeFile(join(logs, 'nginx-access.log'), `${nginx.join('\n')}\n`);

        // A cycle reads the sealed pull log and notifies into the file outbox.
        await pullLog.seal();
        const printed: string[] = [];
        const report = await runCycle({
          store,
          source: new DirectorySource(logs),
          publisher: new FilePublisher(outboxPath(config), (line) => printed.push(line)),
          now: addSeconds(s.clock, 120),
          ...SETTINGS,
        });
        expect(report.errors).toEqual([]);
        expect(report.ingest?.records).toBeGreaterThan(30);
        expect(report.notify?.sent.length).toBeGreaterThan(0);
        const detail = await get(`${s.base}/v1/integrations/${a.id}`, {
          headers: { authorization: `Bearer ${key}` },
        });
        answers.push(detail);
        expect(JSON.parse(detail.text).last_attempt_auth).toBe('previous_expired');

        // Now search everything.
        await context.close();
        // Everything but the nginx log the test itself wrote as input.
        const files = [...(await everyFile(dataDir)), ...(await everyFile(logs))].filter(
          (file) => !file.path.endsWith('nginx-access.log'),
        );
        expect(files.some((file) => file.path.endsWith('outbox.jsonl'))).toBe(true);
        expect(files.some((file) => file.path.includes(`${join(logs, 'content')}`))).toBe(true);
        const places: Array<[string, string]> = [
          ...files.map((file): [string, string] => [file.path, file.content.toString('latin1')]),
          ...answers.map((answer, index): [string, string] => [
            `answer ${index}`,
            `${answer.status}\n${[...answer.headers].map(([n, v]) => `${n}: ${v}`).join('\n')}\n\n${answer.text}`,
          ]),
          ['logged records', JSON.stringify(s.logged)],
          ['log errors', JSON.stringify(s.logErrors)],
          ['printed notifications', printed.join('\n')],
          ['stdout and stderr', output.join('')],
          ['cycle report', JSON.stringify(report)],
        ];
        expect(answers.length).toBeGreaterThan(100);
        const leaks: string[] = [];
        for (const { password, username } of passwords)
          for (const needle of needles(password, username))
            for (const [where, text] of places) {
              const index = text.indexOf(needle);
              if (index !== -1)
                leaks.push(`${where}: ${JSON.stringify(text.slice(Math.max(0, index - 160), index + 40))}`);
            }
        expect(leaks).toEqual([]);
      } finally {
        await s.close();
        await pullLog.seal().catch(() => null);
      }
    } finally {
      await context.close();
    }
  });
});
