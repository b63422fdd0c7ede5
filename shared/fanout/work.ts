import { PullwatchError } from '../errors.ts';
import { type IngestReport, ingest } from '../ingest/index.ts';
import type { LogSource } from '../ingest/sources.ts';
import type { Store } from '../store.ts';
import type { Iso } from '../time.ts';

/**
 * One queue message's work, the size of one worker: the ingest of the objects an S3 event named (a rules
 * message is `settleShard` itself). The Lambda workers call these per SQS record; a throw fails that record alone, and
 * SQS delivers it again after the visibility timeout (then to the dead-letter queue after maxReceiveCount).
 */

/** The work is fine but cannot finish now (an object unreadable this time, or read by another worker): retry. */
export class RetryLaterError extends PullwatchError {}

/**
 * Ingests exactly the objects of `source`. A duplicate or late delivery changes nothing (the ledger). Unlike
 * the scheduled listing, no later run will look at these objects again, so the message itself is the retry:
 * it fails while an object is unreadable (until the ledger sets it aside) or while another worker's claim on
 * it is live (that worker may die; its lease runs out, and then a redelivery here reads the object).
 */
export async function ingestObjects(options: {
  store: Store;
  source: LogSource;
  now: Iso;
}): Promise<IngestReport | null> {
  // Nothing under the prefix: no ingest at all, so the deployment's last-ingest record is left as it is.
  if ((await options.source.list()).length === 0) return null;
  const report = await ingest(options);
  if (report.files_failed.length > 0) {
    const names = report.files_failed.map((file) => `${file.name}: ${file.error}`).join('; ');
    throw new RetryLaterError(
      `could not read ${report.files_failed.length} object(s), retried later: ${names}`,
    );
  }
  const keys = (await options.source.list()).map((file) => file.key);
  const held = [...(await options.store.ledger.get(keys)).values()].filter(
    (entry) => entry.status === 'processing',
  );
  if (held.length > 0) {
    throw new RetryLaterError(`${held.length} object(s) are being read by another worker; retried later`);
  }
  return report;
}
