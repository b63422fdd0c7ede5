import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { rulesMessageOf } from '../shared/fanout/index.ts';
import { logger, withLambdaContext } from '../shared/logger.ts';
import { RulesIncompleteError, type RulesReport, settleShard } from '../shared/rules/index.ts';
import { cycleSettings } from '../shared/runtime.ts';
import { config, store } from './context.ts';

const { staleAfterSeconds } = cycleSettings(config);
const processor = new BatchProcessor(EventType.SQS);

/** One SQS record: `{shard, now}` from the tick. A bad body or an unsettled integration fails this record only. */
async function settleRecord(record: SQSRecord): Promise<void> {
  let message: ReturnType<typeof rulesMessageOf>;
  let report: RulesReport;
  try {
    message = rulesMessageOf(record.body);
    // As of the tick's time: a redelivery settles the same cycle's shard.
    report = await settleShard({ store, now: message.now, shard: message.shard, staleAfterSeconds });
  } catch (error) {
    // The record fails and comes back; the log says why, with the integrations left unsettled.
    logger.error('rules message failed', {
      message_id: record.messageId,
      error: error instanceof Error ? error.message : String(error),
      unsettled: error instanceof RulesIncompleteError ? error.report.failed : [],
    });
    throw error;
  }
  logger.info('shard settled', {
    message_id: record.messageId,
    shard: message.shard,
    now: message.now,
    candidates: report.candidates,
    opened: report.opened.length,
    resolved: report.resolved.length,
    held: report.held,
  });
}

/** SQS (the rules queue), with partial batch responses. */
export const handler = withLambdaContext(async (event: SQSEvent, context) =>
  processPartialResponse(event, settleRecord, processor, { context }),
);
