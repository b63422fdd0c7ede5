import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApp } from '../shared/api/app.ts';
import { ConflictError } from '../shared/errors.ts';
import { runRules } from '../shared/rules/index.ts';
import { openStore } from '../shared/store.ts';
import {
  apiDocument,
  client,
  create,
  documentedRoutes,
  expectNoLeak,
  expectProblem,
  newTenant,
  type Reply,
  recordLog,
  stored,
  useApiFile,
  type World,
  withFaults,
} from './api-kit.ts';
import { acceptsBasic } from './kit/checks.ts';
import { localClient, TEST_SECRET } from './kit/db.ts';
import { at, T0 } from './kit/time.ts';

const api = useApiFile();
const { world, call, firewall, createFw, storedIntegration, listAll, errorBodies, stores } = api;

describe('authentication', () => {
  it('answers 401 problem+json without a key', async () => {
    const reply = await call('GET', '/v1/integrations');
    expectProblem(reply, 401);
    expect(reply.body.title).toBe('Unauthorized');
    expect(reply.headers.get('www-authenticate')).toContain('Bearer');
  });

  it('answers 401 for a malformed key, a non-bearer scheme and an unknown well-formed key', async () => {
    const tenant = await newTenant(api.s.store);
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
    const tenant = await newTenant(api.s.store);
    expect((await call('GET', '/v1/integrations', { key: tenant.readKey })).status).toBe(200);
    expect((await call('GET', '/v1/integrations', { key: tenant.writeKey })).status).toBe(200);
  });

  it('refuses writes with a read key (403) and changes nothing', async () => {
    const tenant = await newTenant(api.s.store);
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
    expect(acceptsBasic(TEST_SECRET, after, created.username, created.password, api.s.clock)).toBe(true);
    const items = await listAll(tenant);
    expect(items.map((item) => item.name)).toEqual(['Edge FW']);
  });
});

describe('GET /v1/health', () => {
  it('needs no key and shows no tenant data', async () => {
    const tenant = await newTenant(api.s.store);
    const created = await createFw(tenant);
    await api.s.store.deployment.recordCycle(T0, 'ok');
    const reply = await call('GET', '/v1/health');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: 'ok', last_cycle_at: T0, last_cycle_outcome: 'ok' });
    expect(reply.body).toMatchObject({
      notifications: { failed_permanently: 0, last_cycle_failed_permanently: 0, last_failure_at: null },
    });
    expect(reply.text).not.toMatch(/org_[0-9a-f]/);
    expect(reply.text).not.toMatch(/int_[0-9a-f]/);
    expect(reply.text).not.toContain(created.id);
    expect(reply.text).not.toContain(tenant.orgId);
    expect(reply.text).not.toContain(api.s.store.table.name);
  });

  it('counts notifications SNS refused for good, and is degraded while the last cycle had one', async () => {
    await api.s.store.deployment.recordCycle(T0, 'ok', 3);
    const failed = await call('GET', '/v1/health');
    expect(failed.body).toMatchObject({
      status: 'degraded',
      last_cycle_outcome: 'ok',
      notifications: { failed_permanently: 3, last_cycle_failed_permanently: 3, last_failure_at: T0 },
    });
    await api.s.store.deployment.recordCycle(T0, 'ok', 0);
    const later = await call('GET', '/v1/health');
    expect(later.body).toMatchObject({
      status: 'ok',
      notifications: { failed_permanently: 3, last_cycle_failed_permanently: 0, last_failure_at: T0 },
    });
  });
});

