import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect } from 'vitest';
import { type ApiDeps, createApp } from '../shared/api/app.ts';
import type { Log } from '../shared/api/problem.ts';
import { createApiKey } from '../shared/auth/index.ts';
import type { Integration } from '../shared/integration/index.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import { createOrg } from '../shared/org/index.ts';
import { addRecord, applyPulls, closedHours, emptySummary } from '../shared/pulls/index.ts';
import type { Store } from '../shared/store.ts';
import type { Iso } from '../shared/time.ts';
import { freshStore, type MeteredStore, startTestDb, TEST_SECRET } from './kit/db.ts';
import { T0 } from './kit/time.ts';

/** Shared by the API route and matrix tests: an in-process client, tenants with known key ids, raw scans. */

export type App = ReturnType<typeof createApp>;

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field
  body: any;
}

export interface CallOptions {
  key?: string;
  json?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

/** Calls `app` in process; every error body is kept in `errors` for the leak checks. */
export function client(app: App, errors: string[] = []) {
  return async function call(method: string, path: string, options: CallOptions = {}): Promise<Reply> {
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
    const response = await app.request(path, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = null;
    }
    if (response.status >= 400) errors.push(text);
    return { status: response.status, headers: response.headers, text, body: parsed };
  };
}

export function expectProblem(reply: Reply, status: number, title?: string) {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.headers.get('content-type')).toContain('application/problem+json');
  expect(reply.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
  if (title) expect(reply.body.title).toBe(title);
  expect(typeof reply.body.detail).toBe('string');
  expect(reply.body.detail.length).toBeGreaterThan(0);
}

/** What an error body must never carry: stacks, SDK exception names, ARNs, file paths. */
export function expectNoLeak(text: string, tableName: string) {
  expect(text).not.toContain(tableName);
  expect(text).not.toContain('arn:');
  expect(text).not.toMatch(/Exception|ValidationError|ConflictError|DynamoDB|\$metadata/);
  expect(text).not.toMatch(/\n\s+at /);
  expect(text).not.toMatch(/\bat .+\.(ts|js|mjs):\d+/);
  expect(text).not.toContain('stack');
  expect(text).not.toContain('node_modules');
}

export interface Tenant {
  orgId: string;
  writeKey: string;
  writeKeyId: string;
  readKey: string;
  readKeyId: string;
}

let tenants = 0;
/** A fresh organization with one write and one read key, whose ids are known (they are audit actors). */
export async function newTenant(store: Store, now: Iso = T0): Promise<Tenant> {
  tenants += 1;
  const org = await createOrg(store, `Org ${tenants}`, now);
  const write = await createApiKey(store, TEST_SECRET, org.id, 'write', now);
  const read = await createApiKey(store, TEST_SECRET, org.id, 'read', now);
  return {
    orgId: org.id,
    writeKey: write.key,
    writeKeyId: write.record.key_id,
    readKey: read.key,
    readKeyId: read.record.key_id,
  };
}

/** Records a pull (or attempt) as the ingest would: fold the record and write "where version = read". */
export async function recordPull(
  store: Store,
  orgId: string,
  id: string,
  time: Iso,
  status = 200,
  now: Iso = time,
): Promise<void> {
  const integration = await store.integrations.get(orgId, id);
  if (!integration) throw new Error(`no integration ${id}`);
  const summary = emptySummary(id);
  addRecord(summary, {
    time,
    integration_id: id,
    method: 'GET',
    status,
    ip: '203.0.113.7',
    user_agent: 'FW',
  });
  await store.pullDays.add(id, closedHours(integration, summary));
  const next = applyPulls(integration, summary);
  if (next) await store.integrations.save(next, integration.version, now);
}

/** Every item of the table, as stored. */
export async function scanTable(store: Store): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await store.table.doc.send(
      new ScanCommand({ TableName: store.table.name, ExclusiveStartKey: start, ConsistentRead: true }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items.sort((a, b) => {
    const left = `${a.pk}\u0000${a.sk}`;
    const right = `${b.pk}\u0000${b.sk}`;
    return left < right ? -1 : left > right ? 1 : 0;
  });
}

export const ids = (items: Array<{ id: string }>) => items.map((item) => item.id);
export const names = (items: Array<{ name: string }>) => items.map((item) => item.name);

/** One table, one API on it with a clock the test moves, and one tenant. */
export interface World {
  store: MeteredStore;
  app: App;
  clock: Iso;
  tenant: Tenant;
  call: ReturnType<typeof client>;
  /** What the API logged, unless the world was given its own `log`. */
  log: Array<Record<string, unknown>>;
}

/** A log that keeps each record as `{message, level, ...fields}`, for tests that read what the API logged. */
export function recordLog(records: Array<Record<string, unknown>>): Log {
  const keep = (level: string) => (message: string, fields: Record<string, unknown>) =>
    records.push({ message, level, ...fields });
  return { info: keep('info'), warn: keep('warn'), error: keep('error') };
}

/** The same store with some methods of one data module replaced (faults a real server cannot produce). */
export function withFaults<M extends keyof Store>(
  store: Store,
  module: M,
  methods: Partial<Store[M]>,
): Store {
  return { ...store, [module]: Object.assign(Object.create(store[module] as object), methods) };
}

/**
 * A fresh world on `db`; its store joins `stores` (destroyed by the file's afterAll) and its error bodies
 * join `errors` (checked for leaks at the end of the file).
 */
export async function world(
  db: EmbeddedDb,
  stores: MeteredStore[],
  errors: string[],
  options: Partial<ApiDeps> = {},
): Promise<World> {
  const store = await freshStore(db);
  stores.push(store);
  const tenant = await newTenant(store);
  const w = { store, clock: T0, tenant } as World;
  // Request lines are kept, not printed: a test that reads them passes its own `log`.
  w.log = [];
  w.app = createApp({
    store,
    secret: TEST_SECRET,
    now: () => w.clock,
    staleAfterSeconds: 7200,
    log: recordLog(w.log),
    ...options,
  });
  w.call = client(w.app, errors);
  return w;
}

export type Created = { id: string; name: string; username: string; password: string } & Record<
  string,
  unknown
>;

export async function create(
  w: World,
  body: Record<string, unknown>,
  key = w.tenant.writeKey,
): Promise<Created> {
  const reply = await w.call('POST', '/v1/integrations', { key, json: { kind: 'firewall', ...body } });
  expect(reply.status, reply.text).toBe(201);
  return reply.body;
}

export async function stored(w: World, id: string, orgId = w.tenant.orgId): Promise<Integration> {
  const integration = await w.store.integrations.get(orgId, id);
  if (!integration) throw new Error(`integration ${id} is not stored`);
  return integration;
}

/** Follows next_cursor from the first page to the last; fails on a loop. */
export async function pages(w: World, path: string, key = w.tenant.readKey) {
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

export const encode = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
export const decode = (cursor: string) => JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));

/** The API's own document, as served. */
export async function apiDocument(app: App) {
  const reply = await app.request('https://pullwatch.internal/v1/openapi.json');
  return (await reply.json()) as { paths: Record<string, Record<string, Operation>> };
}

interface Operation {
  summary: string;
  'x-scope'?: 'read' | 'write' | 'device';
  security?: unknown[];
  responses: Record<string, unknown>;
}

/** Every documented operation: method, path, the scope it needs and its success status. */
export async function documentedRoutes(app: App) {
  const doc = await apiDocument(app);
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({
      method,
      path,
      scope: operation['x-scope'] ?? ('none' as const),
      status: Number(Object.keys(operation.responses).find((status) => status.startsWith('2'))),
    })),
  );
}

