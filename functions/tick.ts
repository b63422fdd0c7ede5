import { SQSClient } from '@aws-sdk/client-sqs';
import type { ScheduledEvent } from 'aws-lambda';
import { ConfigError } from '../shared/errors.ts';
import { sqsEnqueue } from '../shared/fanout/sqs.ts';
import { runTick } from '../shared/fanout/tick.ts';
import { withLambdaContext } from '../shared/logger.ts';
import { createPublisher, cycleSettings } from '../shared/runtime.ts';
import { config, store } from './context.ts';
import { scheduledRun } from './scheduled.ts';

if (!config.PULLWATCH_RULES_QUEUE_URL) throw new ConfigError('the tick needs PULLWATCH_RULES_QUEUE_URL');
// The regional endpoint rather than the queue URL's host: the same service in AWS, and it lets the SDK's
// endpoint override (AWS_ENDPOINT_URL_SQS) reach a local test endpoint.
const sqs = new SQSClient({ region: config.AWS_REGION, useQueueUrlAsEndpoint: false });
const enqueue = sqsEnqueue(sqs, config.PULLWATCH_RULES_QUEUE_URL);
const publisher = createPublisher(config);

/**
 * Scheduled (EventBridge), fan-out mode: under the cycle lock, the pipeline guard, the notify pass and one
 * rules message per shard (shared/fanout/tick.ts). Its metrics are the cycle's, so the same alarms watch it.
 */
export const handler = withLambdaContext((event: Pick<ScheduledEvent, 'id' | 'time'>, context) =>
  scheduledRun(
    'tick',
    event,
    context,
    (now) => runTick({ store, publisher, now, enqueue, ...cycleSettings(config) }),
    (report) => ({
      outcome: report.outcome,
      pipeline: report.rules?.pipeline ?? null,
      sent: report.notify?.sent.length ?? 0,
      failed_notifications: report.notify?.failed.length ?? 0,
      errors: report.errors,
    }),
  ),
);
