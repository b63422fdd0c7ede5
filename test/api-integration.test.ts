import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { runRules } from '../shared/rules/index.ts';
import {
  create,
  expectNoLeak,
  expectProblem,
  ids,
  newTenant,
  type Reply,
  scanTable,
  stored,
  useApiFile,
  type World,
} from './api-kit.ts';
import { acceptsBasic } from './kit/checks.ts';
import { TEST_SECRET } from './kit/db.ts';
import { at, T0 } from './kit/time.ts';

/** One integration: detail, PATCH, DELETE, credential refresh and its history (transitions, events). */
const api = useApiFile();
const { world, call, createFw, storedIntegration, rawIntegrationItem, listAll, errorBodies, stores } = api;

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
    const raw = await w.store.table.doc.send(
      new GetCommand({
        TableName: w.store.table.name,
        Key: { pk: `INT#${created.id}`, sk: `INT#${created.id}` },
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

describe('one integration', () => {
  it('GET returns the object itself', async () => {
    const tenant = await newTenant(api.s.store);
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
    const owner = await newTenant(api.s.store);
    const stranger = await newTenant(api.s.store);
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
    expect(acceptsBasic(TEST_SECRET, after, created.username, created.password, api.s.clock)).toBe(true);
  });

  it('PATCH changes paused, name and offline_after_seconds', async () => {
    const tenant = await newTenant(api.s.store);
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
    expect(acceptsBasic(TEST_SECRET, stored, created.username, created.password, api.s.clock)).toBe(true);
  });

  it('PATCH rejects out-of-range thresholds, unknown fields and empty patches with 400 and changes nothing', async () => {
    const tenant = await newTenant(api.s.store);
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
    const tenant = await newTenant(api.s.store);
    const created = await createFw(tenant);
    const reply = await call('DELETE', `/v1/integrations/${created.id}`, { key: tenant.writeKey });
    expect(reply.status).toBe(204);
    expectProblem(await call('GET', `/v1/integrations/${created.id}`, { key: tenant.readKey }), 404);
    expect(await listAll(tenant)).toEqual([]);
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
    expect(await w.store.integrations.get(orgId, doomed.id)).toBeNull();

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
    const events = (await w.store.history.events(orgId, doomed.id, { limit: 10 })).items;
    expect(events[0]).toMatchObject({
      type: 'deleted',
      actor: writeKeyId,
      request_id: del.headers.get('x-request-id'),
    });
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
      expect(acceptsBasic(TEST_SECRET, integration, created.username, current, T0)).toBe(grace > 0);
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
    expect(acceptsBasic(TEST_SECRET, integration, created.username, current, T0)).toBe(true);
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
        acceptsBasic(TEST_SECRET, integration, created.username, password, at(0.5)),
      );
      expect(valid.length).toBeLessThanOrEqual(2);
      expect(valid.sort()).toEqual([...returned].sort());
      // After the grace window only the one written last is left, and it is one of those returned.
      const after = returned.filter((password) =>
        acceptsBasic(TEST_SECRET, integration, created.username, password, at(2)),
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
      acceptsBasic(TEST_SECRET, integration, created.username, password, T0),
    );
    expect(valid.length).toBeLessThanOrEqual(2);
    for (const password of valid) expect(returned).toContain(password);
  });
});

describe('POST /v1/integrations/{id}/credentials/refresh', () => {
  it('returns a new password once, not cached; the old one stops working; only a hash is stored', async () => {
    const tenant = await newTenant(api.s.store);
    const created = await createFw(tenant);
    api.s.clock = at(1);
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
      expect(acceptsBasic(TEST_SECRET, stored, created.username, reply.body.password, api.s.clock)).toBe(
        true,
      );
      expect(acceptsBasic(TEST_SECRET, stored, created.username, created.password, api.s.clock)).toBe(false);
      expect(acceptsBasic(TEST_SECRET, stored, 'someone-else', reply.body.password, api.s.clock)).toBe(false);

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
      api.s.clock = T0;
    }
  });

  it('keeps the old password valid during grace_seconds and not after', async () => {
    const tenant = await newTenant(api.s.store);
    const created = await createFw(tenant);
    const reply = await call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
      key: tenant.writeKey,
      json: { grace_seconds: 3600 },
    });
    expect(reply.status).toBe(200);
    expect(reply.body.previous_valid_until).toBe(at(1));
    const stored = await storedIntegration(tenant.orgId, created.id);
    const { username } = created;
    expect(acceptsBasic(TEST_SECRET, stored, username, created.password, at(0.5))).toBe(true);
    expect(acceptsBasic(TEST_SECRET, stored, username, reply.body.password, at(0.5))).toBe(true);
    expect(acceptsBasic(TEST_SECRET, stored, username, created.password, at(1))).toBe(false);
    expect(acceptsBasic(TEST_SECRET, stored, username, created.password, at(2))).toBe(false);
    expect(acceptsBasic(TEST_SECRET, stored, username, reply.body.password, at(2))).toBe(true);

    const serialized = JSON.stringify(await rawIntegrationItem(tenant.orgId, created.id));
    expect(serialized).not.toContain(created.password);
    expect(serialized).not.toContain(reply.body.password);
  });

  it('rejects a bad grace_seconds and unknown fields with 400 and keeps the password', async () => {
    const tenant = await newTenant(api.s.store);
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
    expect(acceptsBasic(TEST_SECRET, stored, created.username, created.password, api.s.clock)).toBe(true);
  });
});

