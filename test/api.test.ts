import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../shared/api/app.ts';
import { createApiKey, verifyCredentials } from '../shared/auth/index.ts';
import type { Integration } from '../shared/integration/index.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import { createOrgWithKey } from '../shared/org/index.ts';
import { runRules } from '../shared/rules/index.ts';
import type { Store } from '../shared/store/index.ts';
import { at, freshStore, SETTINGS, startTestDb, T0, TEST_SECRET } from './helpers.ts';

let db: EmbeddedDb;
let store: Store;
/** The API's clock: tests move it instead of sleeping. */
let clock = T0;
let app: ReturnType<typeof createApp>;

/** Every error body seen, checked at the end for leaks (table name, SDK exception names, stacks). */
const errorBodies: string[] = [];

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field
  body: any;
}

async function call(
  method: string,
  path: string,
  options: {
    key?: string;
    json?: unknown;
    raw?: string;
    headers?: Record<string, string>;
    on?: typeof app;
  } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let body: string | undefined;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] = 'application/json';
  } else if (options.raw !== undefined) {
    body = options.raw;
    headers['content-type'] ??= 'application/json';
  }
  const response = await (options.on ?? app).request(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (response.status >= 400) errorBodies.push(text);
  return { status: response.status, headers: response.headers, text, body: parsed };
}

