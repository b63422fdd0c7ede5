import { describe, expect, it } from 'vitest';
import type { Issue } from '../shared/issue/index.ts';
import { addSeconds, type Iso, secondsBetween } from '../shared/time.ts';
import { useTestDb } from './kit/db.ts';
import { pullTimes } from './kit/devices.ts';
import { api, cyclesUntil, DEATH, device, lateWarnings } from './kit/early-warning.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { current, cycle, issuesOf, sentTo, world } from './kit/world.ts';

/**
 * The early warning (issue type integration_pull_late): each device's own rhythm, learned from 9 days of its
 * pulls, tells within tens of minutes that a steady device went silent, and never warns for one that pulls
 * daily, sporadically or only in business hours. Every scenario runs whole cycles (ingest, rules, notify) with
 * injected times, a heartbeat device keeping the feed alive, and reads the result through the API.
 */

useTestDb();
useTempDirs();

const minutesAfter = (from: Iso, to: Iso) => secondsBetween(from, to) / 60;

describe('a steady device that dies is warned about within 45 minutes', () => {
  for (const [kind, interval] of [
    ['every-10s', 60],
    ['every-1min', 60],
    ['every-5min', 300],
    ['every-5min-jitter', 300],
  ] as const) {
    it(`${kind}: learned steady every ~${interval / 60} min, warned on its allowance, message names rhythm and silence`, async () => {
      const w = await world({ heartbeat: true });
      const { fw, last } = await device(w, kind);
      await cycle(w, DEATH);
      const learned = (await api(w, DEATH)(`/v1/integrations/${fw.id}`)).body;
      expect(learned.cadence).toMatchObject({ state: 'steady', usual_interval_seconds: interval });
      expect(learned.cadence.late_after).toBe(addSeconds(last, 1800));
      expect(learned.early_warning).toBe(true);

      const seen = await cyclesUntil(w, addSeconds(DEATH, 300), addSeconds(DEATH, 3600), 5, { watch: fw });
      expect(seen).not.toBeNull();
      const warning = (await lateWarnings(w, fw))[0] as Issue;
      expect(warning).toMatchObject({
        criticality: 'warning',
        state: 'open',
        opened_at: addSeconds(last, 1800),
      });
      expect(minutesAfter(last, seen as Iso)).toBeLessThanOrEqual(45);
      expect(warning.detected_at >= warning.opened_at).toBe(true);

      const message = sentTo(w).find((sent) => sent.issue_id === warning.id);
      expect(message?.attributes.criticality).toBe('warning');
      const usual = interval === 60 ? '1 min' : '5 min';
      expect(message?.sms).toMatch(
        new RegExp(
          `^WARNING: firewall "fw-${kind}" usually pulls every ~${usual}; silent \\d+ min since ${last.slice(11, 16)} UTC\\.$`,
        ),
      );
      expect(message?.email).toContain('Usual rhythm:');
    }, 60_000);
  }

  it('hourly at :17: warned within 6 hours of its last pull', async () => {
    const w = await world({ heartbeat: true });
    const { fw, last } = await device(w, 'hourly-17');
    await cycle(w, DEATH);
    expect((await api(w, DEATH)(`/v1/integrations/${fw.id}`)).body.cadence).toMatchObject({
      state: 'steady',
      usual_interval_seconds: 3600,
    });
    const seen = await cyclesUntil(w, addSeconds(DEATH, 1800), addSeconds(DEATH, 8 * 3600), 30, {
      watch: fw,
    });
    expect(seen).not.toBeNull();
    expect(minutesAfter(last, seen as Iso)).toBeLessThanOrEqual(6 * 60);
  }, 60_000);

  it('business hours (Mon-Fri 08-18, threshold 72 h) dying at 10:07: warned within 90 minutes', async () => {
    const w = await world({ heartbeat: true });
    const { fw, last } = await device(w, 'business-hours', { offlineAfter: 72 * 3600 });
    await cycle(w, DEATH);
    expect((await api(w, DEATH)(`/v1/integrations/${fw.id}`)).body.cadence.state).toBe('pattern');
    const seen = await cyclesUntil(w, addSeconds(DEATH, 300), addSeconds(DEATH, 2 * 3600), 5, { watch: fw });
    expect(seen).not.toBeNull();
    expect(minutesAfter(last, seen as Iso)).toBeLessThanOrEqual(90);
  }, 60_000);
});

