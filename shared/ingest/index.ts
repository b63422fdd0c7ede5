import { retryOnConflict } from '../conflict.ts';
import { randomToken } from '../crypto.ts';
import { feedWatermark } from '../deployment/index.ts';
import type { Integration } from '../integration/index.ts';
import {
  addLapiState,
  applyPulls,
  closedHours,
  emptySummary,
  mergeSummary,
  type PullSummary,
} from '../pulls/index.ts';
import { isSnapshot } from '../pulls/lapi.ts';
import { relearn } from '../pulls/learn.ts';
import { drain, inParallel } from '../queue/index.ts';
import type { Store } from '../store.ts';
import { addSeconds, type Iso, laterOf } from '../time.ts';
import {
  type FileResult,
  readLogFile,
  readSnapshot,
  type SkipReason,
  type SkipSample,
  type SnapshotCensus,
  summaryFor,
} from './read.ts';
import { redact } from './redact.ts';
import type { LogFile, LogSource, RefusedEntry } from './sources.ts';

export type { SkipReason, SkipSample } from './read.ts';

/** The data the ingest reads and writes: the ledger, integrations, their pull activity, the feed's marks. */
export type IngestData = Pick<Store, 'integrations' | 'ledger' | 'pullDays' | 'deployment'>;

/** Records stamped further in the future than this are clock errors, not pulls. */
export const CLOCK_SKEW_SECONDS = 300;
/** How long a run owns a claimed file; a crashed run's files are taken over after this. */
export const FILE_LEASE_SECONDS = 900;
/** A file that cannot be read is tried this many times (once per run), then set aside with its reason. */
export const MAX_FILE_ATTEMPTS = 3;
const WRITE_CONCURRENCY = 16;
const SAMPLES_PER_RUN = 10;

export interface IngestReport {
  files_seen: number;
  files_processed: number;
  files_skipped: number;
  /** Entries of the log directory never opened: links, FIFOs, sockets, devices, directory loops. */
  files_refused: RefusedEntry[];
  /** Unreadable this run; tried again next run. */
  files_failed: Array<{ name: string; error: string }>;
  /** Unreadable MAX_FILE_ATTEMPTS times: no longer tried. */
  files_set_aside: Array<{ name: string; error: string }>;
  lines: number;
  records: number;
  skipped: Partial<Record<SkipReason, number>>;
  samples: SkipSample[];
  integrations_updated: number;
  newest_record_at: Iso | null;
  /**
   * The newest sign of life of the feed itself: any access-log line with a readable time (other paths, health
   * checks and aborted requests included) and each snapshot's own time. The pipeline guard judges the feed by
   * this, not by the newest pull: a whole engine whose bouncers all went silent still delivers fresh snapshots.
   */
  feed_seen_at: Iso | null;
  /** The same, from access-log lines only (not bouncer lists): what the firewalls' own feed delivered. */
  logs_seen_at: Iso | null;
  /** The newest request of a known integration in the access logs (see DeploymentState.log_records_at). */
  log_records_at: Iso | null;
}

/**
 * Bouncers deleted from a security engine: `cscli bouncers delete` removes the row, so the engine's next
 * snapshot (same path, overwritten in place) simply no longer lists them. For each snapshot read, every lapi
 * integration of its organization that this path listed before and that it no longer lists learns that the
 * path was seen without it (`checked_at`); `lapiRemoved` decides from the maxima, whatever the order.
 */
