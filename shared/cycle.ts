import { type IngestReport, ingest } from './ingest/index.ts';
import type { LogSource } from './ingest/sources.ts';
import { type NotifyData, type NotifyReport, runNotify } from './notify/index.ts';
import type { Publisher } from './notify/publishers.ts';
import { RulesIncompleteError, type RulesReport, runRules } from './rules/index.ts';
import type { Store } from './store.ts';
import type { Iso } from './time.ts';

type CycleStage = 'ingest' | 'rules' | 'notify';

export interface CycleReport {
  at: Iso;
  outcome: 'ok' | 'failed';
  ingest: IngestReport | null;
  rules: RulesReport | null;
  notify: NotifyReport | null;
  errors: Array<{ stage: CycleStage; error: string }>;
  /**
   * Notifications the transport refused for good in this cycle (see NotifyReport.failed_permanently). The
   * outcome stays 'ok' (the watchdog itself ran; the no-successful-cycle alarm is about that), but this is
   * recorded for GET /v1/health and has an alarm of its own.
   */
  notifications_failed_permanently: number;
}

/**
 * One watchdog cycle: ingest, rules, notify. A failing stage does not stop the next one (a broken log
 * file must not hold back resolutions, nor a failed rule pass the delivery of earlier alerts). Ingest and rules
 * run on `workers` concurrent workers; notify runs once, after every shard, so an organization gets at most one
 * digest per cycle.
 */
export async function runCycle(options: {
  store: Store;
  source: LogSource;
  publisher: Publisher;
  now: Iso;
  consoleUrl?: string;
  staleAfterSeconds: number;
  reminderSeconds: number;
  /** Concurrent ingest and rule workers (the in-process queue, see shared/queue); 1 by default. */
  workers?: number;
}): Promise<CycleReport> {
  const { store, now } = options;
  const workers = options.workers ?? 1;
  const { report, stage, notify, finish } = cycleRun(now);
  report.ingest = await stage('ingest', () => ingest({ store, source: options.source, now, workers }));
  const rules = await stage('rules', async () => {
    try {
      return await runRules({ store, now, staleAfterSeconds: options.staleAfterSeconds, workers });
    } catch (error) {
      // Keep what the pass did settle in the report, and still count the pass as failed.
      if (error instanceof RulesIncompleteError) report.rules = error.report;
      throw error;
    }
  });
  // A pass that could not settle everything still reports what it did settle (kept by the catch above).
  report.rules = rules ?? report.rules;
  await notify({ ...options, store });
  return finish(store);
}

/**
 * A cycle's report and its stage runner, for every composition of the stages (the cycle, the fan-out's tick):
 * a stage that throws is recorded with its name and the next one still runs.
 */
export function cycleRun(now: Iso) {
  const report: CycleReport = {
    at: now,
    outcome: 'ok',
    ingest: null,
    rules: null,
    notify: null,
    errors: [],
    notifications_failed_permanently: 0,
  };
  const stage = async <T>(name: CycleStage, work: () => Promise<T>): Promise<T | null> => {
    try {
      return await work();
    } catch (error) {
      report.errors.push({ stage: name, error: error instanceof Error ? error.message : String(error) });
      return null;
    }
  };
  /** The notify pass, once per run (one digest per organization per cycle at most). */
  const notify = async (settings: {
    store: NotifyData;
    publisher: Publisher;
    consoleUrl?: string;
    reminderSeconds: number;
  }): Promise<void> => {
    report.notify = await stage('notify', () =>
      runNotify({
        store: settings.store,
        publisher: settings.publisher,
        now,
        ...(settings.consoleUrl ? { consoleUrl: settings.consoleUrl } : {}),
        reminderSeconds: settings.reminderSeconds,
      }),
    );
  };
  /** Ends the run: its outcome, recorded on the deployment with the permanent notification failures. */
  const finish = async (store: Pick<Store, 'deployment'>): Promise<CycleReport> => {
    report.outcome = report.errors.length === 0 ? 'ok' : 'failed';
    report.notifications_failed_permanently = report.notify?.failed_permanently ?? 0;
    await store.deployment.recordCycle(now, report.outcome, report.notifications_failed_permanently);
    return report;
  };
  return { report, stage, notify, finish };
}
