import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { type CycleReport, runCycle } from '../shared/cycle.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import type { Issue } from '../shared/issue/index.ts';
import { ISSUE_TYPE_INFO } from '../shared/issue/types.ts';
import { openLocal, outboxPath } from '../shared/local/context.ts';
import { FilePublisher } from '../shared/notify/publishers.ts';
import { createOrg } from '../shared/org/index.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { seeded } from './kit/devices.ts';
import { tempDir, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { at, T0 } from './kit/time.ts';

/**
 * Real crashes of the real CLI: `pullwatch cycle --now ... --json` runs as a child process on a data
 * directory (its own embedded dynalite on LevelDB) and is killed with SIGKILL at many points (timed, or just
 * after it announced its n-th message), restarted, and run until quiet; the final state and the outbox file
 * must be those of a clean run. dynalite writes an index entry and its item separately, so without the
 * repair at open these runs leave deliveries unrecorded or re-announced. Also a SIGINT: exit 130, clean state.
 */

useTempDirs();

const CLI = join(import.meta.dirname, '..', 'bin', 'pullwatch.js');

/** Org A: twelve firewalls that go offline together (a digest), and come back together (a digest again). */
const A = Array.from({ length: 12 }, (_, index) => `a${String(index + 1).padStart(2, '0')}`);
const B = ['b1-fortigate', 'b2-paloalto', 'b3-bouncer', 'b4-healthy'];

const STEPS: Array<{ at: Iso; pulls: Array<[string, Iso]> }> = [
  { at: at(1.1), pulls: [...A, ...B].map((name) => [name, at(1)]) },
  // 25 h after their last pull: 12 openings in Org A (one digest), 3 in Org B: three of its four silent since
  // the same minute, a shared outage, so one message for the three.
  { at: at(26), pulls: [['b4-healthy', at(25.9)]] },
  // Eleven of A and b1 are back: 11 resolutions in A (a digest), 1 in B.
  {
    at: at(30),
    pulls: [...A.slice(0, 11), 'b1-fortigate', 'b4-healthy'].map((name) => [name, at(29.5)]),
  },
  { at: at(40), pulls: ['a12', 'b2-paloalto', 'b3-bouncer', 'b4-healthy'].map((name) => [name, at(39.5)]) },
];
const LOOP_SECONDS = 16 * 60; // longer than a file lease (15 min) and a notification claim (5 min)
const MAX_LOOPS = 14;
const SETTINGS = { PULLWATCH_STALE_AFTER_SECONDS: '0', PULLWATCH_REMINDER_SECONDS: '0' };

interface Scenario {
  data: string;
  logs: string;
  env: Record<string, string>;
  /** Scenario name <-> integration id, and organization id -> name. */
  ids: Map<string, string>;
  names: Map<string, string>;
  orgs: Map<string, string>;
}

async function scenario(label: string): Promise<Scenario> {
  const dir = await tempDir(label);
  const data = join(dir, 'data');
  const logs = join(dir, 'logs');
  await mkdir(logs, { recursive: true });
  const env: Record<string, string> = { PULLWATCH_DATA_DIR: data, PULLWATCH_LOG_DIR: logs, ...SETTINGS };
  const context = await openLocal(loadConfig(env), { publish: false });
  const ids = new Map<string, string>();
  const orgs = new Map<string, string>();
  try {
    for (const [orgName, members] of [
      ['Org A', A],
      ['Org B', B],
    ] as const) {
      const org = await createOrg(context.store, orgName, T0);
      orgs.set(org.id, orgName);
      for (const name of members) {
        const kind = name.includes('bouncer') ? 'remediation_component' : 'firewall';
        const made = await createIntegration(context.store, context.secret, org.id, { name, kind }, T0);
        ids.set(name, made.integration.id);
      }
    }
  } finally {
    await context.close();
  }
  const names = new Map([...ids].map(([name, id]) => [id, name]));
  return { data, logs, env, ids, names, orgs };
}

const dropStep = (s: Scenario, index: number) =>
  writeFile(
    join(s.logs, `step-${index}.jsonl`),
    `${(STEPS[index]?.pulls ?? []).map(([name, time]) => pull(s.ids.get(name) as string, time)).join('\n')}\n`,
  );

function isQuiet(report: CycleReport): boolean {
  return (
    report.errors.length === 0 &&
    report.ingest?.files_processed === 0 &&
    report.rules?.opened.length === 0 &&
    report.rules.resolved.length === 0 &&
    report.notify?.sent.length === 0 &&
    report.notify.failed.length === 0
  );
}

/** How a run is cut short: a signal after `ms`, or `ms` after its `notices`-th "[notify]" line on stderr. */
interface Cut {
  signal: 'SIGKILL' | 'SIGINT';
  ms: number;
  notices?: number;
}

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Whether the cut was delivered while the process still ran. */
  cut: boolean;
}

