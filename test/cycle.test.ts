import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TransportError } from '../shared/errors.ts';
import { ingest } from '../shared/ingest/index.ts';
import type { Integration } from '../shared/integration/index.ts';
import { patchIntegration } from '../shared/integration/ops.ts';
import type { Issue } from '../shared/issue/index.ts';
import { ChatNotificationSchema } from '../shared/notify/chat.ts';
import { runNotify } from '../shared/notify/index.ts';
import {
  addRecord,
  applyPulls,
  emptySummary,
  mergeSummary,
  type PullSummary,
} from '../shared/pulls/index.ts';
import { runRules } from '../shared/rules/index.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { offlineIssueFor } from './kit/checks.ts';
import { integrationWrites, useTestDb } from './kit/db.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { pull, pullRecord } from './kit/lines.ts';
import { events, quietFilePublisher, readOutbox, recorder } from './kit/publishers.ts';
import { at, T0 } from './kit/time.ts';
import {
  addIntegration,
  current,
  cycle,
  integrationInMemory,
  issuesOf,
  SETTINGS,
  type World,
  world,
} from './kit/world.ts';

/**
 * The cycle end to end: ingest, the offline rule and the notify pass, with the outbox file of the product's
 * FilePublisher read back. Worlds with `staleAfterSeconds: 0` turn the pipeline guard off, for tests about
 * something else that jump hours ahead without any newer pull-log record (the guard has its own tests in
 * pipeline-guard.test.ts).
 */

useTestDb();
useTempDirs();

/** The lines of the world's outbox file. */
const outbox = (w: World) => readOutbox(w.outbox);

/** A firewall whose last good pull (ingested by a cycle) is `lastPull`; threshold 24 h unless given. */
async function pulledFirewall(w: World, lastPull: Iso, input: Parameters<typeof addIntegration>[1] = {}) {
  const integration = await addIntegration(w, input);
  await drop(w, [pull(integration.id, lastPull)]);
  await cycle(w, addSeconds(lastPull, 60));
  return current(w, integration.id);
}

// ---- ingest ------------------------------------------------------------------------------------

