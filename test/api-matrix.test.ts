import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../shared/api/app.ts';
import { createIntegration, patchIntegration, refreshCredentials } from '../shared/integration/ops.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import { runRules } from '../shared/rules/index.ts';
import type { Store } from '../shared/store.ts';
import {
  type App,
  client,
  documentedRoutes,
  expectNoLeak,
  expectProblem,
  newTenant,
  type Reply,
  recordPull,
  scanTable,
  type Tenant,
} from './api-kit.ts';
import { freshStore, startTestDb, TEST_SECRET } from './kit/db.ts';
import { at, T0 } from './kit/time.ts';

/**
 * Every route (from the served OpenAPI document, so a new route is covered without touching this file) called with every kind of
 * wrong credential: another organization's keys, a read key on a write route, no key, malformed keys. Each
 * answer is checked, and a raw scan proves nothing of organization A changed.
 */

let db: EmbeddedDb;
let store: Store;
let app: App;
const NOW = at(3);
const errors: string[] = [];
let call: ReturnType<typeof client>;

let a: Tenant;
let b: Tenant;
/** Organization A's objects, substituted for `{id}`. */
let aIntegrationId: string;
let aIssueId: string;
let aOtherIds: string[] = [];
let bIntegrationId: string;

/** Routes that must answer without a key (the document describes them too). */
const META_ROUTES = [
  { method: 'get', path: '/v1/openapi.json', scope: 'none', status: 200 },
  { method: 'get', path: '/v1/docs', scope: 'none', status: 200 },
] as const;

interface MatrixRoute {
  method: string;
  path: string;
  scope: 'none' | 'read' | 'write' | 'device';
  status: number;
}
/** Every documented operation, read from the app's own document in beforeAll. */
let MATRIX: MatrixRoute[] = [];

/** Valid bodies, so that a 404 or 403 is about who asks, not about what was sent. */
const BODIES: Record<string, unknown> = {
  'post /v1/integrations': { name: 'Matrix FW', kind: 'firewall', vendor: 'fortigate' },
  'patch /v1/integrations/{id}': { name: 'Hijacked', paused: true, offline_after_seconds: 300 },
  'post /v1/integrations/{id}/credentials/refresh': { grace_seconds: 60 },
};
const bodyOf = (route: MatrixRoute) =>
  route.method === 'get' || route.method === 'delete'
    ? undefined
    : (BODIES[`${route.method} ${route.path}`] ?? {});

/** A's object for `{id}`, or a missing one of the same shape. */
function pathFor(route: MatrixRoute, missing = false): string {
  if (!route.path.includes('{id}')) return route.path;
  let id: string;
  if (route.path.startsWith('/v1/integrations/')) id = aIntegrationId;
  else if (route.path.startsWith('/v1/issues/')) id = aIssueId;
  else throw new Error(`the matrix does not know which object to use for ${route.path}; add it here`);
  if (missing) id = id.replace(/[0-9a-f]+$/, (hex) => '0'.repeat(hex.length));
  return route.path.replace('{id}', id);
}

const MALFORMED: Array<Record<string, string>> = [
  { authorization: 'Bearer pww_short' },
  { authorization: 'Basic abc' },
  { authorization: `Basic ${Buffer.from('user:pass').toString('base64')}` },
  { authorization: 'Bearer' },
  { authorization: 'Bearer ' },
  { authorization: `Bearer pww_${'A'.repeat(43)}` },
  { authorization: `Bearer pwr_${'-'.repeat(43)}` },
  { authorization: `Bearer pwx_${'A'.repeat(43)}` },
];

/** A's own keys in a malformed header: they must not work either. Built once the keys exist. */
const malformedWithRealKeys = (): Array<Record<string, string>> => [
  { authorization: `Token ${a.writeKey}` },
  { authorization: a.writeKey },
  { authorization: `Bearer ${a.writeKey} ${a.writeKey}` },
  { authorization: `Bearer ${a.writeKey}x` },
  { authorization: `Bearer ${a.writeKey.slice(0, -1)}` },
  { authorization: `Bearer ${a.writeKey.slice(4)}` },
  { authorization: `Bearer ${a.writeKey.replace('pww_', 'pwr_')}` },
];

/** What must be identical between another organization's object and a missing one. */
const shape = (reply: Reply) => ({
  status: reply.status,
  type: reply.body?.type,
  title: reply.body?.title,
  detail: reply.body?.detail,
  keys: reply.body ? Object.keys(reply.body).sort() : null,
  contentType: reply.headers.get('content-type'),
  cacheControl: reply.headers.get('cache-control'),
});

