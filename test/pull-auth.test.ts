import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntegration, refreshCredentials } from '../shared/integration/ops.ts';
import { ContentPullLog } from '../shared/local/pull-log.ts';
import { createOrg } from '../shared/org/index.ts';
import { parseLine } from '../shared/pulls/parse.ts';
import { addSeconds } from '../shared/time.ts';
import { freshStore, type MeteredStore, TEST_SECRET, useTestDb } from './kit/db.ts';
import { tempDir, useTempDirs } from './kit/files.ts';
import { clf } from './kit/lines.ts';
import { basic, get, type PullServer, pullServer } from './kit/pull-server.ts';
import { at, T0 } from './kit/time.ts';

/**
 * `GET /v1/pull-auth` (nginx auth_request) over real HTTP: 204 or 401 with the outcome in X-Pullwatch-Auth,
 * the api_key read from X-Original-URI's query, a misconfigured X-Original-URI refused with 400, and nothing
 * recorded by pullwatch itself. Then the other half of the contract: the nginx combined line with the outcome
 * appended (the README's log_format) parses with that outcome.
 */

useTestDb();
useTempDirs();

let store: MeteredStore;
let s: PullServer;
let logs: string;
let id: string;
let username: string;
let old: string;
let fresh: string;
let graceEnd: string;

beforeAll(async () => {
  store = await freshStore();
  const org = await createOrg(store, 'Acme', T0);
  const made = await createIntegration(
    store,
    TEST_SECRET,
    org.id,
    { name: 'nginx-fronted', kind: 'firewall' },
    T0,
  );
  id = made.integration.id;
  username = made.credentials.username;
  old = made.credentials.password;
  const refreshed = await refreshCredentials(store, TEST_SECRET, org.id, id, 3600, at(1));
  fresh = refreshed.credentials.password;
  graceEnd = refreshed.integration.credentials.previous_valid_until as string;
  logs = await tempDir('pull-auth-logs');
  // The content endpoint is mounted too, with a pull log: /v1/pull-auth must still write nothing to it.
  s = await pullServer(store, {
    clock: at(1.5),
    content: { log: new ContentPullLog(logs), blocklist: async () => '192.0.2.1\n' },
  });
});

afterAll(async () => {
  await s?.close();
});

const uri = (query = '') => `/v1/integrations/${id}/content${query}`;

async function pullAuth(headers: Record<string, string>, path = '/v1/pull-auth') {
  return get(`${s.base}${path}`, { headers });
}

