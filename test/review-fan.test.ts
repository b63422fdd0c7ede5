import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../infra/app.ts';
import { runCycle } from '../shared/cycle.ts';
import { ingest } from '../shared/ingest/index.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { createOrg } from '../shared/org/index.ts';
import { RulesIncompleteError, type RulesReport, runRules } from '../shared/rules/index.ts';
import type { Store } from '../shared/store.ts';
import { INDEX } from '../shared/table/schema.ts';
import { addSeconds } from '../shared/time.ts';
import { integrationWrites, TEST_SECRET, useTestDb } from './kit/db.ts';
import { throttledStore } from './kit/faults.ts';
import { drop, tempDir, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { recorder } from './kit/publishers.ts';
import { T0 } from './kit/time.ts';
import { addIntegration, current, SETTINGS, world } from './kit/world.ts';

/** Review of the fan-out (issue 21): each test fails on the code as reviewed. */

useTestDb();
useTempDirs();

// ---- infra: the grants match what the workers' code queries ------------------------------------------------

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

function synth(context: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'pullwatch-review-fan-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const { stack } = buildApp(app);
  app.synth();
  return Template.fromStack(stack);
}

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** The DynamoDB index names a function's role may Query. */
function queryableIndexes(template: Template, description: string): string[] {
  const functions = template.findResources('AWS::Lambda::Function') as Resources;
  const fnId = Object.keys(functions).find((key) =>
    String(functions[key]?.Properties.Description).includes(description),
  );
  if (!fnId) throw new Error(`no function described as ${description}`);
  const role = functions[fnId]?.Properties.Role as Record<string, [string, string]>;
  const roleId = role['Fn::GetAtt']?.[0];
  const policies = template.findResources('AWS::IAM::Policy') as Resources;
  const statements = Object.values(policies)
    .filter((policy) => JSON.stringify(policy.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap(
      (policy) =>
        (policy.Properties.PolicyDocument as { Statement: Array<{ Action: unknown; Resource: unknown }> })
          .Statement,
    )
    .filter((statement) => [statement.Action].flat().includes('dynamodb:Query'));
  return [...JSON.stringify(statements).matchAll(/\/index\/([a-z_]+)/g)].map((match) => match[1] as string);
}

describe('review: IAM grants of the rule pass', () => {
  // OutageFinder.orgIntegrations (shared/outage/find.ts) lists an organization's integrations through
  // `integrations.list`, a Query on the by_list index, whenever enough of one scope go silent together. Without
  // the grant, DynamoDB answers AccessDenied in AWS: every member of a shared outage fails to settle, the shard
  // message is redelivered until it lands in the dead-letter queue, and no offline issue opens for the group.
  it('lets the rules worker Query the by_list index the shared-outage finder reads', () => {
    const template = synth({ fanOut: 'true' });
    expect(queryableIndexes(template, 'fan-out rules worker')).toContain(INDEX.byList);
  });

  // The same finder (and the ingest's lapiRemovals, shared/ingest/index.ts) runs in the single cycle function.
  it('lets the single cycle function Query the by_list index (shared outages, lapi removals)', () => {
    const template = synth();
    expect(queryableIndexes(template, 'one watchdog cycle')).toContain(INDEX.byList);
  });
});

// ---- runRules: one shard that keeps failing --------------------------------------------------------------

/** The world's store, with every `integrations.save` of `id` refused (an integration that cannot be settled). */
function refusingSaves(store: Store, id: string): Store {
  const integrations = new Proxy(store.integrations, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property !== 'save' || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        if ((args[0] as { id: string }).id === id) throw new Error('ValidationException: item too large');
        return value.apply(target, args);
      };
    },
  });
  return { ...store, integrations } as Store;
}

describe('review: a rule pass in which one integration cannot be settled', () => {
  // shared/cycle.ts: `report.rules = await stage('rules', ...)`. The catch inside sets report.rules to the
  // RulesIncompleteError's report ("keep what the pass did settle in the report"), but the outer assignment
  // then overwrites it with the stage's null. The cycle report, `pullwatch cycle` output and the cycle metrics
  // lose every issue the pass did open or resolve. (Predates the fan-out: commit 077a835.)
  it('keeps what the pass settled in the cycle report when one integration fails', async () => {
    const w = await world({ staleAfterSeconds: 0 });
    const broken = await addIntegration(w, { name: 'broken', offline_after_seconds: 3600 }, { now: T0 });
    await addIntegration(w, { name: 'fine', offline_after_seconds: 3600 }, { now: T0 });
    const report = await runCycle({
      store: refusingSaves(w.store, broken.id),
      source: w.source,
      publisher: w.publisher,
      now: addSeconds(T0, 2 * 86_400),
      ...w.settings,
    });
    expect(report.errors.map((error) => error.stage)).toEqual(['rules']);
    expect(report.rules).not.toBeNull();
    expect(report.rules?.failed.map((failure) => failure.integration_id)).toEqual([broken.id]);
    expect(report.rules?.opened.map((change) => change.type)).toEqual(['fw_integration_offline']);
  }, 60_000);

  // runRules (shared/rules/index.ts) pushes the shard's partial report every time the shard's message fails,
  // and the in-process queue redelivers it MAX_RECEIVES (5) times: the merged report counts that shard's
  // candidates 5 times and lists the unsettled integration 5 times ("5 of 22 candidates could not be settled"
  // for 1 of 6). The cycle report, the CLI summary and the metrics built on it are wrong.
  it('reports each candidate once and the unsettled one once, not once per redelivery of its shard', async () => {
    const w = await world({ staleAfterSeconds: 0 });
    const broken = await addIntegration(w, { name: 'broken', offline_after_seconds: 3600 }, { now: T0 });
    for (let n = 0; n < 5; n += 1)
      await addIntegration(w, { name: `fine-${n}`, offline_after_seconds: 3600 }, { now: T0 });
    const now = addSeconds(T0, 2 * 86_400);
    const due = await w.store.integrations.due(now);
    expect(due.length).toBeGreaterThanOrEqual(6);

    // The broken one's every write is refused (e.g. an item over the size limit): it can never be settled.
    const store = refusingSaves(w.store, broken.id);

    let report: RulesReport | null = null;
    try {
      await runRules({ store, now, staleAfterSeconds: 0, workers: 2 });
    } catch (error) {
      expect(error).toBeInstanceOf(RulesIncompleteError);
      report = (error as RulesIncompleteError).report;
      // The message an operator reads in the cycle report and the logs.
      expect((error as Error).message).toMatch(new RegExp(`^1 of ${due.length} candidates`));
    }
    expect(report).not.toBeNull();
    expect(report?.failed.map((failure) => failure.integration_id)).toEqual([broken.id]);
    expect(report?.candidates).toBe(due.length);
    // Each of the others opened its offline issue once.
    expect(report?.opened).toHaveLength(due.length - 1);
  }, 60_000);
});

