import { beforeAll, describe, expect, it } from 'vitest';
import { createIntegration } from '../shared/integration/ops.ts';
import { runRules } from '../shared/rules/index.ts';
import {
  create,
  decode,
  encode,
  expectNoLeak,
  expectProblem,
  ids,
  names,
  newTenant,
  pages,
  recordPull,
  type Tenant,
  useApiFile,
  type World,
} from './api-kit.ts';
import { acceptsBasic } from './kit/checks.ts';
import { TEST_SECRET } from './kit/db.ts';
import { at, T0 } from './kit/time.ts';

/** The integration list (order, filters, limit, cursors) and creating integrations. */
const api = useApiFile();
const { world, call, firewall, createFw, storedIntegration, listAll, errorBodies, stores } = api;

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

describe('POST /v1/integrations', () => {
  it('creates an integration and shows its credentials once, not cached', async () => {
    const tenant = await newTenant(api.s.store);
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
    expect(acceptsBasic(TEST_SECRET, stored, reply.body.username, reply.body.password, api.s.clock)).toBe(
      true,
    );
    expect(acceptsBasic(TEST_SECRET, stored, reply.body.username, 'wrong-password', api.s.clock)).toBe(false);
  });

  it('applies the defaults and accepts every field of the contract', async () => {
    const tenant = await newTenant(api.s.store);
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
    const tenant = await newTenant(api.s.store);
    const reply = await call('POST', '/v1/integrations', {
      key: tenant.writeKey,
      json: { ...firewall(), colour: 'blue' },
    });
    expectProblem(reply, 400);
    expect(reply.body.detail).toContain('colour');
    expect(await listAll(tenant)).toEqual([]);
  });

  it('rejects wrong types and values with 400 naming the field, and writes nothing', async () => {
    const tenant = await newTenant(api.s.store);
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
    const tenant = await newTenant(api.s.store);
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
    const tenant = await newTenant(api.s.store);
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
    const tenant = await newTenant(api.s.store);
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
    const mine = await newTenant(api.s.store);
    const theirs = await newTenant(api.s.store);
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
    const tenant = await newTenant(api.s.store);
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
    const tenant = await newTenant(api.s.store);
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

describe('error bodies', () => {
  it('never carry stack traces, table names, ARNs or SDK error names', () => {
    // Runs last: every error body collected by the tests above.
    expect(errorBodies.length).toBeGreaterThan(20);
    for (const store of stores) for (const body of errorBodies) expectNoLeak(body, store.table.name);
  });
});
