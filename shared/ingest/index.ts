import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { randomToken } from '../crypto.ts';
import { ConflictError } from '../errors.ts';
import { addRecord, applyPulls, emptySummary, type PullSummary } from '../pulls/index.ts';
import { type MalformedReason, parseLine } from '../pulls/parse.ts';
import type { Store } from '../store/index.ts';
import { addSeconds, type Iso, laterOf } from '../time.ts';
import type { LogFile, LogSource } from './sources.ts';

/** Records stamped further in the future than this are clock errors, not pulls. */
export const CLOCK_SKEW_SECONDS = 300;
/** How long a run owns a claimed file; a crashed run's files are taken over after this. */
export const FILE_LEASE_SECONDS = 900;
const WRITE_CONCURRENCY = 16;
const MAX_CONFLICT_RETRIES = 5;

export type SkipReason = MalformedReason | 'future_time' | 'unknown_integration';

export interface IngestReport {
  files_seen: number;
  files_processed: number;
  files_skipped: number;
  files_failed: Array<{ name: string; error: string }>;
  lines: number;
  records: number;
  skipped: Partial<Record<SkipReason, number>>;
  integrations_updated: number;
  newest_record_at: Iso | null;
}

async function* linesOf(file: LogFile): AsyncGenerator<string> {
  let stream: Readable = await file.open();
  if (file.name.endsWith('.gz')) stream = stream.pipe(createGunzip());
  const reader = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of reader) yield line;
}

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * One ingest pass: claim the files no run has finished, fold every record into one summary per
 * integration, then write each integration that learned something once. Files are marked done only after
 * their facts are stored, so a crash leaves them to be taken over; re-reading them is harmless because
 * pull times only move forward.
 */
export async function ingest(options: { store: Store; source: LogSource; now: Iso }): Promise<IngestReport> {
  const { store, source, now } = options;
  const runId = randomToken(9);
  const report: IngestReport = {
    files_seen: 0,
    files_processed: 0,
    files_skipped: 0,
    files_failed: [],
    lines: 0,
    records: 0,
    skipped: {},
    integrations_updated: 0,
    newest_record_at: null,
  };
  const skip = (reason: SkipReason, count = 1) => {
    report.skipped[reason] = (report.skipped[reason] ?? 0) + count;
  };

  const files = await source.list();
  report.files_seen = files.length;
  const ledger = await store.getLedger(files.map((file) => file.key));
  const claimed: LogFile[] = [];
  for (const file of files) {
    const entry = ledger.get(file.key);
    const open = entry === undefined || (entry.status === 'processing' && (entry.lease_until ?? '') < now);
    if (open && (await store.claimFile(file.key, runId, now, addSeconds(now, FILE_LEASE_SECONDS)))) {
      claimed.push(file);
    } else {
      report.files_skipped += 1;
    }
  }

  const latestAllowed = addSeconds(now, CLOCK_SKEW_SECONDS);
  const summaries = new Map<string, PullSummary>();
  const read: Array<{ file: LogFile; lines: number }> = [];
  for (const file of claimed) {
    let lines = 0;
    try {
      for await (const line of linesOf(file)) {
        lines += 1;
        report.lines += 1;
        const parsed = parseLine(line);
        if (parsed === null) continue;
        if (!parsed.ok) {
          skip(parsed.reason);
          continue;
        }
        const { record } = parsed;
        if (record.time > latestAllowed) {
          skip('future_time');
          continue;
        }
        report.records += 1;
        report.newest_record_at = laterOf(report.newest_record_at, record.time);
        let summary = summaries.get(record.integration_id);
        if (!summary) {
          summary = emptySummary(record.integration_id);
          summaries.set(record.integration_id, summary);
        }
        addRecord(summary, record);
      }
      read.push({ file, lines });
    } catch (error) {
      // The file stays claimed; its lease runs out and a later run tries again. Others go on.
      report.files_failed.push({
        name: file.name,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  // Resolve each integration id to its organization; a pull for an unknown id never creates anything.
  const refs: Array<{ org_id: string; id: string }> = [];
  for (const [integrationId, summary] of summaries) {
    const orgId = await store.findIntegrationOrg(integrationId);
    if (orgId === null) skip('unknown_integration', summary.records);
    else refs.push({ org_id: orgId, id: integrationId });
  }

  const current = new Map(
    (await store.getIntegrations(refs)).map((integration) => [integration.id, integration]),
  );
  await inParallel(refs, WRITE_CONCURRENCY, async (ref) => {
    const summary = summaries.get(ref.id) as PullSummary;
    let integration = current.get(ref.id) ?? null;
    for (let attempt = 0; integration !== null; attempt += 1) {
      const next = applyPulls(integration, summary);
      if (next === null) return;
      try {
        await store.saveIntegration(next, integration.version, now);
        report.integrations_updated += 1;
        return;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= MAX_CONFLICT_RETRIES) throw error;
        integration = await store.getIntegration(ref.org_id, ref.id);
      }
    }
    skip('unknown_integration', summary.records);
  });

  if (report.newest_record_at) await store.recordFeed(report.newest_record_at);
  for (const { file, lines } of read) {
    await store.completeFile(file.key, runId, now, { lines });
    report.files_processed += 1;
  }
  return report;
}
