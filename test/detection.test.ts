import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../shared/api/app.ts';
import { type CycleReport, runCycle } from '../shared/cycle.ts';
import { ingest } from '../shared/ingest/index.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import type { Integration, IntegrationKind, Vendor } from '../shared/integration/index.ts';
import { createIntegration, patchIntegration, refreshCredentials } from '../shared/integration/ops.ts';
import { DEPLOYMENT_ORG, type Issue, pendingEvents } from '../shared/issue/index.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import { runNotify, STORM_THRESHOLD } from '../shared/notify/index.ts';
import { type Publisher, SnsPublisher } from '../shared/notify/publishers.ts';
import type { Notification } from '../shared/notify/render.ts';
import { createOrg, createOrgWithKey } from '../shared/org/index.ts';
import { runRules } from '../shared/rules/index.ts';
import { Store, type Transition } from '../shared/store/index.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { at, freshStore, SETTINGS, startTestDb, T0, TEST_SECRET } from './helpers.ts';

/**
 * Detection and alerting as scenarios: pull-log files go through the real ingest, rule pass and notify pass
 * on a real (in-memory) dynalite, with time injected, never waited for.
 */

const TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:pullwatch-alerts';
const PUBLISH_OK =
  '<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>';

let db: EmbeddedDb;
let snsServer: Server;
let snsEndpoint = '';
/** Every Publish that reached the local SNS endpoint (form-encoded Query protocol). */
let snsRequests: URLSearchParams[] = [];
const tempDirs: string[] = [];