describe('ingest of pull-log files', () => {
  it('reads a file once: the next cycle reads no file and writes nothing', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, [pull(fw.id, at(1)), pull(fw.id, at(1.5))]);

    const first = await cycle(w, at(2));
    expect(first.ingest).toMatchObject({ files_seen: 1, files_processed: 1, lines: 2, records: 2 });
    expect((await current(w, fw.id)).last_pull_at).toBe(at(1.5));
    const version = (await current(w, fw.id)).version;

    const second = await cycle(w, at(3));
    expect(second.ingest).toMatchObject({
      files_seen: 1,
      files_processed: 0,
      files_skipped: 1,
      lines: 0,
      records: 0,
    });
    expect((await current(w, fw.id)).version).toBe(version);
  });

  it('never moves last_pull_at backwards: an older file dropped later changes nothing', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, [pull(fw.id, at(5))]);
    await cycle(w, at(6));

    await drop(w, [pull(fw.id, at(2)), pull(fw.id, at(3), { status: 401 })]);
    const late = await cycle(w, at(7));

    expect(late.ingest).toMatchObject({ files_processed: 1, records: 2 });
    const after = await current(w, fw.id);
    expect(after.last_pull_at).toBe(at(5));
    expect(after.last_attempt_at).toBe(at(5));
    expect(after.last_attempt_status).toBe(200);
  });

  it.each([
    { what: 'a HEAD answered 200', method: 'HEAD', status: 200 },
    { what: 'a GET rejected with 401', method: 'GET', status: 401 },
    { what: 'a GET rejected with 403', method: 'GET', status: 403 },
    { what: 'a GET rate limited with 429', method: 'GET', status: 429 },
    { what: 'a GET answered 500', method: 'GET', status: 500 },
    { what: 'a GET answered 404', method: 'GET', status: 404 },
  ])('does not count $what as a pull, but records it as the last attempt', async ({ method, status }) => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, [pull(fw.id, at(1)), pull(fw.id, at(2), { method, status })]);
    await cycle(w, at(3));

    const after = await current(w, fw.id);
    expect(after.last_pull_at).toBe(at(1));
    expect(after.last_attempt_at).toBe(at(2));
    expect(after.last_attempt_status).toBe(status);
  });

  it('counts a GET answered 304 (not modified) as a successful pull', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, [pull(fw.id, at(1)), pull(fw.id, at(2), { status: 304 })]);
    await cycle(w, at(3));

    expect((await current(w, fw.id)).last_pull_at).toBe(at(2));
  });

  it('takes the newest success and the newest attempt whatever the order of the lines', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, [
      pull(fw.id, at(5), { status: 500 }),
      pull(fw.id, at(3)),
      pull(fw.id, at(1)),
      pull(fw.id, at(4), { method: 'HEAD' }),
    ]);
    await cycle(w, at(6));

    const after = await current(w, fw.id);
    expect(after.last_pull_at).toBe(at(3));
    expect(after.last_attempt_at).toBe(at(5));
    expect(after.last_attempt_status).toBe(500);
  });

  it('writes each integration at most once per cycle however many lines it reads (500 lines, 3 integrations)', async () => {
    const w = await world();
    const fleet = [await addIntegration(w), await addIntegration(w), await addIntegration(w)];
    const lines = Array.from({ length: 500 }, (_, index) => {
      const integration = fleet[index % fleet.length] as Integration;
      return pull(integration.id, at(1 + index / 100), { status: index % 7 === 0 ? 429 : 200 });
    });
    await drop(w, lines.slice(0, 250));
    await drop(w, lines.slice(250));

    const before = integrationWrites(w.store);
    const report = await cycle(w, at(7));
    const writes = integrationWrites(w.store) - before;

    expect(report.ingest).toMatchObject({
      files_processed: 2,
      lines: 500,
      records: 500,
      integrations_updated: 3,
    });
    expect(writes).toBeLessThanOrEqual(3);
    // And the facts are the newest ones of each integration.
    for (const [offset, integration] of fleet.entries()) {
      const newest = Math.max(...[...lines.keys()].filter((index) => index % fleet.length === offset));
      const after = await current(w, integration.id);
      expect(after.last_attempt_at).toBe(at(1 + newest / 100));
    }
  });

  it('never creates an integration from a pull of an unknown id', async () => {
    const w = await world();
    const known = await addIntegration(w);
    await drop(w, [
      pull('int_00000000deadbeef', at(1)),
      pull('int_00000000deadbeef', at(2)),
      pull('someone-elses-firewall', at(1)),
      pull(known.id, at(1)),
    ]);

    const before = { ...w.store.usage.requests };
    const report = await cycle(w, at(3));

    expect(report.ingest?.skipped.unknown_integration).toBe(3);
    expect(report.ingest?.records).toBe(4);
    const listed = await w.store.integrations.list(w.orgId, { limit: 100 });
    expect(listed.items.map((integration) => integration.id)).toEqual([known.id]);
    expect(await w.store.integrations.byId('int_00000000deadbeef')).toBeNull();
    expect(await w.store.integrations.byId('someone-elses-firewall')).toBeNull();
    // One integration write (the known one's pull); no integration is created for the unknown ids.
    expect(integrationWrites(w.store) - (before['write.INT'] ?? 0)).toBe(1);
  });

  it('counts malformed lines and skips them without failing the file', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, [
      'this is not a log line',
      '{"time": "2026-11-20T01:00:00Z", "integration_id": ',
      JSON.stringify({ time: at(1), status: 200 }),
      JSON.stringify({ time: at(1), integration_id: fw.id, status: 'ok' }),
      JSON.stringify({ time: 'yesterday', integration_id: fw.id, status: 200 }),
      JSON.stringify({ time: at(1), integration_id: 42, status: 200 }),
      JSON.stringify([at(1), fw.id, 200]),
      JSON.stringify({ time: at(1), integration_id: fw.id, status: 200, user_agent: 'x'.repeat(20_000) }),
      '',
      pull(fw.id, at(2)),
    ]);

    const report = await cycle(w, at(3));

    expect(report.outcome).toBe('ok');
    expect(report.ingest).toMatchObject({ files_processed: 1, files_failed: [], records: 1 });
    expect(report.ingest?.skipped).toEqual({
      // 'this is not a log line' and the JSON array match no format; the cut-off object is broken JSON.
      unrecognized: 2,
      not_json: 1,
      missing_field: 1,
      bad_status: 1,
      bad_time: 1,
      bad_type: 1,
      too_long: 1,
    });
    expect((await current(w, fw.id)).last_pull_at).toBe(at(2));
  });

  it('rejects records stamped in the future (a clock error is not a pull)', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, [pull(fw.id, at(1)), pull(fw.id, at(12)), pull(fw.id, at(24 * 365))]);

    const report = await cycle(w, at(10));

    expect(report.ingest?.skipped.future_time).toBe(2);
    expect(report.ingest?.records).toBe(1);
    const after = await current(w, fw.id);
    expect(after.last_pull_at).toBe(at(1));
    expect(after.last_attempt_at).toBe(at(1));
  });

  it('rejects a record stamped in the year 10000 (as future or as a bad time), and opens no issue dated then', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, [pull(fw.id, '+010000-01-01T00:00:00.000Z'), pull(fw.id, '9999-12-31T23:59:59.000Z')]);

    const report = await cycle(w, at(1));

    expect(report.ingest?.records).toBe(0);
    const { future_time = 0, bad_time = 0 } = report.ingest?.skipped ?? {};
    expect(future_time + bad_time).toBe(2);
    expect((await current(w, fw.id)).last_pull_at).toBeNull();
    await cycle(w, at(2));
    expect(await issuesOf(w)).toEqual([]);
    expect(await outbox(w)).toEqual([]);
  });
});