describe('GET /v1/pull-auth', () => {
  it('204 with X-Pullwatch-Auth: current, or previous_in_grace, for every form', async () => {
    s.clock = at(1.5);
    const cases: Array<[Record<string, string>, string]> = [
      [{ 'x-original-uri': uri(), authorization: basic(username, fresh) }, 'current'],
      [{ 'x-original-uri': uri(), 'x-api-key': fresh }, 'current'],
      [{ 'x-original-uri': uri(`?api_key=${fresh}`) }, 'current'],
      [
        { 'x-original-uri': `/blocklist${uri(`?format=txt&api_key=${encodeURIComponent(fresh)}#frag`)}` },
        'current',
      ],
      [{ 'x-original-uri': uri(), authorization: basic(username, old) }, 'previous_in_grace'],
      [{ 'x-original-uri': uri(`?api_key=${old}`) }, 'previous_in_grace'],
    ];
    for (const [headers, outcome] of cases) {
      const answer = await pullAuth(headers);
      expect(answer.status, JSON.stringify(headers)).toBe(204);
      expect(answer.headers.get('x-pullwatch-auth')).toBe(outcome);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.text).toBe('');
    }
  });

  it('401 with a Basic challenge and the refusal code for each refusal', async () => {
    s.clock = at(1.5);
    const cases: Array<[Record<string, string>, string]> = [
      [{ 'x-original-uri': uri(), authorization: basic(username, 'nope') }, 'wrong_password'],
      [{ 'x-original-uri': uri('?api_key=nope') }, 'wrong_password'],
      [{ 'x-original-uri': uri(), authorization: basic('someone-else', fresh) }, 'wrong_password'],
      [{ 'x-original-uri': uri() }, 'no_credentials'],
      [
        { 'x-original-uri': '/v1/integrations/int_00000000deadbeef/content', 'x-api-key': fresh },
        'unknown_integration',
      ],
    ];
    for (const [headers, outcome] of cases) {
      const answer = await pullAuth(headers);
      expect(answer.status, JSON.stringify(headers)).toBe(401);
      expect(answer.headers.get('x-pullwatch-auth')).toBe(outcome);
      expect(answer.headers.get('www-authenticate')).toMatch(/^Basic realm="pullwatch"/);
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
      // nginx passes the header on; the body itself does not say why.
      expect(answer.text).not.toContain(outcome);
    }
    // The old password after its grace ends, to the millisecond.
    s.clock = addSeconds(graceEnd, -0.001);
    expect(
      (await pullAuth({ 'x-original-uri': uri(`?api_key=${old}`) })).headers.get('x-pullwatch-auth'),
    ).toBe('previous_in_grace');
    s.clock = graceEnd;
    const expired = await pullAuth({ 'x-original-uri': uri(`?api_key=${old}`) });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('x-pullwatch-auth')).toBe('previous_expired');
  });

  it('X-Pullwatch-Credential says query whenever the URL carries an api_key, else the form, never a secret', async () => {
    s.clock = at(1.5);
    const cases: Array<[Record<string, string>, string]> = [
      [{ 'x-original-uri': uri(), authorization: basic(username, fresh) }, 'basic'],
      [{ 'x-original-uri': uri(), authorization: basic(username, 'nope') }, 'basic'],
      [{ 'x-original-uri': uri(), 'x-api-key': fresh }, 'header'],
      [{ 'x-original-uri': uri(`?api_key=${fresh}`) }, 'query'],
      [{ 'x-original-uri': uri('?api_key=nope') }, 'query'],
      // Checked as basic auth, but the URL still carried a password: that is what gets logged on the way.
      [{ 'x-original-uri': uri(`?api_key=${fresh}`), authorization: basic(username, fresh) }, 'query'],
      [{ 'x-original-uri': uri('?api_key=') }, 'none'],
      [{ 'x-original-uri': uri('?format=plain') }, 'none'],
      [{ 'x-original-uri': '/v1/integrations/int_00000000deadbeef/content?api_key=x' }, 'query'],
    ];
    for (const [headers, mark] of cases) {
      const answer = await pullAuth(headers);
      expect(answer.headers.get('x-pullwatch-credential'), JSON.stringify(headers)).toBe(mark);
    }
  });

  it('api_key is taken from X-Original-URI only, not from the auth subrequest’s own query', async () => {
    s.clock = at(1.5);
    const answer = await pullAuth({ 'x-original-uri': uri() }, `/v1/pull-auth?api_key=${fresh}`);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('x-pullwatch-auth')).toBe('no_credentials');
  });

  it('a missing or odd X-Original-URI is a misconfiguration: 400 problem, no outcome header', async () => {
    for (const headers of [
      {},
      { 'x-original-uri': '' },
      { 'x-original-uri': '/' },
      { 'x-original-uri': '/v1/integrations/content' },
      { 'x-original-uri': '/v1/integrations//content' },
      { 'x-original-uri': `/v1/integrations/${id}/content/extra` },
      { 'x-original-uri': `/v1/integrations/${id}` },
      { 'x-original-uri': `?api_key=${fresh}` },
      { 'x-original-uri': 'x'.repeat(9000) },
    ] as Array<Record<string, string>>) {
      const answer = await pullAuth({ ...headers, 'x-api-key': fresh });
      expect(answer.status, JSON.stringify(headers).slice(0, 80)).toBe(400);
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
      expect(answer.headers.get('x-pullwatch-auth')).toBeNull();
      expect(answer.text).not.toContain(fresh);
    }
  });

  it('records nothing: the log directory stays empty and no table item is written', async () => {
    const writes = () =>
      Object.entries(store.usage.requests)
        .filter(([label]) => label.startsWith('write.'))
        .reduce((sum, [, count]) => sum + count, 0);
    const before = writes();
    for (let index = 0; index < 20; index += 1) {
      await pullAuth({ 'x-original-uri': uri(`?api_key=${index % 2 === 0 ? fresh : 'nope'}`) });
      await pullAuth({ 'x-original-uri': uri(), authorization: basic(username, old) });
    }
    expect(writes()).toBe(before);
    expect(await readdir(logs)).toEqual([]);
    // The server's own request lines carry the path, never the original URI's api_key.
    const logged = JSON.stringify(s.logged);
    expect(logged).toContain('/v1/pull-auth');
    expect(logged).not.toContain(fresh);
    expect(logged).not.toContain(old);
  });
});