function expectProblem(reply: Reply, status: number) {
  expect(reply.status).toBe(status);
  expect(reply.headers.get('content-type')).toContain('application/problem+json');
  expect(reply.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
  expect(typeof reply.body.detail).toBe('string');
  expect(reply.body.detail.length).toBeGreaterThan(0);
}

interface Tenant {
  orgId: string;
  writeKey: string;
  readKey: string;
}

let tenantCount = 0;
/** A fresh organization with a write key and a read key, so each test starts from an empty tenant. */
async function newTenant(on: Store = store): Promise<Tenant> {
  tenantCount += 1;
  const { org, key } = await createOrgWithKey(on, TEST_SECRET, `Org ${tenantCount}`, 'write', T0);
  const read = await createApiKey(on, TEST_SECRET, org.id, 'read', T0);
  return { orgId: org.id, writeKey: key, readKey: read.key };
}

const firewall = (name = 'Edge FW') => ({ name, kind: 'firewall', vendor: 'paloalto' });

async function createFw(tenant: Tenant, name = 'Edge FW', on?: typeof app) {
  const reply = await call('POST', '/v1/integrations', {
    key: tenant.writeKey,
    json: firewall(name),
    ...(on ? { on } : {}),
  });
  expect(reply.status).toBe(201);
  return reply.body as { id: string; username: string; password: string } & Record<string, unknown>;
}

async function storedIntegration(orgId: string, id: string, on: Store = store): Promise<Integration> {
  const integration = await on.getIntegration(orgId, id);
  if (!integration) throw new Error(`integration ${id} is not stored`);
  return integration;
}

async function rawIntegrationItem(orgId: string, id: string) {
  const { Item } = await store.doc.send(
    new GetCommand({ TableName: store.tableName, Key: { pk: `ORG#${orgId}`, sk: `INT#${id}` } }),
  );
  return Item;
}

async function scanAll(on: Store = store): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await on.doc.send(new ScanCommand({ TableName: on.tableName, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

async function listAll(tenant: Tenant): Promise<Array<Record<string, unknown>>> {
  const reply = await call('GET', '/v1/integrations?limit=100', { key: tenant.readKey });
  expect(reply.status).toBe(200);
  return reply.body.items;
}

beforeAll(async () => {
  db = await startTestDb();
  store = await freshStore(db);
  app = createApp({ store, secret: TEST_SECRET, now: () => clock });
});

afterAll(async () => {
  store?.client.destroy();
  await db?.close();
});

describe('authentication', () => {
  it('answers 401 problem+json without a key', async () => {
    const reply = await call('GET', '/v1/integrations');
    expectProblem(reply, 401);
    expect(reply.body.title).toBe('Unauthorized');
    expect(reply.headers.get('www-authenticate')).toContain('Bearer');
  });

  it('answers 401 for a malformed key, a non-bearer scheme and an unknown well-formed key', async () => {
    const tenant = await newTenant();
    const unknown = `pww_${'A'.repeat(43)}`;
    for (const headers of [
      { authorization: 'Bearer not-a-key' },
      { authorization: `Basic ${Buffer.from('user:pass').toString('base64')}` },
      { authorization: `Bearer ${unknown}` },
      { authorization: `Bearer ${tenant.writeKey}x` },
      { authorization: 'Bearer' },
    ]) {
      const reply = await call('GET', '/v1/integrations', { headers });
      expectProblem(reply, 401);
      expect(reply.text).not.toContain(tenant.orgId);
    }
  });

  it('accepts both scopes for reads', async () => {
    const tenant = await newTenant();
    expect((await call('GET', '/v1/integrations', { key: tenant.readKey })).status).toBe(200);
    expect((await call('GET', '/v1/integrations', { key: tenant.writeKey })).status).toBe(200);
  });

  it('refuses writes with a read key (403) and changes nothing', async () => {
    const tenant = await newTenant();
    const created = await createFw(tenant);
    const before = await storedIntegration(tenant.orgId, created.id);

    const post = await call('POST', '/v1/integrations', { key: tenant.readKey, json: firewall('Other') });
    expectProblem(post, 403);
    expect(post.body.title).toBe('Forbidden');

    const patch = await call('PATCH', `/v1/integrations/${created.id}`, {
      key: tenant.readKey,
      json: { paused: true, name: 'Renamed' },
    });
    expectProblem(patch, 403);

    const refresh = await call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
      key: tenant.readKey,
      json: {},
    });
    expectProblem(refresh, 403);
    expect(refresh.body.password).toBeUndefined();

    const del = await call('DELETE', `/v1/integrations/${created.id}`, { key: tenant.readKey });
    expectProblem(del, 403);

    const after = await storedIntegration(tenant.orgId, created.id);
    expect(after).toEqual(before);
    expect(verifyCredentials(TEST_SECRET, after, created.username, created.password, clock)).toBe(true);
    const items = await listAll(tenant);
    expect(items.map((item) => item.name)).toEqual(['Edge FW']);
  });
});

describe('POST /v1/integrations', () => {
  it('creates an integration and shows its credentials once, not cached', async () => {
    const tenant = await newTenant();
    const reply = await call('POST', '/v1/integrations', {
      key: tenant.writeKey,
      json: { name: '  Edge FW  ', kind: 'firewall', vendor: 'paloalto' },
    });
    expect(reply.status).toBe(201);
    expect(reply.headers.get('content-type')).toContain('application/json');
    expect(reply.headers.get('cache-control')).toBe('no-store');
    expect(reply.body).toMatchObject({
      id: expect.stringMatching(/^int_/),
      name: 'Edge FW',
      kind: 'firewall',
      vendor: 'paloalto',
      source: 'blaas',
      status: 'never_pulled',
      last_pull_at: null,
      last_attempt_at: null,
      last_attempt_status: null,
      idle_seconds: null,
      offline_after_seconds: 86_400,
      paused: false,
      open_issues: 0,
      username: expect.any(String),
      password: expect.any(String),
    });
    expect(reply.body.password.length).toBeGreaterThanOrEqual(24);
    expect(reply.text).not.toContain('hash');

    // Shown once: reading it back never shows the password again.
    const one = await call('GET', `/v1/integrations/${reply.body.id}`, { key: tenant.readKey });
    expect(one.status).toBe(200);
    expect(one.body.password).toBeUndefined();
    expect(one.text).not.toContain(reply.body.password);
    expect(one.text).not.toContain('hash');

    const stored = await storedIntegration(tenant.orgId, reply.body.id);
    expect(verifyCredentials(TEST_SECRET, stored, reply.body.username, reply.body.password, clock)).toBe(
      true,
    );
    expect(verifyCredentials(TEST_SECRET, stored, reply.body.username, 'wrong-password', clock)).toBe(false);
  });

  it('applies the defaults and accepts every field of the contract', async () => {
    const tenant = await newTenant();
    const plain = await call('POST', '/v1/integrations', {
      key: tenant.writeKey,
      json: { name: 'Bouncer', kind: 'remediation_component' },
    });
    expect(plain.status).toBe(201);
    expect(plain.body).toMatchObject({
      kind: 'remediation_component',
      vendor: 'other',
      source: 'blaas',
      paused: false,
    });

    const full = await call('POST', '/v1/integrations', {
      key: tenant.writeKey,
      json: {
        name: 'Lapi',
        kind: 'remediation_component',
        source: 'lapi',
        offline_after_seconds: 3600,
        paused: true,
      },
    });
    expect(full.status).toBe(201);
    expect(full.body).toMatchObject({
      source: 'lapi',
      offline_after_seconds: 3600,
      paused: true,
      status: 'paused',
    });
  });

  it('rejects an unknown field with 400 naming it, and writes nothing', async () => {
    const tenant = await newTenant();
    const reply = await call('POST', '/v1/integrations', {
      key: tenant.writeKey,
      json: { ...firewall(), colour: 'blue' },
    });
    expectProblem(reply, 400);
    expect(reply.body.detail).toContain('colour');
    expect(await listAll(tenant)).toEqual([]);
  });

  it('rejects wrong types and values with 400 naming the field, and writes nothing', async () => {
    const tenant = await newTenant();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: 42, kind: 'firewall' }, 'name'],
      [{ name: 'x', kind: 'router' }, 'kind'],
      [{ name: 'x', kind: 'firewall', vendor: 'acme' }, 'vendor'],
      [{ name: 'x', kind: 'firewall', paused: 'yes' }, 'paused'],
      [{ name: 'x', kind: 'firewall', offline_after_seconds: '3600' }, 'offline_after_seconds'],
      [{ name: 'x', kind: 'firewall', offline_after_seconds: 10 }, 'offline_after_seconds'],
      [{ name: '', kind: 'firewall' }, 'name'],
      [{ name: 'a\u0007b', kind: 'firewall' }, 'name'],
      [{ name: 'x'.repeat(101), kind: 'firewall' }, 'name'],
      [{ kind: 'firewall' }, 'name'],
    ];
    for (const [json, field] of cases) {
      const reply = await call('POST', '/v1/integrations', { key: tenant.writeKey, json });
      expectProblem(reply, 400);
      expect(reply.body.detail).toContain(field);
    }
    expect(await listAll(tenant)).toEqual([]);
  });

  it('rejects broken JSON, a JSON array and a non-JSON content type with 400, and writes nothing', async () => {
    const tenant = await newTenant();
    const broken = await call('POST', '/v1/integrations', {
      key: tenant.writeKey,
      raw: '{"name": "Edge FW", "kind":',
    });
    expectProblem(broken, 400);
    expect(broken.body.title).toBe('Invalid request');

    const array = await call('POST', '/v1/integrations', { key: tenant.writeKey, raw: '[1,2]' });
    expectProblem(array, 400);

    const text = await call('POST', '/v1/integrations', {
      key: tenant.writeKey,
      raw: JSON.stringify(firewall()),
      headers: { 'content-type': 'text/plain' },
    });
    expectProblem(text, 400);

    expect(await listAll(tenant)).toEqual([]);
  });

  it('refuses a body over 64 KB with 413, and writes nothing', async () => {
    const tenant = await newTenant();
    const reply = await call('POST', '/v1/integrations', {
      key: tenant.writeKey,
      json: { ...firewall(), padding: 'x'.repeat(65 * 1024) },
    });
    expectProblem(reply, 413);
    expect(await listAll(tenant)).toEqual([]);
  });
});

