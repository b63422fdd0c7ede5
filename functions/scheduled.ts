import type { Context, ScheduledEvent } from 'aws-lambda';
import type { CycleReport } from '../shared/cycle.ts';
import { withCycleLock } from '../shared/deployment/cycle-lock.ts';
import { PullwatchError } from '../shared/errors.ts';
import { logger } from '../shared/logger.ts';
import { cycleMetrics, skippedCycleMetrics } from '../shared/metrics.ts';
import { addSeconds, type Iso, systemClock } from '../shared/time.ts';
import { emitMetrics, store } from './context.ts';

/** Clock skew allowed for between this invocation and the next one judging its lease. */
const LEASE_MARGIN_MS = 30_000;

/** A cycle (or tick) in which a stage failed; thrown after the metrics and the lock are settled, so Lambda counts an error. */
export class CycleFailedError extends PullwatchError {}

/**
 * What the scheduled functions share (the single cycle and the fan-out's tick): the work runs under the cycle
 * lock, unless the previous run still holds it; the lease ends when this invocation must have ended (its
 * timeout), so a run stopped mid-way frees the lock by itself. The cycle's metrics are emitted either way, so
 * the same alarms watch both, and a failed stage makes the invocation fail after the lock and metrics settled.
 */
export async function scheduledRun<T extends Record<string, unknown>>(
  what: 'cycle' | 'tick',
  event: Pick<ScheduledEvent, 'id' | 'time'>,
  context: Pick<Context, 'getRemainingTimeInMillis'>,
  work: (now: Iso) => Promise<CycleReport>,
  summarize: (report: CycleReport) => T,
  /** Fields for the log line only (samples of skipped lines), not the invocation's result. */
  logged: (report: CycleReport) => Record<string, unknown> = () => ({}),
): Promise<T | { outcome: 'skipped' }> {
  const now = systemClock();
  const leaseUntil = addSeconds(now, (context.getRemainingTimeInMillis() + LEASE_MARGIN_MS) / 1000);
  const run = await withCycleLock(store.table, { now, leaseUntil }, () => work(now));
  if (!run.ran) {
    emitMetrics(skippedCycleMetrics(), now, { event_id: event.id });
    logger.info(`${what} skipped: the previous one still holds the lock`, { event_id: event.id });
    return { outcome: 'skipped' };
  }
  const report = run.result;
  const { newest_record_at: newestRecordAt } = await store.deployment.get();
  const durationMs = Date.parse(systemClock()) - Date.parse(now);
  emitMetrics(cycleMetrics(report, { durationMs, newestRecordAt, now }), now, {
    event_id: event.id,
    scheduled_at: event.time,
  });
  const summary = summarize(report);
  const fields = { event_id: event.id, ...summary, ...logged(report) };
  if (report.outcome === 'ok') logger.info(`${what} done`, fields);
  else logger.error(`${what} done`, fields);
  if (report.outcome === 'failed') {
    throw new CycleFailedError(
      `${what} ${now} failed: ${report.errors.map((error) => `${error.stage}: ${error.error}`).join('; ')}`,
    );
  }
  return summary;
}