describe('secrets at rest', () => {
  it('stores API keys and passwords only hashed', async () => {
    const tenant = await newTenant(api.s.store);
    const created = await createFw(tenant);
    const items = await scanTable(api.s.store);
    expect(items.length).toBeGreaterThan(0);
    const everything = JSON.stringify(items);
    expect(everything).not.toContain(tenant.writeKey);
    expect(everything).not.toContain(tenant.readKey);
    // The random part alone must not be there either (e.g. stored without its prefix).
    expect(everything).not.toContain(tenant.writeKey.slice(4));
    expect(everything).not.toContain(created.password);
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
    const raw = await w.store.integrations.get(w.tenant.orgId, id);
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

describe('GET /v1/integrations/{id}/transitions and /events: paging', () => {
  /** An integration paused and resumed seven times an hour apart, with a refresh (grace) in between. */
  async function busy() {
    const w = await world();
    const created = await create(w, { name: 'Busy FW' });
    for (let hour = 1; hour <= 7; hour += 1) {
      w.clock = at(hour);
      const reply = await w.call('PATCH', `/v1/integrations/${created.id}`, {
        key: w.tenant.writeKey,
        json: { paused: hour % 2 === 1 },
      });
      expect(reply.status, reply.text).toBe(200);
      if (hour === 3) {
        const refresh = await w.call('POST', `/v1/integrations/${created.id}/credentials/refresh`, {
          key: w.tenant.writeKey,
          json: { grace_seconds: 5400 },
        });
        expect(refresh.status).toBe(200);
      }
    }
    w.clock = at(8);
    return { w, id: created.id };
  }

  const walk = async (w: World, path: string) => {
    const seen: Array<{ at: string; type?: string; kind?: string }> = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const url: string = cursor ? `${path}&cursor=${encodeURIComponent(cursor)}` : path;
      const reply = await w.call('GET', url, { key: w.tenant.readKey });
      expect(reply.status, `${url}: ${reply.text}`).toBe(200);
      seen.push(...reply.body.items);
      sizes.push(reply.body.items.length);
      cursor = reply.body.next_cursor;
      expect(sizes.length).toBeLessThan(50);
    } while (cursor);
    return { seen, sizes };
  };

  it('pages transitions with limit and a real next_cursor, newest first, each exactly once', async () => {
    const { w, id } = await busy();
    const whole = await w.call('GET', `/v1/integrations/${id}/transitions?limit=100`, {
      key: w.tenant.readKey,
    });
    expect(whole.body.items).toHaveLength(7);
    expect(whole.body.next_cursor).toBeNull();
    expect(whole.body.items.map((item: { kind: string }) => item.kind)).toEqual([
      'paused',
      'resumed',
      'paused',
      'resumed',
      'paused',
      'resumed',
      'paused',
    ]);
    for (const limit of [1, 2, 3, 7]) {
      const { seen, sizes } = await walk(w, `/v1/integrations/${id}/transitions?limit=${limit}`);
      expect(seen, `limit ${limit}`).toEqual(whole.body.items);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(limit);
    }
    const first = await w.call('GET', `/v1/integrations/${id}/transitions?limit=2`, {
      key: w.tenant.readKey,
    });
    expect(first.body.items).toHaveLength(2);
    expect(typeof first.body.next_cursor).toBe('string');
    // The default page is 50; the detail route still shows the recent ones.
    const defaults = await w.call('GET', `/v1/integrations/${id}/transitions`, { key: w.tenant.readKey });
    expect(defaults.body.items).toEqual(whole.body.items);
    const detail = await w.call('GET', `/v1/integrations/${id}`, { key: w.tenant.readKey });
    expect(detail.body.transitions).toEqual(whole.body.items);
  });

  it('pages events with each derived grace expiry exactly once, in order', async () => {
    const { w, id } = await busy();
    const whole = await w.call('GET', `/v1/integrations/${id}/events?limit=100`, { key: w.tenant.readKey });
    const types = whole.body.items.map((item: { type: string }) => item.type);
    // created, 7 pauses/resumes, a refresh, and the end of its grace window at 4.5 h.
    expect(types).toHaveLength(10);
    expect(types.filter((type: string) => type === 'previous_password_expired')).toHaveLength(1);
    const ats = whole.body.items.map((item: { at: string }) => item.at);
    expect(ats).toEqual([...ats].sort().reverse());
    for (const limit of [1, 2, 3, 4]) {
      const { seen } = await walk(w, `/v1/integrations/${id}/events?limit=${limit}`);
      expect(seen, `limit ${limit}`).toEqual(whole.body.items);
    }
  });

  it('refuses limits out of range and cursors of another integration or list with 400 naming the field', async () => {
    const { w, id } = await busy();
    const other = await create(w, { name: 'Other FW' });
    await w.call('PATCH', `/v1/integrations/${other.id}`, { key: w.tenant.writeKey, json: { paused: true } });
    await w.call('PATCH', `/v1/integrations/${other.id}`, {
      key: w.tenant.writeKey,
      json: { paused: false },
    });
    const cursorOf = async (path: string) =>
      (await w.call('GET', path, { key: w.tenant.readKey })).body.next_cursor as string;
    const transitions = await cursorOf(`/v1/integrations/${id}/transitions?limit=1`);
    const events = await cursorOf(`/v1/integrations/${id}/events?limit=1`);
    expect(transitions).toEqual(expect.any(String));
    expect(events).toEqual(expect.any(String));
    for (const [path, field] of [
      [`/v1/integrations/${other.id}/transitions?cursor=${encodeURIComponent(transitions)}`, 'cursor'],
      [`/v1/integrations/${id}/events?cursor=${encodeURIComponent(transitions)}`, 'cursor'],
      [`/v1/integrations/${id}/transitions?cursor=${encodeURIComponent(events)}`, 'cursor'],
      [`/v1/integrations/${other.id}/events?cursor=${encodeURIComponent(events)}`, 'cursor'],
      [`/v1/integrations/${id}/events?cursor=garbage`, 'cursor'],
      [`/v1/integrations/${id}/transitions?limit=0`, 'limit'],
      [`/v1/integrations/${id}/events?limit=101`, 'limit'],
    ] as const) {
      const reply = await w.call('GET', path, { key: w.tenant.readKey });
      expectProblem(reply, 400, 'Invalid request');
      expect(reply.body.field, path).toBe(field);
    }
  });
});

describe('error bodies', () => {
  it('never carry stack traces, table names, ARNs or SDK error names', () => {
    // Runs last: every error body collected by the tests above.
    expect(errorBodies.length).toBeGreaterThan(20);
    for (const store of stores) for (const body of errorBodies) expectNoLeak(body, store.table.name);
  });
});
