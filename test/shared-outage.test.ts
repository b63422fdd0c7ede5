import { describe, expect, it } from 'vitest';
import { runCycle } from '../shared/cycle.ts';
import type { Integration } from '../shared/integration/index.ts';
import { DEPLOYMENT_ORG, type Issue } from '../shared/issue/index.ts';
import type { Iso } from '../shared/time.ts';
import { useTestDb } from './kit/db.ts';
import { drop, put, useTempDirs } from './kit/files.ts';
import { bouncerEntry } from './kit/ingest.ts';
import { clf, pull } from './kit/lines.ts';
import { at, minutes } from './kit/time.ts';
import { addIntegration, cycle, issuesOf, sentTo, type World, world } from './kit/world.ts';

/**
 * A whole engine or a whole organization going silent while the feed keeps arriving: an outage to report (one
 * offline issue each, one message naming the shared cause), never a stale feed. Real ingest, rule and notify
 * passes on dynalite, time injected.
 */

useTestDb();
useTempDirs();

/** The engine host's cron line: the whole list, overwritten in place, with the time it was printed. */
async function snapshot(w: World, engine: string, pulls: Record<string, Iso>, printedAt: Iso) {
  const list = Object.entries(pulls).map(([name, last]) => bouncerEntry(name, last));
  await put(w, `${w.orgId}/${engine}.bouncers.json`, JSON.stringify(list), printedAt);
}

/** A load balancer's health check: no pull, but a line the feed delivered. */
const healthCheck = (time: Iso) =>
  `198.51.100.9 - - [${clf(time)}] "GET /healthz HTTP/1.1" 200 2 "-" "ELB-HealthChecker/2.0"`;

const settings = { reminderSeconds: 0 };

describe('a whole engine goes silent while its bouncer list keeps arriving', () => {
  it('is an outage: six offline issues diagnosed shared_outage, one message naming the engine, no stale feed', async () => {
    const w = await world(settings);
    const names = ['fw-a', 'fw-b', 'fw-c', 'web-1', 'web-2', 'web-3'];
    const bouncers = await Promise.all(
      names.map((name) => addIntegration(w, { name, kind: 'remediation_component', source: 'lapi' })),
    );
    // engine-1's bouncers stop between 22:50 and 22:55 (one a minute); the cron line keeps printing the list.
    const stoppedAt = (index: number) => minutes(at(22), 50 + index);
    const listAt = async (now: Iso) => {
      const pulls = Object.fromEntries(
        names.map((name, index) => {
          const stop = stoppedAt(index);
          return [name, stop < now ? stop : minutes(now, -1)];
        }),
      );
      await snapshot(w, 'engine-1', pulls, minutes(now, -1));
    };
    for (const hour of [1, 12, 22.5, 23, 30, 40, 46]) {
      await listAt(at(hour));
      const report = await cycle(w, at(hour));
      expect(report.rules?.pipeline).toBe('fresh');
    }
    expect(await issuesOf(w, undefined, DEPLOYMENT_ORG)).toEqual([]);
    expect(await issuesOf(w)).toEqual([]);

    // 46:53: four have crossed their 24 h (22:50 to 22:53 + 24 h); two more follow within minutes. Their message waits for them.
    await listAt(minutes(at(46), 53));
    const first = await cycle(w, minutes(at(46), 53));
    expect(first.rules?.pipeline).toBe('fresh');
    expect(first.rules?.opened).toHaveLength(4);
    expect(sentTo(w)).toEqual([]);

    await listAt(minutes(at(46), 56));
    const second = await cycle(w, minutes(at(46), 56));
    expect(second.rules?.opened).toHaveLength(2);

    const open = await issuesOf(w, 'open');
    expect(open.map((issue) => issue.integration_id).sort()).toEqual(bouncers.map((b) => b.id).sort());
    for (const issue of open) {
      const index = bouncers.findIndex((b) => b.id === issue.integration_id);
      expect(issue).toMatchObject({
        type: 'rc_integration_offline',
        opened_at: minutes(at(46), 50 + index),
        last_pull_at: stoppedAt(index),
        diagnosis: {
          code: 'shared_outage',
          group: { scope: 'engine', engine: 'engine-1', silent: 6, of: 6, since: stoppedAt(0) },
        },
      });
      expect(issue.diagnosis.summary).toContain('engine-1');
      expect(issue.diagnosis.steps[0]).toContain('systemctl status crowdsec');
    }
    // One message for the six, naming the shared cause first.
    const [message, ...more] = sentTo(w);
    expect(more).toEqual([]);
    expect(message).toMatchObject({ event: 'issue_digest', criticality: 'critical' });
    expect(message?.sms).toContain(
      'all 6 bouncers of engine-1 silent since 2026-11-20 22:50 UTC: check the engine host, its network and the Local API',
    );
    expect(message?.subject).toContain('all 6 bouncers of engine-1 silent since');
    expect(message?.email).toContain('Shared cause: all 6 bouncers of engine-1');
    for (const b of bouncers) expect(message?.email).toContain(b.id);

    // The engine comes back: each issue resolves on its own.
    const back = minutes(at(47), 10);
    await snapshot(w, 'engine-1', Object.fromEntries(names.map((name) => [name, minutes(back, -1)])), back);
    await cycle(w, back);
    expect(await issuesOf(w, 'open')).toEqual([]);
  });
});