function cycleRun(s: Scenario, now: Iso, cut: Cut | null): Promise<Run> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(process.execPath, [CLI, 'cycle', '--now', now, '--json'], {
      env: { ...process.env, ...s.env, DYNAMODB_ENDPOINT: '', SNS_TOPIC_ARN: '', TABLE_NAME: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let exited = false;
    let cutDone = false;
    let timer: NodeJS.Timeout | undefined;
    const fire = () => {
      if (exited || !cut) return;
      cutDone = child.kill(cut.signal);
    };
    const arm = () => {
      timer = setTimeout(fire, cut?.ms ?? 0);
    };
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
      if (cut?.notices !== undefined && timer === undefined) {
        if ((stderr.match(/\[notify\]/g) ?? []).length >= cut.notices) arm();
      }
    });
    if (cut && cut.notices === undefined) arm();
    child.on('exit', () => {
      exited = true;
    });
    child.on('close', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      // A signal sent while the process was already on its way out did not cut anything.
      const landed = cutDone && (signal === cut?.signal || (cut?.signal === 'SIGINT' && code === 130));
      resolve({ code, signal, stdout, stderr, cut: landed });
    });
  });
}

interface Tally {
  cuts: number;
  repairs: number;
  points: string[];
}

/**
 * Plays the steps with the real CLI. `cuts(step)` says how to cut short the runs of a step, one entry per
 * run (then runs go uncut until a round is quiet). Every uncut run must succeed.
 */