// ---- the offline rule ----------------------------------------------------------------------------

describe('the offline rule', () => {
  it('opens one critical fw_integration_offline issue at last pull + 24 h, notifies once, and resolves on a newer pull', async () => {
    const w = await world({ staleAfterSeconds: 0 });
    const fw = await pulledFirewall(w, at(1), { name: 'Edge FortiGate' });

    await cycle(w, at(24.9));
    expect(await issuesOf(w)).toEqual([]);

    await cycle(w, at(30));
    const [opened, ...others] = await issuesOf(w);
    expect(others).toEqual([]);
    expect(opened).toMatchObject({
      type: 'fw_integration_offline',
      integration_id: fw.id,
      criticality: 'critical',
      state: 'open',
      opened_at: at(25),
      detected_at: at(30),
      resolved_at: null,
      last_pull_at: at(1),
    });
    expect(opened?.diagnosis.code).toBe('no_requests');

    // Many more cycles while it stays idle: still one issue, still one notification.
    for (let hour = 31; hour <= 48; hour += 1) await cycle(w, at(hour));
    expect((await issuesOf(w)).map((issue) => issue.id)).toEqual([opened?.id]);
    expect(events(await outbox(w))).toEqual([`issue_opened:${opened?.id}`]);

    // It pulls again: the issue resolves by itself, at the moment of that pull.
    await drop(w, [pull(fw.id, at(49))]);
    await cycle(w, at(49.5));
    const [resolved] = await issuesOf(w);
    expect(resolved).toMatchObject({
      id: opened?.id,
      state: 'resolved',
      resolved_at: at(49),
      resolution: 'pull_resumed',
    });
    expect((await current(w, fw.id)).open_issues).toEqual({});

    for (let hour = 50; hour <= 55; hour += 1) await cycle(w, at(hour));
    const lines = await outbox(w);
    expect(events(lines)).toEqual([`issue_opened:${opened?.id}`, `issue_resolved:${opened?.id}`]);
    for (const line of lines) {
      expect(Object.keys(line).sort()).toEqual(
        ['attributes', 'chat', 'email', 'event', 'issue_id', 'issue_type', 'org_id', 'sms', 'subject'].sort(),
      );
      // The chat form, as Amazon Q Developer in chat applications would receive it, inspectable without AWS.
      expect(ChatNotificationSchema.parse(line.chat).metadata?.threadId).toBe(`pullwatch-${opened?.id}`);
      expect(line).toMatchObject({
        org_id: w.orgId,
        issue_type: 'fw_integration_offline',
        attributes: {
          org_id: w.orgId,
          issue_type: 'fw_integration_offline',
          criticality: 'critical',
          event: line.event,
        },
      });
      expect(line.subject).toContain('Edge FortiGate');
      expect(line.subject).not.toMatch(/[\r\n]/);
      expect(line.sms).toContain('Edge FortiGate');
      expect(line.sms.length).toBeLessThanOrEqual(160);
      expect(line.email).toContain(fw.id);
    }
    const [openedLine, resolvedLine] = lines;
    expect(openedLine?.subject).toMatch(/CRITICAL/);
    expect(openedLine?.email).toContain(opened?.diagnosis.summary);
    expect(resolvedLine?.subject).toMatch(/RESOLVED/);
    expect(resolvedLine?.email).toContain('Offline for:   1 d');
  });

  it('opens rc_integration_offline for a remediation component that never pulled, at creation + 24 h', async () => {
    const w = await world();
    const rc = await addIntegration(w, { name: 'bouncer-nginx-01', kind: 'remediation_component' });

    await cycle(w, at(23.99));
    expect(await issuesOf(w)).toEqual([]);

    await cycle(w, at(26));
    const [issue] = await issuesOf(w);
    expect(issue).toMatchObject({
      type: 'rc_integration_offline',
      integration_id: rc.id,
      criticality: 'critical',
      opened_at: at(24),
      last_pull_at: null,
    });
    expect(issue?.diagnosis.code).toBe('never_pulled');
    const lines = await outbox(w);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      event: 'issue_opened',
      issue_type: 'rc_integration_offline',
      attributes: { issue_type: 'rc_integration_offline', criticality: 'critical' },
    });
  });

  it('uses the default threshold of 86400 s when none is given', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    expect(fw.offline_after_seconds).toBe(86_400);

    await cycle(w, addSeconds(T0, 86_399));
    expect(await issuesOf(w)).toEqual([]);
    await cycle(w, addSeconds(T0, 86_400));
    expect((await issuesOf(w)).map((issue) => issue.opened_at)).toEqual([addSeconds(T0, 86_400)]);
  });

  it("honours each integration's own offline_after_seconds", async () => {
    const w = await world({ staleAfterSeconds: 0 });
    const quick = await pulledFirewall(w, at(1), { name: 'quick', offline_after_seconds: 3600 });
    const usual = await pulledFirewall(w, at(1), { name: 'usual' });

    await cycle(w, at(1.99));
    expect(await issuesOf(w)).toEqual([]);

    await cycle(w, at(3));
    const open = await issuesOf(w, 'open');
    expect(open.map((issue) => [issue.integration_id, issue.opened_at])).toEqual([[quick.id, at(2)]]);
    expect((await current(w, usual.id)).open_issues).toEqual({});
  });

  it('resolves the open issue when the integration is paused, and opens nothing while paused', async () => {
    const w = await world({ staleAfterSeconds: 0 });
    const fw = await pulledFirewall(w, at(1));
    await cycle(w, at(30));
    const [opened] = await issuesOf(w, 'open');
    expect(opened).toBeDefined();

    await patchIntegration(w.store, w.orgId, fw.id, { paused: true }, at(31));
    await cycle(w, at(31));

    expect(await issuesOf(w, 'open')).toEqual([]);
    expect(await issuesOf(w, 'resolved')).toMatchObject([
      { id: opened?.id, resolution: 'paused', resolved_at: at(31) },
    ]);

    for (const hour of [32, 48, 100, 200, 500]) await cycle(w, at(hour));
    expect((await issuesOf(w)).map((issue) => issue.id)).toEqual([opened?.id]);
    expect(events(await outbox(w))).toEqual([`issue_opened:${opened?.id}`, `issue_resolved:${opened?.id}`]);
  });
});

