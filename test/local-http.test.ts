import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, MAX_BODY_BYTES } from '../shared/api/app.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import { listenLocal } from '../shared/local/http.ts';
import { systemClock } from '../shared/time.ts';
import { newTenant, recordLog, type Tenant } from './api-kit.ts';
import { freshStore, type MeteredStore, startTestDb, TEST_SECRET } from './kit/db.ts';
import { chunked, head, type RawAnswer, RawConnection } from './kit/raw-http.ts';

/**
 * The local server against raw keep-alive sockets: refusals sent before the body was read must leave either a
 * usable connection or one closed cleanly after `Connection: close`; requests the adapter or Node would answer
 * bare get the app's problem shape; a client that walks away mid-upload is not an error of ours.
 */

let db: EmbeddedDb;
let store: MeteredStore;
let server: Server;
let port = 0;
let tenant: Tenant;
const logged: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  db = await startTestDb();
  store = await freshStore(db);
  tenant = await newTenant(store);
  const log = recordLog(logged);
  const app = createApp({ store, secret: TEST_SECRET, now: systemClock, staleAfterSeconds: 0, log });
  server = await listenLocal(app.fetch, {
    port: 0,
    hostname: '127.0.0.1',
    maxBodyBytes: MAX_BODY_BYTES,
    log,
  });
  port = (server.address() as AddressInfo).port;
}, 30_000);

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  store?.table.client.destroy();
  await db?.close();
});

const health = head('GET /v1/health HTTP/1.1', { Host: 'localhost' });

function expectProblemAnswer(answer: RawAnswer | null, status: number) {
  expect(answer, 'no answer').not.toBeNull();
  const { headers, body } = answer as RawAnswer;
  expect(answer?.status, body).toBe(status);
  expect(headers['content-type']).toContain('application/problem+json');
  expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  const problem = JSON.parse(body);
  expect(problem).toMatchObject({ type: 'about:blank', status, request_id: headers['x-request-id'] });
  expect(typeof problem.title).toBe('string');
  expect(problem.detail.length).toBeGreaterThan(0);
}

/**
 * After `answer`: with `Connection: close` the server must close without a reset; otherwise the same
 * connection must answer the next request.
 */
async function expectUsableOrCleanlyClosed(connection: RawConnection, answer: RawAnswer | null) {
  if (answer?.headers.connection?.toLowerCase() === 'close') {
    await connection.untilClosed();
    expect(connection.error?.code ?? null).toBeNull();
    expect(connection.ended || connection.closed).toBe(true);
    return 'closed';
  }
  await connection.write(health);
  const next = await connection.answer();
  expect(next?.status, `second request on the same connection: ${connection.error?.code}`).toBe(200);
  connection.destroy();
  return 'reused';
}

const post = (headers: Record<string, string | number>) =>
  head('POST /v1/integrations HTTP/1.1', {
    Host: 'localhost',
    Authorization: `Bearer ${tenant.writeKey}`,
    'Content-Type': 'application/json',
    Connection: 'keep-alive',
    ...headers,
  });

describe('early refusals keep the connection usable or close it cleanly', () => {
  const sizes = [70 * 1024, 200 * 1024, 2 * 1024 * 1024, 8 * 1024 * 1024];

  it.each(sizes)('a %i-byte body with Content-Length, sent whole', async (size) => {
    const connection = await RawConnection.open(port);
    void connection.write(
      Buffer.concat([Buffer.from(post({ 'Content-Length': size })), Buffer.alloc(size, 0x61)]),
    );
    const answer = await connection.answer();
    expectProblemAnswer(answer, 413);
    await expectUsableOrCleanlyClosed(connection, answer);
  });

  it.each(sizes)('a %i-byte chunked body, sent whole', async (size) => {
    const connection = await RawConnection.open(port);
    void connection.write(
      Buffer.concat([Buffer.from(post({ 'Transfer-Encoding': 'chunked' })), chunked(size)]),
    );
    const answer = await connection.answer();
    expectProblemAnswer(answer, 413);
    await expectUsableOrCleanlyClosed(connection, answer);
  });

  it('a 2 MB body behind Expect: 100-continue is refused without inviting it', async () => {
    const connection = await RawConnection.open(port);
    await connection.write(post({ 'Content-Length': 2 * 1024 * 1024, Expect: '100-continue' }));
    const answer = await connection.answer();
    expectProblemAnswer(answer, 413);
    await expectUsableOrCleanlyClosed(connection, answer);
  });

  it('a small body behind Expect: 100-continue is invited and served', async () => {
    const body = JSON.stringify({ name: 'Continue FW', kind: 'firewall' });
    const connection = await RawConnection.open(port);
    await connection.write(post({ 'Content-Length': Buffer.byteLength(body), Expect: '100-continue' }));
    expect((await connection.answer())?.status).toBe(100);
    await connection.write(body);
    expect((await connection.answer())?.status).toBe(201);
    expect(await expectUsableOrCleanlyClosed(connection, null)).toBe('reused');
  });

  it('a slow chunked upload that passes the limit midway', async () => {
    const connection = await RawConnection.open(port);
    await connection.write(post({ 'Transfer-Encoding': 'chunked' }));
    let answer: RawAnswer | null = null;
    const answered = connection.answer().then((found) => {
      answer = found;
    });
    for (let sent = 0; sent < 400 * 1024 && answer === null; sent += 32 * 1024) {
      await connection.write(chunked(32 * 1024).subarray(0, -5));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await answered;
    expectProblemAnswer(answer, 413);
    await expectUsableOrCleanlyClosed(connection, answer);
  });

  it("Node's fetch can go on after a 2 MB refusal", async () => {
    const base = `http://127.0.0.1:${port}`;
    for (let round = 0; round < 6; round += 1) {
      const refused = await fetch(`${base}/v1/integrations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenant.writeKey}`, 'content-type': 'application/json' },
        body: 'x'.repeat(2 * 1024 * 1024),
      });
      expect(refused.status).toBe(413);
      await refused.text();
      const next = await fetch(`${base}/v1/health`);
      expect(next.status).toBe(200);
      await next.text();
    }
  });
});