beforeAll(async () => {
  db = await startTestDb();
  snsServer = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      snsRequests.push(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      response.writeHead(200, { 'content-type': 'text/xml' });
      response.end(PUBLISH_OK);
    });
  });
  await new Promise<void>((resolve) => snsServer.listen(0, '127.0.0.1', resolve));
  snsEndpoint = `http://127.0.0.1:${(snsServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  snsServer.closeAllConnections();
  await new Promise<void>((resolve) => snsServer.close(() => resolve()));
  await db.close();
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

beforeEach(() => {
  snsRequests = [];
});

// ---- small helpers ---------------------------------------------------------------------------------

/** A publisher that keeps every notification it is handed. */
function recorder(): { publisher: Publisher; sent: Notification[] } {
  const sent: Notification[] = [];
  return {
    sent,
    publisher: {
      async publish(notification) {
        sent.push(notification);
        return `msg-${sent.length}`;
      },
    },
  };
}

/** One canonical pull-log line (BRIEF 5.1 format 1). */
function pull(integrationId: string, time: Iso, extra: { method?: string; status?: number } = {}): string {
  return JSON.stringify({
    time,
    integration_id: integrationId,
    method: extra.method ?? 'GET',
    status: extra.status ?? 200,
    ip: '203.0.113.7',
    user_agent: 'FortiGate/7.4',
  });
}

const minutes = (from: Iso, count: number) => addSeconds(from, count * 60);

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  const logs = join(dir, 'logs');
  await mkdir(logs);
  return logs;
}

let fileCounter = 0;

interface World {
  store: Store;
  orgId: string;
  /** A write key of the organization, for the API. */
  key: string;
  logs: string;
  source: DirectorySource;
  publisher: Publisher;
  sent: Notification[];
  /**
   * An integration of another organization that pulls just before every cycle, so the pull-log feed stays
   * fresh and the pipeline guard (on, at its default) has no reason to hold anything. Null: no such feed.
   */
  heartbeat: Integration | null;
}

async function world(options: { heartbeat?: boolean } = {}): Promise<World> {
  const store = await freshStore(db);
  const logs = await tempDir('pullwatch-detection-');
  const { org, key } = await createOrgWithKey(store, TEST_SECRET, 'Acme', 'write', T0);
  let heartbeat: Integration | null = null;
  if (options.heartbeat !== false) {
    const keeper = await createOrg(store, 'Feed keeper', T0);
    const made = await createIntegration(
      store,
      TEST_SECRET,
      keeper.id,
      { name: 'heartbeat', kind: 'firewall', offline_after_seconds: 30 * 86_400 },
      T0,
    );
    heartbeat = made.integration;
  }
  const { publisher, sent } = recorder();
  return { store, orgId: org.id, key, logs, source: new DirectorySource(logs), publisher, sent, heartbeat };
}

async function addIntegration(
  w: World,
  input: {
    name?: string;
    kind?: IntegrationKind;
    vendor?: Vendor;
    source?: 'blaas' | 'lapi';
    offline_after_seconds?: number;
  } = {},
  orgId = w.orgId,
): Promise<Integration> {
  const { integration } = await createIntegration(
    w.store,
    TEST_SECRET,
    orgId,
    { name: 'Edge FortiGate', kind: 'firewall', vendor: 'fortigate', ...input },
    T0,
  );
  return integration;
}

async function drop(w: { logs: string }, lines: string[]): Promise<void> {
  fileCounter += 1;
  await writeFile(
    join(w.logs, `pulls-${String(fileCounter).padStart(5, '0')}.jsonl`),
    `${lines.join('\n')}\n`,
  );
}

interface CycleOptions {
  reminderSeconds?: number;
  staleAfterSeconds?: number;
}

async function cycle(w: World, now: Iso, options: CycleOptions = {}): Promise<CycleReport> {
  if (w.heartbeat) await drop(w, [pull(w.heartbeat.id, addSeconds(now, -60))]);
  const report = await runCycle({
    store: w.store,
    source: w.source,
    publisher: w.publisher,
    now,
    ...SETTINGS,
    ...options,
  });
  expect(report.errors).toEqual([]);
  return report;
}

async function issuesOf(w: World, state?: 'open' | 'resolved', orgId = w.orgId): Promise<Issue[]> {
  const page = await w.store.listIssues(orgId, state ? { limit: 100, state } : { limit: 100 });
  return page.items;
}

async function current(w: World, id: string): Promise<Integration> {
  const integration = await w.store.getIntegration(w.orgId, id);
  if (!integration) throw new Error(`integration ${id} is gone`);
  return integration;
}

const sentTo = (w: World, orgId = w.orgId) => w.sent.filter((notification) => notification.org_id === orgId);
const events = (notifications: Notification[]) =>
  notifications.map((notification) => `${notification.event}:${notification.issue_id}`);

function only<T>(items: T[]): T {
  expect(items).toHaveLength(1);
  return items[0] as T;
}

// ---- 1. diagnosis per cause ---------------------------------------------------------------------------

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
      const w = await world();
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
    const w = await world();
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

    const app = createApp({ store: w.store, secret: TEST_SECRET, now: () => at(26) });
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
    const w = await world();
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
    const w = await world();
    const fw = await addIntegration(w, { name: 'DC Palo Alto', vendor: 'paloalto' });
    await drop(w, [pull(fw.id, at(1))]);
    await cycle(w, at(1.5));
    await refreshCredentials(w.store, TEST_SECRET, w.orgId, fw.id, 0, at(2));

    await cycle(w, at(26));

    const offline = only(await issuesOf(w, 'open'));
    expect(offline).toMatchObject({ type: 'fw_integration_offline', opened_at: at(25) });
    // BRIEF §4 / issue 4: "refreshed after the last success and only rejected OR NO PULLS since".
    expect(offline.diagnosis.code).toBe('credentials_not_updated');
  });

  it('a refresh before the last success does not count: later rejections are credentials_rejected', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'DC Palo Alto', vendor: 'paloalto' });
    await refreshCredentials(w.store, TEST_SECRET, w.orgId, fw.id, 0, at(0.5));
    await drop(w, [pull(fw.id, at(1)), pull(fw.id, at(3), { status: 401 })]);

    await cycle(w, at(26));

    expect(only(await issuesOf(w, 'open')).diagnosis.code).toBe('credentials_rejected');
  });

  async function bouncerWorld(revoked: boolean) {
    const w = await world();
    const rc = await addIntegration(w, { name: 'fw-edge-01', kind: 'remediation_component', source: 'lapi' });
    const snapshot = JSON.stringify([
      {
        id: 1,
        name: 'fw-edge-01',
        revoked,
        ip_address: '192.0.2.10',
        type: 'crowdsec-firewall-bouncer',
        version: 'v0.0.31',
        last_pull: at(1),
        auth_type: 'api-key',
      },
    ]);
    const path = join(w.logs, w.orgId, 'engine1.bouncers.json');
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, snapshot);
    await utimes(path, new Date(at(2)), new Date(at(2)));
    await cycle(w, at(26));
    return { w, rc };
  }

  it('bouncer_revoked: a LAPI snapshot listing the bouncer as revoked', async () => {
    const { w, rc } = await bouncerWorld(true);

    expect((await current(w, rc.id)).lapi).toEqual({ revoked: true, seen_at: at(2) });
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

// ---- 2. early warning -----------------------------------------------------------------------------------

describe('early warning: integration_auth_failing', () => {
  /** A FortiGate whose last good pull, at(1), has been ingested. */
  async function pulledAtOne() {
    const w = await world();
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
    const w = await world();
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

// ---- 3. pipeline guard ---------------------------------------------------------------------------------

describe('pipeline guard', () => {
  async function fleetOf(w: World, size: number, prefix = 'fw'): Promise<Integration[]> {
    return Promise.all(
      Array.from({ length: size }, (_, n) =>
        addIntegration(w, { name: `${prefix}-${String(n).padStart(2, '0')}` }),
      ),
    );
  }

  it('a log outage opens one pipeline_stale issue and holds every offline flip; when records flow again only the truly silent open, at their true opened_at', async () => {
    const w = await world({ heartbeat: false });
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
      last_pull_at: at(1),
    });
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
    const w = await world();
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
    const w = await world({ heartbeat: false });
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
    const w = await world({ heartbeat: false });
    const fw = await addIntegration(w);
    await drop(w, [pull(fw.id, at(1))]);
    await cycle(w, at(1.5), { staleAfterSeconds: 3600 });

    expect((await cycle(w, at(1.9), { staleAfterSeconds: 3600 })).rules?.pipeline).toBe('fresh');
    expect((await cycle(w, at(2), { staleAfterSeconds: 3600 })).rules?.pipeline).toBe('stale');
    expect(only(await issuesOf(w, undefined, DEPLOYMENT_ORG)).opened_at).toBe(at(2));
  });

  it('no record ever seen is not an outage: never-pulled integrations are flagged', async () => {
    const w = await world({ heartbeat: false });
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

// ---- 4. pause ------------------------------------------------------------------------------------------

describe('pause and resume', () => {
  it('pausing resolves the open issue once, nothing opens while paused, resuming re-arms; the API lists the transitions', async () => {
    const w = await world();
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

    const app = createApp({ store: w.store, secret: TEST_SECRET, now: () => at(124) });
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
    const w = await world();
    await addIntegration(w, { name: 'lab' }).then((fw) =>
      patchIntegration(w.store, w.orgId, fw.id, { paused: true }, T0),
    );
    for (const hour of [25, 50, 200]) await cycle(w, at(hour));

    expect(await issuesOf(w)).toEqual([]);
    expect(sentTo(w)).toEqual([]);
  });
});

// ---- 5. reminders --------------------------------------------------------------------------------------

describe('reminders', () => {
  async function offlineAt25() {
    const w = await world();
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
    expect(await w.store.getIssue(w.orgId, issue.id)).toMatchObject({
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
      let letBGoOn: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        letBGoOn = resolve;
      });
      let read: () => void = () => {};
      const bHasRead = new Promise<void>((resolve) => {
        read = resolve;
      });
      const slow = new Proxy(w.store, {
        get(target, property, receiver) {
          if (property !== 'dueNotifications') return Reflect.get(target, property, receiver);
          return async (until: Iso) => {
            const due = await target.dueNotifications(until);
            read();
            await gate;
            return due;
          };
        },
      });
      const b = runNotify({ store: slow, publisher: w.publisher, now, ...SETTINGS });
      await bHasRead;
      const a = await runNotify({ store: w.store, publisher: w.publisher, now, ...SETTINGS });
      letBGoOn();
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

// ---- 6. storm control ----------------------------------------------------------------------------------

describe('storm control: one digest per organization', () => {
  async function neverPulled(w: World, count: number, prefix: string, orgId = w.orgId) {
    return Promise.all(
      Array.from({ length: count }, (_, n) => addIntegration(w, { name: `${prefix}-${n}` }, orgId)),
    );
  }

  it('more than 10 events in one pass: one digest listing them, each issue marked notified', async () => {
    const w = await world();
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
    const w = await world();
    const fleet = await neverPulled(w, 10, 'branch');

    await cycle(w, at(25));

    const sent = sentTo(w);
    expect(sent.map((n) => n.event)).toEqual(Array(10).fill('issue_opened'));
    expect(new Set(sent.map((n) => n.issue_id)).size).toBe(10);
    expect(sent.map((n) => n.subject.split(': ').at(-1)).sort()).toEqual(fleet.map((fw) => fw.name).sort());
  });

  it('two organizations in a storm each get their own digest; a third with 3 events gets 3 messages', async () => {
    const w = await world();
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

// ---- 7. faults -----------------------------------------------------------------------------------------

/**
 * One scenario for every fault: two organizations, seven integrations, six steps over 40 hours: openings
 * (auth failing, offline with several causes), resolutions, integrations that stay healthy. At each step the
 * new log file is dropped and cycles run, 16 minutes apart (longer than a file lease and a notification
 * claim), until one is quiet. The guard and reminders are off so that a run delayed by faults and a clean
 * run must end in exactly the same state.
 */
const SCENARIO = [
  { name: 'a1-fortigate', org: 'Org A', vendor: 'fortigate', kind: 'firewall' },
  { name: 'a2-paloalto', org: 'Org A', vendor: 'paloalto', kind: 'firewall' },
  { name: 'a3-healthy', org: 'Org A', vendor: 'other', kind: 'firewall' },
  { name: 'a4-never', org: 'Org A', vendor: 'pfsense', kind: 'firewall' },
  { name: 'b1-opnsense', org: 'Org B', vendor: 'opnsense', kind: 'firewall' },
  { name: 'b2-healthy', org: 'Org B', vendor: 'other', kind: 'firewall' },
  { name: 'b3-bouncer', org: 'Org B', vendor: 'other', kind: 'remediation_component' },
] as const;
type ScenarioName = (typeof SCENARIO)[number]['name'];

const healthy = (id: (name: ScenarioName) => string, time: Iso) => [
  pull(id('a3-healthy'), time),
  pull(id('b2-healthy'), time),
];

const STEPS: Array<{ at: Iso; lines: (id: (name: ScenarioName) => string) => string[] }> = [
  {
    at: at(1.1),
    lines: (id) =>
      (['a1-fortigate', 'a2-paloalto', 'a3-healthy', 'b1-opnsense', 'b2-healthy', 'b3-bouncer'] as const).map(
        (name) => pull(id(name), at(1)),
      ),
  },
  {
    at: at(5),
    lines: (id) => [
      pull(id('a2-paloalto'), at(2), { status: 401 }),
      pull(id('a2-paloalto'), at(2.1), { status: 401 }),
      pull(id('a2-paloalto'), at(2.3), { status: 403 }),
      pull(id('b1-opnsense'), at(2), { status: 429 }),
      pull(id('b1-opnsense'), at(2.5), { status: 429 }),
      pull(id('b3-bouncer'), at(2), { status: 503 }),
      ...healthy(id, at(4.9)),
    ],
  },
  { at: at(14), lines: (id) => healthy(id, at(13.9)) },
  {
    at: at(26),
    lines: (id) => [pull(id('a2-paloalto'), at(25.5), { status: 401 }), ...healthy(id, at(25.9))],
  },
  {
    at: at(30.5),
    lines: (id) => [
      pull(id('a1-fortigate'), at(30)),
      pull(id('a2-paloalto'), at(30)),
      pull(id('b3-bouncer'), at(28)),
      ...healthy(id, at(30.4)),
    ],
  },
  { at: at(40), lines: (id) => healthy(id, at(39.9)) },
];
const LOOP_SECONDS = 16 * 60;
const MAX_LOOPS = 12;
const SCENARIO_SETTINGS = { staleAfterSeconds: 0, reminderSeconds: 0 };

interface Scenario {
  /** The store the cycles use (possibly faulty), and the plain one to read the outcome. */
  store: Store;
  plain: Store;
  source: DirectorySource;
  logs: string;
  orgName: Map<string, string>;
  ids: Map<ScenarioName, string>;
  orgOf: Map<ScenarioName, string>;
}

async function scenario(plain: Store, store: Store = plain): Promise<Scenario> {
  const logs = await tempDir('pullwatch-faults-');
  const orgName = new Map<string, string>();
  const orgIds = new Map<string, string>();
  for (const name of ['Org A', 'Org B']) {
    const org = await createOrg(plain, name, T0);
    orgName.set(org.id, name);
    orgIds.set(name, org.id);
  }
  const ids = new Map<ScenarioName, string>();
  const orgOf = new Map<ScenarioName, string>();
  for (const spec of SCENARIO) {
    const orgId = orgIds.get(spec.org) as string;
    const { integration } = await createIntegration(
      plain,
      TEST_SECRET,
      orgId,
      { name: spec.name, kind: spec.kind, vendor: spec.vendor },
      T0,
    );
    ids.set(spec.name, integration.id);
    orgOf.set(spec.name, orgId);
  }
  return { store, plain, source: new DirectorySource(logs), logs, orgName, ids, orgOf };
}

function isQuiet(report: CycleReport): boolean {
  return (
    report.errors.length === 0 &&
    report.ingest?.files_processed === 0 &&
    report.ingest.files_failed.length === 0 &&
    report.rules?.opened.length === 0 &&
    report.rules.resolved.length === 0 &&
    report.notify?.sent.length === 0 &&
    report.notify.failed.length === 0
  );
}

/**
 * Plays the steps. `run` runs one or more cycles at `now` (it may throw: a crashed process); the loop moves on
 * 16 minutes and runs again until every cycle of a round is quiet. Returns what went wrong on the way.
 */
async function play(
  s: Scenario,
  run: (now: Iso) => Promise<CycleReport[]>,
): Promise<{ errors: string[]; crashes: string[] }> {
  const errors: string[] = [];
  const crashes: string[] = [];
  const id = (name: ScenarioName) => s.ids.get(name) as string;
  for (const [index, step] of STEPS.entries()) {
    await writeFile(join(s.logs, `step-${index}.jsonl`), `${step.lines(id).join('\n')}\n`);
    let quiet = false;
    for (let loop = 0; loop < MAX_LOOPS && !quiet; loop += 1) {
      const now = addSeconds(step.at, loop * LOOP_SECONDS);
      const next = STEPS[index + 1];
      if (next) expect(now < next.at, `step ${index} ran into the next one`).toBe(true);
      try {
        const reports = await run(now);
        for (const report of reports)
          errors.push(...report.errors.map((error) => `${error.stage}: ${error.error}`));
        quiet = reports.every(isQuiet);
      } catch (error) {
        crashes.push(error instanceof Error ? error.message : String(error));
      }
    }
    expect(quiet, `step ${index} never became quiet`).toBe(true);
    // Quiet must mean delivered: no issue of the step still owes a message (e.g. parked for a late retry).
    expect(await owed(s, step.at), `step ${index} ended with messages still owed`).toEqual([]);
  }
  return { errors, crashes };
}

/** Issues that still owe an opened or resolved message (reminders aside, so `now` does not matter). */
async function owed(s: Scenario, now: Iso): Promise<string[]> {
  const names: string[] = [];
  for (const orgId of s.orgName.keys()) {
    for (const issue of (await s.plain.listIssues(orgId, { limit: 100 })).items) {
      const pending = pendingEvents(issue, now, 0);
      if (pending.length > 0) names.push(`${issue.integration_name} ${issue.type}: ${pending.join(',')}`);
    }
  }
  return names;
}

interface Outcome {
  issues: string[];
  transitions: string[];
  integrations: string[];
}

/** The final state of a scenario, with everything that differs between runs (ids, detection times) left out. */
async function outcome(s: Scenario, options: { summaries: boolean } = { summaries: true }): Promise<Outcome> {
  const issues: string[] = [];
  for (const [orgId, name] of s.orgName) {
    const page = await s.plain.listIssues(orgId, { limit: 100 });
    for (const issue of page.items) {
      issues.push(
        [
          name,
          issue.integration_name,
          issue.type,
          issue.criticality,
          issue.state,
          `opened ${issue.opened_at}`,
          `resolved ${issue.resolved_at} (${issue.resolution})`,
          `last pull ${issue.last_pull_at}`,
          issue.diagnosis.code,
          options.summaries ? issue.diagnosis.summary : '',
          `notified ${Object.keys(issue.notified).sort().join(',')}`,
        ].join(' | '),
      );
    }
  }
  expect(await s.plain.listIssues(DEPLOYMENT_ORG, { limit: 10 })).toEqual({ items: [], next_cursor: null });
  const transitions: string[] = [];
  const integrations: string[] = [];
  for (const spec of SCENARIO) {
    const orgId = s.orgOf.get(spec.name) as string;
    const integrationId = s.ids.get(spec.name) as string;
    for (const t of await s.plain.listTransitions(orgId, integrationId, 50)) {
      transitions.push(
        `${spec.name} ${t.kind} ${t.at} ${t.issue_type} ${t.from_status}->${t.to_status} ${t.reason}`,
      );
    }
    const integration = (await s.plain.getIntegration(orgId, integrationId)) as Integration;
    integrations.push(
      [
        spec.name,
        `open ${Object.keys(integration.open_issues).sort().join(',')}`,
        `seq ${integration.issue_seq}`,
        `pull ${integration.last_pull_at}`,
        `attempt ${integration.last_attempt_at} ${integration.last_attempt_status}`,
        `rejections ${integration.rejections.join(',')}`,
      ].join(' | '),
    );
  }
  return { issues: issues.sort(), transitions: transitions.sort(), integrations };
}

const messageOf = (s: Scenario, n: Pick<Notification, 'event' | 'org_id' | 'subject'>) =>
  `${n.event} | ${s.orgName.get(n.org_id) ?? n.org_id} | ${n.subject}`;

/** The clean run every faulty run is compared with (computed once). */
let clean: Promise<{ scenario: Scenario; outcome: Outcome; messages: string[] }> | null = null;
function cleanRun() {
  clean ??= (async () => {
    const s = await scenario(await freshStore(db));
    const { publisher, sent } = recorder();
    const { errors } = await play(s, async (now) => [
      await runCycle({ store: s.store, source: s.source, publisher, now, ...SCENARIO_SETTINGS }),
    ]);
    expect(errors).toEqual([]);
    return { scenario: s, outcome: await outcome(s), messages: sent.map((n) => messageOf(s, n)).sort() };
  })();
  return clean;
}

async function cleanOutcome(options: { summaries: boolean }): Promise<Outcome> {
  return outcome((await cleanRun()).scenario, options);
}

function awsError(name: string, status: number): Error {
  const error = new Error(`${name} (injected by the test)`);
  error.name = name;
  Object.assign(error, {
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
  return error;
}

type WriteKind =
  | 'integration'
  | 'issue.create'
  | 'issue.resolve'
  | 'outbox.claim'
  | 'outbox.complete'
  | 'outbox.release';

/** What a DynamoDB request (as the SDK's build step sees it) writes, or null if it is none of these. */
function writeKind(target: string, body: string): WriteKind | null {
  if (!/\.(PutItem|UpdateItem)$/.test(target)) return null;
  const input = JSON.parse(body) as {
    Item?: { sk?: { S?: string } };
    Key?: { sk?: { S?: string } };
    UpdateExpression?: string;
  };
  const sk = input.Item?.sk?.S ?? input.Key?.sk?.S ?? '';
  if (sk.startsWith('INT#')) return 'integration';
  if (!sk.startsWith('ISSUE#')) return null;
  if (target.endsWith('.PutItem')) return 'issue.create';
  const expression = input.UpdateExpression ?? '';
  if (expression.includes(':resolved')) return 'issue.resolve';
  if (expression.includes('claim_until = :until')) return 'outbox.claim';
  if (expression.includes('notified.')) return 'outbox.complete';
  return 'outbox.release';
}

/**
 * A store on its own table whose DynamoDB client (no SDK retries, so nothing hides a fault) throws
 * ProvisionedThroughputExceededException for the matching writes of the chosen kinds, while `faults.on`.
 */
async function throttledStore(kinds: WriteKind[], throttle: (index: number) => boolean) {
  const client = new DynamoDBClient({
    endpoint: db.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const faults = { on: false, matched: 0, thrown: [] as WriteKind[] };
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      const kind = writeKind(request.headers?.['x-amz-target'] ?? '', String(request.body ?? ''));
      if (faults.on && kind !== null && kinds.includes(kind)) {
        faults.matched += 1;
        if (throttle(faults.matched)) {
          faults.thrown.push(kind);
          throw awsError('ProvisionedThroughputExceededException', 400);
        }
      }
      return next(args);
    },
    { step: 'build', name: 'throttleSomeWrites' },
  );
  const store = new Store(client, `t_throttled_${randomBytes(6).toString('hex')}`);
  await store.ensureTable();
  return { store, faults };
}

describe('faults: the final state equals a clean run, and each event is sent exactly once', () => {
  it('the clean run itself: every event once, the expected issues', async () => {
    const { outcome: result, messages } = await cleanRun();

    expect(new Set(messages).size).toBe(messages.length);
    expect(messages.filter((m) => m.startsWith('issue_opened'))).toHaveLength(6);
    expect(messages.filter((m) => m.startsWith('issue_resolved'))).toHaveLength(4);
    expect(result.issues.filter((i) => i.includes('| open |'))).toHaveLength(2);
    expect(result.issues.map((i) => i.split(' | ').slice(1, 3).join(' ')).sort()).toEqual([
      'a1-fortigate fw_integration_offline',
      'a2-paloalto fw_integration_offline',
      'a2-paloalto integration_auth_failing',
      'a4-never fw_integration_offline',
      'b1-opnsense fw_integration_offline',
      'b3-bouncer rc_integration_offline',
    ]);
  });

  it('SNS throttling and 5xx errors, injected in the SDK: messages are late, never lost or doubled', async () => {
    const expected = await cleanRun();
    const s = await scenario(await freshStore(db));
    const client = new SNSClient({
      region: 'us-east-1',
      endpoint: snsEndpoint,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      maxAttempts: 1,
    });
    let calls = 0;
    const injected: string[] = [];
    const plan = (call: number): Error | null => {
      if (call <= 3) return awsError('Throttling', 400);
      if (call === 5 || call === 6) return awsError('InternalError', 500);
      if (call === 9) return awsError('ServiceUnavailable', 503);
      if (call === 12) return awsError('Throttling', 400);
      return null;
    };
    client.middlewareStack.add(
      (next) => async (args) => {
        calls += 1;
        const fault = plan(calls);
        if (fault) {
          injected.push(fault.name);
          throw fault;
        }
        return next(args);
      },
      { step: 'build', name: 'injectSnsFaults' },
    );
    const publisher = new SnsPublisher(client, TOPIC_ARN);

    await play(s, async (now) => [
      await runCycle({ store: s.store, source: s.source, publisher, now, ...SCENARIO_SETTINGS }),
    ]);

    expect(injected).toHaveLength(7);
    const messages = snsRequests.map((request) => {
      const attribute = (name: string) =>
        Array.from({ length: 4 }, (_, n) => n + 1).find(
          (n) => request.get(`MessageAttributes.entry.${n}.Name`) === name,
        );
      const value = (name: string) =>
        request.get(`MessageAttributes.entry.${attribute(name)}.Value.StringValue`);
      return messageOf(s, {
        event: value('event') as Notification['event'],
        org_id: value('org_id') ?? '',
        subject: request.get('Subject') ?? '',
      });
    });
    expect(messages.sort()).toEqual(expected.messages);
    expect(await outcome(s)).toEqual(expected.outcome);
  });

  it.each<{ what: string; kinds: WriteKind[]; throttle: (index: number) => boolean; min: number }>([
    {
      what: 'every 3rd write of an integration or issue item (ingest, rule pass, outbox) in a burst of 45',
      kinds: [
        'integration',
        'issue.create',
        'issue.resolve',
        'outbox.claim',
        'outbox.complete',
        'outbox.release',
      ],
      throttle: (index) => index % 3 === 0 && index <= 45,
      min: 15,
    },
    {
      what: 'every 3rd write of the ingest and the rule pass (integrations, issue creation and resolution) in a burst of 30',
      kinds: ['integration', 'issue.create', 'issue.resolve'],
      throttle: (index) => index % 3 === 0 && index <= 30,
      min: 10,
    },
    {
      what: 'one outbox claim (the 2nd)',
      kinds: ['outbox.claim'],
      throttle: (index) => index === 2,
      min: 1,
    },
    {
      what: 'one record of a delivered message (the 1st outbox completion)',
      kinds: ['outbox.complete'],
      throttle: (index) => index === 1,
      min: 1,
    },
  ])('DynamoDB throttling on $what: late, never lost or doubled', async ({ kinds, throttle, min }) => {
    const expected = await cleanRun();
    const { store, faults } = await throttledStore(kinds, throttle);
    const s = await scenario(store);
    const { publisher, sent } = recorder();
    faults.on = true;

    await play(s, async (now) => [
      await runCycle({ store: s.store, source: s.source, publisher, now, ...SCENARIO_SETTINGS }),
    ]);
    faults.on = false;

    // The faults really happened.
    expect(faults.thrown.length).toBeGreaterThanOrEqual(min);
    expect(sent.map((n) => messageOf(s, n)).sort()).toEqual(expected.messages);
    // A throttled ingest write can leave the rule pass judging older facts of the same kind, so the
    // diagnosis is compared by code (its summary quotes the newest status it saw).
    expect(await outcome(s, { summaries: false })).toEqual(await cleanOutcome({ summaries: false }));
  });

  it('a throttled outbox write holds back only that issue: the other messages go out in the same pass', async () => {
    const { store, faults } = await throttledStore(['outbox.claim'], (index) => index === 2);
    const org = await createOrg(store, 'Acme', T0);
    for (const name of ['fw-1', 'fw-2', 'fw-3']) {
      await createIntegration(store, TEST_SECRET, org.id, { name, kind: 'firewall' }, T0);
    }
    const logs = await tempDir('pullwatch-claim-');
    const { publisher, sent } = recorder();
    const run = (now: Iso) =>
      runCycle({ store, source: new DirectorySource(logs), publisher, now, ...SETTINGS });
    faults.on = true;

    const first = await run(at(25));

    expect(faults.thrown).toEqual(['outbox.claim']);
    expect(first.rules?.opened).toHaveLength(3);
    // Rules isolate one integration's failure from the others; the notify pass must do the same.
    expect(first.notify?.sent).toHaveLength(2);
    await run(at(25.5));
    expect(sent.map((n) => n.event)).toEqual(['issue_opened', 'issue_opened', 'issue_opened']);
    expect(new Set(sent.map((n) => n.issue_id)).size).toBe(3);
  });

  /**
   * A store whose process "dies" at one call of one method (before or after that call's write lands): that
   * call and every later store call of the process throw, until the test restarts it (the next cycle).
   */
  function crashingStore(plain: Store, point: { method: string; call: number; when: 'before' | 'after' }) {
    const state = { dead: false, calls: 0, crashed: false };
    const proxy = new Proxy(plain, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => Promise<unknown>;
        if (property === 'send') {
          return (...args: unknown[]) => {
            if (state.dead) return Promise.reject(new Error('the process crashed'));
            return method.apply(receiver, args);
          };
        }
        if (property !== point.method) return value;
        return async (...args: unknown[]) => {
          if (state.dead) throw new Error('the process crashed');
          state.calls += 1;
          if (state.crashed || state.calls !== point.call) return method.apply(receiver, args);
          state.crashed = true;
          if (point.when === 'after') await method.apply(receiver, args);
          state.dead = true;
          throw new Error(`crash ${point.when} ${point.method} #${point.call}`);
        };
      },
    });
    return { store: proxy, state };
  }

  it.each([
    { method: 'putIssueIfAbsent', call: 1, when: 'after' as const },
    { method: 'putIssueIfAbsent', call: 3, when: 'after' as const },
    { method: 'putTransition', call: 2, when: 'before' as const },
    { method: 'putTransition', call: 4, when: 'after' as const },
    { method: 'resolveIssue', call: 1, when: 'after' as const },
    { method: 'resolveIssue', call: 2, when: 'before' as const },
    { method: 'claimNotification', call: 2, when: 'after' as const },
    { method: 'completeNotification', call: 3, when: 'after' as const },
    { method: 'completeFile', call: 1, when: 'before' as const },
  ])('a crash $when $method #$call: nothing lost, nothing doubled', async (point) => {
    const expected = await cleanRun();
    const plain = await freshStore(db);
    const { store, state } = crashingStore(plain, point);
    const s = await scenario(plain, store);
    const { publisher, sent } = recorder();

    const { crashes } = await play(s, async (now) => {
      state.dead = false; // a new process
      return [await runCycle({ store: s.store, source: s.source, publisher, now, ...SCENARIO_SETTINGS })];
    });

    expect(state.crashed).toBe(true);
    expect(crashes).toHaveLength(1);
    expect(sent.map((n) => messageOf(s, n)).sort()).toEqual(expected.messages);
    expect(await outcome(s)).toEqual(expected.outcome);
  });

  it('a crash right after writing an issue, then a pull before the next pass: no alert for it at all', async () => {
    const plain = await freshStore(db);
    const { store, state } = crashingStore(plain, { method: 'putIssueIfAbsent', call: 1, when: 'after' });
    const org = await createOrg(plain, 'Acme', T0);
    const { integration: fw } = await createIntegration(
      plain,
      TEST_SECRET,
      org.id,
      { name: 'fw', kind: 'firewall' },
      T0,
    );
    const logs = await tempDir('pullwatch-orphan-');
    const { publisher, sent } = recorder();
    const run = (now: Iso) =>
      runCycle({ store, source: new DirectorySource(logs), publisher, now, ...SCENARIO_SETTINGS });
    await drop({ logs }, [pull(fw.id, at(1))]);
    await run(at(1.5));

    await expect(run(at(26))).rejects.toThrow('the process crashed');
    expect(state.crashed).toBe(true);
    expect((await plain.listIssues(org.id, { limit: 10 })).items).toHaveLength(1);

    // Restarted, and meanwhile the firewall pulled again: the unattached issue is no longer true.
    state.dead = false;
    await drop({ logs }, [pull(fw.id, at(26.1))]);
    for (const hour of [26.2, 27, 30]) await run(at(hour));

    expect(sent).toEqual([]);
    expect((await plain.listIssues(org.id, { limit: 10, state: 'open' })).items).toEqual([]);
    expect((await plain.getIntegration(org.id, fw.id))?.open_issues).toEqual({});
  });

  it('two cycles at once, every time: each event once, the same final state, no errors', async () => {
    const expected = await cleanRun();
    const s = await scenario(await freshStore(db));
    const { publisher, sent } = recorder();

    const { errors } = await play(s, (now) =>
      Promise.all([
        runCycle({ store: s.store, source: s.source, publisher, now, ...SCENARIO_SETTINGS }),
        runCycle({ store: s.store, source: s.source, publisher, now, ...SCENARIO_SETTINGS }),
      ]),
    );

    expect(errors).toEqual([]);
    expect(sent.map((n) => messageOf(s, n)).sort()).toEqual(expected.messages);
    // One cycle's rule pass may run while the other still reads the new file, so an issue can open from the
    // facts before that file: its diagnosis is compared by code (the summary quotes the newest status seen).
    expect(await outcome(s, { summaries: false })).toEqual(await cleanOutcome({ summaries: false }));
  });
});