/** Items that belong to B (its org partition and its keys) may change; nothing else may. */
function notB(item: Record<string, unknown>): boolean {
  return item.pk !== `ORG#${b.orgId}` && item.org_id !== b.orgId;
}
function comparable(items: Array<Record<string, unknown>>) {
  return items.filter(notB).map((item) => {
    if (item.entity !== 'api_key') return item;
    const { last_used_at: _ignored, ...rest } = item;
    return rest;
  });
}

beforeAll(async () => {
  db = await startTestDb();
  store = await freshStore(db);
  app = createApp({ store, secret: TEST_SECRET, now: () => NOW, staleAfterSeconds: 0 });
  call = client(app, errors);
  MATRIX = await documentedRoutes(app);
  for (const meta of META_ROUTES) expect(MATRIX).toContainEqual(meta);

  a = await newTenant(store);
  b = await newTenant(store);
  // A: an integration that went offline (open issue, transitions), had its password refreshed with grace
  // (previous hash stored) and was renamed (audit events); plus a pulled one and a paused one.
  const actor = { key_id: a.writeKeyId, request_id: 'req-setup' };
  const offline = await createIntegration(
    store,
    TEST_SECRET,
    a.orgId,
    { name: 'A Edge', kind: 'firewall', vendor: 'paloalto', offline_after_seconds: 3600 },
    T0,
    actor,
  );
  aIntegrationId = offline.integration.id;
  const online = await createIntegration(
    store,
    TEST_SECRET,
    a.orgId,
    { name: 'A Core', kind: 'firewall' },
    T0,
  );
  const paused = await createIntegration(
    store,
    TEST_SECRET,
    a.orgId,
    { name: 'A Bouncer', kind: 'remediation_component', paused: true },
    T0,
  );
  aOtherIds = [online.integration.id, paused.integration.id];
  await recordPull(store, a.orgId, online.integration.id, at(1));
  const rules = await runRules({ store, now: at(2), staleAfterSeconds: 0 });
  const opened = rules.opened.find((issue) => issue.integration_id === aIntegrationId);
  if (!opened) throw new Error('setup: the rule pass opened no issue for A');
  aIssueId = opened.issue_id;
  await refreshCredentials(store, TEST_SECRET, a.orgId, aIntegrationId, 3600, at(2.5), actor);
  await patchIntegration(store, a.orgId, aIntegrationId, { name: 'A Edge FW' }, at(2.5), actor);

  const bOwn = await createIntegration(store, TEST_SECRET, b.orgId, { name: 'B Edge', kind: 'firewall' }, T0);
  bIntegrationId = bOwn.integration.id;
  // Keys used once already, so last_used_at exists before the snapshot too.
  expect((await call('GET', '/v1/integrations', { key: a.readKey })).status).toBe(200);
  expect((await call('GET', '/v1/integrations', { key: b.readKey })).status).toBe(200);
});

afterAll(async () => {
  store?.table.client.destroy();
  await db?.close();
});

describe('the route list', () => {
  it('documents every route the app serves, and the matrix covers all of them', () => {
    // The API is what lives under /v1; the console page and its assets (console-page.test.ts) are not API.
    const served = new Set(
      app.routes
        .filter((route) => route.method !== 'ALL' && route.path.startsWith('/v1'))
        .map((route) => `${route.method.toLowerCase()} ${route.path.replace(/:(\w+)/g, '{$1}')}`),
    );
    const covered = new Set(MATRIX.map((route) => `${route.method} ${route.path}`));
    expect([...served].sort()).toEqual([...covered].sort());
    expect(MATRIX.length).toBeGreaterThanOrEqual(13);
  });
});

