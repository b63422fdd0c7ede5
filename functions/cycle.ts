import type { ScheduledEvent } from 'aws-lambda';
import { type CycleReport, runCycle } from '../shared/cycle.ts';
import { withCycleLock } from '../shared/deployment/cycle-lock.ts';
import { PullwatchError } from '../shared/errors.ts';
import { logger, withLambdaContext } from '../shared/logger.ts';
import { cycleMetrics, skippedCycleMetrics } from '../shared/metrics.ts';
import { createPublisher, createSource, cycleSettings } from '../shared/runtime.ts';
import { addSeconds, systemClock } from '../shared/time.ts';
import { config, emitMetrics, store } from './context.ts';

const source = createSource(config);
const publisher = createPublisher(config);

/** Clock skew allowed for between this invocation and the next one judging its lease. */
const LEASE_MARGIN_MS = 30_000;

/** A cycle in which a stage failed; thrown after the metrics and the lock are settled, so Lambda counts an error. */
export class CycleFailedError extends PullwatchError {}

/** What the invocation returns (and logs): counts only. */
function summary(report: CycleReport) {
  return {
    outcome: report.outcome,
    files_processed: report.ingest?.files_processed ?? 0,
    records: report.ingest?.records ?? 0,
    opened: report.rules?.opened.length ?? 0,
    resolved: report.rules?.resolved.length ?? 0,
    sent: report.notify?.sent.length ?? 0,
    failed_notifications: report.notify?.failed.length ?? 0,
    errors: report.errors,
  };
}

/**
 * Scheduled (EventBridge): one ingest, rules, notify cycle, unless the previous one still runs. The lease ends
 * when this invocation must have ended (its timeout), so a cycle stopped mid-way frees the lock by itself.
 */
export const handler = withLambdaContext(async (event: Pick<ScheduledEvent, 'id' | 'time'>, context) => {
  const now = systemClock();
  const leaseUntil = addSeconds(now, (context.getRemainingTimeInMillis() + LEASE_MARGIN_MS) / 1000);
  const run = await withCycleLock(store.table, { now, leaseUntil }, () =>
    runCycle({ store, source, publisher, now, ...cycleSettings(config) }),
  );
  if (!run.ran) {
    emitMetrics(skippedCycleMetrics(), now, { event_id: event.id });
    logger.info('cycle skipped: the previous cycle still holds the lock', { event_id: event.id });
    return { outcome: 'skipped' as const };
  }
  const report = run.result;
  const { newest_record_at: newestRecordAt } = await store.deployment.get();
  const durationMs = Date.parse(systemClock()) - Date.parse(now);
  emitMetrics(cycleMetrics(report, { durationMs, newestRecordAt, now }), now, {
    event_id: event.id,
    scheduled_at: event.time,
  });
  const fields = { event_id: event.id, ...summary(report), samples: report.ingest?.samples ?? [] };
  if (report.outcome === 'ok') logger.info('cycle done', fields);
  else logger.error('cycle done', fields);
  if (report.outcome === 'failed') {
    throw new CycleFailedError(
      `cycle ${now} failed: ${report.errors.map((error) => `${error.stage}: ${error.error}`).join('; ')}`,
    );
  }
  return summary(report);
});