// ---- faults --------------------------------------------------------------------------------------

describe('faults: every notification is delivered exactly once', () => {
  it('two cycles running at the same time open one issue and deliver each event once', async () => {
    const w = await world({ staleAfterSeconds: 0 });
    const fw = await pulledFirewall(w, at(1));
    const other = quietFilePublisher(w.outbox);

    await Promise.all([cycle(w, at(30)), cycle(w, at(30), { publisher: other })]);
    expect(await issuesOf(w)).toHaveLength(1);

    await drop(w, [pull(fw.id, at(31))]);
    await Promise.all([cycle(w, at(31.5)), cycle(w, at(31.5), { publisher: other })]);
    await Promise.all([cycle(w, at(32)), cycle(w, at(32), { publisher: other })]);

    const [issue, ...more] = await issuesOf(w);
    expect(more).toEqual([]);
    expect(issue?.state).toBe('resolved');
    expect(events(await outbox(w))).toEqual([`issue_opened:${issue?.id}`, `issue_resolved:${issue?.id}`]);
  });

  it('five overlapping cycles over ten integrations still deliver one opened notification each', async () => {
    const w = await world();
    const fleet = await Promise.all(
      Array.from({ length: 10 }, (_, n) => addIntegration(w, { name: `fw-${n}` })),
    );
    const { publisher, sent: delivered } = recorder();

    await Promise.all(Array.from({ length: 5 }, () => cycle(w, at(30), { publisher })));

    expect(await issuesOf(w)).toHaveLength(10);
    expect(delivered.map((n) => n.event)).toEqual(Array(10).fill('issue_opened'));
    expect(new Set(delivered.map((n) => n.issue_id)).size).toBe(10);
    for (const integration of fleet)
      expect(Object.keys((await current(w, integration.id)).open_issues)).toHaveLength(1);
  });

  it('a publish that fails with a TransportError marks nothing sent; the next cycle delivers it once', async () => {
    const w = await world({ staleAfterSeconds: 0 });
    await pulledFirewall(w, at(1));
    const {
      publisher,
      sent: delivered,
      calls,
    } = recorder({ failures: [new TransportError('SNS is down', true)] });

    const failed = await cycle(w, at(30), { publisher });
    const [issue] = await issuesOf(w);
    expect(failed.notify?.failed).toMatchObject([
      { issue_id: issue?.id, event: 'issue_opened', retryable: true },
    ]);
    expect(failed.notify?.sent).toEqual([]);
    expect(issue?.notified).toEqual({});
    expect(delivered).toEqual([]);

    const retried = await cycle(w, at(30.1), { publisher });
    expect(retried.notify?.sent.map((n) => n.issue_id)).toEqual([issue?.id]);
    await cycle(w, at(31), { publisher });
    await cycle(w, at(35), { publisher });

    expect(delivered.map((n) => `${n.event}:${n.issue_id}`)).toEqual([`issue_opened:${issue?.id}`]);
    expect(calls()).toBe(2);
    expect((await w.store.issues.get(w.orgId, issue?.id ?? ''))?.notified.issue_opened).toBe(at(30.1));
  });

  it('a publish refused for good is retried later, not every cycle, and then delivered once', async () => {
    const w = await world();
    await pulledFirewall(w, at(1));
    const {
      publisher,
      sent: delivered,
      calls,
    } = recorder({ failures: [new TransportError('no permission', false)] });

    await cycle(w, at(30), { publisher });
    await cycle(w, at(30.1), { publisher });
    expect(calls()).toBe(1);

    await cycle(w, at(31.1), { publisher });
    await cycle(w, at(32), { publisher });
    expect(delivered.map((n) => n.event)).toEqual(['issue_opened']);
    expect(calls()).toBe(2);
  });

  it('a crash between writing the issue and updating the integration leaves one issue and one notification', async () => {
    const w = await world({ staleAfterSeconds: 0 });
    const fw = await pulledFirewall(w, at(1));
    // The crashed pass wrote the issue, then died before attaching it to the integration.
    const wanted = offlineIssueFor(await current(w, fw.id), at(30));
    expect(wanted).not.toBeNull();
    expect(await w.store.issues.putIfAbsent(wanted as Issue)).toBe(true);

    const rules = await runRules({ store: w.store, now: at(30.1), ...w.settings });
    await runNotify({ store: w.store, publisher: w.publisher, now: at(30.1), ...w.settings });
    for (const hour of [31, 32, 40]) await cycle(w, at(hour));

    const [issue, ...more] = await issuesOf(w);
    expect(more).toEqual([]);
    expect(issue?.id).toBe(wanted?.id);
    expect(rules.opened.map((change) => change.issue_id)).toEqual([wanted?.id]);
    expect((await current(w, fw.id)).open_issues.fw_integration_offline?.id).toBe(wanted?.id);
    expect(events(await outbox(w))).toEqual([`issue_opened:${wanted?.id}`]);
  });

  it('a crash between writing the issue and updating the integration, then a pull, leaves no alert without its resolution', async () => {
    const w = await world({ staleAfterSeconds: 0 });
    const fw = await pulledFirewall(w, at(1));
    const wanted = offlineIssueFor(await current(w, fw.id), at(30)) as Issue;
    await w.store.issues.putIfAbsent(wanted);
    // Before the next pass, the firewall pulls again.
    await drop(w, [pull(fw.id, at(30.05))]);

    for (const hour of [30.1, 31, 40, 50]) await cycle(w, at(hour));

    expect(await issuesOf(w, 'open')).toEqual([]);
    const sent = (await outbox(w)).map((line) => line.event);
    expect(sent.filter((event) => event === 'issue_opened').length).toBe(
      sent.filter((event) => event === 'issue_resolved').length,
    );
  });

  it('a crash after claiming a notification delays it until the claim runs out, then delivers it once', async () => {
    const w = await world({ staleAfterSeconds: 0 });
    await pulledFirewall(w, at(1));
    const now = at(30);
    await ingest({ store: w.store, source: w.source, now });
    await runRules({ store: w.store, now, ...w.settings });
    const [issue] = await issuesOf(w);
    if (!issue) throw new Error('the rule pass opened no issue');
    // The crashed pass claimed the outbox for two minutes and died before publishing.
    expect(await w.store.outbox.claim(issue, 'crashed-pass', now, addSeconds(now, 120))).toBe(true);

    const during = await runNotify({
      store: w.store,
      publisher: w.publisher,
      ...SETTINGS,
      now: addSeconds(now, 60),
    });
    expect(during.sent).toEqual([]);
    expect(await outbox(w)).toEqual([]);

    const after = await runNotify({
      store: w.store,
      publisher: w.publisher,
      ...SETTINGS,
      now: addSeconds(now, 180),
    });
    expect(after.sent.map((n) => n.issue_id)).toEqual([issue.id]);
    await runNotify({ store: w.store, publisher: w.publisher, ...SETTINGS, now: addSeconds(now, 600) });
    await cycle(w, at(31));

    expect(events(await outbox(w))).toEqual([`issue_opened:${issue.id}`]);
  });
});

