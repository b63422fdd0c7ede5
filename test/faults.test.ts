import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CycleReport, runCycle } from '../shared/cycle.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import type { Integration } from '../shared/integration/index.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { DEPLOYMENT_ORG, type Issue, pendingEvents } from '../shared/issue/index.ts';
import { SnsPublisher } from '../shared/notify/publishers.ts';
import type { Notification } from '../shared/notify/render.ts';
import { createOrg } from '../shared/org/index.ts';
import type { Store } from '../shared/store.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { freshStore, TEST_SECRET, useTestDb } from './kit/db.ts';
import { awsError, crashingStore, throttledStore, type WriteKind } from './kit/faults.ts';
import { drop, tempDir, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { recorder } from './kit/publishers.ts';
import { messageAttributes, snsClient, TOPIC_ARN, useSnsEndpoint } from './kit/sns.ts';
import { at, T0 } from './kit/time.ts';
import { SETTINGS } from './kit/world.ts';

/**
 * Faults (SNS errors, DynamoDB throttling, crashes, concurrent cycles) leave the state of a clean run.
 * Pull-log files go through the real ingest, rule pass and notify pass on a real (in-memory) dynalite,
 * with time injected, never waited for.
 */

useTestDb();
useTempDirs();
const sns = useSnsEndpoint();

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
  const logs = await tempDir('faults');
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

const nameOf = (issue: Issue) => (issue.type === 'pipeline_stale' ? 'pull-log feed' : issue.integration_name);

/** Issues that still owe an opened or resolved message (reminders aside, so `now` does not matter). */
async function owed(s: Scenario, now: Iso): Promise<string[]> {
  const names: string[] = [];
  for (const orgId of s.orgName.keys()) {
    for (const issue of (await s.plain.issues.list(orgId, { limit: 100 })).items) {
      const pending = pendingEvents(issue, now, 0);
      if (pending.length > 0) names.push(`${nameOf(issue)} ${issue.type}: ${pending.join(',')}`);
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
    const page = await s.plain.issues.list(orgId, { limit: 100 });
    for (const issue of page.items) {
      issues.push(
        [
          name,
          nameOf(issue),
          issue.type,
          issue.criticality,
          issue.state,
          `opened ${issue.opened_at}`,
          `resolved ${issue.resolved_at} (${issue.resolution})`,
          `last pull ${issue.type === 'pipeline_stale' ? issue.newest_record_at : issue.last_pull_at}`,
          issue.diagnosis.code,
          options.summaries ? issue.diagnosis.summary : '',
          `notified ${Object.keys(issue.notified).sort().join(',')}`,
        ].join(' | '),
      );
    }
  }
  expect(await s.plain.issues.list(DEPLOYMENT_ORG, { limit: 10 })).toEqual({ items: [], next_cursor: null });
  const transitions: string[] = [];
  const integrations: string[] = [];
  for (const spec of SCENARIO) {
    const orgId = s.orgOf.get(spec.name) as string;
    const integrationId = s.ids.get(spec.name) as string;
    for (const t of (await s.plain.history.transitions(orgId, integrationId, { limit: 50 })).items) {
      transitions.push(
        `${spec.name} ${t.kind} ${t.at} ${t.issue_type} ${t.from_status}->${t.to_status} ${t.reason}`,
      );
    }
    const integration = (await s.plain.integrations.get(orgId, integrationId)) as Integration;
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
    const s = await scenario(await freshStore());
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
    const s = await scenario(await freshStore());
    const client = snsClient(sns.endpoint);
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
    const messages = sns.requests.map((request) => {
      const attributes = messageAttributes(request);
      return messageOf(s, {
        event: attributes.event?.value as Notification['event'],
        org_id: attributes.org_id?.value ?? '',
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
    const logs = await tempDir('claim');
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

  it.each([
    { method: 'issues.putIfAbsent', call: 1, when: 'after' as const },
    { method: 'issues.putIfAbsent', call: 3, when: 'after' as const },
    { method: 'history.putTransition', call: 2, when: 'before' as const },
    { method: 'history.putTransition', call: 4, when: 'after' as const },
    { method: 'issues.resolve', call: 1, when: 'after' as const },
    { method: 'issues.resolve', call: 2, when: 'before' as const },
    { method: 'outbox.claim', call: 2, when: 'after' as const },
    { method: 'outbox.complete', call: 3, when: 'after' as const },
    { method: 'ledger.complete', call: 1, when: 'before' as const },
  ])('a crash $when $method #$call: nothing lost, nothing doubled', async (point) => {
    const expected = await cleanRun();
    const plain = await freshStore();
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
    const plain = await freshStore();
    const { store, state } = crashingStore(plain, { method: 'issues.putIfAbsent', call: 1, when: 'after' });
    const org = await createOrg(plain, 'Acme', T0);
    const { integration: fw } = await createIntegration(
      plain,
      TEST_SECRET,
      org.id,
      { name: 'fw', kind: 'firewall' },
      T0,
    );
    const logs = await tempDir('orphan');
    const { publisher, sent } = recorder();
    const run = (now: Iso) =>
      runCycle({ store, source: new DirectorySource(logs), publisher, now, ...SCENARIO_SETTINGS });
    await drop({ logs }, [pull(fw.id, at(1))]);
    await run(at(1.5));

    await expect(run(at(26))).rejects.toThrow('the process crashed');
    expect(state.crashed).toBe(true);
    expect((await plain.issues.list(org.id, { limit: 10 })).items).toHaveLength(1);

    // Restarted, and meanwhile the firewall pulled again: the unattached issue is no longer true.
    state.dead = false;
    await drop({ logs }, [pull(fw.id, at(26.1))]);
    for (const hour of [26.2, 27, 30]) await run(at(hour));

    expect(sent).toEqual([]);
    expect((await plain.issues.list(org.id, { limit: 10, state: 'open' })).items).toEqual([]);
    expect((await plain.integrations.get(org.id, fw.id))?.open_issues).toEqual({});
  });

  it('two cycles at once, every time: each event once, the same final state, no errors', async () => {
    const expected = await cleanRun();
    const s = await scenario(await freshStore());
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