describe('malformed requests get the problem shape', () => {
  const malformed: Array<[string, string, number]> = [
    ['a backslash in the path', head('GET /v1\\health HTTP/1.1', { Host: 'localhost' }), 400],
    ['a leading double backslash', head('GET /\\\\evil.example/ HTTP/1.1', { Host: 'localhost' }), 400],
    ['a Host with a space', head('GET /v1/health HTTP/1.1', { Host: 'exa mple' }), 400],
    ['a Host with a path', head('GET /v1/health HTTP/1.1', { Host: 'example/evil' }), 400],
    ['a Host with user info', head('GET /v1/health HTTP/1.1', { Host: 'user@example' }), 400],
    ['an unclosed IPv6 Host', head('GET /v1/health HTTP/1.1', { Host: '[::1' }), 400],
    ['no Host at all', head('GET /v1/health HTTP/1.1'), 400],
    ['OPTIONS *', head('OPTIONS * HTTP/1.1', { Host: 'localhost' }), 400],
    [
      'an absolute URL with an unclosed IPv6 host',
      head('GET http://[::1/v1/health HTTP/1.1', { Host: 'x' }),
      400,
    ],
    [
      'an absolute URL with a backslash',
      head('GET http://localhost/v1\\health HTTP/1.1', { Host: 'x' }),
      400,
    ],
    ['an absolute URL without a host', head('GET http:///v1/health HTTP/1.1', { Host: 'x' }), 400],
    ['an unsupported Expect', head('GET /v1/health HTTP/1.1', { Host: 'localhost', Expect: 'teapot' }), 417],
    [
      'a header line without a colon',
      'GET /v1/health HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n',
      400,
    ],
    ['not HTTP at all', 'HELLO THERE\r\n\r\n', 400],
    [
      'headers over the limit',
      head('GET /v1/health HTTP/1.1', { Host: 'localhost', 'X-Big': 'b'.repeat(20_000) }),
      431,
    ],
  ];

  it.each(malformed)('%s', async (_name, request, status) => {
    const connection = await RawConnection.open(port);
    await connection.write(request);
    const answer = await connection.answer();
    expectProblemAnswer(answer, status);
    await expectUsableOrCleanlyClosed(connection, answer);
  });
});

describe('a client that aborts an upload', () => {
  it('is logged as an aborted request, not as an unhandled error, and gets no 500', async () => {
    const before = logged.length;
    for (let round = 0; round < 3; round += 1) {
      const connection = await RawConnection.open(port);
      await connection.write(post({ 'Transfer-Encoding': 'chunked' }));
      await connection.write(chunked(8 * 1024).subarray(0, -5));
      await new Promise((resolve) => setTimeout(resolve, 50));
      connection.destroy();
    }
    const deadline = Date.now() + 5_000;
    while (logged.slice(before).filter((line) => line.message === 'client aborted').length < 3) {
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const lines = logged.slice(before);
    expect(lines.filter((line) => line.message === 'client aborted')).toHaveLength(3);
    expect(lines.filter((line) => line.level === 'error')).toEqual([]);
    expect(lines.filter((line) => line.status === 500)).toEqual([]);
  });
});
