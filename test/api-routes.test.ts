import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { type ApiDeps, createApp } from '../shared/api/app.ts';
import { ROUTES } from '../shared/api/openapi.ts';
import { verifyCredentials } from '../shared/auth/index.ts';
import type { Integration } from '../shared/integration/index.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import { runRules } from '../shared/rules/index.ts';
import { Store } from '../shared/store/index.ts';
import type { Iso } from '../shared/time.ts';
import {
  type App,
  client,
  expectNoLeak,
  expectProblem,
  ids,
  names,
  newTenant,
  type Reply,
  recordPull,
  type Tenant,
} from './api-kit.ts';
import { at, freshStore, startTestDb, T0, TEST_SECRET } from './helpers.ts';

let db: EmbeddedDb;
const stores: Store[] = [];
/** Every error body of this file, checked for leaks at the end. */
const errorBodies: string[] = [];

/** One table, one API on it with a clock the test moves, and one tenant. */
interface World {
  store: Store;
  app: App;
  clock: Iso;
  tenant: Tenant;
  call: ReturnType<typeof client>;
}

async function world(options: Partial<ApiDeps> = {}): Promise<World> {
  const store = await freshStore(db);
  stores.push(store);
  const tenant = await newTenant(store);
  const w = { store, clock: T0, tenant } as World;
  w.app = createApp({ store, secret: TEST_SECRET, now: () => w.clock, ...options });
  w.call = client(w.app, errorBodies);
  return w;
}

type Created = { id: string; name: string; username: string; password: string } & Record<string, unknown>;

async function create(w: World, body: Record<string, unknown>, key = w.tenant.writeKey): Promise<Created> {
  const reply = await w.call('POST', '/v1/integrations', { key, json: { kind: 'firewall', ...body } });
  expect(reply.status, reply.text).toBe(201);
  return reply.body;
}

async function stored(w: World, id: string, orgId = w.tenant.orgId): Promise<Integration> {
  const integration = await w.store.getIntegration(orgId, id);
  if (!integration) throw new Error(`integration ${id} is not stored`);
  return integration;
}

/** Follows next_cursor from the first page to the last; fails on a loop. */
async function pages(w: World, path: string, key = w.tenant.readKey) {
  const items: Array<Record<string, unknown> & { id: string; name: string }> = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  do {
    const separator = path.includes('?') ? '&' : '?';
    const url: string = cursor ? `${path}${separator}cursor=${encodeURIComponent(cursor)}` : path;
    const reply = await w.call('GET', url, { key });
    expect(reply.status, `${url}: ${reply.text}`).toBe(200);
    items.push(...reply.body.items);
    sizes.push(reply.body.items.length);
    cursor = reply.body.next_cursor;
    expect(sizes.length).toBeLessThan(200);
  } while (cursor);
  return { items, sizes };
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
const decode = (cursor: string) => JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));

beforeAll(async () => {
  db = await startTestDb();
});

afterAll(async () => {
  for (const store of stores) store.client.destroy();
  await db?.close();
});

