import { describe, expect, it } from 'vitest';
import { useTestDb } from './kit/db.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { events } from './kit/publishers.ts';
import { at, minutes } from './kit/time.ts';
import { addIntegration, current, cycle, issuesOf, only, sentTo, world } from './kit/world.ts';

/**
 * Detection: the early warning that an integration's credentials are being rejected.
 * Pull-log files go through the real ingest, rule pass and notify pass on a real (in-memory) dynalite,
 * with time injected, never waited for.
 */

useTestDb();
useTempDirs();

describe('early warning: integration_auth_failing', () => {
  /** A FortiGate whose last good pull, at(1), has been ingested. */
  async function pulledAtOne() {
    const w = await world({ heartbeat: true });
    const fw = await addIntegration(w, { name: 'Edge FortiGate' });
    await drop(w, [pull(fw.id, at(1))]);
    await cycle(w, at(1.5));
    return { w, fw };
  }

  it('opens (high) at the rejection that made 3 span 15 min, hours before the 24 h mark; resolves once on the next success', async () => {
    const { w, fw } = await pulledAtOne();
    const t = (count: number) => minutes(at(2), count);
    await drop(w, [
      pull(fw.id, t(0), { status: 401 }),
      pull(fw.id, t(5), { status: 403 }),
      pull(fw.id, t(10), { status: 401 }),
    ]);
    await cycle(w, t(12));
    // Three rejections within ten minutes: not yet.
    expect(await issuesOf(w)).toEqual([]);

    await drop(w, [pull(fw.id, t(15), { status: 401 })]);
    await cycle(w, t(16));

    const warning = only(await issuesOf(w, 'open'));
    expect(warning).toMatchObject({
      type: 'integration_auth_failing',
      integration_id: fw.id,
      criticality: 'high',
      opened_at: t(15),
      detected_at: t(16),
      last_pull_at: at(1),
    });
    expect(warning.diagnosis.code).toBe('credentials_rejected');
    // Hours before the offline issue could open (last pull + 24 h).
    expect(Date.parse(at(25)) - Date.parse(warning.opened_at)).toBeGreaterThan(20 * 3_600_000);
    const opened = only(sentTo(w));
    expect(opened).toMatchObject({
      event: 'issue_opened',
      issue_id: warning.id,
      criticality: 'high',
      attributes: { issue_type: 'integration_auth_failing', criticality: 'high', event: 'issue_opened' },
    });
    expect(opened.sms.length).toBeLessThanOrEqual(160);

    // More rejections do not open it again; the next success resolves it, at that success.
    await drop(w, [pull(fw.id, at(3), { status: 401 })]);
    await cycle(w, at(3.5));
    await drop(w, [pull(fw.id, at(4))]);
    await cycle(w, at(4.5));
    for (const hour of [5, 8, 12]) await cycle(w, at(hour));

    const resolved = only(await issuesOf(w));
    expect(resolved).toMatchObject({
      id: warning.id,
      state: 'resolved',
      resolved_at: at(4),
      resolution: 'pull_resumed',
    });
    expect((await current(w, fw.id)).open_issues).toEqual({});
    expect(events(sentTo(w))).toEqual([`issue_opened:${warning.id}`, `issue_resolved:${warning.id}`]);
    expect(sentTo(w)[1]?.subject).toMatch(/RESOLVED/);
  });

  it('three rejections spanning exactly 15 minutes are enough', async () => {
    const { w, fw } = await pulledAtOne();
    await drop(w, [
      pull(fw.id, minutes(at(2), 0), { status: 401 }),
      pull(fw.id, minutes(at(2), 7), { status: 401 }),
      pull(fw.id, minutes(at(2), 15), { status: 401 }),
    ]);
    await cycle(w, at(2.5));

    expect(only(await issuesOf(w, 'open'))).toMatchObject({
      type: 'integration_auth_failing',
      opened_at: minutes(at(2), 15),
    });
  });

  it.each([
    { what: 'three rejections within 10 minutes', offsets: [0, 4, 10] },
    { what: 'two rejections spanning an hour', offsets: [0, 60] },
    { what: 'one rejection a day', offsets: [0] },
  ])('$what open nothing', async ({ offsets }) => {
    const { w, fw } = await pulledAtOne();
    await drop(
      w,
      offsets.map((offset) => pull(fw.id, minutes(at(2), offset), { status: 401 })),
    );
    for (const hour of [3.5, 6, 20]) await cycle(w, at(hour));

    expect(await issuesOf(w)).toEqual([]);
    expect(sentTo(w)).toEqual([]);
  });

  it('rejections older than the last success do not count', async () => {
    const w = await world({ heartbeat: true });
    const fw = await addIntegration(w);
    await drop(w, [
      pull(fw.id, at(1), { status: 401 }),
      pull(fw.id, at(1.5), { status: 401 }),
      pull(fw.id, at(2), { status: 401 }),
      pull(fw.id, at(3)),
    ]);
    await cycle(w, at(4));

    expect(await issuesOf(w)).toEqual([]);
  });

  it('the offline issue can open later as well, and both resolve on the next success', async () => {
    const { w, fw } = await pulledAtOne();
    await drop(
      w,
      [2, 2.5, 3].map((hour) => pull(fw.id, at(hour), { status: 401 })),
    );
    await cycle(w, at(3.1));
    const warning = only(await issuesOf(w, 'open'));
    expect(warning).toMatchObject({ type: 'integration_auth_failing', opened_at: at(3) });

    await drop(
      w,
      Array.from({ length: 45 }, (_, n) => pull(fw.id, at(3.5 + n / 2), { status: 401 })),
    );
    await cycle(w, at(26));

    const open = await issuesOf(w, 'open');
    expect(open).toHaveLength(2);
    const offline = open.find((issue) => issue.type === 'fw_integration_offline');
    expect(offline).toMatchObject({ opened_at: at(25), diagnosis: { code: 'credentials_rejected' } });
    expect(open.find((issue) => issue.type === 'integration_auth_failing')?.id).toBe(warning.id);

    await drop(w, [pull(fw.id, at(26.5))]);
    await cycle(w, at(27));
    await cycle(w, at(28));

    expect(await issuesOf(w, 'open')).toEqual([]);
    expect(events(sentTo(w)).sort()).toEqual(
      [
        `issue_opened:${warning.id}`,
        `issue_opened:${offline?.id}`,
        `issue_resolved:${warning.id}`,
        `issue_resolved:${offline?.id}`,
      ].sort(),
    );
    for (const issue of await issuesOf(w)) expect(issue.resolved_at).toBe(at(26.5));
  });
});
