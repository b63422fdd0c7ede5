import { describe, expect, it } from 'vitest';
import { createApp } from '../shared/api/app.ts';
import type { Transition } from '../shared/history/index.ts';
import { patchIntegration } from '../shared/integration/ops.ts';
import { createOrgWithKey } from '../shared/org/index.ts';
import { TEST_SECRET, useTestDb } from './kit/db.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { events } from './kit/publishers.ts';
import { at, T0 } from './kit/time.ts';
import { addIntegration, cycle, issuesOf, only, sentTo, world } from './kit/world.ts';

/**
 * Pausing an integration resolves and holds its issues; resuming re-arms detection.
 * Pull-log files go through the real ingest, rule pass and notify pass on a real (in-memory) dynalite,
 * with time injected, never waited for.
 */

useTestDb();
useTempDirs();

describe('pause and resume', () => {
  it('pausing resolves the open issue once, nothing opens while paused, resuming re-arms; the API lists the transitions', async () => {
    const w = await world({ heartbeat: true });
    const fw = await addIntegration(w, { name: 'Edge FortiGate' });
    await drop(w, [pull(fw.id, at(1))]);
    await cycle(w, at(1.5));
    await cycle(w, at(26));
    const first = only(await issuesOf(w, 'open'));
    expect(first).toMatchObject({ type: 'fw_integration_offline', opened_at: at(25) });

    await patchIntegration(w.store, w.orgId, fw.id, { paused: true }, at(27));
    await cycle(w, at(27.5));

    expect(await issuesOf(w, 'open')).toEqual([]);
    expect(only(await issuesOf(w, 'resolved'))).toMatchObject({
      id: first.id,
      resolution: 'paused',
      resolved_at: at(27.5),
    });

    // While paused: silence and repeated rejections open nothing.
    await drop(
      w,
      [40, 40.2, 40.5].map((hour) => pull(fw.id, at(hour), { status: 401 })),
    );
    for (const hour of [41, 60, 98]) await cycle(w, at(hour));
    expect((await issuesOf(w)).map((issue) => issue.id)).toEqual([first.id]);
    expect(events(sentTo(w))).toEqual([`issue_opened:${first.id}`, `issue_resolved:${first.id}`]);
    const resolvedMessage = sentTo(w)[1];
    expect(resolvedMessage?.sms).toContain('paused');
    expect(resolvedMessage?.email).toContain('paused');

    // A pull while paused, then resume: watched again from that pull.
    await drop(w, [pull(fw.id, at(99))]);
    await cycle(w, at(99.5));
    await patchIntegration(w.store, w.orgId, fw.id, { paused: false }, at(100));
    await cycle(w, at(100.5));
    await cycle(w, at(122.9));
    expect(await issuesOf(w, 'open')).toEqual([]);

    await cycle(w, at(124));
    const second = only(await issuesOf(w, 'open'));
    expect(second).toMatchObject({
      type: 'fw_integration_offline',
      opened_at: at(123),
      detected_at: at(124),
    });
    expect(second.id).not.toBe(first.id);
    expect(events(sentTo(w))).toEqual([
      `issue_opened:${first.id}`,
      `issue_resolved:${first.id}`,
      `issue_opened:${second.id}`,
    ]);

    const app = createApp({
      store: w.store,
      secret: TEST_SECRET,
      now: () => at(124),
      staleAfterSeconds: 7200,
    });
    const response = await app.request(`/v1/integrations/${fw.id}/transitions`, {
      headers: { authorization: `Bearer ${w.key}` },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { items: Transition[] };
    expect(
      body.items.map(({ kind, at: time, issue_id, from_status, to_status }) => ({
        kind,
        at: time,
        issue_id,
        from_status,
        to_status,
      })),
    ).toEqual([
      { kind: 'issue_opened', at: at(123), issue_id: second.id, from_status: 'online', to_status: 'offline' },
      { kind: 'resumed', at: at(100), issue_id: null, from_status: 'paused', to_status: 'online' },
      {
        kind: 'issue_resolved',
        at: at(27.5),
        issue_id: first.id,
        from_status: 'offline',
        to_status: 'paused',
      },
      { kind: 'paused', at: at(27), issue_id: null, from_status: 'offline', to_status: 'paused' },
      { kind: 'issue_opened', at: at(25), issue_id: first.id, from_status: 'online', to_status: 'offline' },
    ]);
    expect(body.items[2]?.reason).toBe('paused');
    expect(body.items[4]?.reason).toBe('no_requests');

    // Another organization's key sees nothing of it.
    const other = await createOrgWithKey(w.store, TEST_SECRET, 'Other', 'write', T0);
    const foreign = await app.request(`/v1/integrations/${fw.id}/transitions`, {
      headers: { authorization: `Bearer ${other.key}` },
    });
    expect(foreign.status).toBe(404);
    expect(await foreign.text()).not.toContain(first.id);
  });

  it('an integration created paused opens nothing, even never pulled for days', async () => {
    const w = await world({ heartbeat: true });
    await addIntegration(w, { name: 'lab' }).then((fw) =>
      patchIntegration(w.store, w.orgId, fw.id, { paused: true }, T0),
    );
    for (const hour of [25, 50, 200]) await cycle(w, at(hour));

    expect(await issuesOf(w)).toEqual([]);
    expect(sentTo(w)).toEqual([]);
  });
});