describe('GET /v1/integrations: console order and filters', () => {
  /** name, group (expected order of groups), status, and how it is made. */
  const GROUPS = ['offline', 'auth_failing', 'never_pulled', 'online', 'paused'] as const;
  let w: World;
  const expected: Array<{ name: string; group: (typeof GROUPS)[number]; status: string }> = [];

  beforeAll(async () => {
    w = await world({ staleAfterSeconds: 0 });
    const make = async (
      name: string,
      group: (typeof GROUPS)[number],
      status: string,
      body: Record<string, unknown> = {},
    ) => {
      const created = await create(w, { name, ...body });
      expected.push({ name, group, status });
      return created.id;
    };
    // Created at T0; the rule pass runs at 2 h, past the 1 h threshold of the ones meant to go offline.
    await make('delta', 'offline', 'offline', { offline_after_seconds: 3600 });
    await make('Alpha', 'offline', 'offline', { offline_after_seconds: 3600, vendor: 'fortigate' });
    const charlie = await make('charlie', 'offline', 'offline', { offline_after_seconds: 3600 });
    await make('kilo', 'offline', 'offline', {
      offline_after_seconds: 3600,
      kind: 'remediation_component',
    });
    const lima = await make('lima', 'auth_failing', 'online');
    await make('Echo', 'never_pulled', 'never_pulled');
    await make('bravo', 'never_pulled', 'never_pulled');
    const golf = await make('golf', 'online', 'online', { vendor: 'fortigate' });
    const foxtrot = await make('Foxtrot', 'online', 'online');
    await make('hotel', 'paused', 'paused', { paused: true });
    await make('India', 'paused', 'paused', { paused: true, kind: 'remediation_component' });
    const juliet = await make('juliet', 'paused', 'paused', { offline_after_seconds: 3600 });

    const { store } = w;
    const org = w.tenant.orgId;
    await recordPull(store, org, charlie, at(0.5));
    await recordPull(store, org, golf, at(1.5));
    await recordPull(store, org, foxtrot, at(1.5));
    // Pulled, then rejected three times over 18 minutes: the credentials-rejected early warning.
    await recordPull(store, org, lima, at(0.25));
    for (const hours of [1, 1.1, 1.3]) await recordPull(store, org, lima, at(hours), 401);

    w.clock = at(2);
    const report = await runRules({ store, now: w.clock, staleAfterSeconds: 0 });
    expect(report.opened.map((change) => change.type).sort()).toEqual([
      'fw_integration_offline',
      'fw_integration_offline',
      'fw_integration_offline',
      'fw_integration_offline',
      'integration_auth_failing',
      'rc_integration_offline',
    ]);
    // Offline with an open issue, then paused: paused wins.
    const paused = await w.call('PATCH', `/v1/integrations/${juliet}`, {
      key: w.tenant.writeKey,
      json: { paused: true },
    });
    expect(paused.status).toBe(200);
    // A sixth integration in another organization of the same table, never listed here.
    const other = await newTenant(w.store);
    await create(w, { name: 'aaa other org' }, other.writeKey);
  });

  const order = () =>
    [...expected].sort((x, y) => {
      const group = GROUPS.indexOf(x.group) - GROUPS.indexOf(y.group);
      if (group !== 0) return group;
      const left = x.name.toLowerCase();
      const right = y.name.toLowerCase();
      return left < right ? -1 : left > right ? 1 : 0;
    });

  it('lists offline first, then early warnings, never pulled, online, paused, by name within each', async () => {
    const reply = await w.call('GET', '/v1/integrations', { key: w.tenant.readKey });
    expect(reply.status).toBe(200);
    expect(names(reply.body.items)).toEqual(order().map((item) => item.name));
    expect(names(reply.body.items)).toEqual([
      'Alpha',
      'charlie',
      'delta',
      'kilo',
      'lima',
      'bravo',
      'Echo',
      'Foxtrot',
      'golf',
      'hotel',
      'India',
      'juliet',
    ]);
    expect(reply.body.items.map((item: { status: string }) => item.status)).toEqual(
      order().map((item) => item.status),
    );
    expect(reply.body.next_cursor).toBeNull();
  });

  it('keeps the same order page by page', async () => {
    for (const limit of [1, 2, 5, 11]) {
      const { items, sizes } = await pages(w, `/v1/integrations?limit=${limit}`);
      expect(names(items)).toEqual(order().map((item) => item.name));
      expect(Math.max(...sizes)).toBeLessThanOrEqual(limit);
    }
  });

  it('filters by derived status, kind, vendor and name, alone and combined, in the same order', async () => {
    const expectNames = async (query: string, wanted: string[]) => {
      const reply = await w.call('GET', `/v1/integrations?${query}`, { key: w.tenant.readKey });
      expect(reply.status, `${query}: ${reply.text}`).toBe(200);
      expect(names(reply.body.items), query).toEqual(wanted);
      // Page by page too (the status filter applies after the index read).
      const paged = await pages(w, `/v1/integrations?${query}&limit=1`);
      expect(names(paged.items), `${query} paged`).toEqual(wanted);
    };
    await expectNames('status=offline', ['Alpha', 'charlie', 'delta', 'kilo']);
    await expectNames('status=never_pulled', ['bravo', 'Echo']);
    await expectNames('status=online', ['lima', 'Foxtrot', 'golf']);
    await expectNames('status=paused', ['hotel', 'India', 'juliet']);
    await expectNames('kind=remediation_component', ['kilo', 'India']);
    await expectNames('kind=firewall&status=paused', ['hotel', 'juliet']);
    await expectNames('vendor=fortigate', ['Alpha', 'golf']);
    await expectNames('vendor=fortigate&status=online', ['golf']);
    await expectNames('q=LI', ['charlie', 'lima', 'juliet']);
    await expectNames('q=li&status=paused', ['juliet']);
    await expectNames('q=zzz', []);
    await expectNames('q=other', []);
  });

  it('rejects unknown filter values with 400 naming the field', async () => {
    for (const [query, field] of [
      ['status=sleeping', 'status'],
      ['kind=router', 'kind'],
      ['vendor=acme', 'vendor'],
      ['q=', 'q'],
      [`q=${'x'.repeat(101)}`, 'q'],
      ['sort=name', 'sort'],
    ]) {
      const reply = await w.call('GET', `/v1/integrations?${query}`, { key: w.tenant.readKey });
      expectProblem(reply, 400);
      expect(reply.body.detail, query).toContain(field);
    }
  });

  it('orders a name before the longer names it starts', async () => {
    // list_sk is "rank#name#id": "edge fw#..." sorts before "edge#..." because " " < "#".
    const x = await world();
    for (const name of ['Edge-2', 'Edge FW', 'Edge', 'Edge#1']) await create(x, { name });
    const reply = await x.call('GET', '/v1/integrations', { key: x.tenant.readKey });
    expect(names(reply.body.items)).toEqual(['Edge', 'Edge FW', 'Edge#1', 'Edge-2']);
  });
});