describe('GET /v1/integrations', () => {
  it('is {items, next_cursor} and pages through every integration exactly once', async () => {
    const tenant = await newTenant();
    const created: string[] = [];
    for (let index = 0; index < 5; index += 1) created.push((await createFw(tenant, `FW ${index}`)).id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `limit=2&cursor=${encodeURIComponent(cursor)}` : 'limit=2';
      const reply = await call('GET', `/v1/integrations?${query}`, { key: tenant.readKey });
      expect(reply.status).toBe(200);
      expect(Object.keys(reply.body).sort()).toEqual(['items', 'next_cursor']);
      expect(reply.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...reply.body.items.map((item: { id: string }) => item.id));
      cursor = reply.body.next_cursor;
      pages += 1;
      expect(pages).toBeLessThan(10);
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual([...created].sort());
    expect(new Set(seen).size).toBe(5);

    const whole = await call('GET', '/v1/integrations', { key: tenant.readKey });
    expect(whole.body.items).toHaveLength(5);
    expect(whole.body.next_cursor).toBeNull();
  });

  it('shows only the caller organization, even with a cursor made for another one', async () => {
    const mine = await newTenant();
    const theirs = await newTenant();
    await createFw(mine, 'Mine 1');
    await createFw(mine, 'Mine 2');
    await createFw(theirs, 'Theirs');
    const first = await call('GET', '/v1/integrations?limit=1', { key: mine.readKey });
    expect(first.body.next_cursor).toEqual(expect.any(String));

    const theirsList = await call('GET', '/v1/integrations', { key: theirs.readKey });
    expect(theirsList.body.items.map((item: { name: string }) => item.name)).toEqual(['Theirs']);

    const withForeignCursor = await call(
      'GET',
      `/v1/integrations?cursor=${encodeURIComponent(first.body.next_cursor)}`,
      { key: theirs.readKey },
    );
    expect(withForeignCursor.status).toBe(200);
    for (const item of withForeignCursor.body.items) expect(item.name).toBe('Theirs');
  });

  it('rejects limit above 100, limit 0, a garbage cursor and unknown query parameters with 400', async () => {
    const tenant = await newTenant();
    for (const query of [
      'limit=101',
      'limit=0',
      'limit=abc',
      'cursor=not-a-cursor',
      'colour=blue',
      'status=sleepy',
    ]) {
      const reply = await call('GET', `/v1/integrations?${query}`, { key: tenant.readKey });
      expectProblem(reply, 400);
    }
    expect((await call('GET', '/v1/integrations?limit=100', { key: tenant.readKey })).status).toBe(200);
  });

  it('filters by kind and status', async () => {
    const tenant = await newTenant();
    await createFw(tenant, 'FW');
    const rc = await call('POST', '/v1/integrations', {
      key: tenant.writeKey,
      json: { name: 'RC', kind: 'remediation_component', paused: true },
    });
    expect(rc.status).toBe(201);
    const fws = await call('GET', '/v1/integrations?kind=firewall', { key: tenant.readKey });
    expect(fws.body.items.map((item: { name: string }) => item.name)).toEqual(['FW']);
    const paused = await call('GET', '/v1/integrations?status=paused', { key: tenant.readKey });
    expect(paused.body.items.map((item: { name: string }) => item.name)).toEqual(['RC']);
  });
});

describe('one integration', () => {
  it('GET returns the object itself', async () => {
    const tenant = await newTenant();
    const created = await createFw(tenant);
    const reply = await call('GET', `/v1/integrations/${created.id}`, { key: tenant.readKey });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      id: created.id,
      name: 'Edge FW',
      kind: 'firewall',
      status: 'never_pulled',
    });
    for (const field of [
      'id',
      'name',
      'kind',
      'vendor',
      'source',
      'status',
      'last_pull_at',
      'last_attempt_at',
      'last_attempt_status',
      'idle_seconds',
      'offline_after_seconds',
      'paused',
      'open_issues',
    ]) {
      expect(reply.body).toHaveProperty(field);
    }
  });

  it("answers another organization's integration exactly like a missing one, for GET, PATCH, refresh and DELETE", async () => {
    const owner = await newTenant();
    const stranger = await newTenant();
    const created = await createFw(owner);
    const before = await storedIntegration(owner.orgId, created.id);
    const missingId = 'int_0000000000000000';

    const requests: Array<[string, string, unknown]> = [
      ['GET', '', undefined],
      ['PATCH', '', { paused: true, name: 'Hijacked' }],
      ['POST', '/credentials/refresh', {}],
      ['DELETE', '', undefined],
    ];
    for (const [method, suffix, json] of requests) {
      const foreign = await call(method, `/v1/integrations/${created.id}${suffix}`, {
        key: stranger.writeKey,
        ...(json === undefined ? {} : { json }),
      });
      const missing = await call(method, `/v1/integrations/${missingId}${suffix}`, {
        key: stranger.writeKey,
        ...(json === undefined ? {} : { json }),
      });
      expectProblem(foreign, 404);
      expectProblem(missing, 404);
      const shape = (reply: Reply) => ({
        status: reply.status,
        type: reply.body.type,
        title: reply.body.title,
        detail: reply.body.detail,
        keys: Object.keys(reply.body).sort(),
        contentType: reply.headers.get('content-type'),
      });
      expect(shape(foreign)).toEqual(shape(missing));
      expect(foreign.text).not.toContain(created.id);
      expect(foreign.text).not.toContain(owner.orgId);
    }

    const after = await storedIntegration(owner.orgId, created.id);
    expect(after).toEqual(before);
    expect(verifyCredentials(TEST_SECRET, after, created.username, created.password, clock)).toBe(true);
  });

  it('PATCH changes paused, name and offline_after_seconds', async () => {
    const tenant = await newTenant();
    const created = await createFw(tenant);
    const reply = await call('PATCH', `/v1/integrations/${created.id}`, {
      key: tenant.writeKey,
      json: { paused: true, name: 'Core FW', offline_after_seconds: 7200 },
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      id: created.id,
      paused: true,
      status: 'paused',
      name: 'Core FW',
      offline_after_seconds: 7200,
    });
    expect(reply.body.password).toBeUndefined();

    const again = await call('GET', `/v1/integrations/${created.id}`, { key: tenant.readKey });
    expect(again.body).toMatchObject({ paused: true, name: 'Core FW', offline_after_seconds: 7200 });

    const resume = await call('PATCH', `/v1/integrations/${created.id}`, {
      key: tenant.writeKey,
      json: { paused: false },
    });
    expect(resume.body).toMatchObject({ paused: false, status: 'never_pulled', name: 'Core FW' });

    // Changing settings keeps the credentials.
    const stored = await storedIntegration(tenant.orgId, created.id);
    expect(verifyCredentials(TEST_SECRET, stored, created.username, created.password, clock)).toBe(true);
  });

  it('PATCH rejects out-of-range thresholds, unknown fields and empty patches with 400 and changes nothing', async () => {
    const tenant = await newTenant();
    const created = await createFw(tenant);
    const bodies: Array<[unknown, string]> = [
      [{ offline_after_seconds: 299 }, 'offline_after_seconds'],
      [{ offline_after_seconds: 30 * 86_400 + 1 }, 'offline_after_seconds'],
      [{ offline_after_seconds: 3600.5 }, 'offline_after_seconds'],
      [{ offline_after_seconds: -1 }, 'offline_after_seconds'],
      [{ paused: 'true' }, 'paused'],
      [{ kind: 'remediation_component' }, 'kind'],
      [{ password_hash: 'x' }, 'password_hash'],
      [{}, ''],
    ];
    for (const [json, field] of bodies) {
      const reply = await call('PATCH', `/v1/integrations/${created.id}`, { key: tenant.writeKey, json });
      expectProblem(reply, 400);
      if (field) expect(reply.body.detail).toContain(field);
    }
    const reply = await call('GET', `/v1/integrations/${created.id}`, { key: tenant.readKey });
    expect(reply.body).toMatchObject({ offline_after_seconds: 86_400, paused: false, kind: 'firewall' });
  });

  it('DELETE removes it', async () => {
    const tenant = await newTenant();
    const created = await createFw(tenant);
    const reply = await call('DELETE', `/v1/integrations/${created.id}`, { key: tenant.writeKey });
    expect(reply.status).toBe(204);
    expectProblem(await call('GET', `/v1/integrations/${created.id}`, { key: tenant.readKey }), 404);
    expect(await listAll(tenant)).toEqual([]);
  });
});