// ---- 8. cost of the rule pass --------------------------------------------------------------------------

describe('cost of the rule pass', () => {
  async function rulePass(healthyCount: number) {
    const store = await freshStore(db);
    const org = await createOrg(store, 'Big', T0);
    const make = (name: string) =>
      createIntegration(store, TEST_SECRET, org.id, { name, kind: 'firewall' }, T0).then(
        (r) => r.integration,
      );
    const fleet: Integration[] = [];
    for (let start = 0; start < healthyCount; start += 50) {
      const size = Math.min(50, healthyCount - start);
      fleet.push(...(await Promise.all(Array.from({ length: size }, (_, n) => make(`ok-${start + n}`)))));
    }
    const idle = [await make('idle-1'), await make('idle-2')];
    const logs = await tempDir('pullwatch-cost-');
    await drop({ logs }, [
      ...fleet.map((fw) => pull(fw.id, at(25.5))),
      ...idle.map((fw) => pull(fw.id, at(1))),
    ]);
    await ingest({ store, source: new DirectorySource(logs), now: at(25.6) });

    const requests = { ...store.usage.requests };
    const readUnits = store.usage.readUnits;
    const report = await runRules({ store, now: at(26), ...SETTINGS });
    const reads: Record<string, number> = {};
    for (const [label, count] of Object.entries(store.usage.requests)) {
      const delta = count - (requests[label] ?? 0);
      if (label.startsWith('read.') && delta > 0) reads[label] = delta;
    }
    return { report, reads, readUnits: store.usage.readUnits - readUnits, idle };
  }

  it('with 200 healthy integrations and 2 newly idle, the pass reads the 2 candidates, not the 200', async () => {
    const small = await rulePass(20);
    const large = await rulePass(200);

    expect(large.report.candidates).toBe(2);
    expect(large.report.opened.map((change) => change.integration_id).sort()).toEqual(
      large.idle.map((fw) => fw.id).sort(),
    );
    expect(large.report.pipeline).toBe('fresh');
    // The same requests, and about the same capacity, whether the table holds 22 or 202 integrations.
    expect(large.reads).toEqual(small.reads);
    expect(Object.keys(large.reads).sort()).toEqual(['read.deployment', 'read.integration.due']);
    expect(large.readUnits).toBeLessThanOrEqual(small.readUnits + 1);
    expect(large.readUnits / large.report.candidates).toBeLessThanOrEqual(2);
  });
});