describe('GET /v1/integrations: limit and cursors', () => {
  let w: World;
  let expectedIds: string[];
  let stranger: Tenant;

  beforeAll(async () => {
    w = await world();
    const made: Array<{ id: string; name: string; rank: number }> = [];
    for (let batch = 0; batch < 120; batch += 20) {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, offset) => {
          const index = batch + offset;
          // Names out of creation order, mixed case, and three of the five ranks.
          const name = `${index % 2 === 0 ? 'FW' : 'fw'}-${String((index * 37) % 120).padStart(3, '0')}`;
          return createIntegration(
            w.store,
            TEST_SECRET,
            w.tenant.orgId,
            { name, kind: 'firewall', paused: index % 7 === 0 },
            T0,
          ).then((result) => ({ index, result }));
        }),
      );
      for (const { index, result } of results) {
        const integration = result.integration;
        if (index % 5 === 0 && !integration.paused)
          await recordPull(w.store, w.tenant.orgId, integration.id, at(1));
        made.push({
          id: integration.id,
          name: integration.name,
          rank: integration.paused ? 5 : index % 5 === 0 ? 4 : 3,
        });
      }
    }
    w.clock = at(2);
    made.sort((x, y) => x.rank - y.rank || (x.name.toLowerCase() < y.name.toLowerCase() ? -1 : 1));
    expectedIds = made.map((item) => item.id);
    stranger = await newTenant(w.store);
    for (const name of ['b-1', 'b-2', 'b-3']) await create(w, { name }, stranger.writeKey);
  });

  it('returns 50 by default, up to 100, and refuses 101 with 400', async () => {
    const first = await w.call('GET', '/v1/integrations', { key: w.tenant.readKey });
    expect(first.status).toBe(200);
    expect(ids(first.body.items)).toEqual(expectedIds.slice(0, 50));
    expect(typeof first.body.next_cursor).toBe('string');

    const hundred = await w.call('GET', '/v1/integrations?limit=100', { key: w.tenant.readKey });
    expect(ids(hundred.body.items)).toEqual(expectedIds.slice(0, 100));

    for (const limit of ['101', '1000', '0', '-1', '2.5', 'fifty']) {
      const reply = await w.call('GET', `/v1/integrations?limit=${limit}`, { key: w.tenant.readKey });
      expectProblem(reply, 400);
      expect(reply.body.detail).toContain('limit');
    }
  });

  it('pages through 120 integrations, each exactly once and in order', async () => {
    for (const limit of [7, 50, 100]) {
      const { items, sizes } = await pages(w, `/v1/integrations?limit=${limit}`);
      expect(ids(items)).toEqual(expectedIds);
      expect(new Set(ids(items)).size).toBe(120);
      expect(sizes.slice(0, Math.floor(120 / limit))).toEqual(Array(Math.floor(120 / limit)).fill(limit));
    }
    const defaults = await pages(w, '/v1/integrations');
    expect(defaults.sizes).toEqual([50, 50, 20]);
    expect(ids(defaults.items)).toEqual(expectedIds);
  });

  it('pages a status filter across index pages', async () => {
    const paused = await pages(w, '/v1/integrations?status=paused&limit=4');
    expect(paused.items.length).toBe(18);
    expect(paused.items.every((item) => item.status === 'paused')).toBe(true);
    expect(ids(paused.items)).toEqual(expectedIds.slice(-18));
  });

  it('refuses a tampered cursor with 400', async () => {
    const first = await w.call('GET', '/v1/integrations?limit=10', { key: w.tenant.readKey });
    const cursor: string = first.body.next_cursor;
    const position = decode(cursor);
    const otherId = expectedIds[50] as string;
    const tampered = [
      cursor.slice(0, cursor.length - 6),
      `x${cursor}`,
      'not-a-cursor',
      encode({ ...position, i: otherId }),
      encode({ ...position, i: 'int_zzzz' }),
      encode({ s: position.s }),
      encode({ s: 1, i: position.i }),
      encode([position.s, position.i]),
      encode(null),
      encode({ s: 'x'.repeat(401), i: position.i }),
      'x'.repeat(1025),
    ];
    for (const bad of tampered) {
      const reply = await w.call('GET', `/v1/integrations?limit=10&cursor=${encodeURIComponent(bad)}`, {
        key: w.tenant.readKey,
      });
      expectProblem(reply, 400);
      expect(reply.body.detail, bad).toContain('cursor');
    }
  });

  it("never shows A's integrations to B with A's cursor", async () => {
    let cursor: string | null = null;
    for (let page = 0; page < 3; page += 1) {
      const query: string = cursor ? `limit=40&cursor=${encodeURIComponent(cursor)}` : 'limit=40';
      const own = await w.call('GET', `/v1/integrations?${query}`, { key: w.tenant.readKey });
      cursor = own.body.next_cursor;
      if (!cursor) break;
      const foreign = await w.call('GET', `/v1/integrations?cursor=${encodeURIComponent(cursor)}`, {
        key: stranger.readKey,
      });
      expect([200, 400]).toContain(foreign.status);
      for (const id of expectedIds) expect(foreign.text).not.toContain(id);
      expect(foreign.text).not.toContain(w.tenant.orgId);
    }
    const issues = await w.call('GET', '/v1/issues', { key: stranger.readKey });
    expect(issues.body.items).toEqual([]);
  });
});

describe('GET /v1/integrations/{id}', () => {
  it('adds open issues with their diagnosis, credential metadata without secrets, and transitions', async () => {
    const w = await world();
    const created = await create(w, { name: 'Edge FW', vendor: 'fortigate', offline_after_seconds: 3600 });
    w.clock = at(2);
    await runRules({ store: w.store, now: w.clock, staleAfterSeconds: 0 });
    w.clock = at(2.5);
    const refresh = await w.call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
      key: w.tenant.writeKey,
      json: { grace_seconds: 3600 },
    });
    expect(refresh.status).toBe(200);
    const raw = await w.store.doc.send(
      new GetCommand({
        TableName: w.store.tableName,
        Key: { pk: `ORG#${w.tenant.orgId}`, sk: `INT#${created.id}` },
      }),
    );
    const hashes = [raw.Item?.credentials?.password_hash, raw.Item?.credentials?.previous_password_hash];
    expect(hashes.every((hash) => typeof hash === 'string' && hash.length >= 32)).toBe(true);

    const reply = await w.call('GET', `/v1/integrations/${created.id}`, { key: w.tenant.readKey });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      id: created.id,
      name: 'Edge FW',
      status: 'offline',
      open_issues: 1,
      credentials: {
        username: created.username,
        created_at: T0,
        rotated_at: at(2.5),
        previous_password_valid: true,
        previous_valid_until: at(3.5),
      },
    });
    expect(reply.body.issues).toHaveLength(1);
    expect(reply.body.issues[0]).toMatchObject({
      type: 'fw_integration_offline',
      integration_id: created.id,
      state: 'open',
      opened_at: at(1),
      diagnosis: { code: 'never_pulled', summary: expect.any(String), steps: expect.any(Array) },
    });
    expect(reply.body.issues[0].diagnosis.steps.length).toBeGreaterThan(0);
    expect(reply.body.transitions).toEqual([
      expect.objectContaining({
        kind: 'issue_opened',
        issue_id: reply.body.issues[0].id,
        issue_type: 'fw_integration_offline',
        from_status: 'never_pulled',
        to_status: 'offline',
        at: at(1),
      }),
    ]);

    // No secret and no hash, under any name.
    for (const secret of [created.password, refresh.body.password, ...hashes]) {
      expect(reply.text).not.toContain(secret);
    }
    const keys: string[] = [];
    const walk = (value: unknown) => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) {
          keys.push(key);
          walk(inner);
        }
      }
    };
    walk(reply.body);
    expect(keys.filter((key) => /hash|secret|^password$|salt/i.test(key))).toEqual([]);
    for (const value of JSON.stringify(reply.body).match(/[0-9a-f]{64}/g) ?? []) {
      expect(hashes).not.toContain(value);
    }

    // After the grace window the metadata says so.
    w.clock = at(3.5);
    const later = await w.call('GET', `/v1/integrations/${created.id}`, { key: w.tenant.readKey });
    expect(later.body.credentials).toMatchObject({
      previous_password_valid: false,
      previous_valid_until: at(3.5),
    });
  });
});

