import { describe, expect, it } from 'vitest';
import type { Integration } from '../shared/integration/index.ts';
import { DEPLOYMENT_ORG } from '../shared/issue/index.ts';
import { useTestDb } from './kit/db.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { events } from './kit/publishers.ts';
import { at } from './kit/time.ts';
import { addIntegration, current, cycle, issuesOf, only, sentTo, type World, world } from './kit/world.ts';

/**
 * The pipeline guard: no offline alerts while the pull-log feed itself is stale.
 * Pull-log files go through the real ingest, rule pass and notify pass on a real (in-memory) dynalite,
 * with time injected, never waited for.
 */

useTestDb();
useTempDirs();

describe('pipeline guard', () => {
  async function fleetOf(w: World, size: number, prefix = 'fw'): Promise<Integration[]> {
    return Promise.all(
      Array.from({ length: size }, (_, n) =>
        addIntegration(w, { name: `${prefix}-${String(n).padStart(2, '0')}` }),
      ),
    );
  }

  it('a log outage opens one pipeline_stale issue and holds every offline flip; when records flow again only the truly silent open, at their true opened_at', async () => {
    const w = await world();
    const fleet = await fleetOf(w, 50);
    const first = fleet[0] as Integration;
    // Reminders are off: this test counts the messages of the outage itself.
    const settings = { reminderSeconds: 0 };
    await drop(w, [...fleet.map((fw) => pull(fw.id, at(0.5))), pull(first.id, at(1))]);
    await cycle(w, at(1.1), settings);

    // The newest record is at(1): the feed counts as fresh until at(1) + 2 h.
    const fresh = await cycle(w, at(2.9), settings);
    expect(fresh.rules?.pipeline).toBe('fresh');
    expect(await issuesOf(w, undefined, DEPLOYMENT_ORG)).toEqual([]);

    const stale = await cycle(w, at(4), settings);
    expect(stale.rules?.pipeline).toBe('stale');
    const pipeline = only(await issuesOf(w, undefined, DEPLOYMENT_ORG));
    expect(pipeline).toMatchObject({
      type: 'pipeline_stale',
      org_id: DEPLOYMENT_ORG,
      integration_id: null,
      criticality: 'critical',
      state: 'open',
      opened_at: at(3),
      detected_at: at(4),
      newest_record_at: at(1),
    });
    // The feed is not an integration: no name, vendor or last pull pretending to be one.
    expect(pipeline).not.toHaveProperty('integration_name');
    expect(pipeline).not.toHaveProperty('last_pull_at');
    expect(only(sentTo(w, DEPLOYMENT_ORG))).toMatchObject({
      event: 'issue_opened',
      org_id: DEPLOYMENT_ORG,
      issue_id: pipeline.id,
      issue_type: 'pipeline_stale',
      attributes: { org_id: DEPLOYMENT_ORG, issue_type: 'pipeline_stale', criticality: 'critical' },
    });

    // A late file of records from before the outage is not the feed flowing again.
    await drop(
      w,
      fleet.slice(0, 5).map((fw) => pull(fw.id, at(0.9))),
    );
    for (const hour of [10, 25, 30]) await cycle(w, at(hour), settings);
    const held = await cycle(w, at(31), settings);
    expect(held.rules).toMatchObject({ pipeline: 'stale', held: 50, opened: [], resolved: [] });
    expect(await issuesOf(w)).toEqual([]);
    expect(only(await issuesOf(w, 'open', DEPLOYMENT_ORG)).id).toBe(pipeline.id);
    expect(w.sent).toHaveLength(1);

    // Records flow again, from ten of them: the guard resolves, the forty silent ones open.
    const back = fleet.slice(0, 10);
    const silent = fleet.slice(10);
    await drop(
      w,
      back.map((fw) => pull(fw.id, at(31.5))),
    );
    const resumed = await cycle(w, at(32), settings);

    expect(resumed.rules?.pipeline).toBe('fresh');
    expect(resumed.rules?.held).toBe(0);
    expect(only(await issuesOf(w, undefined, DEPLOYMENT_ORG))).toMatchObject({
      id: pipeline.id,
      state: 'resolved',
      resolved_at: at(31.5),
      resolution: 'pull_resumed',
    });
    const open = await issuesOf(w, 'open');
    expect(open.map((issue) => issue.integration_id).sort()).toEqual(silent.map((fw) => fw.id).sort());
    for (const issue of open) {
      expect(issue).toMatchObject({
        type: 'fw_integration_offline',
        opened_at: at(24.5),
        detected_at: at(32),
        last_pull_at: at(0.5),
      });
    }
    for (const fw of back) expect((await current(w, fw.id)).open_issues).toEqual({});

    await cycle(w, at(33), settings);
    expect(events(sentTo(w, DEPLOYMENT_ORG))).toEqual([
      `issue_opened:${pipeline.id}`,
      `issue_resolved:${pipeline.id}`,
    ]);
    // Forty openings of one organization in one pass: one digest.
    const digest = only(sentTo(w));
    expect(digest).toMatchObject({ event: 'issue_digest', issue_id: null });
    expect(digest.subject).toContain('40');
  });

  it('with records flowing (another integration keeps pulling), nothing is held and the silent one opens at last pull + 24 h', async () => {
    const w = await world({ heartbeat: true });
    const fw = await addIntegration(w);
    await drop(w, [pull(fw.id, at(1))]);
    await cycle(w, at(1.5));
    await cycle(w, at(24.9));
    expect(await issuesOf(w)).toEqual([]);

    const report = await cycle(w, at(30));

    expect(report.rules).toMatchObject({ pipeline: 'fresh', held: 0 });
    expect(only(await issuesOf(w, 'open'))).toMatchObject({ integration_id: fw.id, opened_at: at(25) });
    expect(await issuesOf(w, undefined, DEPLOYMENT_ORG)).toEqual([]);
  });

  it('staleAfterSeconds 0 turns the guard off: the same outage flags every integration', async () => {
    const w = await world();
    const fleet = await fleetOf(w, 5);
    await drop(
      w,
      fleet.map((fw) => pull(fw.id, at(1))),
    );
    await cycle(w, at(1.5), { staleAfterSeconds: 0 });

    const report = await cycle(w, at(30), { staleAfterSeconds: 0 });

    expect(report.rules).toMatchObject({ pipeline: 'guard_off', held: 0 });
    expect(await issuesOf(w, 'open')).toHaveLength(5);
    expect(await issuesOf(w, undefined, DEPLOYMENT_ORG)).toEqual([]);
  });

  it('staleAfterSeconds sets the freshness limit', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, [pull(fw.id, at(1))]);
    await cycle(w, at(1.5), { staleAfterSeconds: 3600 });

    expect((await cycle(w, at(1.9), { staleAfterSeconds: 3600 })).rules?.pipeline).toBe('fresh');
    expect((await cycle(w, at(2), { staleAfterSeconds: 3600 })).rules?.pipeline).toBe('stale');
    expect(only(await issuesOf(w, undefined, DEPLOYMENT_ORG)).opened_at).toBe(at(2));
  });

  it('no record ever seen is not an outage: never-pulled integrations are flagged', async () => {
    const w = await world();
    const fleet = await fleetOf(w, 3);

    const report = await cycle(w, at(25));

    expect(report.rules).toMatchObject({ pipeline: 'unknown', held: 0 });
    const open = await issuesOf(w, 'open');
    expect(open.map((issue) => issue.integration_id).sort()).toEqual(fleet.map((fw) => fw.id).sort());
    for (const issue of open)
      expect(issue).toMatchObject({ opened_at: at(24), diagnosis: { code: 'never_pulled' } });
    expect(await issuesOf(w, undefined, DEPLOYMENT_ORG)).toEqual([]);
  });
});