describe('errors', () => {
  it('answers unknown routes and odd ids with problem+json 404', async () => {
    const tenant = await newTenant(api.s.store);
    expectProblem(await call('GET', '/v1/nothing-here', { key: tenant.readKey }), 404);
    expectProblem(await call('GET', '/v1/integrations/%E2%9C%93', { key: tenant.readKey }), 404);
    expectProblem(await call('GET', '/v1/issues/..%2F..%2Fetc', { key: tenant.readKey }), 404);
  });

  it('answers an id too long to exist with the 404 of any missing id, not a 500', async () => {
    const tenant = await newTenant(api.s.store);
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
    expect(errorBodies.length).toBeGreaterThan(10);
    for (const body of errorBodies) {
      expect(body).not.toContain(api.s.store.table.name);
      expect(body).not.toContain('Exception');
      expect(body).not.toMatch(/\n\s+at /);
      expect(body).not.toContain('stack');
      expect(body).not.toContain('node_modules');
    }
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
    const lines: Array<Record<string, unknown>> = [];
    const w = await world({
      log: recordLog(lines),
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
      const logged = lines.slice(before);
      expect(logged, `${method} ${path}`).toHaveLength(1);
      expect(logged[0]).toMatchObject({ message: 'request', request_id: id, method, status: reply.status });
      // Not under Lambda here, so there is no API Gateway request id to carry.
      expect(logged[0]).toHaveProperty('api_gateway_request_id', null);
      expect(logged[0]?.path).toBe(path.split('?')[0]);
    }
    const everything = lines.map((line) => JSON.stringify(line)).join('\n');
    for (const secret of secrets) expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/bearer|authorization|basic /i);
  });

  it('never answers with stack traces, table names, ARNs or SDK error names, and logs the failure under the request id', async () => {
    const w = await world();
    const tableName = w.store.table.name;
    const arn = `arn:aws:dynamodb:eu-west-1:123456789012:table/${tableName}`;
    // A store whose reads fail the way the AWS SDK does.
    const failing = withFaults(w.store, 'integrations', {
      async list(): Promise<never> {
        const error = new Error(
          `User: arn:aws:sts::123456789012:assumed-role/api is not authorized to perform: dynamodb:Query on resource: ${arn}`,
        );
        error.name = 'AccessDeniedException';
        throw error;
      },
    });
    const missingTable = openStore(w.store.table.client, `${tableName}_missing`);
    const logged: Array<Record<string, unknown>> = [];
    const log = recordLog(logged);
    const apps = [
      createApp({ store: failing, secret: TEST_SECRET, now: () => T0, staleAfterSeconds: 7200, log }),
      createApp({ store: missingTable, secret: TEST_SECRET, now: () => T0, staleAfterSeconds: 7200, log }),
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
        // The details stay in the log, at error level, under the request id.
        expect(logged).toContainEqual(
          expect.objectContaining({ message: 'unhandled error', level: 'error', request_id: id }),
        );
      }
    }
    expect(logged.some((record) => record.level === 'error')).toBe(true);
  });
});