describe('an engine host that goes down entirely', () => {
  it('bouncers and their list stop together while other logs flow: the shared outage says the list stopped too', async () => {
    const w = await world({ ...settings, heartbeat: true });
    const names = ['fw-a', 'fw-b', 'fw-c'];
    for (const name of names)
      await addIntegration(w, { name, kind: 'remediation_component', source: 'lapi' });
    for (const hour of [1, 2]) {
      await snapshot(
        w,
        'engine-1',
        Object.fromEntries(names.map((name) => [name, minutes(at(hour), -2)])),
        at(hour),
      );
      await cycle(w, at(hour));
    }
    // Nothing more from engine-1: neither pulls nor lists. The heartbeat's logs keep the feed fresh.
    for (const hour of [10, 20, 26.1]) expect((await cycle(w, at(hour))).rules?.pipeline).toBe('fresh');
    const open = await issuesOf(w, 'open');
    expect(open).toHaveLength(3);
    for (const issue of open) {
      expect(issue.diagnosis).toMatchObject({
        code: 'shared_outage',
        group: { engine: 'engine-1', silent: 3, of: 3 },
      });
      expect(issue.diagnosis.summary).toContain(
        'its bouncer list has not arrived since 2026-11-20 02:00 UTC either',
      );
    }
    expect(sentTo(w)).toHaveLength(1);
  });
});

describe('the access logs stop while bouncer lists keep arriving', () => {
  it("holds the firewalls' offline flips (their feed is down) but still reports a bouncer gone silent", async () => {
    const w = await world(settings);
    const fw = await addIntegration(w, { name: 'edge-fw' });
    const bouncer = await addIntegration(w, { name: 'web-1', kind: 'remediation_component', source: 'lapi' });
    await drop(w, [pull(fw.id, at(1))]);
    // The bouncer stops at 02:00; its engine keeps printing its list. No access-log line after 01:00.
    for (const hour of [1, 2, 4, 12, 20, 26.5]) {
      await snapshot(
        w,
        'engine-1',
        { 'web-1': hour <= 2 ? minutes(at(hour), -1) : minutes(at(2), -1) },
        at(hour),
      );
      await cycle(w, at(hour));
    }
    const pipeline = await issuesOf(w, 'open', DEPLOYMENT_ORG);
    expect(pipeline).toHaveLength(1);
    expect(pipeline[0]).toMatchObject({ type: 'pipeline_stale', newest_record_at: at(1), opened_at: at(3) });
    expect(pipeline[0]?.diagnosis.summary).toContain('bouncer lists still arrive');
    const open = await issuesOf(w, 'open');
    expect(open.map((issue) => [issue.integration_id, issue.type])).toEqual([
      [bouncer.id, 'rc_integration_offline'],
    ]);

    // The access logs come back, with the firewall still silent: its issue opens at its true time.
    await drop(w, [healthCheck(minutes(at(27), -1))]);
    await cycle(w, at(27));
    expect(await issuesOf(w, 'open', DEPLOYMENT_ORG)).toEqual([]);
    const fwIssue = (await issuesOf(w, 'open')).find((issue) => issue.integration_id === fw.id);
    expect(fwIssue).toMatchObject({ type: 'fw_integration_offline', opened_at: at(25) });
  });
});

