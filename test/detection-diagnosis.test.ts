import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApp } from '../shared/api/app.ts';
import type { Vendor } from '../shared/integration/index.ts';
import { refreshCredentials } from '../shared/integration/ops.ts';
import type { Iso } from '../shared/time.ts';
import { TEST_SECRET, useTestDb } from './kit/db.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { at } from './kit/time.ts';
import { addIntegration, current, cycle, issuesOf, only, sentTo, type World, world } from './kit/world.ts';

/**
 * Detection: the diagnosis an offline issue carries, per cause and per vendor.
 * Pull-log files go through the real ingest, rule pass and notify pass on a real (in-memory) dynalite,
 * with time injected, never waited for.
 */

useTestDb();
useTempDirs();

describe('diagnosis per cause, read from the ingested pull history', () => {
  const cases: Array<{
    code: string;
    vendor: Vendor;
    history: (id: string) => string[];
    opened: Iso;
    places: string[];
    absent?: string[];
  }> = [
    {
      code: 'never_pulled',
      vendor: 'pfsense',
      history: () => [],
      opened: at(24),
      places: ['pfBlocker', 'Status > System Logs > Firewall'],
    },
    {
      code: 'credentials_rejected',
      vendor: 'fortigate',
      history: (id) => [
        pull(id, at(1)),
        pull(id, at(2), { status: 401 }),
        pull(id, at(8), { status: 403 }),
        pull(id, at(20), { status: 401 }),
      ],
      opened: at(25),
      places: ['Security Fabric > External Connectors > Threat Feeds', 'Log & Report > System Events'],
    },
    {
      code: 'rate_limited',
      vendor: 'opnsense',
      history: (id) => [
        pull(id, at(1)),
        pull(id, at(2), { status: 429 }),
        pull(id, at(10), { status: 429 }),
        pull(id, at(20), { status: 429 }),
      ],
      opened: at(25),
      places: ['Firewall > Aliases', 'System > Log Files > Firewall'],
    },
    {
      code: 'server_errors',
      vendor: 'checkpoint',
      history: (id) => [pull(id, at(1)), pull(id, at(5), { status: 502 }), pull(id, at(20), { status: 503 })],
      opened: at(25),
      places: ['IoC'],
    },
    {
      code: 'server_errors',
      vendor: 'paloalto',
      history: (id) => [pull(id, at(1)), pull(id, at(20), { status: 500 })],
      opened: at(25),
      places: ['Objects > External Dynamic Lists', 'Monitor > System Logs'],
    },
    {
      code: 'no_requests',
      vendor: 'other',
      history: (id) => [pull(id, at(1))],
      opened: at(25),
      places: ['external blocklist settings', "firewall's system log", 'curl -I'],
      absent: ['Threat Feeds', 'External Dynamic Lists', 'pfBlocker', 'Aliases', 'IoC'],
    },
  ];

  it.each(cases)(
    '$code ($vendor): the offline issue says why and where to look on that vendor',
    async (c) => {
      const w = await world({ heartbeat: true });
      const fw = await addIntegration(w, { name: `fw-${c.vendor}`, vendor: c.vendor });
      const history = c.history(fw.id);
      if (history.length > 0) await drop(w, history);

      await cycle(w, at(26));

      const offline = only(
        (await issuesOf(w, 'open')).filter((issue) => issue.type === 'fw_integration_offline'),
      );
      expect(offline).toMatchObject({ integration_id: fw.id, opened_at: c.opened, detected_at: at(26) });
      expect(offline.diagnosis.code).toBe(c.code);
      expect(offline.diagnosis.summary.length).toBeGreaterThan(20);
      const steps = offline.diagnosis.steps.join('\n');
      for (const place of c.places) expect(steps).toContain(place);
      for (const place of c.absent ?? []) expect(steps).not.toContain(place);

      // The email carries the full diagnosis.
      const opened = only(sentTo(w).filter((n) => n.issue_id === offline.id));
      expect(opened.event).toBe('issue_opened');
      expect(opened.email).toContain(offline.diagnosis.summary);
      for (const step of offline.diagnosis.steps) expect(opened.email).toContain(step);
    },
  );

  it('credentials_rejected also explains the early warning, and the API shows {code, summary, steps}', async () => {
    const w = await world({ heartbeat: true });
    const fw = await addIntegration(w, { name: 'Edge FortiGate', vendor: 'fortigate' });
    await drop(w, cases[1]?.history(fw.id) ?? []);
    await cycle(w, at(26));

    const open = await issuesOf(w, 'open');
    expect(open.map((issue) => issue.type).sort()).toEqual([
      'fw_integration_offline',
      'integration_auth_failing',
    ]);
    for (const issue of open) expect(issue.diagnosis.code).toBe('credentials_rejected');
    expect(open[0]?.diagnosis.summary).toContain('401');

    const app = createApp({
      store: w.store,
      secret: TEST_SECRET,
      now: () => at(26),
      staleAfterSeconds: 7200,
    });
    const response = await app.request('/v1/issues?state=open', {
      headers: { authorization: `Bearer ${w.key}` },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { items: Array<{ id: string; diagnosis: unknown }> };
    for (const issue of open) {
      const served = body.items.find((item) => item.id === issue.id);
      expect(served?.diagnosis).toEqual({
        code: 'credentials_rejected',
        summary: issue.diagnosis.summary,
        steps: issue.diagnosis.steps,
      });
    }
  });

  it('credentials_not_updated: credentials refreshed after the last success, then only rejections', async () => {
    const w = await world({ heartbeat: true });
    const fw = await addIntegration(w, { name: 'DC Palo Alto', vendor: 'paloalto' });
    await drop(w, [pull(fw.id, at(1))]);
    await cycle(w, at(1.5));
    await refreshCredentials(w.store, TEST_SECRET, w.orgId, fw.id, 0, at(2));
    await drop(w, [
      pull(fw.id, at(3), { status: 401 }),
      pull(fw.id, at(3.5), { status: 401 }),
      pull(fw.id, at(10), { status: 401 }),
    ]);

    await cycle(w, at(26));

    const open = await issuesOf(w, 'open');
    expect(open.map((issue) => issue.type).sort()).toEqual([
      'fw_integration_offline',
      'integration_auth_failing',
    ]);
    for (const issue of open) {
      expect(issue.diagnosis.code).toBe('credentials_not_updated');
      const steps = issue.diagnosis.steps.join('\n');
      expect(steps).toMatch(/new username and password/i);
      expect(steps).toContain('Objects > External Dynamic Lists');
    }
  });

  it('credentials_not_updated: credentials refreshed after the last success, then no request at all', async () => {
    const w = await world({ heartbeat: true });
    const fw = await addIntegration(w, { name: 'DC Palo Alto', vendor: 'paloalto' });
    await drop(w, [pull(fw.id, at(1))]);
    await cycle(w, at(1.5));
    await refreshCredentials(w.store, TEST_SECRET, w.orgId, fw.id, 0, at(2));

    await cycle(w, at(26));

    const offline = only(await issuesOf(w, 'open'));
    expect(offline).toMatchObject({ type: 'fw_integration_offline', opened_at: at(25) });
    // Refreshed after the last success and then no pulls at all: the device was never given the new password.
    expect(offline.diagnosis.code).toBe('credentials_not_updated');
  });

  it('a refresh before the last success does not count: later rejections are credentials_rejected', async () => {
    const w = await world({ heartbeat: true });
    const fw = await addIntegration(w, { name: 'DC Palo Alto', vendor: 'paloalto' });
    await refreshCredentials(w.store, TEST_SECRET, w.orgId, fw.id, 0, at(0.5));
    await drop(w, [pull(fw.id, at(1)), pull(fw.id, at(3), { status: 401 })]);

    await cycle(w, at(26));

    expect(only(await issuesOf(w, 'open')).diagnosis.code).toBe('credentials_rejected');
  });

  /**
   * `cscli bouncers list -o json` in the shape of `bouncerInfo` (crowdsecurity/crowdsec
   * cmd/crowdsec-cli/clibouncer/bouncers.go): no `valid`, `last_pull` null before the first pull.
   */
  const snapshotOf = (bouncers: Array<{ name: string; revoked: boolean; last_pull: string | null }>) =>
    JSON.stringify(
      bouncers.map((bouncer) => ({
        created_at: '2026-10-02T09:14:22Z',
        updated_at: bouncer.last_pull ?? '2026-10-02T09:14:22Z',
        name: bouncer.name,
        revoked: bouncer.revoked,
        ip_address: '192.0.2.10',
        type: 'crowdsec-firewall-bouncer',
        version: 'v0.0.31',
        last_pull: bouncer.last_pull,
        auth_type: 'api-key',
        auto_created: false,
      })),
    );

  async function writeSnapshot(w: World, text: string, modified: string) {
    const path = join(w.logs, w.orgId, 'engine1.bouncers.json');
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
    await utimes(path, new Date(modified), new Date(modified));
  }

  async function bouncerWorld(revoked: boolean) {
    const w = await world({ heartbeat: true });
    const rc = await addIntegration(w, { name: 'fw-edge-01', kind: 'remediation_component', source: 'lapi' });
    await writeSnapshot(w, snapshotOf([{ name: 'fw-edge-01', revoked, last_pull: at(1) }]), at(2));
    await cycle(w, at(26));
    return { w, rc };
  }

  it('bouncer_revoked: a LAPI snapshot listing the bouncer as revoked', async () => {
    const { w, rc } = await bouncerWorld(true);

    expect((await current(w, rc.id)).lapi).toMatchObject({
      revoked: true,
      seen_at: at(2),
      entry: 'fw-edge-01',
    });
    const issue = only(await issuesOf(w, 'open'));
    expect(issue).toMatchObject({ type: 'rc_integration_offline', integration_id: rc.id, opened_at: at(25) });
    expect(issue.diagnosis.code).toBe('bouncer_revoked');
    const steps = issue.diagnosis.steps.join('\n');
    expect(steps).toContain('cscli bouncers add fw-edge-01');
    expect(steps).toContain('cscli bouncers list');
    expect(steps).toContain('systemctl status crowdsec-firewall-bouncer');
    expect(steps).toContain('journalctl');
    expect(steps).not.toContain('Threat Feeds');
  });

  it('bouncer_removed: a later snapshot of the same engine no longer lists the bouncer', async () => {
    const w = await world({ heartbeat: true });
    const rc = await addIntegration(w, { name: 'fw-edge-01', kind: 'remediation_component', source: 'lapi' });
    const others = [{ name: 'nginx-web-02', revoked: false, last_pull: at(1.5) }];
    await writeSnapshot(
      w,
      snapshotOf([{ name: 'fw-edge-01', revoked: false, last_pull: at(1) }, ...others]),
      at(2),
    );
    await cycle(w, at(3));
    // cscli bouncers delete fw-edge-01; the cron overwrites the snapshot in place.
    await writeSnapshot(w, snapshotOf(others), at(4));
    await cycle(w, at(26));

    const issue = only(await issuesOf(w, 'open'));
    expect(issue).toMatchObject({ type: 'rc_integration_offline', integration_id: rc.id });
    expect(issue.diagnosis.code).toBe('bouncer_removed');
    expect(issue.diagnosis.summary).toContain('no longer lists');
    const steps = issue.diagnosis.steps.join('\n');
    expect(steps).toContain('cscli bouncers add fw-edge-01');
    expect(steps).toContain('cscli bouncers list');
    expect(steps).toContain('systemctl status crowdsec-firewall-bouncer');
  });

  it('a bouncer removed and registered again is no longer diagnosed as removed', async () => {
    const w = await world({ heartbeat: true });
    await addIntegration(w, { name: 'fw-edge-01', kind: 'remediation_component', source: 'lapi' });
    await writeSnapshot(w, snapshotOf([{ name: 'fw-edge-01', revoked: false, last_pull: at(1) }]), at(2));
    await cycle(w, at(3));
    await writeSnapshot(w, snapshotOf([]), at(4));
    await cycle(w, at(5));
    // Registered again (a new key) but the bouncer never pulled with it.
    await writeSnapshot(w, snapshotOf([{ name: 'fw-edge-01', revoked: false, last_pull: null }]), at(6));
    await cycle(w, at(26));

    expect(only(await issuesOf(w, 'open')).diagnosis.code).toBe('no_requests');
  });

  it('a bouncer that is not revoked and just stopped: no_requests, with the bouncer steps', async () => {
    const { w } = await bouncerWorld(false);

    const issue = only(await issuesOf(w, 'open'));
    expect(issue.type).toBe('rc_integration_offline');
    expect(issue.diagnosis.code).toBe('no_requests');
    const steps = issue.diagnosis.steps.join('\n');
    expect(steps).toContain('systemctl status crowdsec-firewall-bouncer');
    expect(steps).toContain('cscli bouncers list');
    expect(steps).not.toContain('cscli bouncers add fw-edge-01');
  });
});