/** A schema of the document with its component $refs written out, for a JSON Schema reader. */
// biome-ignore lint/suspicious/noExplicitAny: JSON Schema documents are walked generically
function inline(schema: any, doc: any): any {
  if (Array.isArray(schema)) return schema.map((inner) => inline(inner, doc));
  if (!schema || typeof schema !== 'object') return schema;
  if (typeof schema.$ref === 'string') {
    return inline(doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')], doc);
  }
  return Object.fromEntries(Object.entries(schema).map(([key, inner]) => [key, inline(inner, doc)]));
}

/** Query parameter names each list route documents (the strict query schemas accept exactly these). */
const QUERIES: Record<string, string[]> = {
  'get /v1/integrations': ['cursor', 'kind', 'limit', 'q', 'status', 'vendor'],
  'get /v1/issues': ['cursor', 'integration_id', 'limit', 'state', 'type'],
  'get /v1/integrations/{id}/transitions': ['cursor', 'limit'],
  'get /v1/integrations/{id}/events': ['cursor', 'limit'],
};

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
    expect(doc.servers).toEqual([{ url: 'http://localhost', description: expect.any(String) }]);
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, item]) => Object.keys(item).map((method) => `${method} ${path}`),
    );
    // The document is generated from the routes, so it lists exactly what the app serves.
    // Under /v1: the console page and its assets are no part of the API's document.
    const served = w.app.routes
      .filter((route) => route.method !== 'ALL' && route.path.startsWith('/v1'))
      .map((route) => `${route.method.toLowerCase()} ${route.path.replace(/:(\w+)/g, '{$1}')}`);
    expect(documented.sort()).toEqual([...new Set(served)].sort());
    const operationIds = new Set<string>();
    for (const route of await documentedRoutes(w.app)) {
      const operation = doc.paths[route.path][route.method];
      expect(operation.summary, route.path).toEqual(expect.any(String));
      expect(operation.operationId, route.path).toEqual(expect.any(String));
      operationIds.add(operation.operationId);
      expect(Object.keys(operation.responses)).toContain(String(route.status));
      for (const [status, response] of Object.entries(operation.responses) as Array<
        [string, { content: Record<string, { schema: unknown }> }]
      >) {
        if (Number(status) >= 400) {
          expect(
            response.content['application/problem+json']?.schema,
            `${route.path} ${status}`,
          ).toBeDefined();
        }
      }
      if (route.scope !== 'none') expect(Object.keys(operation.responses)).toContain('401');
      if (route.scope === 'write') expect(Object.keys(operation.responses)).toContain('403');
      if (route.path.includes('{id}')) expect(Object.keys(operation.responses)).toContain('404');
      const parameters: Array<{ name: string; in: string; required: boolean }> = operation.parameters ?? [];
      for (const name of route.path.match(/\{(\w+)\}/g) ?? []) {
        expect(parameters).toContainEqual(
          expect.objectContaining({ name: name.slice(1, -1), in: 'path', required: true }),
        );
      }
      expect(
        parameters
          .filter((p) => p.in === 'query')
          .map((p) => p.name)
          .sort(),
        route.path,
      ).toEqual(QUERIES[`${route.method} ${route.path}`] ?? []);
      if (operation.requestBody) {
        expect(operation.requestBody.content['application/json'].schema.type).toBe('object');
      }
      if (route.scope === 'none' || route.scope === 'device') expect(operation.security).toEqual([]);
      else expect(operation.security).toBeUndefined();
      // Every schema in it is one a JSON Schema reader can load.
      for (const response of Object.values(operation.responses) as Array<{
        content?: Record<string, { schema: unknown }>;
      }>) {
        for (const media of Object.values(response.content ?? {})) {
          expect(() => z.fromJSONSchema(inline(media.schema, doc))).not.toThrow();
        }
      }
    }
    expect(operationIds.size).toBe(documented.length);
    expect(doc.paths['/v1/integrations'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['status', 'kind', 'vendor', 'q', 'limit', 'cursor']),
    );
    const refresh = doc.paths['/v1/integrations/{id}/credentials/refresh'].post.requestBody;
    expect(refresh.required).toBe(false);
    expect(refresh.content['application/json'].schema.properties.grace_seconds).toMatchObject({
      minimum: 0,
      maximum: 604_800,
    });
    const patch = doc.paths['/v1/integrations/{id}'].patch.requestBody;
    expect(patch.required).toBe(true);
    expect(patch.content['application/json'].schema).toMatchObject({
      minProperties: 1,
      additionalProperties: false,
    });
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
    // Devices present their own credentials, not an API key.
    const basic = `Basic ${Buffer.from(`${created.username}:${created.password}`).toString('base64')}`;
    const deviceHeaders: Record<string, Record<string, string>> = {
      'get /v1/pull-auth': {
        'x-original-uri': `/v1/integrations/${created.id}/content`,
        authorization: basic,
      },
    };
    const problems: string[] = [];
    // Reads first, DELETE last.
    const routes = (await documentedRoutes(w.app)).sort(
      (x, y) => Number(x.method === 'delete') - Number(y.method === 'delete'),
    );
    for (const route of routes) {
      const path = route.path.replace('{id}', route.path.startsWith('/v1/issues') ? issueId : created.id);
      const json = bodies[`${route.method} ${route.path}`];
      const device = deviceHeaders[`${route.method} ${route.path}`];
      const reply = await w.call(route.method.toUpperCase(), path, {
        ...(device ? { headers: device } : { key: route.method === 'get' ? readKey : writeKey }),
        ...(json === undefined ? {} : { json }),
      });
      expect(reply.status, `${route.method} ${path}: ${reply.text}`).toBe(route.status);
      const media = doc.paths[route.path][route.method].responses[route.status].content;
      if (!media?.['application/json']) continue;
      const schema = z.fromJSONSchema(inline(media['application/json'].schema, doc));
      const result = schema.safeParse(reply.body);
      if (!result.success) {
        problems.push(
          `${route.method} ${route.path}: ${result.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}`,
        );
      }
    }
    // And an error body as the 400 response says.
    const error = await w.call('GET', '/v1/integrations?limit=101', { key: readKey });
    const problemSchema = z.fromJSONSchema(
      inline(
        doc.paths['/v1/integrations'].get.responses['400'].content['application/problem+json'].schema,
        doc,
      ),
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
    const doc = await apiDocument(w.app);
    for (const route of await documentedRoutes(w.app)) {
      expect(reply.text).toContain(`${route.method.toUpperCase()} ${route.path}`);
      const summary = doc.paths[route.path]?.[route.method]?.summary ?? '';
      expect(reply.text).toContain(summary.replaceAll("'", '&#39;'));
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
      Object.fromEntries((await w.store.keys.list(orgId)).map((key) => [key.key_id, key]));

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
    expect(await w.store.keys.revoke(other.orgId, readKeyId)).toBe(false);
    expect((await w.call('GET', '/v1/integrations', { key: readKey })).status).toBe(200);

    expect(await w.store.keys.revoke(orgId, readKeyId)).toBe(true);
    expectProblem(await w.call('GET', '/v1/integrations', { key: readKey }), 401, 'Unauthorized');
    expect((await w.store.keys.list(orgId)).map((key) => key.key_id)).not.toContain(readKeyId);
    expect(await w.store.keys.revoke(orgId, readKeyId)).toBe(false);
    expect((await w.call('GET', '/v1/integrations', { key: writeKey })).status).toBe(200);
    expect((await w.call('GET', '/v1/integrations', { key: other.readKey })).status).toBe(200);
  });
});