describe('POST /v1/integrations/{id}/credentials/refresh', () => {
  it('returns a new password once, not cached; the old one stops working; only a hash is stored', async () => {
    const tenant = await newTenant();
    const created = await createFw(tenant);
    clock = at(1);
    try {
      const reply = await call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
        key: tenant.writeKey,
      });
      expect(reply.status).toBe(200);
      expect(reply.headers.get('cache-control')).toBe('no-store');
      expect(reply.body.username).toBe(created.username);
      expect(typeof reply.body.password).toBe('string');
      expect(reply.body.password).not.toBe(created.password);
      expect(reply.text).not.toContain('hash');

      const stored = await storedIntegration(tenant.orgId, created.id);
      expect(verifyCredentials(TEST_SECRET, stored, created.username, reply.body.password, clock)).toBe(true);
      expect(verifyCredentials(TEST_SECRET, stored, created.username, created.password, clock)).toBe(false);
      expect(verifyCredentials(TEST_SECRET, stored, 'someone-else', reply.body.password, clock)).toBe(false);

      const raw = await rawIntegrationItem(tenant.orgId, created.id);
      expect(raw).toBeDefined();
      const serialized = JSON.stringify(raw);
      expect(serialized).not.toContain(reply.body.password);
      expect(serialized).not.toContain(created.password);

      // Not shown again anywhere.
      const one = await call('GET', `/v1/integrations/${created.id}`, { key: tenant.readKey });
      expect(one.text).not.toContain(reply.body.password);
      const list = await call('GET', '/v1/integrations', { key: tenant.readKey });
      expect(list.text).not.toContain(reply.body.password);
    } finally {
      clock = T0;
    }
  });

  it('keeps the old password valid during grace_seconds and not after', async () => {
    const tenant = await newTenant();
    const created = await createFw(tenant);
    const reply = await call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
      key: tenant.writeKey,
      json: { grace_seconds: 3600 },
    });
    expect(reply.status).toBe(200);
    expect(reply.body.previous_valid_until).toBe(at(1));
    const stored = await storedIntegration(tenant.orgId, created.id);
    const { username } = created;
    expect(verifyCredentials(TEST_SECRET, stored, username, created.password, at(0.5))).toBe(true);
    expect(verifyCredentials(TEST_SECRET, stored, username, reply.body.password, at(0.5))).toBe(true);
    expect(verifyCredentials(TEST_SECRET, stored, username, created.password, at(1))).toBe(false);
    expect(verifyCredentials(TEST_SECRET, stored, username, created.password, at(2))).toBe(false);
    expect(verifyCredentials(TEST_SECRET, stored, username, reply.body.password, at(2))).toBe(true);

    const serialized = JSON.stringify(await rawIntegrationItem(tenant.orgId, created.id));
    expect(serialized).not.toContain(created.password);
    expect(serialized).not.toContain(reply.body.password);
  });

  it('rejects a bad grace_seconds and unknown fields with 400 and keeps the password', async () => {
    const tenant = await newTenant();
    const created = await createFw(tenant);
    for (const json of [
      { grace_seconds: -1 },
      { grace_seconds: 'soon' },
      { grace_seconds: 8 * 86_400 },
      { force: true },
    ]) {
      const reply = await call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
        key: tenant.writeKey,
        json,
      });
      expectProblem(reply, 400);
      expect(reply.body.password).toBeUndefined();
    }
    const stored = await storedIntegration(tenant.orgId, created.id);
    expect(verifyCredentials(TEST_SECRET, stored, created.username, created.password, clock)).toBe(true);
  });
});

