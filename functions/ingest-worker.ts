import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { S3Client } from '@aws-sdk/client-s3';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { ConfigError } from '../shared/errors.ts';
import { objectsOfMessage } from '../shared/fanout/index.ts';
import { ingestObjects } from '../shared/fanout/work.ts';
import { S3ObjectsSource } from '../shared/ingest/sources.ts';
import { logger, withLambdaContext } from '../shared/logger.ts';
import { systemClock } from '../shared/time.ts';
import { config, store } from './context.ts';

if (!config.PULLWATCH_LOG_BUCKET) throw new ConfigError('the ingest worker needs PULLWATCH_LOG_BUCKET');
const bucket = config.PULLWATCH_LOG_BUCKET;
const s3 = new S3Client({ region: config.AWS_REGION });
const processor = new BatchProcessor(EventType.SQS);

/** One SQS record: an S3 event notification. Its objects under the prefix are ingested; a throw fails this record only. */
async function ingestRecord(record: SQSRecord): Promise<void> {
  const { objects, ignored } = objectsOfMessage(record.body, bucket);
  if (ignored) {
    logger.info('ingest message skipped', { message_id: record.messageId, reason: ignored });
    return;
  }
  const source = new S3ObjectsSource(s3, bucket, config.PULLWATCH_LOG_PREFIX, objects);
  const report = await ingestObjects({ store, source, now: systemClock() });
  if (report === null) {
    logger.info('ingest message skipped', { message_id: record.messageId, reason: 'no_object_under_prefix' });
    return;
  }
  const fields = {
    message_id: record.messageId,
    files_processed: report.files_processed,
    files_skipped: report.files_skipped,
    records: report.records,
    set_aside: report.files_set_aside,
    samples: report.samples,
  };
  if (report.files_set_aside.length > 0) logger.error('objects ingested, some set aside', fields);
  else logger.info('objects ingested', fields);
}

/** The record fails and comes back; the log says why, by message id. */
async function ingestOrLog(record: SQSRecord): Promise<void> {
  try {
    await ingestRecord(record);
  } catch (error) {
    logger.error('ingest message failed', {
      message_id: record.messageId,
      error: error instanceof Error ? error.message : String(error),
    });
    throw error;
  }
}

/** SQS (the ingest queue, fed by the log bucket's ObjectCreated events), with partial batch responses. */
export const handler = withLambdaContext(async (event: SQSEvent, context) =>
  processPartialResponse(event, ingestOrLog, processor, { context }),
);