describe('GET /v1/integrations/{id}/events', () => {
  async function history() {
    const w = await world();
    const { writeKey, writeKeyId, readKey } = w.tenant;
    const post = await w.call('POST', '/v1/integrations', {
      key: writeKey,
      json: { name: 'Edge FW', kind: 'firewall' },
    });
    expect(post.status).toBe(201);
    const id: string = post.body.id;
    const passwords: string[] = [post.body.password];
    const requestIds: Record<string, string | null> = { created: post.headers.get('x-request-id') };

    w.clock = at(1);
    const refresh = await w.call('POST', `/v1/integrations/${id}/credentials/refresh`, {
      key: writeKey,
      json: { grace_seconds: 1800 },
    });
    expect(refresh.status).toBe(200);
    passwords.push(refresh.body.password);
    requestIds.credentials_refreshed = refresh.headers.get('x-request-id');

    w.clock = at(2);
    const pause = await w.call('PATCH', `/v1/integrations/${id}`, { key: writeKey, json: { paused: true } });
    requestIds.paused = pause.headers.get('x-request-id');
    w.clock = at(3);
    const resume = await w.call('PATCH', `/v1/integrations/${id}`, {
      key: writeKey,
      json: { paused: false },
    });
    requestIds.resumed = resume.headers.get('x-request-id');
    for (const value of Object.values(requestIds)) expect(value).toMatch(/^[\w=-]{8,}$/);
    return { w, id, passwords, requestIds, writeKeyId, readKey, writeKey };
  }

  it('records who did what, when and in which request; derives the end of the grace window; never a secret', async () => {
    const { w, id, passwords, requestIds, writeKeyId, readKey } = await history();

    // Inside the grace window: no expiry yet.
    w.clock = at(1.25);
    const early = await w.call('GET', `/v1/integrations/${id}/events`, { key: readKey });
    expect(early.status).toBe(200);
    expect(early.body.items.map((event: { type: string }) => event.type)).not.toContain(
      'previous_password_expired',
    );

    w.clock = at(4);
    const reply = await w.call('GET', `/v1/integrations/${id}/events`, { key: readKey });
    expect(reply.status).toBe(200);
    expect(reply.body.next_cursor).toBeNull();
    expect(reply.body.items).toEqual([
      { at: at(3), type: 'resumed', actor: writeKeyId, request_id: requestIds.resumed, detail: {} },
      { at: at(2), type: 'paused', actor: writeKeyId, request_id: requestIds.paused, detail: {} },
      { at: at(1.5), type: 'previous_password_expired', actor: 'system', request_id: null, detail: {} },
      {
        at: at(1),
        type: 'credentials_refreshed',
        actor: writeKeyId,
        request_id: requestIds.credentials_refreshed,
        detail: { grace_seconds: 1800, previous_valid_until: at(1.5) },
      },
      {
        at: T0,
        type: 'created',
        actor: writeKeyId,
        request_id: requestIds.created,
        detail: { username: expect.any(String) },
      },
    ]);
    for (const password of passwords) expect(reply.text).not.toContain(password);
    expect(reply.text).not.toMatch(/hash/i);
    const raw = await w.store.getIntegration(w.tenant.orgId, id);
    expect(reply.text).not.toContain(raw?.credentials.password_hash);
  });

  it('keeps an expired grace window in the trail after the next refresh', async () => {
    const { w, id, writeKey, readKey } = await history();
    w.clock = at(5);
    const again = await w.call('POST', `/v1/integrations/${id}/credentials/refresh`, {
      key: writeKey,
      json: { grace_seconds: 600 },
    });
    expect(again.status).toBe(200);
    w.clock = at(6);
    const reply = await w.call('GET', `/v1/integrations/${id}/events`, { key: readKey });
    const expiries = reply.body.items
      .filter((event: { type: string }) => event.type === 'previous_password_expired')
      .map((event: { at: string }) => event.at);
    // Both windows ended: at 1.5 h (first refresh) and 5 h 10 min (second).
    expect(expiries).toEqual([at(5 + 10 / 60), at(1.5)]);
  });
});

describe('DELETE /v1/integrations/{id}', () => {
  it('removes it and its credentials, stops detection, and keeps its resolved history', async () => {
    const w = await world();
    const { readKey, writeKey, writeKeyId, orgId } = w.tenant;
    const doomed = await create(w, { name: 'Doomed', offline_after_seconds: 3600 });
    const kept = await create(w, { name: 'Kept' });
    w.clock = at(2);
    const report = await runRules({ store: w.store, now: w.clock, staleAfterSeconds: 0 });
    const issueId = report.opened.find((change) => change.integration_id === doomed.id)?.issue_id;
    expect(issueId).toBeDefined();

    w.clock = at(3);
    const del = await w.call('DELETE', `/v1/integrations/${doomed.id}`, { key: writeKey });
    expect(del.status).toBe(204);
    expect(del.text).toBe('');

    expectProblem(await w.call('GET', `/v1/integrations/${doomed.id}`, { key: readKey }), 404, 'Not found');
    expectProblem(await w.call('DELETE', `/v1/integrations/${doomed.id}`, { key: writeKey }), 404);
    expectProblem(
      await w.call('POST', `/v1/integrations/${doomed.id}/credentials/refresh`, { key: writeKey, json: {} }),
      404,
    );
    const list = await w.call('GET', '/v1/integrations', { key: readKey });
    expect(ids(list.body.items)).toEqual([kept.id]);
    expect(await w.store.getIntegration(orgId, doomed.id)).toBeNull();

    const resolved = await w.call('GET', '/v1/issues?state=resolved', { key: readKey });
    expect(resolved.body.items).toEqual([
      expect.objectContaining({
        id: issueId,
        integration_id: doomed.id,
        integration_name: 'Doomed',
        state: 'resolved',
        resolution: 'deleted',
        resolved_at: at(3),
      }),
    ]);
    const open = await w.call('GET', '/v1/issues?state=open', { key: readKey });
    expect(open.body.items).toEqual([]);
    const one = await w.call('GET', `/v1/issues/${issueId}`, { key: readKey });
    expect(one.body).toMatchObject({ state: 'resolved', resolution: 'deleted' });

    // Detection stopped: a later pass opens nothing for it.
    w.clock = at(48);
    const later = await runRules({ store: w.store, now: w.clock, staleAfterSeconds: 0 });
    expect(later.opened.map((change) => change.integration_id)).not.toContain(doomed.id);
    const issues = await w.call('GET', `/v1/issues?integration_id=${doomed.id}`, { key: readKey });
    expect(ids(issues.body.items)).toEqual([issueId]);

    // The audit trail keeps the deletion, with its actor and request.
    const events = await w.store.listEvents(orgId, doomed.id, 10);
    expect(events[0]).toMatchObject({
      type: 'deleted',
      actor: writeKeyId,
      request_id: del.headers.get('x-request-id'),
    });
  });
});

