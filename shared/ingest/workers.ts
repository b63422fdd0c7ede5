import { drain, MAX_RECEIVES } from '../queue/index.ts';
import { type Iso, laterOf } from '../time.ts';
import { type IngestData, type IngestReport, ingest, SAMPLES_PER_RUN } from './index.ts';
import type { LogFile, LogSource, RefusedEntry } from './sources.ts';

/**
 * The ingest of one cycle spread over `workers` concurrent workers through the in-process queue, as S3 events
 * spread it over Lambda workers in AWS: the listing is cut into one run of files per worker, and each run is an
 * `ingest` of exactly those files. Every fact folds idempotently and in any order, and each file is claimed in
 * the ledger, so the state after any number of workers is the state after one.
 */
export async function ingestWithWorkers(options: {
  store: IngestData;
  source: LogSource;
  now: Iso;
  workers: number;
}): Promise<IngestReport> {
  const { store, now, workers } = options;
  const listing = options.source.scan
    ? await options.source.scan()
    : { files: await options.source.list(), refused: [] as RefusedEntry[] };
  const runs = split(listing.files, workers);
  const reports: IngestReport[] = [];
  const run = await drain(
    runs,
    async ([delivery]) => {
      if (delivery) reports.push(await ingest({ store, source: only(delivery.message), now }));
      return { failed: [] };
    },
    { workers, batchSize: 1 },
  );
  const report = mergeIngestReports(reports);
  report.files_refused = listing.refused;
  // Each run recorded its own counts; the cycle's are the sum (the feed's marks are maxima, unchanged by this).
  if (reports.length > 1) await store.deployment.recordIngest(now, report);
  const failed = run.deadLetters[0];
  if (failed)
    throw new Error(`${run.deadLetters.length} ingest runs failed ${MAX_RECEIVES} times: ${failed.error}`);
  return report;
}

/** A source of exactly these files (a worker's share of a listing, or the objects of an S3 event). */
export function only(files: LogFile[]): LogSource {
  return { describe: () => `${files.length} listed files`, list: async () => files };
}

/** `files` cut into at most `parts` runs of consecutive files (one empty run when there are none). */
function split(files: LogFile[], parts: number): LogFile[][] {
  if (files.length === 0) return [[]];
  const size = Math.ceil(files.length / Math.min(parts, files.length));
  const runs: LogFile[][] = [];
  for (let start = 0; start < files.length; start += size) runs.push(files.slice(start, start + size));
  return runs;
}

/** One report for several runs of one cycle: counts added, lists joined, times at their newest. */
export function mergeIngestReports(reports: IngestReport[]): IngestReport {
  const merged: IngestReport = {
    files_seen: 0,
    files_processed: 0,
    files_skipped: 0,
    files_refused: [],
    files_failed: [],
    files_set_aside: [],
    lines: 0,
    records: 0,
    skipped: {},
    samples: [],
    integrations_updated: 0,
    newest_record_at: null,
    feed_seen_at: null,
    logs_seen_at: null,
    log_records_at: null,
  };
  for (const report of reports) {
    merged.files_seen += report.files_seen;
    merged.files_processed += report.files_processed;
    merged.files_skipped += report.files_skipped;
    merged.files_refused.push(...report.files_refused);
    merged.files_failed.push(...report.files_failed);
    merged.files_set_aside.push(...report.files_set_aside);
    merged.lines += report.lines;
    merged.records += report.records;
    for (const [reason, count] of Object.entries(report.skipped)) {
      const key = reason as keyof IngestReport['skipped'];
      merged.skipped[key] = (merged.skipped[key] ?? 0) + (count ?? 0);
    }
    merged.samples.push(...report.samples.slice(0, SAMPLES_PER_RUN - merged.samples.length));
    merged.integrations_updated += report.integrations_updated;
    merged.newest_record_at = laterOf(merged.newest_record_at, report.newest_record_at);
    merged.feed_seen_at = laterOf(merged.feed_seen_at, report.feed_seen_at);
    merged.logs_seen_at = laterOf(merged.logs_seen_at, report.logs_seen_at);
    merged.log_records_at = laterOf(merged.log_records_at, report.log_records_at);
  }
  return merged;
}