describe('the feed marks', () => {
  it('a stray access-log line in a deployment of bouncer lists only starts no clock', async () => {
    const w = await world(settings);
    await addIntegration(w, { name: 'web-1', kind: 'remediation_component', source: 'lapi' });
    // Somebody probes the content endpoint once; the engine's list keeps arriving.
    await drop(w, [pull('int_ffff0000ffff0000', at(1), { status: 401 })]);
    for (const hour of [1, 5, 10]) {
      await snapshot(w, 'engine-1', { 'web-1': minutes(at(hour), -1) }, at(hour));
      expect((await cycle(w, at(hour))).rules?.pipeline).toBe('fresh');
    }
    expect(await issuesOf(w, undefined, DEPLOYMENT_ORG)).toEqual([]);
  });

  it('an access-log outage ends when the access logs come back, not at the newest bouncer list', async () => {
    const w = await world({ ...settings, staleAfterSeconds: 3600 });
    const fw = await addIntegration(w, { name: 'edge-fw' });
    await addIntegration(w, { name: 'web-1', kind: 'remediation_component', source: 'lapi' });
    await drop(w, [pull(fw.id, at(1))]);
    for (const hour of [1, 3]) {
      await snapshot(w, 'engine-1', { 'web-1': minutes(at(hour), -1) }, at(hour));
      await cycle(w, at(hour));
    }
    expect(await issuesOf(w, 'open', DEPLOYMENT_ORG)).toHaveLength(1);
    await drop(w, [pull(fw.id, at(4))]);
    await snapshot(w, 'engine-1', { 'web-1': minutes(at(4.5), -1) }, at(4.5));
    await cycle(w, at(4.5));
    const [resolved] = await issuesOf(w, 'resolved', DEPLOYMENT_ORG);
    expect(resolved).toMatchObject({ type: 'pipeline_stale', resolved_at: at(4) });
  });

  it('after an upgrade, a late file read first does not move the feed back and hold everything', async () => {
    const w = await world(settings);
    const fw = await addIntegration(w, { name: 'edge-fw' });
    await drop(w, [pull(fw.id, at(10))]);
    await cycle(w, at(10));
    // A deployment record written before the feed had marks of its own.
    await w.store.table.update({
      Key: { pk: 'DEPLOYMENT', sk: 'CYCLE' },
      UpdateExpression: 'REMOVE feed_seen_at, logs_seen_at, log_records_at',
    });
    await drop(w, [pull(fw.id, at(5))]);
    expect((await cycle(w, at(10.5))).rules?.pipeline).toBe('fresh');
    expect((await w.store.deployment.get()).feed_seen_at).toBe(at(10));
  });
});

