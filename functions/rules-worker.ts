import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { rulesMessageOf } from '../shared/fanout/index.ts';
import { settleMessage } from '../shared/fanout/work.ts';
import { logger, withLambdaContext } from '../shared/logger.ts';
import { cycleSettings } from '../shared/runtime.ts';
import { config, store } from './context.ts';

const { staleAfterSeconds } = cycleSettings(config);
const processor = new BatchProcessor(EventType.SQS);

/** One SQS record: `{shard, now}` from the tick. A bad body or an unsettled integration fails this record only. */
async function settleRecord(record: SQSRecord): Promise<void> {
  const message = rulesMessageOf(record.body);
  const report = await settleMessage({ store, message, staleAfterSeconds });
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
