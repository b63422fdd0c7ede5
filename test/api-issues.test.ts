import { beforeAll, describe, expect, it } from 'vitest';
import { runRules } from '../shared/rules/index.ts';
import {
  create,
  encode,
  expectNoLeak,
  expectProblem,
  ids,
  newTenant,
  pages,
  recordPull,
  useApiFile,
  type World,
} from './api-kit.ts';
import { at } from './kit/time.ts';
import { SETTINGS } from './kit/world.ts';

const api = useApiFile();
const { world, call, createFw, errorBodies, stores } = api;

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
    await runRules({ store: w.store, now: at(2), ...SETTINGS, staleAfterSeconds: 0 });
    // fw-back pulls again: its issue resolves.
    await recordPull(w.store, org, byName['fw-back'] as string, at(2.5));
    const report = await runRules({ store: w.store, now: at(3), ...SETTINGS, staleAfterSeconds: 0 });
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

describe('issues', () => {
  it('lists the open issue the rule pass opened past the threshold, and shows it by id', async () => {
    // A table of its own, so this rule pass sees only this test's integration.
    const x = await world();
    try {
      const owner = await newTenant(x.store);
      const stranger = await newTenant(x.store);
      const created = await createFw(owner, 'Edge FW', x);
      const on = { on: x };

      const none = await call('GET', '/v1/issues?state=open', { key: owner.readKey, ...on });
      expect(none.status).toBe(200);
      expect(none.body).toEqual({ items: [], next_cursor: null });

      const early = await runRules({ store: x.store, now: at(23), ...SETTINGS });
      expect(early.opened).toEqual([]);

      x.clock = at(25);
      const report = await runRules({ store: x.store, now: x.clock, ...SETTINGS });
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
    }
  });
});

describe('error bodies', () => {
  it('never carry stack traces, table names, ARNs or SDK error names', () => {
    // Runs last: every error body collected by the tests above.
    expect(errorBodies.length).toBeGreaterThan(3);
    for (const store of stores) for (const body of errorBodies) expectNoLeak(body, store.table.name);
  });
});