// ---- ingest on N workers: a run that fails after claiming its files --------------------------------------

describe('review: an ingest run that fails after claiming its files', () => {
  // A run that throws after claiming its files (a throttled write) must not leave them claimed for the lease:
  // either the cycle reports the failure, or a retry reads them in this cycle. Found in review: the first cut of
  // the workers ran one ingest per share of the files, and a redelivered share skipped its still-claimed files.
  it('a throttled write in one run fails the ingest stage, or its files are read in this cycle', async () => {
    const { store, faults } = await throttledStore(['integration'], (index) => index === 1);
    const org = await createOrg(store, 'Acme', T0);
    const { integration: fw } = await createIntegration(
      store,
      TEST_SECRET,
      org.id,
      { name: 'fw', kind: 'firewall' },
      T0,
    );
    const logs = await tempDir('review-throttled');
    await drop(logs, [pull(fw.id, addSeconds(T0, 60))], 'a.log');
    await drop(logs, [pull(fw.id, addSeconds(T0, 120))], 'b.log');
    const { publisher } = recorder();
    faults.on = true;
    const report = await runCycle({
      store,
      source: new DirectorySource(logs),
      publisher,
      now: addSeconds(T0, 600),
      ...SETTINGS,
      staleAfterSeconds: 0,
      workers: 2,
    });
    faults.on = false;
    expect(faults.thrown).toEqual(['integration']);
    const stored = await store.integrations.get(org.id, fw.id);
    const readAll = stored?.last_pull_at === addSeconds(T0, 120) && report.ingest?.files_processed === 2;
    const failedLoudly = report.errors.some((error) => error.stage === 'ingest');
    // Either is acceptable; today neither holds: no error, one file's pulls silently missing.
    expect({ readAll, failedLoudly }).not.toEqual({ readAll: false, failedLoudly: false });
  }, 60_000);

  // Many files of one integration on many workers: with one ingest run per share of the files they raced on
  // its item until the conflict retries ran out. The files are now read concurrently and folded into one write.
  it('64 files of one integration on 64 workers: every file is read and the newest pull is kept', async () => {
    const w = await world({ staleAfterSeconds: 0 });
    const fw = await addIntegration(w, { name: 'hot' }, { now: T0 });
    for (let f = 0; f < 64; f += 1)
      await drop(w, [pull(fw.id, addSeconds(T0, 10 + f * 30))], `f${String(f).padStart(3, '0')}.log`);
    const report = await runCycle({
      store: w.store,
      source: w.source,
      publisher: w.publisher,
      now: addSeconds(T0, 3600),
      ...w.settings,
      workers: 64,
    });
    expect(report.errors).toEqual([]);
    expect(report.ingest?.files_processed).toBe(64);
    expect((await current(w, fw.id)).last_pull_at).toBe(addSeconds(T0, 10 + 63 * 30));
  }, 120_000);
});

// ---- ingest on N workers: write units per pulling integration ---------------------------------------------

describe('review: write units of an ingest on N workers', () => {
  // Issue 21, Figures: "DynamoDB write units per pulling integration per cycle, which must not grow (today
  // 1.007)": whatever N, one ingest folds every file into one summary per integration and writes each once.
  it('writes each pulling integration once per cycle whatever N', async () => {
    const writesWith = async (workers: number) => {
      const w = await world({ staleAfterSeconds: 0 });
      const fws = [];
      for (let n = 0; n < 5; n += 1) fws.push(await addIntegration(w, { name: `fw-${n}` }, { now: T0 }));
      for (let file = 0; file < 8; file += 1)
        await drop(
          w,
          fws.map((fw) => pull(fw.id, addSeconds(T0, 30 * file + 10))),
          `f${file}.log`,
        );
      const before = integrationWrites(w.store);
      const report = await ingest({
        store: w.store,
        source: w.source,
        now: addSeconds(T0, 600),
        workers,
      });
      return { writes: integrationWrites(w.store) - before, updated: report.integrations_updated };
    };
    const one = await writesWith(1);
    expect(one).toEqual({ writes: 5, updated: 5 });
    expect(await writesWith(4)).toEqual(one);
  }, 60_000);
});
