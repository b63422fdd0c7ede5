import { SQSClient } from '@aws-sdk/client-sqs';
import type { ScheduledEvent } from 'aws-lambda';
import { withCycleLock } from '../shared/deployment/cycle-lock.ts';
import { ConfigError, PullwatchError } from '../shared/errors.ts';
import { sqsEnqueue } from '../shared/fanout/sqs.ts';
import { runTick } from '../shared/fanout/tick.ts';
import { logger, withLambdaContext } from '../shared/logger.ts';
import { cycleMetrics, skippedCycleMetrics } from '../shared/metrics.ts';
import { createPublisher, cycleSettings } from '../shared/runtime.ts';
import { addSeconds, systemClock } from '../shared/time.ts';
import { config, emitMetrics, store } from './context.ts';

if (!config.PULLWATCH_RULES_QUEUE_URL) throw new ConfigError('the tick needs PULLWATCH_RULES_QUEUE_URL');
// The regional endpoint rather than the queue URL's host: the same service in AWS, and it lets the SDK's
// endpoint override (AWS_ENDPOINT_URL_SQS) reach a local test endpoint.
const sqs = new SQSClient({ region: config.AWS_REGION, useQueueUrlAsEndpoint: false });
const enqueue = sqsEnqueue(sqs, config.PULLWATCH_RULES_QUEUE_URL);
const publisher = createPublisher(config);

/** A tick in which a step failed; thrown after the metrics and the lock are settled, so Lambda counts an error. */
export class TickFailedError extends PullwatchError {}

/** Clock skew allowed for between this invocation and the next one judging its lease (as the cycle's). */
const LEASE_MARGIN_MS = 30_000;

/**
 * Scheduled (EventBridge), fan-out mode: under the cycle lock, the pipeline guard, the notify pass and one
 * rules message per shard (shared/fanout/tick.ts). Its metrics are the cycle's, so the same alarms watch it.
 */
export const handler = withLambdaContext(async (event: Pick<ScheduledEvent, 'id' | 'time'>, context) => {
  const now = systemClock();
  const leaseUntil = addSeconds(now, (context.getRemainingTimeInMillis() + LEASE_MARGIN_MS) / 1000);
  const run = await withCycleLock(store.table, { now, leaseUntil }, () =>
    runTick({ store, publisher, now, enqueue, ...cycleSettings(config) }),
  );
  if (!run.ran) {
    emitMetrics(skippedCycleMetrics(), now, { event_id: event.id });
    logger.info('tick skipped: the previous one still holds the lock', { event_id: event.id });
    return { outcome: 'skipped' as const };
  }
  const report = run.result;
  const { newest_record_at: newestRecordAt } = await store.deployment.get();
  const durationMs = Date.parse(systemClock()) - Date.parse(now);
  emitMetrics(cycleMetrics(report, { durationMs, newestRecordAt, now }), now, {
    event_id: event.id,
    scheduled_at: event.time,
  });
  const summary = {
    outcome: report.outcome,
    pipeline: report.rules?.pipeline ?? null,
    sent: report.notify?.sent.length ?? 0,
    failed_notifications: report.notify?.failed.length ?? 0,
    errors: report.errors,
  };
  if (report.outcome === 'ok') logger.info('tick done', { event_id: event.id, ...summary });
  else logger.error('tick done', { event_id: event.id, ...summary });
  if (report.outcome === 'failed') {
    throw new TickFailedError(
      `tick ${now} failed: ${report.errors.map((error) => `${error.stage}: ${error.error}`).join('; ')}`,
    );
  }
  return summary;
});
