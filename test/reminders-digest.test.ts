import { describe, expect, it } from 'vitest';
import { ingest } from '../shared/ingest/index.ts';
import { runNotify, STORM_THRESHOLD } from '../shared/notify/index.ts';
import { createOrg } from '../shared/org/index.ts';
import { runRules } from '../shared/rules/index.ts';
import type { Iso } from '../shared/time.ts';
import { useTestDb } from './kit/db.ts';
import { outboxReadGate } from './kit/faults.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { events } from './kit/publishers.ts';
import { at, T0 } from './kit/time.ts';
import { addIntegration, cycle, issuesOf, only, sentTo, type World, world } from './kit/world.ts';

/**
 * Notifications over time: reminders of open issues, and one digest per organization in a storm.
 * Pull-log files go through the real ingest, rule pass and notify pass on a real (in-memory) dynalite,
 * with time injected, never waited for.
 */

useTestDb();
useTempDirs();

// ---- reminders --------------------------------------------------------------------------------------

describe('reminders', () => {
  async function offlineAt25() {
    const w = await world({ heartbeat: true });
    const fw = await addIntegration(w, { name: 'Edge FortiGate' });
    await drop(w, [pull(fw.id, at(1))]);
    await cycle(w, at(1.5));
    return { w, fw };
  }

  it('an open issue is reminded every 24 h, once each even with two concurrent passes, and never after it resolves', async () => {
    const { w, fw } = await offlineAt25();
    await cycle(w, at(25.5));
    const issue = only(await issuesOf(w, 'open'));
    const twice = (now: Iso) => Promise.all([cycle(w, now), cycle(w, now)]);

    await twice(at(49.4));
    expect(events(sentTo(w))).toEqual([`issue_opened:${issue.id}`]);
    await twice(at(49.5));
    await twice(at(60));
    await twice(at(73.4));
    expect(events(sentTo(w))).toEqual([`issue_opened:${issue.id}`, `issue_reminder:${issue.id}`]);
    await twice(at(73.5));
    await twice(at(74));

    const reminders = sentTo(w).filter((n) => n.event === 'issue_reminder');
    expect(reminders).toHaveLength(2);
    for (const reminder of reminders) {
      expect(reminder).toMatchObject({ issue_id: issue.id, attributes: { event: 'issue_reminder' } });
      expect(reminder.subject).toContain('STILL OPEN');
      expect(reminder.sms.length).toBeLessThanOrEqual(160);
    }
    expect(await w.store.issues.get(w.orgId, issue.id)).toMatchObject({
      notified: { issue_opened: at(25.5), issue_reminder: at(73.5) },
      reminders_sent: 2,
    });

    // It pulls again at(80): resolved. Its next reminder would have been due at(97.5); none comes. (The
    // cycles stop before at(104), when it would cross its threshold again.)
    await drop(w, [pull(fw.id, at(80))]);
    await twice(at(80.5));
    for (const hour of [90, 97.5, 103.9]) await twice(at(hour));

    expect(events(sentTo(w))).toEqual([
      `issue_opened:${issue.id}`,
      `issue_reminder:${issue.id}`,
      `issue_reminder:${issue.id}`,
      `issue_resolved:${issue.id}`,
    ]);
  });

  it('after a long gap, one reminder, not one per missed interval', async () => {
    const { w } = await offlineAt25();
    const hourly = { reminderSeconds: 3600 };
    await cycle(w, at(26), hourly);
    await cycle(w, at(31), hourly);
    await cycle(w, at(31.5), hourly);
    await cycle(w, at(32), hourly);

    expect(sentTo(w).map((n) => n.event)).toEqual(['issue_opened', 'issue_reminder', 'issue_reminder']);
  });

  it('a notify pass that read the due list before another pass delivered sends nothing twice', async () => {
    const { w } = await offlineAt25();
    await ingest({ store: w.store, source: w.source, now: at(25.5) });
    await runRules({ store: w.store, now: at(25.5), staleAfterSeconds: 0 });
    const issue = only(await issuesOf(w, 'open'));

    // The worst interleaving of two concurrent passes, made deterministic: B reads the due list, then A runs
    // from start to end, then B goes on with what it read (it claims after A let go of the issue).
    const interleaved = async (now: Iso) => {
      // The same store, except that B's outbox read waits at a gate after reading.
      const slow = outboxReadGate(w.store);
      const b = runNotify({ store: slow.store, publisher: w.publisher, now, ...w.settings });
      await slow.read;
      const a = await runNotify({ store: w.store, publisher: w.publisher, now, ...w.settings });
      slow.goOn();
      return { a, b: await b };
    };

    const opening = await interleaved(at(25.5));
    expect(opening.a.sent.map((n) => n.event)).toEqual(['issue_opened']);
    expect(opening.b.sent).toEqual([]);
    const reminder = await interleaved(at(49.5));
    expect(reminder.a.sent.map((n) => n.event)).toEqual(['issue_reminder']);
    expect(reminder.b.sent).toEqual([]);

    expect(events(sentTo(w))).toEqual([`issue_opened:${issue.id}`, `issue_reminder:${issue.id}`]);
  });

  it('reminderSeconds 0: no reminders at all', async () => {
    const { w } = await offlineAt25();
    for (const hour of [25.5, 50, 100, 300]) await cycle(w, at(hour), { reminderSeconds: 0 });

    expect(sentTo(w).map((n) => n.event)).toEqual(['issue_opened']);
  });
});