/**
 * The set-up every API test file shares: one dynalite for the file, the stores it made (closed at the end), the
 * error bodies it saw (checked for leaks by the file), a shared world `api.s` for the tests that make their own
 * tenant on it, and the small helpers those tests use. Call once at the top of the file.
 */
export interface ApiFile {
  stores: MeteredStore[];
  errorBodies: string[];
  readonly db: EmbeddedDb;
  readonly s: World;
  world(options?: Partial<ApiDeps>): Promise<World>;
  call(method: string, path: string, options?: CallOptions & { on?: World }): Promise<Reply>;
  firewall(name?: string): { name: string; kind: string; vendor: string };
  createFw(tenant: Tenant, name?: string, on?: World): Promise<Created>;
  storedIntegration(orgId: string, id: string): Promise<Integration>;
  rawIntegrationItem(orgId: string, id: string): Promise<Record<string, unknown> | undefined>;
  listAll(tenant: Tenant): Promise<Array<Record<string, unknown>>>;
}

export function useApiFile(): ApiFile {
  const state = {
    db: undefined as EmbeddedDb | undefined,
    shared: undefined as World | undefined,
  };
  const stores: MeteredStore[] = [];
  const errorBodies: string[] = [];
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is made in beforeAll`);
    return value;
  };
  const api: ApiFile = {
    stores,
    errorBodies,
    get db(): EmbeddedDb {
      return need(state.db, 'the database');
    },
    /** The file's shared world. */
    get s(): World {
      return need(state.shared, 'the shared world');
    },
    world: (options: Partial<ApiDeps> = {}) => world(api.db, stores, errorBodies, options),
    call: (method: string, path: string, options: CallOptions & { on?: World } = {}) =>
      (options.on ?? api.s).call(method, path, options),
    firewall: (name = 'Edge FW') => ({ name, kind: 'firewall', vendor: 'paloalto' }),
    /** Creates a Palo Alto firewall through the API, as a console would. */
    async createFw(tenant: Tenant, name = 'Edge FW', on: World = api.s): Promise<Created> {
      const reply = await on.call('POST', '/v1/integrations', {
        key: tenant.writeKey,
        json: api.firewall(name),
      });
      expect(reply.status).toBe(201);
      return reply.body as Created;
    },
    storedIntegration: (orgId: string, id: string): Promise<Integration> => stored(api.s, id, orgId),
    /** The integration's item exactly as stored, storage attributes included (undefined if not that org's). */
    async rawIntegrationItem(orgId: string, id: string) {
      const { Item } = await api.s.store.table.doc.send(
        new GetCommand({ TableName: api.s.store.table.name, Key: { pk: `INT#${id}`, sk: `INT#${id}` } }),
      );
      return Item?.org_id === orgId ? Item : undefined;
    },
    async listAll(tenant: Tenant): Promise<Array<Record<string, unknown>>> {
      const reply = await api.call('GET', '/v1/integrations?limit=100', { key: tenant.readKey });
      expect(reply.status).toBe(200);
      return reply.body.items;
    },
  };
  beforeAll(async () => {
    state.db = await startTestDb();
    state.shared = await api.world();
  });
  afterAll(async () => {
    for (const store of stores) store.table.client.destroy();
    await state.db?.close();
  });
  return api;
}