describe('nginx combined lines with the outcome field (the README log_format)', () => {
  /**
   * `log_format pullwatch '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
   * "$http_referer" "$http_user_agent" "$pullwatch_auth"';` with `auth_request_set $pullwatch_auth
   * $upstream_http_x_pullwatch_auth;`. nginx writes `-` for an empty variable and escapes `"` as `\x22`.
   */
  const nginx = (
    fields: { user?: string; request?: string; status?: number; agent?: string; auth: string },
    time = at(2),
  ) =>
    `198.51.100.4 - ${fields.user ?? '-'} [${clf(time)}] "${fields.request ?? `GET ${uri('?api_key=secret-value')} HTTP/1.1`}" ${fields.status ?? 200} 5123 "-" "${fields.agent ?? 'FortiGate/7.4.3'}" "${fields.auth}"`;

  it('reads every outcome code from the extra field', () => {
    const cases: Array<[string, number]> = [
      ['current', 200],
      ['previous_in_grace', 200],
      ['previous_expired', 401],
      ['wrong_password', 401],
      ['no_credentials', 401],
      ['unknown_integration', 401],
    ];
    for (const [auth, status] of cases) {
      const parsed = parseLine(nginx({ auth, status }));
      expect(parsed, auth).toEqual({
        ok: true,
        record: {
          time: at(2),
          integration_id: id,
          method: 'GET',
          status,
          ip: '198.51.100.4',
          user_agent: 'FortiGate/7.4.3',
          auth,
          // The old format logs `$request` whole: its query shows the password rode in the URL.
          credential_in_url: true,
        },
      });
    }
  });

  it('"-" (no auth_request ran, or no header) and unknown values give no outcome; the line still counts', () => {
    for (const auth of ['-', '', 'CURRENT', 'maybe', 'current password']) {
      const parsed = parseLine(nginx({ auth }));
      expect(parsed?.ok, auth).toBe(true);
      if (parsed?.ok) {
        expect(parsed.record.integration_id).toBe(id);
        expect(parsed.record.auth, auth).toBeUndefined();
      }
    }
    // The plain combined format (no extra field) is unchanged.
    const plain = parseLine(
      `198.51.100.4 - - [${clf(at(2))}] "GET ${uri()} HTTP/1.1" 200 5123 "-" "FortiGate/7.4.3"`,
    );
    expect(plain).toMatchObject({ ok: true, record: { status: 200, user_agent: 'FortiGate/7.4.3' } });
    if (plain?.ok) expect(plain.record.auth).toBeUndefined();
  });

  it('the README format: the path without its query, then the credential mark; old lines still parse', () => {
    const line = (request: string, auth: string, mark?: string) =>
      `198.51.100.4 - - [${clf(at(2))}] "${request}" 200 5123 "-" "FortiGate/7.4.3" "${auth}"${mark === undefined ? '' : ` "${mark}"`}`;
    const path = `GET ${uri()} HTTP/1.1`;
    for (const [text, inUrl, auth] of [
      [line(path, 'current', 'query'), true, 'current'],
      [line(path, 'wrong_password', 'query'), true, 'wrong_password'],
      [line(path, 'current', 'basic'), false, 'current'],
      [line(path, 'current', 'header'), false, 'current'],
      [line(path, 'no_credentials', 'none'), false, 'no_credentials'],
      // The check did not answer (pullwatch down): nginx writes "" (or "-" for a variable never set); nothing
      // is known, and the line still counts.
      [line(path, '', ''), false, undefined],
      [line(path, '-', '-'), false, undefined],
      [line(path, 'current', 'QUERY'), false, 'current'],
      // Lines of the previous format: the outcome only, the query in the request.
      [line(path, 'current'), false, 'current'],
      [line(`GET ${uri('?api_key=hunter2')} HTTP/1.1`, 'current'), true, 'current'],
      [line(`GET ${uri('?api_key=')} HTTP/1.1`, 'no_credentials'), false, 'no_credentials'],
    ] as Array<[string, boolean, string | undefined]>) {
      const parsed = parseLine(text);
      expect(parsed?.ok, text).toBe(true);
      if (!parsed?.ok) continue;
      expect(parsed.record.credential_in_url === true, text).toBe(inUrl);
      expect(parsed.record.auth, text).toBe(auth);
      expect(JSON.stringify(parsed.record)).not.toContain('hunter2');
    }
  });

  it('a basic-auth user name, an agent with escaped quotes and a HEAD keep the outcome', () => {
    const parsed = parseLine(
      nginx({
        user: username,
        request: `HEAD ${uri()} HTTP/1.1`,
        agent: 'curl/8.5 \\x22quoted\\x22',
        auth: 'previous_expired',
        status: 401,
      }),
    );
    expect(parsed).toMatchObject({
      ok: true,
      record: { method: 'HEAD', status: 401, user_agent: 'curl/8.5 "quoted"', auth: 'previous_expired' },
    });
  });
});