describe('no warning without a reason', () => {
  it('the same devices healthy for two more days, a night and a weekend included', async () => {
    const w = await world({ heartbeat: true });
    const until = '2026-11-22T10:00:00.000Z';
    const devices = [];
    for (const [index, kind] of (
      ['every-1min', 'every-5min-jitter', 'hourly-17', 'business-hours'] as const
    ).entries()) {
      devices.push(await device(w, kind, { until, seed: index + 7, offlineAfter: 72 * 3600 }));
    }
    await cyclesUntil(w, DEATH, until, 30, { devices });
    for (const { fw } of devices) expect(await lateWarnings(w, fw)).toEqual([]);
    expect(await issuesOf(w, 'open')).toEqual([]);
  }, 120_000);

  for (const kind of ['daily-03', 'sporadic-3h'] as const) {
    it(`${kind}: no warning before the critical offline issue`, async () => {
      const w = await world({ heartbeat: true });
      const { fw, last } = await device(w, kind, { seed: 3 });
      await cyclesUntil(w, DEATH, addSeconds(last, 25 * 3600), 60);
      expect(await lateWarnings(w, fw)).toEqual([]);
      const open = await issuesOf(w, 'open');
      expect(open.map((issue) => issue.type)).toEqual(['fw_integration_offline']);
    }, 60_000);
  }

  it('2 days of history: learning, and the critical at 24 h as before', async () => {
    const w = await world({ heartbeat: true });
    const { fw, last } = await device(w, 'every-1min', { from: '2026-11-18T10:00:00.000Z' });
    await cycle(w, DEATH);
    expect((await api(w, DEATH)(`/v1/integrations/${fw.id}`)).body.cadence).toEqual({
      state: 'learning',
      usual_interval_seconds: null,
      late_after: null,
    });
    await cyclesUntil(w, addSeconds(DEATH, 3600), addSeconds(last, 25 * 3600), 60);
    expect(await lateWarnings(w, fw)).toEqual([]);
    const offline = (await issuesOf(w, 'open')).find((issue) => issue.type === 'fw_integration_offline');
    expect(offline?.opened_at).toBe(addSeconds(last, 86_400));
  }, 60_000);

  it('the whole feed stops: no warning, pipeline_stale', async () => {
    const w = await world();
    const { fw } = await device(w, 'every-1min');
    await cycle(w, DEATH);
    await cyclesUntil(w, addSeconds(DEATH, 600), addSeconds(DEATH, 4 * 3600), 30);
    expect(await lateWarnings(w, fw)).toEqual([]);
    const deployment = await w.store.issues.list('deployment', { limit: 10, state: 'open' });
    expect(deployment.items.map((issue) => issue.type)).toEqual(['pipeline_stale']);
  }, 60_000);

  it('a steady 1-min device silent 12 minutes (a reboot), then pulling again', async () => {
    const w = await world({ heartbeat: true });
    const rebooted = await device(w, 'every-1min');
    const { fw, last } = rebooted;
    await cycle(w, DEATH);
    const back = addSeconds(last, 12 * 60);
    const later = pullTimes('every-1min', back, addSeconds(back, 3600));
    await cyclesUntil(w, addSeconds(DEATH, 300), addSeconds(DEATH, 3600), 5, {
      devices: [{ ...rebooted, later }],
    });
    expect((await current(w, fw)).last_pull_at).toBe(
      later.filter((time) => time <= addSeconds(DEATH, 3570)).at(-1),
    );
    expect(await lateWarnings(w, fw)).toEqual([]);
  }, 60_000);

  it('early_warning off (created so, or switched off by PATCH): no warning, the critical as before', async () => {
    const w = await world({ heartbeat: true });
    const off = await device(w, 'every-1min', { earlyWarning: false });
    const patched = await device(w, 'every-5min', { seed: 2 });
    const call = api(w, DEATH);
    const reply = await call(`/v1/integrations/${patched.fw.id}`, {
      method: 'PATCH',
      json: { early_warning: false },
    });
    expect(reply.status).toBe(200);
    expect(reply.body.early_warning).toBe(false);
    await cycle(w, DEATH);
    expect((await call(`/v1/integrations/${off.fw.id}`)).body).toMatchObject({
      early_warning: false,
      cadence: { state: 'steady', late_after: null },
    });
    await cyclesUntil(w, addSeconds(DEATH, 1800), addSeconds(off.last, 25 * 3600), 60);
    for (const { fw } of [off, patched]) expect(await lateWarnings(w, fw)).toEqual([]);
    expect((await issuesOf(w, 'open')).map((issue) => issue.type).sort()).toEqual([
      'fw_integration_offline',
      'fw_integration_offline',
    ]);
  }, 60_000);
});

describe('how a warning ends', () => {
  it('a warned device pulls again: resolved pull_resumed at its first pull, in that cycle', async () => {
    const w = await world({ heartbeat: true });
    const { fw, last } = await device(w, 'every-1min');
    await cycle(w, DEATH);
    const seen = (await cyclesUntil(w, addSeconds(DEATH, 300), addSeconds(DEATH, 3600), 5, {
      watch: fw,
    })) as Iso;
    const back = addSeconds(seen, 120);
    await drop(w, [pull(fw.id, back), pull(fw.id, addSeconds(back, 60))], 'back.jsonl');
    await cycle(w, addSeconds(back, 180));
    const [warning] = await lateWarnings(w, fw);
    expect(warning).toMatchObject({ state: 'resolved', resolution: 'pull_resumed', resolved_at: back });
    expect(warning?.opened_at).toBe(addSeconds(last, 1800));
    const resolved = sentTo(w)
      .filter((sent) => sent.issue_id === warning?.id)
      .map((sent) => sent.event);
    expect(resolved).toEqual(['issue_opened', 'issue_resolved']);
    expect((await current(w, fw)).open_issues).toEqual({});
  }, 60_000);

  it('still silent at the threshold: the critical opens and the warning ends escalated at its opening; no reminder in between', async () => {
    const w = await world({ heartbeat: true });
    const { fw, last } = await device(w, 'every-1min');
    await cycle(w, DEATH);
    await cyclesUntil(w, addSeconds(DEATH, 300), addSeconds(last, 24 * 3600 + 900), 60);
    const [warning] = await lateWarnings(w, fw);
    const offline = (await issuesOf(w, 'open')).find((issue) => issue.type === 'fw_integration_offline');
    expect(offline?.opened_at).toBe(addSeconds(last, 86_400));
    expect(warning).toMatchObject({
      state: 'resolved',
      resolution: 'escalated',
      resolved_at: offline?.opened_at,
    });
    const events = sentTo(w)
      .filter((sent) => sent.issue_id === warning?.id)
      .map((sent) => sent.event);
    expect(events).not.toContain('issue_reminder');
  }, 60_000);
});