describe('firewalls of one organization', () => {
  async function fleet(w: World, size: number): Promise<Integration[]> {
    return Promise.all(
      Array.from({ length: size }, (_, n) => addIntegration(w, { name: `fw-${String(n).padStart(2, '0')}` })),
    );
  }

  it('all going silent at once while only health checks reach the log: one outage, the blocklist endpoint to check first', async () => {
    const w = await world(settings);
    const firewalls = await fleet(w, 6);
    await drop(
      w,
      firewalls.map((fw, n) => pull(fw.id, minutes(at(1), n))),
    );
    // The firewalls stop; the load balancer's health checks keep being logged every few hours.
    for (const hour of [2, 5, 10, 15, 20, 24.5]) {
      await drop(w, [healthCheck(minutes(at(hour), -2))]);
      const report = await cycle(w, at(hour));
      expect(report.rules?.pipeline).toBe('fresh');
    }
    expect(await issuesOf(w, undefined, DEPLOYMENT_ORG)).toEqual([]);
    await drop(w, [healthCheck(minutes(at(25.2), -2))]);
    await cycle(w, at(25.2));

    const open = await issuesOf(w, 'open');
    expect(open).toHaveLength(6);
    for (const issue of open) {
      expect(issue.diagnosis).toMatchObject({
        code: 'shared_outage',
        group: { scope: 'organization', engine: null, silent: 6, of: 6, since: at(1) },
      });
      expect(issue.diagnosis.steps.join(' ')).toMatch(/certificate/);
    }
    const [message, ...more] = sentTo(w);
    expect(more).toEqual([]);
    expect(message?.sms).toContain(
      'all 6 integrations silent since 2026-11-20 01:00 UTC: check the blocklist endpoint (DNS, certificate, availability)',
    );
  });

  // Deployed, a cycle lock keeps cycles apart (functions/cycle.ts); locally a `pullwatch cycle` may overlap the
  // runner's. Each notify pass claims issues one by one, so two passes may each send part of the group.
  it('two cycles at once decide the same group; every member is announced exactly once', async () => {
    const w = await world(settings);
    const firewalls = await fleet(w, 6);
    await drop(
      w,
      firewalls.map((fw) => pull(fw.id, at(1))),
    );
    for (const hour of [2, 12, 24.5]) {
      await drop(w, [healthCheck(minutes(at(hour), -2))]);
      await cycle(w, at(hour));
    }
    await drop(w, [healthCheck(minutes(at(25.2), -2))]);
    const both = await Promise.all([
      runCycle({ store: w.store, source: w.source, publisher: w.publisher, now: at(25.2), ...w.settings }),
      runCycle({ store: w.store, source: w.source, publisher: w.publisher, now: at(25.2), ...w.settings }),
    ]);
    for (const report of both) expect(report.errors).toEqual([]);
    const open = await issuesOf(w, 'open');
    expect(open).toHaveLength(6);
    expect(new Set(open.map((issue) => issue.diagnosis.group?.key)).size).toBe(1);
    expect(open[0]?.diagnosis.group).toMatchObject({ silent: 6, of: 6 });
    const announced = () =>
      firewalls.map((fw) => sentTo(w).filter((message) => message.email.includes(fw.id)).length);
    expect(announced()).toEqual([1, 1, 1, 1, 1, 1]);
    // A pass that claimed a single member announces it alone, still naming the shared cause.
    for (const message of sentTo(w))
      expect(message.sms).toMatch(/all 6 integrations silent since|likely shared outage/);
    await cycle(w, at(25.5));
    expect(announced()).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('2 of 40 silent is two issues of their own: no shared cause, one message each', async () => {
    const w = await world(settings);
    const firewalls = await fleet(w, 40);
    const [a, b] = firewalls as [Integration, Integration];
    const pulling = firewalls.slice(2);
    await drop(
      w,
      firewalls.map((fw) => pull(fw.id, at(1))),
    );
    for (const hour of [6, 12, 18, 24, 25.5]) {
      await drop(
        w,
        pulling.map((fw) => pull(fw.id, minutes(at(hour), -1))),
      );
      await cycle(w, at(hour));
    }
    const open = await issuesOf(w, 'open');
    expect(open.map((issue: Issue) => issue.integration_id).sort()).toEqual([a.id, b.id].sort());
    for (const issue of open) {
      expect(issue.diagnosis.code).toBe('no_requests');
      expect(issue.diagnosis.group).toBeUndefined();
    }
    expect(sentTo(w).map((message) => message.event)).toEqual(['issue_opened', 'issue_opened']);
    expect(sentTo(w).some((message) => /silent since|Shared cause/.test(message.email))).toBe(false);
  });
});