describe('GET /v1/issues', () => {
  let w: World;
  const byName: Record<string, string> = {};

  beforeAll(async () => {
    w = await world();
    for (const name of ['fw-1', 'fw-2', 'fw-3', 'fw-back']) {
      byName[name] = (await create(w, { name, offline_after_seconds: 3600 })).id;
    }
    byName.rc = (
      await create(w, { name: 'rc', kind: 'remediation_component', offline_after_seconds: 3600 })
    ).id;
    byName.rejected = (await create(w, { name: 'rejected' })).id;
    const org = w.tenant.orgId;
    await recordPull(w.store, org, byName.rejected as string, at(0.25));
    for (const hours of [1, 1.1, 1.3])
      await recordPull(w.store, org, byName.rejected as string, at(hours), 401);
    await runRules({ store: w.store, now: at(2), staleAfterSeconds: 0 });
    // fw-back pulls again: its issue resolves.
    await recordPull(w.store, org, byName['fw-back'] as string, at(2.5));
    const report = await runRules({ store: w.store, now: at(3), staleAfterSeconds: 0 });
    expect(report.resolved).toHaveLength(1);
    w.clock = at(3);
  });

  const list = async (query: string) => {
    const reply = await w.call('GET', `/v1/issues?${query}`, { key: w.tenant.readKey });
    expect(reply.status, `${query}: ${reply.text}`).toBe(200);
    return reply.body.items as Array<{ id: string; type: string; integration_id: string; state: string }>;
  };

  it('filters by type, integration_id and state', async () => {
    expect(await list('')).toHaveLength(6);
    expect((await list('type=fw_integration_offline')).map((issue) => issue.integration_id).sort()).toEqual(
      [byName['fw-1'], byName['fw-2'], byName['fw-3'], byName['fw-back']].sort(),
    );
    expect(await list('type=fw_integration_offline&state=open')).toHaveLength(3);
    expect(await list('type=rc_integration_offline')).toEqual([
      expect.objectContaining({ integration_id: byName.rc, type: 'rc_integration_offline' }),
    ]);
    expect(await list('type=integration_auth_failing')).toEqual([
      expect.objectContaining({ integration_id: byName.rejected, criticality: 'high' }),
    ]);
    expect(await list('type=pipeline_stale')).toEqual([]);
    expect(await list(`integration_id=${byName['fw-back']}`)).toEqual([
      expect.objectContaining({ state: 'resolved', resolution: 'pull_resumed', resolved_at: at(2.5) }),
    ]);
    expect(await list(`integration_id=${byName['fw-2']}&state=resolved`)).toEqual([]);
    expect(await list('integration_id=int_0000000000000000')).toEqual([]);
    expect(await list(`integration_id=${byName.rc}&type=fw_integration_offline`)).toEqual([]);
  });

  it('pages every issue exactly once, with and without filters', async () => {
    const all = await list('limit=100');
    for (const [query, count] of [
      ['limit=1', 6],
      ['limit=2', 6],
      ['limit=4', 6],
      ['limit=1&type=fw_integration_offline', 4],
      ['limit=2&state=open', 5],
    ] as const) {
      const { items } = await pages(w, `/v1/issues?${query}`);
      expect(items, query).toHaveLength(count);
      expect(new Set(ids(items)).size).toBe(count);
      // Same order as the unpaged list.
      expect(ids(items)).toEqual(ids(all).filter((id) => ids(items).includes(id)));
    }
  });

  it('refuses bad filters, limits and cursors with 400', async () => {
    for (const query of [
      'type=offline',
      'state=closed',
      'limit=101',
      'limit=0',
      'cursor=garbage',
      `cursor=${encode({ s: '', i: '../x' })}`,
      'integration=x',
      `integration_id=${'x'.repeat(65)}`,
    ]) {
      const reply = await w.call('GET', `/v1/issues?${query}`, { key: w.tenant.readKey });
      expectProblem(reply, 400);
    }
  });
});