describe('when an outage ended', () => {
  /** An integration that pulled at t1, then fell silent past its threshold: its offline issue is open. */
  async function silentAfter(t1: Iso) {
    const w = await world({ heartbeat: true });
    const fw = await addIntegration(w, { name: 'Edge', offline_after_seconds: 3600 });
    await drop(w, [pull(fw.id, t1)]);
    await cycle(w, addSeconds(t1, 60));
    const opened = await cycle(w, addSeconds(t1, 2 * 3600));
    expect(opened.rules?.opened.map((change) => change.at)).toEqual([addSeconds(t1, 3600)]);
    return { w, fw, openedAt: addSeconds(t1, 3600) };
  }

  const t1 = at(1);
  const t2 = at(5);
  const t3 = addSeconds(at(5), 1800);
  const now = at(6);

  async function expectResolvedAtT2(w: World, openedAt: Iso): Promise<void> {
    const report = await cycle(w, now);
    expect(report.rules?.resolved.map((change) => change.at)).toEqual([t2]);
    const [issue] = await issuesOf(w, 'resolved');
    expect(issue).toMatchObject({ resolved_at: t2, opened_at: openedAt });
    // The notice says how long it really lasted: t2 - opened_at = 3 h, not the 3 h 30 min to the newest pull.
    const resolved = w.sent.find((notification) => notification.event === 'issue_resolved');
    expect(JSON.stringify(resolved)).toContain('3 h');
    expect(JSON.stringify(resolved)).not.toContain('3 h 30 min');
    expect(JSON.stringify(resolved)).toContain(t2);
  }

  it('is the first pull after the silence, with all pulls in one file (the earlier one included)', async () => {
    const { w, fw, openedAt } = await silentAfter(t1);
    await drop(w, [pull(fw.id, t1), pull(fw.id, t3), pull(fw.id, t2), pull(fw.id, addSeconds(t2, 60))]);
    await expectResolvedAtT2(w, openedAt);
    expect((await current(w, fw)).resumed_at).toBeNull();
  });

  it('is the first pull after the silence, with the later pull in a file read first', async () => {
    const { w, fw, openedAt } = await silentAfter(t1);
    await drop(w, [pull(fw.id, t3)], 'a-later.log');
    await drop(w, [pull(fw.id, t2)], 'b-earlier.log');
    await expectResolvedAtT2(w, openedAt);
  });

  it('is the first pull after the silence, with the later pull ingested by an earlier run', async () => {
    const { w, fw, openedAt } = await silentAfter(t1);
    await drop(w, [pull(fw.id, t3)]);
    await ingest({ store: w.store, source: w.source, now: addSeconds(t3, 60) });
    expect((await current(w, fw)).resumed_at).toBe(t3);
    await drop(w, [pull(fw.id, t2)]);
    await ingest({ store: w.store, source: w.source, now: addSeconds(t3, 120) });
    expect((await current(w, fw)).resumed_at).toBe(t2);
    await expectResolvedAtT2(w, openedAt);
  });

  it('starts afresh with the next outage', async () => {
    const { w, fw } = await silentAfter(t1);
    await drop(w, [pull(fw.id, t2), pull(fw.id, t3)]);
    await expectResolvedAtT2(w, at(2));
    expect((await current(w, fw)).resumed_at).toBeNull();
    const reopened = await cycle(w, at(8));
    expect(reopened.rules?.opened.map((change) => change.at)).toEqual([addSeconds(t3, 3600)]);
    await drop(w, [pull(fw.id, at(9)), pull(fw.id, at(9.25)), pull(fw.id, t2)]);
    const report = await cycle(w, at(9.5));
    expect(report.rules?.resolved.map((change) => change.at)).toEqual([at(9)]);
  });

  it('takes the newest pull when the first one was a blip followed by more silence', async () => {
    const { w, fw } = await silentAfter(t1);
    // At 5 a single pull, then silence again past the threshold: the issue stays open (no rule pass sees it
    // online), so a pull at 5 cannot be when the outage ended; the newest pull bounds it instead.
    await drop(w, [pull(fw.id, t2)]);
    await cycle(w, at(7));
    await drop(w, [pull(fw.id, at(9)), pull(fw.id, at(10))]);
    const report = await cycle(w, at(10.5));
    expect(report.rules?.resolved.map((change) => change.at)).toEqual([at(10)]);
  });
});