async function lapiRemovals(
  store: IngestData,
  censuses: SnapshotCensus[],
): Promise<Array<{ org_id: string; id: string; summary: PullSummary }>> {
  const removals: Array<{ org_id: string; id: string; summary: PullSummary }> = [];
  const orgs = [...new Set(censuses.map((census) => census.orgId))];
  for (const orgId of orgs) {
    const ofOrg = censuses.filter((census) => census.orgId === orgId);
    const paths = new Set(ofOrg.map((census) => census.path));
    const known: Integration[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.integrations.list(orgId, {
        limit: 100,
        ...(cursor ? { cursor } : {}),
        accept: (integration) =>
          integration.source === 'lapi' &&
          Object.keys(integration.lapi?.engines ?? {}).some((path) => paths.has(path)),
      });
      known.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    for (const integration of known) {
      const summary = emptySummary(integration.id);
      for (const census of ofOrg) {
        if (!integration.lapi?.engines[census.path] || census.listed.has(integration.name)) continue;
        addLapiState(summary, {
          revoked: false,
          seen_at: null,
          entry: null,
          entry_pull_at: null,
          engines: { [census.path]: { listed_at: null, checked_at: census.seenAt } },
        });
      }
      if (summary.lapi) removals.push({ org_id: orgId, id: integration.id, summary });
    }
  }
  return removals;
}

/**
 * One ingest pass: claim the files no run has finished, read each to its end (a file that fails half-way
 * teaches nothing and is retried), fold every record into one summary per integration, then write each
 * integration that learned something once. Files are marked done only after their facts are stored, so a
 * crash leaves them to be taken over; re-reading them is harmless because every fact folds idempotently.
 */
export async function ingest(options: {
  store: IngestData;
  source: LogSource;
  now: Iso;
  /** Concurrent file readers, and writers by as many (the in-process queue; `--workers N`). */
  workers?: number;
}): Promise<IngestReport> {
  const { store, source, now } = options;
  const runId = randomToken(9);
  const report: IngestReport = {
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
  const count = (reason: SkipReason, n: number) => {
    report.skipped[reason] = (report.skipped[reason] ?? 0) + n;
  };

  const listing = source.scan ? await source.scan() : { files: await source.list(), refused: [] };
  const files = listing.files;
  report.files_refused = listing.refused;
  report.files_seen = files.length;
  const ledger = await store.ledger.get(files.map((file) => file.key));
  const claimed: Array<{ file: LogFile; attempts: number }> = [];
  for (const file of files) {
    const entry = ledger.get(file.key);
    const open =
      entry === undefined ||
      (entry.status === 'processing' && (entry.lease_until ?? '') < now) ||
      (entry.status === 'retry' && (entry.retry_at ?? '') <= now);
    if (open && (await store.ledger.claim(file.key, runId, now, addSeconds(now, FILE_LEASE_SECONDS)))) {
      claimed.push({ file, attempts: (entry?.attempts ?? 0) + 1 });
    } else {
      report.files_skipped += 1;
    }
  }

  try {
    const latestAllowed = addSeconds(now, CLOCK_SKEW_SECONDS);
    const byId = new Map<string, PullSummary>();
    const read: Array<{ file: LogFile; result: FileResult }> = [];
    const lapiByName = new Map<string, { orgId: string; summary: PullSummary }>();
    const censuses: SnapshotCensus[] = [];
    const firstSeen = new Map<string, SkipSample>();
    // The files are read by `workers` concurrent readers (the in-process queue), then folded in listing order,
    // so what is learned and reported does not depend on which read finished first; each integration is then
    // written once, whatever the number of workers.
    const outcomes: Array<{ result: FileResult } | { error: unknown }> = [];
    await drain(
      claimed.map((entry, index) => ({ ...entry, index })),
      async (batch) => {
        for (const { message } of batch) {
          const { file, index } = message;
          try {
            outcomes[index] = {
              result: isSnapshot(file.name)
                ? await readSnapshot(file, latestAllowed)
                : await readLogFile(file, latestAllowed),
            };
          } catch (error) {
            outcomes[index] = { error };
          }
        }
        return { failed: [] };
      },
      { workers: options.workers ?? 1, batchSize: 1 },
    );
    for (const [index, { file, attempts }] of claimed.entries()) {
      const outcome = outcomes[index] as { result: FileResult } | { error: unknown };
      if ('error' in outcome) {
        const { error } = outcome;
        // Unreadable (corrupt gzip, permission, network): nothing of it is used; other files go on.
        // The message may quote a path or URL: it goes into the report and the ledger, so it is redacted too.
        const message = redact(error instanceof Error ? error.message : String(error));
        const setAside = attempts >= MAX_FILE_ATTEMPTS;
        await store.ledger.fail(file.key, runId, now, message, setAside);
        (setAside ? report.files_set_aside : report.files_failed).push({ name: file.name, error: message });
        continue;
      }
      const { result } = outcome;
      read.push({ file, result });
      report.lines += result.lines;
      report.records += result.records;
      report.newest_record_at = laterOf(report.newest_record_at, result.newest);
      report.feed_seen_at = laterOf(report.feed_seen_at, result.delivered);
      if (!isSnapshot(file.name)) report.logs_seen_at = laterOf(report.logs_seen_at, result.delivered);
      for (const [reason, n] of Object.entries(result.skipped)) count(reason as SkipReason, n);
      report.samples.push(...result.samples.slice(0, SAMPLES_PER_RUN - report.samples.length));
      for (const [id, summary] of result.byId) mergeSummary(summaryFor(byId, id), summary);
      for (const [key, sample] of result.firstSeen) if (!firstSeen.has(key)) firstSeen.set(key, sample);
      if (result.census) censuses.push(result.census);
      for (const [key, entry] of result.byLapiName) {
        const existing = lapiByName.get(key);
        if (existing) mergeSummary(existing.summary, entry.summary);
        else lapiByName.set(key, entry);
      }
    }

    // Resolve each integration to its organization: the items themselves, read by id in batches of 100 (so a
    // fresh process makes no lookup per id). A pull for an unknown id never creates anything.
    const unknownKeys: string[] = [];
    const unknown = (key: string, records: number) => {
      count('unknown_integration', records);
      unknownKeys.push(key);
    };
    const current = new Map(
      (await store.integrations.byIds([...byId.keys()])).map((integration) => [integration.id, integration]),
    );
    const byTarget = new Map<string, { org_id: string; id: string; summary: PullSummary }>();
    for (const [integrationId, summary] of byId) {
      const found = current.get(integrationId);
      if (found) {
        byTarget.set(integrationId, { org_id: found.org_id, id: integrationId, summary });
        report.log_records_at = laterOf(report.log_records_at, summary.last_attempt?.at ?? null);
      } else unknown(integrationId, summary.records);
    }
    const extra: Array<{ org_id: string; id: string; summary: PullSummary }> = [];
    for (const { orgId, summary } of lapiByName.values()) {
      const id = await store.integrations.lapiIntegrationId(orgId, summary.integration_id);
      if (id === null) {
        unknown(`${orgId}#${summary.integration_id}`, Math.max(1, summary.records));
        continue;
      }
      extra.push({ org_id: orgId, id, summary: { ...summary, integration_id: id } });
    }
    extra.push(...(await lapiRemovals(store, censuses)));
    for (const target of extra) {
      const existing = byTarget.get(target.id);
      if (existing) mergeSummary(existing.summary, target.summary);
      else byTarget.set(target.id, target);
    }
    const unread = [...byTarget.values()].filter((target) => !current.has(target.id));
    for (const integration of await store.integrations.getMany(unread))
      current.set(integration.id, integration);
    const targets = [...byTarget.values()];

    await inParallel(targets, WRITE_CONCURRENCY * (options.workers ?? 1), async (target) => {
      const written = await retryOnConflict(async (attempt) => {
        // The first attempt builds on the batch read; after a lost race, on a fresh read.
        const integration =
          attempt === 0
            ? (current.get(target.id) ?? null)
            : await store.integrations.get(target.org_id, target.id);
        if (integration === null) return 'gone';
        // Pull activity the integration item lets go of goes to the day items first (see closedHours).
        const closed = closedHours(integration, target.summary);
        await store.pullDays.add(target.id, closed);
        const pulled = applyPulls(integration, target.summary);
        if (pulled === null) return 'unchanged';
        // A new day's first closed hour (or records late for the days learned from): the cadence is learned again,
        // in this same write.
        const cadence = await relearn(store.pullDays, integration, pulled, target.summary.hours, closed);
        const next = { ...pulled, cadence };
        // How far this integration's feed has delivered (as of the files just read): its check time is judged on it.
        const watermark = feedWatermark({ logs_seen_at: report.logs_seen_at }, next) ?? undefined;
        await store.integrations.save(next, integration.version, now, watermark);
        return 'written';
      });
      if (written === 'written') report.integrations_updated += 1;
      if (written === 'gone') unknown(target.id, target.summary.records);
    });
    // Unknown ids and bouncer names are shown like other skips (they are not secrets; the line is redacted),
    // in file and line order so the report does not depend on which write finished first. They go in the
    // report only, not the ledger: an unknown id leaves no trace in the database.
    const unknownSamples = unknownKeys
      .map((key) => firstSeen.get(key))
      .filter((sample) => sample !== undefined)
      .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
    report.samples.push(...unknownSamples.slice(0, Math.max(0, SAMPLES_PER_RUN - report.samples.length)));

    report.files_processed = read.length;
    await store.deployment.recordIngest(now, report);
    for (const { file, result } of read) {
      await store.ledger.complete(file.key, runId, now, {
        lines: result.lines,
        records: result.records,
        skipped: result.skipped,
        samples: result.samples,
      });
    }
    return report;
  } catch (error) {
    // A run that fails after its claims (throttled, or outraced on an integration too often) gives them back at
    // once, so a retry (the queue's redelivery, or the next cycle) reads those files again instead of skipping
    // them until their lease runs out.
    await Promise.all(claimed.map(({ file }) => store.ledger.release(file.key, runId, now)));
    throw error;
  }
}