describe('POST /v1/integrations/{id}/credentials/refresh', () => {
  it('returns a URL-safe password that works inside https://user:pass@host/', async () => {
    const w = await world();
    const created = await create(w, { name: 'Edge FW' });
    for (const password of [created.password]) expect(password).toMatch(/^[A-Za-z0-9_-]+$/);
    for (let round = 0; round < 20; round += 1) {
      const reply = await w.call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
        key: w.tenant.writeKey,
      });
      expect(reply.status).toBe(200);
      expect(reply.headers.get('cache-control')).toBe('no-store');
      const { username, password } = reply.body;
      expect(password).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(password.length).toBeGreaterThanOrEqual(32);
      expect(username).toMatch(/^[A-Za-z0-9_-]+$/);
      const url = new URL(
        `https://${username}:${password}@lists.example.com/v1/integrations/${created.id}/content`,
      );
      expect(url.username).toBe(username);
      expect(url.password).toBe(password);
      expect(url.hostname).toBe('lists.example.com');
    }
  });

  it('accepts grace_seconds from 0 to 604800 and refuses 604801', async () => {
    const w = await world();
    const created = await create(w, { name: 'Edge FW' });
    let current = created.password;
    for (const [grace, until] of [
      [0, null],
      [1, '2026-11-20T00:00:01.000Z'],
      [604_800, '2026-11-27T00:00:00.000Z'],
    ] as const) {
      const reply = await w.call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
        key: w.tenant.writeKey,
        json: { grace_seconds: grace },
      });
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body.previous_valid_until).toBe(until);
      const integration = await stored(w, created.id);
      expect(verifyCredentials(TEST_SECRET, integration, created.username, current, T0)).toBe(grace > 0);
      current = reply.body.password;
    }
    for (const grace of [604_801, -1, 1.5, '60', null, true]) {
      const reply = await w.call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
        key: w.tenant.writeKey,
        json: { grace_seconds: grace },
      });
      expectProblem(reply, 400);
      expect(reply.body.field).toBe('grace_seconds');
      expect(reply.body.password).toBeUndefined();
    }
    const integration = await stored(w, created.id);
    expect(verifyCredentials(TEST_SECRET, integration, created.username, current, T0)).toBe(true);
  });

  it('two concurrent refreshes with grace leave exactly the two returned passwords valid', async () => {
    const w = await world();
    for (let round = 0; round < 5; round += 1) {
      const created = await create(w, { name: `FW ${round}` });
      const refresh = () =>
        w.call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
          key: w.tenant.writeKey,
          json: { grace_seconds: 3600 },
        });
      const replies = await Promise.all([refresh(), refresh()]);
      for (const reply of replies) expect(reply.status, reply.text).toBe(200);
      const returned = replies.map((reply) => reply.body.password as string);
      expect(new Set(returned).size).toBe(2);
      const integration = await stored(w, created.id);
      const valid = [created.password, ...returned].filter((password) =>
        verifyCredentials(TEST_SECRET, integration, created.username, password, at(0.5)),
      );
      expect(valid.length).toBeLessThanOrEqual(2);
      expect(valid.sort()).toEqual([...returned].sort());
      // After the grace window only the one written last is left, and it is one of those returned.
      const after = returned.filter((password) =>
        verifyCredentials(TEST_SECRET, integration, created.username, password, at(2)),
      );
      expect(after).toHaveLength(1);
    }
  });

  it('many concurrent refreshes never leave more than two valid passwords, all of them returned ones', async () => {
    const w = await world();
    const created = await create(w, { name: 'Busy FW' });
    const replies = await Promise.all(
      Array.from({ length: 4 }, () =>
        w.call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
          key: w.tenant.writeKey,
          json: { grace_seconds: 600 },
        }),
      ),
    );
    const returned = replies.filter((reply) => reply.status === 200).map((reply) => reply.body.password);
    // A refresh may give up after repeated conflicts, but then it must say so and return no password.
    for (const reply of replies) expect([200, 409, 503]).toContain(reply.status);
    expect(returned.length).toBeGreaterThanOrEqual(1);
    const integration = await stored(w, created.id);
    const valid = [created.password, ...returned].filter((password) =>
      verifyCredentials(TEST_SECRET, integration, created.username, password, T0),
    );
    expect(valid.length).toBeLessThanOrEqual(2);
    for (const password of valid) expect(returned).toContain(password);
  });
});

