import { ingest } from '../shared/ingest/index.ts';
import { iso } from '../shared/time.ts';
import { logJson, source, store } from './context.ts';

/** Scheduled: reads new pull-log objects and stores what they say about each integration. */
export const handler = async () => {
  const report = await ingest({ store, source, now: iso(new Date()) });
  logJson('ingest done', { report });
  return { files_processed: report.files_processed, records: report.records };
};