// ---- storm control ----------------------------------------------------------------------------------

describe('storm control: one digest per organization', () => {
  async function neverPulled(w: World, count: number, prefix: string, orgId = w.orgId) {
    return Promise.all(
      Array.from({ length: count }, (_, n) => addIntegration(w, { name: `${prefix}-${n}` }, { orgId })),
    );
  }

  it('more than 10 events in one pass: one digest listing them, each issue marked notified', async () => {
    const w = await world({ heartbeat: true });
    expect(STORM_THRESHOLD).toBe(10);
    const fleet = await neverPulled(w, 11, 'branch');

    await cycle(w, at(25));

    const digest = only(sentTo(w));
    expect(digest).toMatchObject({
      event: 'issue_digest',
      org_id: w.orgId,
      issue_id: null,
      issue_type: 'digest',
      criticality: 'critical',
      attributes: { org_id: w.orgId, event: 'issue_digest', issue_type: 'digest', criticality: 'critical' },
    });
    expect(digest.subject).toContain('11 notifications');
    expect(digest.subject).toContain('11 opened');
    expect(digest.sms.length).toBeLessThanOrEqual(160);
    for (const fw of fleet) {
      expect(digest.email).toContain(fw.id);
      expect(digest.email).toContain(`"${fw.name}"`);
    }
    for (const issue of await issuesOf(w)) expect(issue.notified).toEqual({ issue_opened: at(25) });

    await cycle(w, at(25.5));
    await cycle(w, at(26));
    expect(sentTo(w)).toHaveLength(1);

    // They all pull again: the eleven resolutions are one digest too.
    await drop(
      w,
      fleet.map((fw) => pull(fw.id, at(26.5))),
    );
    await cycle(w, at(27));
    expect(sentTo(w).map((n) => n.event)).toEqual(['issue_digest', 'issue_digest']);
    expect(sentTo(w)[1]?.subject).toContain('11 resolved');
    for (const issue of await issuesOf(w))
      expect(Object.keys(issue.notified).sort()).toEqual(['issue_opened', 'issue_resolved']);
  });

  it('exactly 10 events: 10 individual messages', async () => {
    const w = await world({ heartbeat: true });
    const fleet = await neverPulled(w, 10, 'branch');

    await cycle(w, at(25));

    const sent = sentTo(w);
    expect(sent.map((n) => n.event)).toEqual(Array(10).fill('issue_opened'));
    expect(new Set(sent.map((n) => n.issue_id)).size).toBe(10);
    expect(sent.map((n) => n.subject.split(': ').at(-1)).sort()).toEqual(fleet.map((fw) => fw.name).sort());
  });

  it('two organizations in a storm each get their own digest; a third with 3 events gets 3 messages', async () => {
    const w = await world({ heartbeat: true });
    const orgB = await createOrg(w.store, 'Beta', T0);
    const orgC = await createOrg(w.store, 'Gamma', T0);
    const a = await neverPulled(w, 11, 'alpha');
    const b = await neverPulled(w, 12, 'beta', orgB.id);
    await neverPulled(w, 3, 'gamma', orgC.id);

    await cycle(w, at(25));

    const digestA = only(sentTo(w));
    const digestB = only(sentTo(w, orgB.id));
    expect([digestA.event, digestB.event]).toEqual(['issue_digest', 'issue_digest']);
    expect(digestA.subject).toContain('11 notifications');
    expect(digestB.subject).toContain('12 notifications');
    for (const fw of a) {
      expect(digestA.email).toContain(fw.id);
      expect(digestB.email).not.toContain(fw.id);
    }
    for (const fw of b) {
      expect(digestB.email).toContain(fw.id);
      expect(digestA.email).not.toContain(fw.id);
    }
    expect(digestA.email).not.toContain('gamma');
    expect(sentTo(w, orgC.id).map((n) => n.event)).toEqual(['issue_opened', 'issue_opened', 'issue_opened']);
  });
});