describe('resumed_at folds like the other pull facts', () => {
  it('is the first success after the issue opened, for any order, split and repetition of the records', () => {
    const opened = at(10);
    const base: Integration = {
      ...integrationInMemory({ offline_after_seconds: 3600 }),
      last_pull_at: at(9),
      open_issues: { fw_integration_offline: { id: 'iss_1', opened_at: opened } },
    };
    // Seconds before the silence (at most the last pull at 9) and after the issue opened.
    const before = fc.array(fc.integer({ min: 0, max: 9 * 3600 }), { maxLength: 20 });
    const after = fc.array(fc.integer({ min: 10 * 3600 + 1, max: 20 * 3600 }), {
      minLength: 1,
      maxLength: 30,
    });
    fc.assert(
      fc.property(
        before,
        after,
        fc.integer({ min: 1, max: 5 }),
        fc.boolean(),
        (early, late, parts, twice) => {
          const times = [...early, ...late].map((seconds) => addSeconds(T0, seconds));
          const shuffled = twice ? [...times, ...times].reverse() : times;
          const summaries = Array.from({ length: parts }, () => emptySummary(base.id));
          shuffled.forEach((time, index) => {
            addRecord(summaries[index % parts] as PullSummary, pullRecord(base.id, time));
          });
          let integration = base;
          for (const summary of summaries) integration = applyPulls(integration, summary) ?? integration;
          const merged = emptySummary(base.id);
          for (const summary of [...summaries].reverse()) mergeSummary(merged, summary);
          const expected = addSeconds(T0, Math.min(...late));
          expect(integration.resumed_at).toBe(expected);
          expect(applyPulls(base, merged)?.resumed_at).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