describe('CORS', () => {
  const CONSOLE = 'https://console.example.com';
  const preflight = (origin: string) => ({
    headers: {
      origin,
      'access-control-request-method': 'PATCH',
      'access-control-request-headers': 'authorization,content-type',
    },
  });
  const corsHeaders = (reply: Reply) =>
    [...reply.headers.keys()].filter((name) => name.toLowerCase().startsWith('access-control-'));

  it("answers the console's origin only", async () => {
    const w = await world({ corsOrigins: [CONSOLE] });
    const allowed = await w.call('OPTIONS', '/v1/integrations', preflight(CONSOLE));
    expect(allowed.status).toBeLessThan(300);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(CONSOLE);
    expect(allowed.headers.get('access-control-allow-methods')).toContain('PATCH');
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();

    for (const origin of ['https://evil.example.com', 'https://console.example.com.evil.test', 'null']) {
      const refused = await w.call('OPTIONS', '/v1/integrations', preflight(origin));
      expect(refused.headers.get('access-control-allow-origin'), origin).toBeNull();
    }

    // Real requests: the console reads bodies, errors and the request id; others get no grant.
    const ok = await w.call('GET', '/v1/integrations', {
      key: w.tenant.readKey,
      headers: { origin: CONSOLE },
    });
    expect(ok.headers.get('access-control-allow-origin')).toBe(CONSOLE);
    expect(ok.headers.get('access-control-expose-headers')).toContain('X-Request-Id');
    expect(ok.headers.get('vary')).toContain('Origin');
    const denied = await w.call('GET', '/v1/integrations', { headers: { origin: CONSOLE } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe(CONSOLE);
    const evil = await w.call('GET', '/v1/integrations', {
      key: w.tenant.readKey,
      headers: { origin: 'https://evil.example.com' },
    });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('sends no CORS headers at all without configured origins', async () => {
    for (const options of [{}, { corsOrigins: [] }]) {
      const w = await world(options);
      const replies = [
        await w.call('OPTIONS', '/v1/integrations', preflight(CONSOLE)),
        await w.call('GET', '/v1/integrations', { key: w.tenant.readKey, headers: { origin: CONSOLE } }),
        await w.call('GET', '/v1/health', { headers: { origin: CONSOLE } }),
        await w.call('GET', '/v1/integrations', { headers: { origin: CONSOLE } }),
      ];
      for (const reply of replies) expect(corsHeaders(reply)).toEqual([]);
    }
  });
});

describe('request ids and the request log', () => {
  it('gives every response a request id that the log line carries, and never logs the key', async () => {
    const lines: string[] = [];
    const w = await world({
      log: (message, fields) => lines.push(JSON.stringify({ message, ...fields })),
      corsOrigins: ['https://console.example.com'],
    });
    const { readKey, writeKey } = w.tenant;
    const created = await create(w, { name: 'Edge FW' });
    lines.length = 0;
    const requests: Array<[string, string, Parameters<World['call']>[2]]> = [
      ['GET', '/v1/health', {}],
      ['GET', '/v1/openapi.json', {}],
      ['GET', '/v1/docs', {}],
      ['GET', '/v1/integrations', { key: readKey }],
      ['GET', `/v1/integrations/${created.id}`, { key: readKey }],
      ['POST', '/v1/integrations', { key: writeKey, json: { name: 'Other', kind: 'firewall' } }],
      ['POST', `/v1/integrations/${created.id}/credentials/refresh`, { key: writeKey, json: {} }],
      ['PATCH', `/v1/integrations/${created.id}`, { key: writeKey, json: { paused: true } }],
      ['GET', '/v1/integrations', {}],
      ['GET', '/v1/integrations', { headers: { authorization: `Basic ${readKey}` } }],
      ['POST', '/v1/integrations', { key: readKey, json: { name: 'x', kind: 'firewall' } }],
      ['GET', '/v1/integrations/int_0000000000000000', { key: readKey }],
      ['GET', '/v1/nowhere', { key: readKey }],
      ['GET', '/v1/integrations?limit=101', { key: readKey }],
      ['POST', '/v1/integrations', { key: writeKey, raw: '{"name":' }],
      ['POST', '/v1/integrations', { key: writeKey, json: { name: 'x'.repeat(70_000), kind: 'firewall' } }],
      [
        'OPTIONS',
        '/v1/integrations',
        { headers: { origin: 'https://console.example.com', 'access-control-request-method': 'GET' } },
      ],
      ['DELETE', `/v1/integrations/${created.id}`, { key: writeKey }],
    ];
    const seen = new Set<string>();
    const secrets = [readKey, writeKey, readKey.slice(4), writeKey.slice(4), created.password];
    for (const [method, path, options] of requests) {
      const before = lines.length;
      const reply = await w.call(method, path, options);
      if (reply.body?.password) secrets.push(reply.body.password);
      const id = reply.headers.get('x-request-id');
      expect(id, `${method} ${path} ${reply.status}`).toMatch(/^[\w=-]{8,}$/);
      expect(seen.has(id as string)).toBe(false);
      seen.add(id as string);
      if (reply.body && typeof reply.body === 'object' && 'title' in reply.body) {
        expect(reply.body.request_id).toBe(id);
      }
      const logged = lines.slice(before).map((line) => JSON.parse(line));
      expect(logged, `${method} ${path}`).toHaveLength(1);
      expect(logged[0]).toMatchObject({ request_id: id, method, status: reply.status });
      expect(logged[0].path).toBe(path.split('?')[0]);
    }
    const everything = lines.join('\n');
    for (const secret of secrets) expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/bearer|authorization|basic /i);
  });

  it('never answers with stack traces, table names, ARNs or SDK error names, and logs the failure under the request id', async () => {
    const w = await world();
    const { tableName } = w.store;
    const arn = `arn:aws:dynamodb:eu-west-1:123456789012:table/${tableName}`;
    // A store whose reads fail the way the AWS SDK does.
    class FailingStore extends Store {
      override async listIntegrations(): Promise<never> {
        const error = new Error(
          `User: arn:aws:sts::123456789012:assumed-role/api is not authorized to perform: dynamodb:Query on resource: ${arn}`,
        );
        error.name = 'AccessDeniedException';
        throw error;
      }
    }
    const failing = new FailingStore(w.store.client, tableName);
    const missingTable = new Store(w.store.client, `${tableName}_missing`);
    const errorLog = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const apps = [
        createApp({ store: failing, secret: TEST_SECRET, now: () => T0 }),
        createApp({ store: missingTable, secret: TEST_SECRET, now: () => T0 }),
      ];
      for (const app of apps) {
        const call = client(app, errorBodies);
        for (const [method, path, options] of [
          ['GET', '/v1/integrations', { key: w.tenant.readKey }],
          ['GET', '/v1/health', {}],
        ] as const) {
          const reply = await call(method, path, options);
          if (reply.status === 200) continue;
          expectProblem(reply, 500, 'Internal error');
          expectNoLeak(reply.text, tableName);
          expect(reply.text).not.toContain('123456789012');
          expect(reply.text).not.toContain('not authorized');
          const id = reply.headers.get('x-request-id');
          expect(reply.body.request_id).toBe(id);
          expect(errorLog.mock.calls.some((args) => String(args[0]).includes(String(id)))).toBe(true);
        }
      }
      expect(errorLog).toHaveBeenCalled();
    } finally {
      errorLog.mockRestore();
    }
  });
});

describe('GET /v1/openapi.json and /v1/docs', () => {
  it('is an OpenAPI 3.1 document listing every route with its parameters, body and answers', async () => {
    const w = await world();
    const reply = await w.call('GET', '/v1/openapi.json');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toContain('application/json');
    const doc = reply.body;
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, item]) => Object.keys(item).map((method) => `${method} ${path}`),
    );
    expect(documented.sort()).toEqual(ROUTES.map((route) => `${route.method} ${route.path}`).sort());
    for (const route of ROUTES) {
      const operation = doc.paths[route.path][route.method];
      expect(operation.summary, route.path).toEqual(expect.any(String));
      expect(Object.keys(operation.responses)).toContain(String(route.response.status));
      expect(operation.responses.default.content['application/problem+json'].schema).toBeDefined();
      const parameters: Array<{ name: string; in: string; required: boolean }> = operation.parameters ?? [];
      for (const name of route.path.match(/\{(\w+)\}/g) ?? []) {
        expect(parameters).toContainEqual(
          expect.objectContaining({ name: name.slice(1, -1), in: 'path', required: true }),
        );
      }
      if (route.query) {
        expect(
          parameters
            .filter((p) => p.in === 'query')
            .map((p) => p.name)
            .sort(),
        ).toEqual(Object.keys(route.query.shape).sort());
      }
      if (route.body) {
        expect(operation.requestBody.content['application/json'].schema.type).toBe('object');
      }
      if (route.scope === 'none') expect(operation.security).toEqual([]);
      else expect(operation.security).toBeUndefined();
      // Every schema in it is one a JSON Schema reader can load.
      for (const response of Object.values(operation.responses) as Array<{
        content?: Record<string, { schema: unknown }>;
      }>) {
        for (const media of Object.values(response.content ?? {})) {
          expect(() =>
            z.fromJSONSchema(media.schema as Parameters<typeof z.fromJSONSchema>[0]),
          ).not.toThrow();
        }
      }
    }
    expect(doc.paths['/v1/integrations'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['status', 'kind', 'vendor', 'q', 'limit', 'cursor']),
    );
    expect(
      doc.paths['/v1/integrations/{id}/credentials/refresh'].post.requestBody.content['application/json']
        .schema.properties.grace_seconds,
    ).toMatchObject({ minimum: 0, maximum: 604_800 });
  });

  it('answers every route as its published schema says', async () => {
    const w = await world();
    const { readKey, writeKey } = w.tenant;
    const doc = (await w.call('GET', '/v1/openapi.json')).body;
    const created = await create(w, { name: 'Edge FW', offline_after_seconds: 3600 });
    w.clock = at(2);
    await runRules({ store: w.store, now: w.clock, staleAfterSeconds: 0 });
    const issueId = (await w.call('GET', '/v1/issues', { key: readKey })).body.items[0].id;
    const bodies: Record<string, unknown> = {
      'post /v1/integrations': { name: 'Second', kind: 'firewall' },
      'patch /v1/integrations/{id}': { name: 'Renamed' },
      'post /v1/integrations/{id}/credentials/refresh': { grace_seconds: 60 },
    };
    const problems: string[] = [];
    // Reads first, DELETE last.
    const routes = [...ROUTES].sort((x, y) => Number(x.method === 'delete') - Number(y.method === 'delete'));
    for (const route of routes) {
      const path = route.path.replace('{id}', route.path.startsWith('/v1/issues') ? issueId : created.id);
      const json = bodies[`${route.method} ${route.path}`];
      const reply = await w.call(route.method.toUpperCase(), path, {
        key: route.method === 'get' ? readKey : writeKey,
        ...(json === undefined ? {} : { json }),
      });
      expect(reply.status, `${route.method} ${path}: ${reply.text}`).toBe(route.response.status);
      const media = doc.paths[route.path][route.method].responses[route.response.status].content;
      if (!media) continue;
      const schema = z.fromJSONSchema(media['application/json'].schema);
      const result = schema.safeParse(reply.body);
      if (!result.success) {
        problems.push(
          `${route.method} ${route.path}: ${result.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}`,
        );
      }
    }
    // And an error body as the default response says.
    const error = await w.call('GET', '/v1/integrations?limit=101', { key: readKey });
    const problemSchema = z.fromJSONSchema(
      doc.paths['/v1/integrations'].get.responses.default.content['application/problem+json'].schema,
    );
    expect(problemSchema.safeParse(error.body).success).toBe(true);
    expect(problems).toEqual([]);
  });

  it('serves a human-readable HTML reference naming every route', async () => {
    const w = await world();
    const reply = await w.call('GET', '/v1/docs');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toContain('text/html');
    expect(reply.text).toMatch(/^<!doctype html>/i);
    expect(reply.text).not.toMatch(/<script/i);
    for (const route of ROUTES) {
      expect(reply.text).toContain(`${route.method.toUpperCase()} ${route.path}`);
      expect(reply.text).toContain(route.summary.replaceAll("'", '&#39;'));
    }
    expect(reply.text).toContain('/v1/openapi.json');
    expect(reply.text).toContain('pwr_');
    expect(reply.text).toContain('pww_');
  });
});