async function play(s: Scenario, cuts: (step: number, typicalMs: number) => Cut[]): Promise<Tally> {
  const tally: Tally = { cuts: 0, repairs: 0, points: [] };
  // How long an uncut run took last (start-up included): timed cuts aim at the part where it does its work.
  let typicalMs = 1300;
  for (const [index, step] of STEPS.entries()) {
    await dropStep(s, index);
    const planned = cuts(index, typicalMs);
    let quiet = false;
    // The planned cuts are all made, even into quiet rounds (a kill there must do no harm either).
    for (let loop = 0; loop < MAX_LOOPS && (!quiet || planned.length > 0); loop += 1) {
      const now = addSeconds(step.at, loop * LOOP_SECONDS);
      const next = STEPS[index + 1];
      if (next) expect(now < next.at, `step ${index} ran into the next one`).toBe(true);
      const cut = planned[0] ?? null;
      const started = Date.now();
      const run = await cycleRun(s, now, cut);
      if (/repaired the database's indexes/.test(run.stderr)) tally.repairs += 1;
      // A cut that came too late (or waited for a message the run had none of) is tried again, timed earlier.
      if (cut && !run.cut) planned[0] = { signal: cut.signal, ms: Math.floor(typicalMs * 0.6) };
      if (cut && run.cut) {
        planned.shift();
        tally.cuts += 1;
        tally.points.push(
          `${index}:${cut.notices === undefined ? `${cut.ms}ms` : `notify#${cut.notices}+${cut.ms}ms`}`,
        );
        if (cut.signal === 'SIGINT' && run.signal === 'SIGINT') {
          // The signal landed while the CLI had no handler: still loading (nothing done, nothing printed), or
          // already done (its whole report printed) and on its way out. Node's default ends the process (the
          // shell shows 130 too); either way the run is whole or absent, never half, and the final state is
          // compared with a clean run below.
          if (run.stdout !== '') expect(JSON.parse(run.stdout)).toMatchObject({ outcome: 'ok' });
          expect(run.stderr).not.toMatch(/^pullwatch:/m);
        } else if (cut.signal === 'SIGINT') {
          expect(run.code, run.stderr).toBe(130);
          expect(
            run.stderr
              .trim()
              .split('\n')
              .filter((line) => line.startsWith('pullwatch:')),
          ).toEqual([expect.stringMatching(/^pullwatch: SIGINT received/)]);
          expect(run.stdout).toBe('');
        } else {
          expect(run.signal).toBe('SIGKILL');
        }
        continue;
      }
      expect(run.code, `uncut run failed: ${run.stderr}`).toBe(0);
      typicalMs = Date.now() - started;
      quiet = isQuiet(JSON.parse(run.stdout) as CycleReport);
    }
    expect(quiet, `step ${index} never became quiet`).toBe(true);
  }
  return tally;
}

/** The clean run, in this process with the same settings, for comparison. */
let clean: Promise<{ s: Scenario; state: State }> | null = null;
function cleanRun() {
  clean ??= (async () => {
    const s = await scenario('crash-clean');
    const config = loadConfig(s.env);
    const context = await openLocal(config, { publish: false });
    try {
      const publisher = new FilePublisher(outboxPath(config), () => {});
      for (const [index, step] of STEPS.entries()) {
        await dropStep(s, index);
        for (let loop = 0; loop < MAX_LOOPS; loop += 1) {
          const report = await runCycle({
            store: context.store,
            source: new DirectorySource(s.logs),
            publisher,
            now: addSeconds(step.at, loop * LOOP_SECONDS),
            staleAfterSeconds: 0,
            reminderSeconds: 0,
          });
          expect(report.errors).toEqual([]);
          if (isQuiet(report)) break;
        }
      }
    } finally {
      await context.close();
    }
    return { s, state: await stateOf(s) };
  })();
  return clean;
}

interface State {
  issues: string[];
  integrations: string[];
  /** Each delivered (event, integration, issue title), once per time it went out, and how. */
  deliveries: Array<{ unit: string; digest: boolean }>;
}

const DIGEST_LINE = /^(OPENED|STILL|RESOLVED)\s+\S+\s+(.+?): "[^"]*" \((int_[0-9a-f]+)\)/;
const DIGEST_EVENT: Record<string, string> = {
  OPENED: 'issue_opened',
  STILL: 'issue_reminder',
  RESOLVED: 'issue_resolved',
};

/** The final state, by scenario names (ids and detection times differ from run to run). */
async function stateOf(s: Scenario): Promise<State> {
  const context = await openLocal(loadConfig(s.env), { publish: false });
  const byId = new Map<string, Issue>();
  const issues: string[] = [];
  const integrations: string[] = [];
  const name = (id: string | null) => (id ? (s.names.get(id) ?? id) : 'deployment');
  try {
    for (const [orgId, orgName] of s.orgs) {
      for (const issue of (await context.store.issues.list(orgId, { limit: 100 })).items) {
        byId.set(issue.id, issue);
        issues.push(
          [
            orgName,
            name(issue.integration_id),
            issue.type,
            issue.state,
            `opened ${issue.opened_at}`,
            `resolved ${issue.resolved_at}`,
            issue.diagnosis.code,
            `notified ${Object.keys(issue.notified).sort().join(',')}`,
          ].join(' | '),
        );
      }
      for (const [scenarioName, id] of s.ids) {
        const integration = await context.store.integrations.get(orgId, id);
        if (!integration) continue;
        integrations.push(
          `${scenarioName} | open ${Object.keys(integration.open_issues).sort().join(',')} | pull ${integration.last_pull_at}`,
        );
      }
    }
  } finally {
    await context.close();
  }
  const text = await readFile(join(s.data, 'outbox.jsonl'), 'utf8');
  const deliveries: State['deliveries'] = [];
  for (const line of text.split('\n').filter((l) => l.trim() !== '')) {
    const message = JSON.parse(line) as { event: string; issue_id: string | null; email: string };
    if (message.issue_id) {
      const issue = byId.get(message.issue_id);
      const unit = `${message.event} | ${name(issue?.integration_id ?? null)} | ${issue ? ISSUE_TYPE_INFO[issue.type].title : message.issue_id}`;
      deliveries.push({ unit, digest: false });
      continue;
    }
    for (const entry of message.email.split('\n')) {
      const match = DIGEST_LINE.exec(entry);
      if (match)
        deliveries.push({
          unit: `${DIGEST_EVENT[match[1] as string]} | ${name(match[3] as string)} | ${match[2]}`,
          digest: true,
        });
    }
  }
  return { issues: issues.sort(), integrations: integrations.sort(), deliveries };
}

