import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createApp } from '../shared/api/app.ts';
import { createApiKey } from '../shared/auth/index.ts';
import { createOrg } from '../shared/org/index.ts';
import { addLapiState, emptySummary, lapiRemoved } from '../shared/pulls/index.ts';
import type { Iso } from '../shared/time.ts';
import { TEST_SECRET, useTestDb } from './kit/db.ts';
import { put, useTempDirs } from './kit/files.ts';
import { bouncerEntry, fixture, NOW, pullFacts, run, SNAPSHOT_FIXTURE } from './kit/ingest.ts';
import { at, T0 } from './kit/time.ts';
import { addIntegration, current, world } from './kit/world.ts';

/** LAPI bouncer snapshots through the real ingest: shapes as `cscli bouncers list -o json` prints them. */

useTestDb();
useTempDirs();

describe('LAPI bouncer snapshots', () => {
  async function lapiWorld() {
    const w = await world();
    const other = await createOrg(w.store, 'Other tenant', T0);
    const lapi = (name: string) => addIntegration(w, { name, kind: 'remediation_component', source: 'lapi' });
    return {
      w,
      fwEdge: await lapi('fw-edge-01'),
      oldPfsense: await lapi('old-pfsense'),
      cfWorker: await lapi('cf-worker-new'),
      // `ops@lab` in the snapshot is a bouncer of its own, not a variant of `ops`.
      ops: await lapi('ops'),
      // Same name as a bouncer of the snapshot, but its pulls come from blaas logs.
      blaasNamesake: await addIntegration(w, { name: 'nginx-web-02' }),
      // Same name, lapi, but in another organization.
      otherOrgNamesake: await addIntegration(
        w,
        { name: 'fw-edge-01', kind: 'remediation_component', source: 'lapi' },
        { orgId: other.id },
      ),
    };
  }

  const bouncer = bouncerEntry;

  it('feeds an integration from its entries name, name@ipv4 and cn@ipv6, the newest last pull winning', async () => {
    const l = await lapiWorld();
    await put(l.w, `${l.w.orgId}/engine1.bouncers.json`, fixture(SNAPSHOT_FIXTURE), at(9));

    const report = await run(l.w, NOW);

    expect(report.files_processed).toBe(1);
    // nginx-web-02 has no lapi integration; ops@lab is not `ops` (its tail is no address).
    expect(report.skipped).toEqual({ unknown_integration: 2 });
    const fwEdge = await current(l.w, l.fwEdge);
    // The auto-created `fw-edge-01@198.51.100.7` pulled last; the original entry's last_pull is frozen.
    expect(pullFacts(fwEdge)).toMatchObject({
      last_pull_at: '2026-11-20T08:59:58.123Z',
      last_pull_ip: '198.51.100.7',
      last_pull_user_agent: 'crowdsec-firewall-bouncer/v0.0.32-debian-pragmatic-amd64-1c2d3e4',
    });
    const engines = { [`${l.w.orgId}/engine1.bouncers.json`]: { listed_at: at(9), checked_at: at(9) } };
    expect(fwEdge.lapi).toEqual({
      revoked: false,
      seen_at: at(9),
      entry: 'fw-edge-01@198.51.100.7',
      entry_pull_at: '2026-11-20T08:59:58.123Z',
      engines,
    });

    // A TLS bouncer is only ever listed as `<CN>@<ip>`.
    const old = await current(l.w, l.oldPfsense);
    expect(old.last_pull_at).toBe('2026-11-18T06:59:59.000Z');
    expect(old.last_pull_ip).toBe('2001:db8::12');
    expect(old.lapi).toMatchObject({ revoked: false, entry: 'old-pfsense@2001:db8::12' });

    const never = await current(l.w, l.cfWorker);
    expect(never.last_pull_at).toBeNull();
    expect(never.lapi).toEqual({ revoked: false, seen_at: at(9), entry: null, entry_pull_at: null, engines });

    for (const untouched of [l.ops, l.blaasNamesake, l.otherOrgNamesake]) {
      expect(await current(l.w, untouched)).toEqual(untouched);
    }
  });

  it('shows which snapshot entry fed the last pull in GET /v1/integrations/{id}', async () => {
    const l = await lapiWorld();
    await put(l.w, `${l.w.orgId}/engine1.bouncers.json`, fixture(SNAPSHOT_FIXTURE), at(9));
    await run(l.w, NOW);
    const { key } = await createApiKey(l.w.store, TEST_SECRET, l.w.orgId, 'read', NOW);
    const app = createApp({ store: l.w.store, secret: TEST_SECRET, now: () => NOW, staleAfterSeconds: 7200 });
    const get = async (id: string) => {
      const response = await app.request(`/v1/integrations/${id}`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(response.status).toBe(200);
      return (await response.json()) as { lapi_entry: string | null; last_pull_at: string | null };
    };

    expect(await get(l.fwEdge.id)).toMatchObject({
      lapi_entry: 'fw-edge-01@198.51.100.7',
      last_pull_at: '2026-11-20T08:59:58.123Z',
    });
    expect((await get(l.oldPfsense.id)).lapi_entry).toBe('old-pfsense@2001:db8::12');
    expect((await get(l.cfWorker.id)).lapi_entry).toBeNull();
    expect((await get(l.blaasNamesake.id)).lapi_entry).toBeNull();
  });

  it('the newest last pull wins over runs too: an entry coming back later feeds it again', async () => {
    const l = await lapiWorld();
    const path = `${l.w.orgId}/engine1.bouncers.json`;
    await put(l.w, path, fixture(SNAPSHOT_FIXTURE), at(9));
    await run(l.w, NOW);
    // The bouncer moved back to its first address: the original entry pulls again, the variant freezes.
    const back = JSON.stringify([
      bouncer('fw-edge-01', '2026-11-20T10:30:00Z'),
      bouncer('fw-edge-01@198.51.100.7', '2026-11-20T08:59:58Z', {
        ip_address: '198.51.100.7',
        auto_created: true,
      }),
    ]);
    await put(l.w, path, back, at(11));
    await run(l.w, at(13));
    const fwEdge = await current(l.w, l.fwEdge);
    expect(fwEdge.last_pull_at).toBe('2026-11-20T10:30:00.000Z');
    expect(fwEdge.last_pull_ip).toBe('192.0.2.10');
    expect(fwEdge.lapi).toMatchObject({ entry: 'fw-edge-01', entry_pull_at: '2026-11-20T10:30:00.000Z' });
  });

  it('takes the newest snapshot as the bouncer state, whatever order snapshots arrive in', async () => {
    const l = await lapiWorld();
    await put(l.w, `${l.w.orgId}/engine1.bouncers.json`, fixture(SNAPSHOT_FIXTURE), at(9));
    await run(l.w, NOW);

    // Another engine (a path of its own), gzip-compressed, listing the bouncer as revoked.
    const revoked = JSON.stringify([bouncer('fw-edge-01', '2026-11-20T10:30:00Z', { revoked: true })]);
    await put(l.w, `${l.w.orgId}/engine2.bouncers.json.gz`, gzipSync(revoked), at(11));
    await run(l.w, at(13));
    let fwEdge = await current(l.w, l.fwEdge);
    expect(fwEdge.lapi).toMatchObject({ revoked: true, seen_at: at(11), entry: 'fw-edge-01' });
    expect(fwEdge.last_pull_at).toBe('2026-11-20T10:30:00.000Z');
    expect(fwEdge.last_pull_user_agent).toBe('crowdsec-firewall-bouncer/v0.0.31');

    // A snapshot taken earlier but delivered late neither un-revokes it nor moves the pull back.
    await put(l.w, `${l.w.orgId}/engine3.bouncers.json`, fixture(SNAPSHOT_FIXTURE), at(8));
    const late = await run(l.w, at(14));
    expect(late.files_processed).toBe(1);
    fwEdge = await current(l.w, l.fwEdge);
    expect(fwEdge.lapi).toMatchObject({ revoked: true, seen_at: at(11), entry: 'fw-edge-01' });
    expect(fwEdge.last_pull_at).toBe('2026-11-20T10:30:00.000Z');
  });

  it('records a bouncer deleted from its engine; a late older snapshot does not undo it, a newer listing does', async () => {
    const l = await lapiWorld();
    const path = `${l.w.orgId}/engine1.bouncers.json`;
    const engine = (listed: boolean) =>
      JSON.stringify([
        bouncer('nginx-web-02', '2026-11-20T08:55:00Z'),
        ...(listed ? [bouncer('fw-edge-01', '2026-11-20T08:59:58Z')] : []),
      ]);
    // Another engine of the organization that never knew fw-edge-01: its snapshots say nothing about it.
    await put(l.w, `${l.w.orgId}/engine2.bouncers.json`, engine(false), at(9.5));
    await put(l.w, path, engine(true), at(9));
    await run(l.w, NOW);
    expect(lapiRemoved((await current(l.w, l.fwEdge)).lapi)).toBe(false);

    // cscli bouncers delete fw-edge-01: the snapshot, overwritten in place, no longer lists it.
    await put(l.w, path, engine(false), at(11));
    await run(l.w, at(11.5));
    let fwEdge = await current(l.w, l.fwEdge);
    expect(fwEdge.lapi?.engines[path]).toEqual({ listed_at: at(9), checked_at: at(11) });
    expect(lapiRemoved(fwEdge.lapi)).toBe(true);
    expect(fwEdge.last_pull_at).toBe('2026-11-20T08:59:58.000Z');

    // The same path delivered again with its older content (an older identity): still removed.
    await put(l.w, path, engine(true), at(10));
    await run(l.w, at(12));
    fwEdge = await current(l.w, l.fwEdge);
    expect(fwEdge.lapi?.engines[path]).toEqual({ listed_at: at(10), checked_at: at(11) });
    expect(lapiRemoved(fwEdge.lapi)).toBe(true);

    // Registered again: the next snapshot lists it.
    await put(l.w, path, engine(true), at(12.5));
    await run(l.w, at(13));
    fwEdge = await current(l.w, l.fwEdge);
    expect(lapiRemoved(fwEdge.lapi)).toBe(false);
  });

  it('folds the engine facts in any order and idempotently', () => {
    const state = (path: string, listed: Iso | null, checked: Iso) => ({
      revoked: false,
      seen_at: listed,
      entry: null,
      entry_pull_at: null,
      engines: { [path]: { listed_at: listed, checked_at: checked } },
    });
    const facts = [
      state('e1', at(9), at(9)),
      state('e1', null, at(11)),
      state('e1', at(10), at(10)),
      state('e2', null, at(10.5)),
    ];
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: facts.length - 1 }), { minLength: 1, maxLength: 12 }),
        (order) => {
          const a = emptySummary('x');
          const b = emptySummary('x');
          for (const index of order) addLapiState(a, facts[index] as (typeof facts)[number]);
          for (const index of [...order].reverse()) addLapiState(b, facts[index] as (typeof facts)[number]);
          expect(a.lapi).toEqual(b.lapi);
          const all = new Set(order);
          if (all.has(1)) expect(lapiRemoved(a.lapi)).toBe(all.has(0) || all.has(2));
        },
      ),
    );
  });

  it('skips a snapshot whose path names no organization, with reason no_org_in_path', async () => {
    const l = await lapiWorld();
    await put(l.w, 'engine1.bouncers.json', fixture(SNAPSHOT_FIXTURE), at(9));

    const report = await run(l.w, NOW);

    expect(report.files_processed).toBe(1);
    expect(report.records).toBe(0);
    expect(report.skipped).toEqual({ no_org_in_path: 1 });
    expect(report.samples).toEqual([
      { file: 'engine1.bouncers.json', line: 1, reason: 'no_org_in_path', text: 'engine1.bouncers.json' },
    ]);
    for (const integration of [l.fwEdge, l.oldPfsense, l.cfWorker, l.otherOrgNamesake]) {
      expect(await current(l.w, integration)).toEqual(integration);
    }
  });

  it('counts a bouncer whose last pull is in the future as future_time', async () => {
    const l = await lapiWorld();
    const snapshot = JSON.stringify([
      {
        name: 'fw-edge-01',
        ip_address: '192.0.2.10',
        revoked: false,
        last_pull: at(13),
        type: 'x',
        version: '1',
      },
    ]);
    await put(l.w, `${l.w.orgId}/engine1.bouncers.json`, snapshot, at(11));

    const report = await run(l.w, NOW);

    expect(report.skipped).toEqual({ future_time: 1 });
    expect((await current(l.w, l.fwEdge)).last_pull_at).toBeNull();
  });
});