describe('API keys', () => {
  it('lists scope and last use (written at most every 5 minutes) without the hash', async () => {
    const w = await world();
    const { orgId, readKey, readKeyId, writeKeyId } = w.tenant;
    const listed = async () =>
      Object.fromEntries((await w.store.listApiKeys(orgId)).map((key) => [key.key_id, key]));

    const fresh = await listed();
    expect(Object.keys(fresh).sort()).toEqual([readKeyId, writeKeyId].sort());
    expect(fresh[readKeyId]).toEqual({
      key_id: readKeyId,
      org_id: orgId,
      scope: 'read',
      created_at: T0,
      last_used_at: null,
    });
    expect(fresh[writeKeyId]).toMatchObject({ scope: 'write', last_used_at: null });
    expect(JSON.stringify(fresh)).not.toMatch(/hash|pw[rw]_/);

    w.clock = at(1);
    expect((await w.call('GET', '/v1/integrations', { key: readKey })).status).toBe(200);
    expect((await listed())[readKeyId]?.last_used_at).toBe(at(1));
    expect((await listed())[writeKeyId]?.last_used_at).toBeNull();

    // Within 5 minutes: no write at all, not even a conditional one.
    const touches = () => w.store.usage.requests['write.key.touch'] ?? 0;
    const touchesBefore = touches();
    w.clock = at(1 + 4 / 60);
    await w.call('GET', '/v1/integrations', { key: readKey });
    await w.call('GET', '/v1/integrations', { key: readKey });
    expect((await listed())[readKeyId]?.last_used_at).toBe(at(1));
    expect(touches()).toBe(touchesBefore);

    w.clock = at(1 + 6 / 60);
    await w.call('GET', '/v1/integrations', { key: readKey });
    expect((await listed())[readKeyId]?.last_used_at).toBe(at(1 + 6 / 60));

    // A failed request with a key still counts as use; a malformed one touches nothing.
    w.clock = at(2);
    expectProblem(await w.call('POST', '/v1/integrations', { key: readKey, json: {} }), 403);
    expect((await listed())[readKeyId]?.last_used_at).toBe(at(2));
  });

  it('a revoked key answers 401 at once; only its own organization can revoke it', async () => {
    const w = await world();
    const { orgId, readKey, readKeyId, writeKey } = w.tenant;
    const other = await newTenant(w.store);
    expect(await w.store.revokeApiKey(other.orgId, readKeyId)).toBe(false);
    expect((await w.call('GET', '/v1/integrations', { key: readKey })).status).toBe(200);

    expect(await w.store.revokeApiKey(orgId, readKeyId)).toBe(true);
    expectProblem(await w.call('GET', '/v1/integrations', { key: readKey }), 401, 'Unauthorized');
    expect((await w.store.listApiKeys(orgId)).map((key) => key.key_id)).not.toContain(readKeyId);
    expect(await w.store.revokeApiKey(orgId, readKeyId)).toBe(false);
    expect((await w.call('GET', '/v1/integrations', { key: writeKey })).status).toBe(200);
    expect((await w.call('GET', '/v1/integrations', { key: other.readKey })).status).toBe(200);
  });
});

describe('error bodies', () => {
  it('never carry stack traces, table names, ARNs or SDK error names', () => {
    // Runs last: every error body collected by the tests above.
    expect(errorBodies.length).toBeGreaterThan(50);
    for (const store of stores) for (const body of errorBodies) expectNoLeak(body, store.tableName);
  });
});