const units = (state: State) => [...new Set(state.deliveries.map((d) => d.unit))].sort();
const counts = (state: State) => {
  const count = new Map<string, number>();
  for (const { unit } of state.deliveries) count.set(unit, (count.get(unit) ?? 0) + 1);
  return count;
};

describe('crashes of the real CLI: the final state equals a clean run', () => {
  it('the clean run: 15 openings (12 in one digest, 3 in one shared-outage message), 15 resolutions (11 in one digest), each once', async () => {
    const { state } = await cleanRun();
    expect(state.deliveries).toHaveLength(30);
    expect(units(state)).toHaveLength(30);
    expect(state.deliveries.filter((d) => d.digest)).toHaveLength(26);
    expect(state.issues.filter((issue) => issue.includes('| open |'))).toEqual([]);
  }, 60_000);

  it('SIGKILL at 20+ points (timed, and just after a message went out): nothing lost, nothing sent twice but the documented window', async () => {
    const expected = (await cleanRun()).state;
    const s = await scenario('crash-kill');
    const seed = Date.now() % 1_000_000;
    const next = seeded(seed);
    const tally = await play(s, (step, typicalMs) =>
      Array.from({ length: [3, 6, 6, 5][step] ?? 0 }, (_, index): Cut => {
        // Half the cuts land at a random moment of the run's second half (where its database work is, after
        // the start-up), half just after the n-th message was announced: inside a digest's or a message's record.
        if (step === 0 || index % 2 === 0)
          return { signal: 'SIGKILL', ms: Math.floor(typicalMs * (0.5 + 0.55 * next())) };
        return { signal: 'SIGKILL', ms: Math.floor(next() * 25), notices: 1 + Math.floor(next() * 3) };
      }),
    );
    const state = await stateOf(s);
    const report = `seed ${seed}; ${tally.cuts} kills at ${tally.points.join(' ')}; ${tally.repairs} repairs`;
    console.info(`crash test: ${report}`);

    expect(state.issues, report).toEqual(expected.issues);
    expect(state.integrations, report).toEqual(expected.integrations);
    // Nothing lost, nothing unexpected.
    expect(units(state), report).toEqual(units(expected));
    // Sent again only through the window the FilePublisher cannot see: a digest published, then the process
    // killed before all its entries were recorded; the next run sends the rest again. Each kill in that window
    // can cost one more copy and no more, so a unit goes out at most once per kill placed just after a message,
    // plus the first time (seed 274841 killed three runs in a row just after the same digest: three copies).
    const killsAfterAMessage = tally.points.filter((point) => point.includes('notify#')).length;
    const twice = [...counts(state)].filter(([, count]) => count > 1);
    for (const [unit, count] of twice) {
      expect(count, `${unit}; ${report}`).toBeLessThanOrEqual(1 + killsAfterAMessage);
      expect(
        state.deliveries.some((d) => d.unit === unit && d.digest),
        `${unit} sent twice without a digest; ${report}`,
      ).toBe(true);
    }
    expect(tally.cuts, report).toBeGreaterThanOrEqual(18);
  }, 150_000);

  it('SIGINT during runs: exit 130 with one line, and the state and messages equal a clean run exactly', async () => {
    const expected = (await cleanRun()).state;
    const s = await scenario('crash-int');
    const tally = await play(s, (step) =>
      step === 0
        ? [{ signal: 'SIGINT', ms: 900 }]
        : [
            { signal: 'SIGINT', ms: 0, notices: 1 },
            { signal: 'SIGINT', ms: 1000 },
          ],
    );
    const state = await stateOf(s);

    expect(tally.cuts).toBeGreaterThanOrEqual(4);
    // A graceful stop leaves nothing to repair.
    expect(tally.repairs).toBe(0);
    expect(state.issues).toEqual(expected.issues);
    expect(state.integrations).toEqual(expected.integrations);
    expect(state.deliveries.map((d) => d.unit).sort()).toEqual(expected.deliveries.map((d) => d.unit).sort());
  }, 90_000);
});