describe('every route with every wrong credential', () => {
  it('answers as the key allows, and changes nothing of organization A', async () => {
    const before = comparable(await scanTable(store));
    expect(before.some((item) => item.pk === `INT#${aIntegrationId}` && item.org_id === a.orgId)).toBe(true);
    const aSecrets = [a.orgId, aIntegrationId, aIssueId, ...aOtherIds];
    const outcomes: string[] = [];

    for (const route of MATRIX) {
      const method = route.method.toUpperCase();
      const path = pathFor(route);
      const json = bodyOf(route);
      const withBody = json === undefined ? {} : { json };
      const label = `${method} ${route.path}`;
      if (route.scope === 'device') {
        // A device's route takes no API key: no key, and no key of either organization, ever passes it
        // (its own credentials are tested in pull-auth.test.ts and content-endpoint.test.ts).
        for (const key of [undefined, a.readKey, a.writeKey, b.readKey, b.writeKey]) {
          const reply = await call(method, path, { ...(key ? { key } : {}), ...withBody });
          expect(reply.status, `${label} with ${key ?? 'no key'}`).toBeGreaterThanOrEqual(400);
          for (const secret of aSecrets) expect(reply.text).not.toContain(secret);
          if (key === b.writeKey) outcomes.push(`${label} B write: ${reply.status}`);
        }
        continue;
      }

      // No key, and malformed keys: 401 wherever a key is needed.
      for (const headers of [{}, ...MALFORMED, ...malformedWithRealKeys()]) {
        const reply = await call(method, path, { headers, ...withBody });
        if (route.scope === 'none') {
          expect(reply.status, `${label} ${JSON.stringify(headers)}`).toBe(route.status);
        } else {
          expectProblem(reply, 401, 'Unauthorized');
          expect(reply.headers.get('www-authenticate')).toContain('Bearer');
          for (const secret of aSecrets) expect(reply.text).not.toContain(secret);
        }
      }

      // A's read key: reads work, writes are 403.
      const read = await call(method, path, { key: a.readKey, ...withBody });
      if (route.scope === 'write') {
        expectProblem(read, 403, 'Forbidden');
        expect(read.body.password).toBeUndefined();
      } else {
        expect(read.status, `${label} with A's read key: ${read.text}`).toBe(route.status);
        if (route.path.endsWith('{id}')) expect(read.text).toContain(path.split('/')[3]);
      }

      // B's keys.
      for (const [scope, key] of [
        ['write', b.writeKey],
        ['read', b.readKey],
      ] as const) {
        const foreign = await call(method, path, { key, ...withBody });
        outcomes.push(`${label} B ${scope}: ${foreign.status}`);
        for (const secret of aSecrets) expect(foreign.text, `${label} B ${scope}`).not.toContain(secret);
        if (route.scope === 'none') {
          expect(foreign.status).toBe(route.status);
        } else if (scope === 'read' && route.scope === 'write') {
          expectProblem(foreign, 403, 'Forbidden');
        } else if (route.path.includes('{id}')) {
          const missing = await call(method, pathFor(route, true), { key, ...withBody });
          expectProblem(foreign, 404, 'Not found');
          expectProblem(missing, 404, 'Not found');
          expect(shape(foreign), `${label} B ${scope}`).toEqual(shape(missing));
        } else if (route.method === 'get') {
          // A list: B's own objects only.
          expect(foreign.status).toBe(200);
          expect(Array.isArray(foreign.body.items)).toBe(true);
          if (route.path === '/v1/integrations') {
            expect(foreign.body.items.map((item: { id: string }) => item.id)).toContain(bIntegrationId);
          }
        } else {
          // A write without an id acts in B's organization only (checked by the scan below).
          expect(foreign.status, `${label} B: ${foreign.text}`).toBe(route.status);
        }
      }
    }

    const after = comparable(await scanTable(store));
    expect(after).toEqual(before);
    // Every route was exercised with B's write key.
    expect(outcomes.filter((line) => line.includes('B write'))).toHaveLength(MATRIX.length);
  });

  it("lists none of A's objects to B, whatever the filter", async () => {
    for (const path of [
      '/v1/integrations?limit=100',
      '/v1/integrations?status=offline',
      '/v1/integrations?status=paused',
      '/v1/integrations?q=a',
      '/v1/integrations?kind=remediation_component',
      '/v1/issues',
      '/v1/issues?state=open',
      `/v1/issues?integration_id=${aIntegrationId}`,
      '/v1/issues?type=fw_integration_offline',
    ]) {
      const reply = await call('GET', path, { key: b.writeKey });
      expect(reply.status, path).toBe(200);
      for (const secret of [a.orgId, aIntegrationId, aIssueId, ...aOtherIds, 'A Edge', 'A Core']) {
        expect(reply.text, path).not.toContain(secret);
      }
    }
    // And A does see them, so the filters above are not simply empty.
    const own = await call('GET', `/v1/issues?integration_id=${aIntegrationId}`, { key: a.readKey });
    expect(own.body.items.map((issue: { id: string }) => issue.id)).toEqual([aIssueId]);
  });

  it('never leaks internals in any error body of the matrix', () => {
    expect(errors.length).toBeGreaterThan(100);
    for (const text of errors) expectNoLeak(text, store.table.name);
  });
});