describe('secrets at rest', () => {
  it('stores API keys and passwords only hashed', async () => {
    const tenant = await newTenant();
    const created = await createFw(tenant);
    const items = await scanAll();
    expect(items.length).toBeGreaterThan(0);
    const everything = JSON.stringify(items);
    expect(everything).not.toContain(tenant.writeKey);
    expect(everything).not.toContain(tenant.readKey);
    // The random part alone must not be there either (e.g. stored without its prefix).
    expect(everything).not.toContain(tenant.writeKey.slice(4));
    expect(everything).not.toContain(created.password);
  });
});

describe('issues', () => {
  it('lists the open issue the rule pass opened past the threshold, and shows it by id', async () => {
    // A table of its own, so this rule pass sees only this test's integration.
    const issueStore = await freshStore(db);
    let issueClock = T0;
    const issueApp = createApp({ store: issueStore, secret: TEST_SECRET, now: () => issueClock });
    try {
      const owner = await newTenant(issueStore);
      const stranger = await newTenant(issueStore);
      const created = await createFw(owner, 'Edge FW', issueApp);
      const on = { on: issueApp };

      const none = await call('GET', '/v1/issues?state=open', { key: owner.readKey, ...on });
      expect(none.status).toBe(200);
      expect(none.body).toEqual({ items: [], next_cursor: null });

      const early = await runRules({ store: issueStore, now: at(23), ...SETTINGS });
      expect(early.opened).toEqual([]);

      issueClock = at(25);
      const report = await runRules({ store: issueStore, now: issueClock, ...SETTINGS });
      expect(report.opened).toHaveLength(1);

      const list = await call('GET', '/v1/issues?state=open', { key: owner.readKey, ...on });
      expect(list.status).toBe(200);
      expect(Object.keys(list.body).sort()).toEqual(['items', 'next_cursor']);
      expect(list.body.items).toHaveLength(1);
      const issue = list.body.items[0];
      expect(issue).toMatchObject({
        id: expect.any(String),
        type: 'fw_integration_offline',
        integration_id: created.id,
        criticality: 'critical',
        state: 'open',
        opened_at: at(24),
        detected_at: at(25),
        resolved_at: null,
        diagnosis: { code: 'never_pulled', summary: expect.any(String), steps: expect.any(Array) },
      });
      expect(issue.diagnosis.steps.length).toBeGreaterThan(0);

      const resolved = await call('GET', '/v1/issues?state=resolved', { key: owner.readKey, ...on });
      expect(resolved.body.items).toEqual([]);

      const one = await call('GET', `/v1/issues/${issue.id}`, { key: owner.readKey, ...on });
      expect(one.status).toBe(200);
      expect(one.body).toEqual(issue);

      const integration = await call('GET', `/v1/integrations/${created.id}`, { key: owner.readKey, ...on });
      expect(integration.body).toMatchObject({ status: 'offline', open_issues: 1 });

      // The other organization sees nothing, and its 404 is the one of a missing issue.
      const strangerList = await call('GET', '/v1/issues?state=open', { key: stranger.readKey, ...on });
      expect(strangerList.body.items).toEqual([]);
      const foreign = await call('GET', `/v1/issues/${issue.id}`, { key: stranger.readKey, ...on });
      const missing = await call('GET', '/v1/issues/iss_00000000000000000000', {
        key: stranger.readKey,
        ...on,
      });
      expectProblem(foreign, 404);
      expectProblem(missing, 404);
      expect([foreign.status, foreign.body.title, foreign.body.detail, foreign.body.type]).toEqual([
        missing.status,
        missing.body.title,
        missing.body.detail,
        missing.body.type,
      ]);
      expect(foreign.text).not.toContain(issue.id);

      const badState = await call('GET', '/v1/issues?state=closed', { key: owner.readKey, ...on });
      expectProblem(badState, 400);
    } finally {
      issueStore.client.destroy();
    }
  });
});