describe('the error mapping', () => {
  it('names an unknown query key in its 400, on every list', async () => {
    const w = await world();
    for (const path of [
      '/v1/integrations?colour=blue',
      '/v1/issues?colour=blue',
      `/v1/integrations/int_0000000000000000/events?limit=5&colour=blue`,
      `/v1/integrations/int_0000000000000000/transitions?colour=blue`,
    ]) {
      const reply = await w.call('GET', path, { key: w.tenant.readKey });
      expectProblem(reply, 400, 'Invalid request');
      expect(reply.body.field, path).toBe('colour');
      expect(reply.body.detail, path).toContain('colour');
    }
  });

  it('answers problems with type about:blank and a title saying what happened', async () => {
    const w = await world();
    const replies = [
      await w.call('GET', '/v1/integrations'),
      await w.call('GET', '/v1/integrations?limit=0', { key: w.tenant.readKey }),
      await w.call('GET', '/v1/nowhere', { key: w.tenant.readKey }),
      await w.call('POST', '/v1/integrations', { key: w.tenant.readKey, json: {} }),
    ];
    expect(replies.map((reply) => [reply.status, reply.body.type, reply.body.title])).toEqual([
      [401, 'about:blank', 'Unauthorized'],
      [400, 'about:blank', 'Invalid request'],
      [404, 'about:blank', 'Not found'],
      [403, 'about:blank', 'Forbidden'],
    ]);
  });

  it('refuses a non-JSON body with 400 on the optional body of refresh too', async () => {
    const w = await world();
    const created = await create(w, { name: 'Edge FW' });
    const reply = await w.call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
      key: w.tenant.writeKey,
      raw: 'grace_seconds=60',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectProblem(reply, 400, 'Invalid request');
    expect(reply.body.password).toBeUndefined();
    const integration = await stored(w, created.id);
    expect(acceptsBasic(TEST_SECRET, integration, created.username, created.password, T0)).toBe(true);
  });

  it('answers 409 when a write keeps conflicting past its retries', async () => {
    const w = await world();
    const created = await create(w, { name: 'Edge FW' });
    const lines: Array<Record<string, unknown>> = [];
    const app = createApp({
      store: withFaults(w.store, 'integrations', {
        async save(): Promise<never> {
          throw new ConflictError('version changed');
        },
      }),
      secret: TEST_SECRET,
      now: () => T0,
      staleAfterSeconds: 7200,
      log: recordLog(lines),
    });
    const call = client(app, errorBodies);
    const reply = await call('PATCH', `/v1/integrations/${created.id}`, {
      key: w.tenant.writeKey,
      json: { name: 'Renamed' },
    });
    expectProblem(reply, 409, 'Conflict');
    expect(reply.body.type).toBe('about:blank');
    expect(lines.filter((line) => line.message === 'unhandled error')).toEqual([]);
    expect((await stored(w, created.id)).name).toBe('Edge FW');
  });

  it('answers 503 with Retry-After when DynamoDB throttles, and logs no error for it', async () => {
    const w = await world();
    await create(w, { name: 'Edge FW' });
    // dynalite cannot throttle, so a client of our own fails each Query the way the SDK reports throttling.
    const client503 = localClient(api.db);
    client503.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'QueryCommand') return next(args);
        const error = new Error('Rate of requests exceeds the allowed throughput.');
        error.name = 'ThrottlingException';
        Object.assign(error, { $metadata: { httpStatusCode: 400 } });
        throw error;
      },
      { step: 'initialize', name: 'throttleQueries' },
    );
    const throttled = openStore(client503, w.store.table.name);
    const lines: Array<Record<string, unknown>> = [];
    const app = createApp({
      store: throttled,
      secret: TEST_SECRET,
      now: () => T0,
      staleAfterSeconds: 7200,
      log: recordLog(lines),
    });
    const reply = await client(app, errorBodies)('GET', '/v1/integrations', { key: w.tenant.readKey });
    expectProblem(reply, 503, 'Service unavailable');
    expect(reply.headers.get('retry-after')).toBe('1');
    expectNoLeak(reply.text, w.store.table.name);
    expect(lines.map((line) => line.message)).toEqual(['throttled', 'request']);
    // A read the middleware lets through still works: the key was checked with GetItem.
    expect(lines[1]).toMatchObject({ status: 503, key_id: w.tenant.readKeyId });
  });

  it('logs an unhandled error through deps.log with its name and message, never in the answer', async () => {
    const w = await world();
    const lines: Array<Record<string, unknown>> = [];
    const app = createApp({
      store: withFaults(w.store, 'deployment', {
        async get(): Promise<never> {
          throw new TypeError(`cannot read ${w.store.table.name}`);
        },
      }),
      secret: TEST_SECRET,
      now: () => T0,
      staleAfterSeconds: 7200,
      log: recordLog(lines),
    });
    const reply = await client(app, errorBodies)('GET', '/v1/health');
    expectProblem(reply, 500, 'Internal error');
    expectNoLeak(reply.text, w.store.table.name);
    const logged = lines.find((line) => line.message === 'unhandled error');
    expect(logged).toMatchObject({
      request_id: reply.headers.get('x-request-id'),
      error: { name: 'TypeError', message: `cannot read ${w.store.table.name}` },
    });
  });
});

describe('error bodies', () => {
  it('never carry stack traces, table names, ARNs or SDK error names', () => {
    // Runs last: every error body collected by the tests above.
    expect(errorBodies.length).toBeGreaterThan(40);
    for (const store of stores) for (const body of errorBodies) expectNoLeak(body, store.table.name);
  });
});