describe('GET /v1/health', () => {
  it('needs no key and shows no tenant data', async () => {
    const tenant = await newTenant();
    const created = await createFw(tenant);
    await store.recordCycle(T0, 'ok');
    const reply = await call('GET', '/v1/health');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: 'ok', last_cycle_at: T0, last_cycle_outcome: 'ok' });
    expect(reply.text).not.toMatch(/org_[0-9a-f]/);
    expect(reply.text).not.toMatch(/int_[0-9a-f]/);
    expect(reply.text).not.toContain(created.id);
    expect(reply.text).not.toContain(tenant.orgId);
    expect(reply.text).not.toContain(store.tableName);
  });
});

describe('errors', () => {
  it('answers unknown routes and odd ids with problem+json 404', async () => {
    const tenant = await newTenant();
    expectProblem(await call('GET', '/v1/nothing-here', { key: tenant.readKey }), 404);
    expectProblem(await call('GET', '/v1/integrations/%E2%9C%93', { key: tenant.readKey }), 404);
    expectProblem(await call('GET', '/v1/issues/..%2F..%2Fetc', { key: tenant.readKey }), 404);
  });

  it('answers an id too long to exist with the 404 of any missing id, not a 500', async () => {
    const tenant = await newTenant();
    const created = await createFw(tenant);
    const missing = await call('GET', '/v1/integrations/int_0000000000000000', { key: tenant.readKey });
    const long = 'x'.repeat(2000);
    const requests: Array<[string, string, unknown]> = [
      ['GET', `/v1/integrations/${long}`, undefined],
      ['PATCH', `/v1/integrations/${long}`, { paused: true }],
      ['POST', `/v1/integrations/${long}/credentials/refresh`, {}],
      ['DELETE', `/v1/integrations/${long}`, undefined],
      ['GET', `/v1/issues/${long}`, undefined],
    ];
    const statuses: string[] = [];
    for (const [method, path, json] of requests) {
      const reply = await call(method, path, {
        key: tenant.writeKey,
        ...(json === undefined ? {} : { json }),
      });
      statuses.push(`${method} ${path.slice(0, 20)}: ${reply.status} ${reply.body?.title}`);
      if (reply.status === 404) expect(reply.body.detail).toBe(missing.body.detail);
    }
    expect(statuses).toEqual(
      requests.map(([method, path]) => `${method} ${path.slice(0, 20)}: 404 Not found`),
    );
    expect((await call('GET', `/v1/integrations/${created.id}`, { key: tenant.readKey })).status).toBe(200);
  });

  it('never leak the table name, SDK exception names or a stack', async () => {
    // Runs last: every error body collected by the tests above.
    expect(errorBodies.length).toBeGreaterThan(20);
    for (const body of errorBodies) {
      expect(body).not.toContain(store.tableName);
      expect(body).not.toContain('Exception');
      expect(body).not.toMatch(/\n\s+at /);
      expect(body).not.toContain('stack');
      expect(body).not.toContain('node_modules');
    }
  });
});
