import type { Integration } from '../integration/index.ts';
import type { Table } from '../table/index.ts';
import { addSeconds, type Iso } from '../time.ts';

/** Counts only: what the last ingest read (no tenant data, safe for the unauthenticated health route). */
export interface IngestCounts {
  at: Iso;
  files_processed: number;
  files_failed: number;
  files_set_aside: number;
  lines: number;
  records: number;
  skipped: Record<string, number>;
}

/** The deployment as a whole: the last cycle, the freshness of the pull-log feed, its open pipeline issue. */
export interface DeploymentState {
  last_cycle_at: Iso | null;
  last_cycle_outcome: 'ok' | 'failed' | null;
  newest_record_at: Iso | null;
  /** The newest sign of life of the feed (any line, any snapshot); see IngestReport.feed_seen_at. */
  feed_seen_at: Iso | null;
  /** The same, from access-log lines only; null until one arrived (bouncer lists alone say nothing of it). */
  logs_seen_at: Iso | null;
  /**
   * The newest request of a known integration read from access logs: null while the access logs never fed one
   * (a deployment of bouncer lists only), and then a stray line in a log says nothing about a feed.
   */
  log_records_at: Iso | null;
  last_ingest: IngestCounts | null;
  /**
   * The open pipeline_stale issue, if any (`logs_only`: opened because the access logs stopped while bouncer
   * lists still arrived), and how many have been resolved (keeps new ids new).
   */
  pipeline_issue: PipelineIssueRef | null;
  pipeline_seq: number;
  /** Counts only: notifications the transport refused for good (all time, in the last cycle, and when last). */
  notifications: NotificationFailures;
}

export interface PipelineIssueRef {
  id: string;
  opened_at: Iso;
  logs_only?: boolean;
}

export interface NotificationFailures {
  failed_permanently: number;
  last_cycle_failed_permanently: number;
  last_failure_at: Iso | null;
}

/** What an ingest report says, as far as the deployment record keeps it. */
export interface IngestSummary {
  newest_record_at: Iso | null;
  feed_seen_at: Iso | null;
  logs_seen_at: Iso | null;
  log_records_at: Iso | null;
  files_processed: number;
  files_failed: unknown[];
  files_set_aside: unknown[];
  lines: number;
  records: number;
  skipped: Partial<Record<string, number>>;
}

/** Which offline flips the pipeline guard holds: every one, those of integrations fed by access logs, or none. */
export type OfflineHold = 'all' | 'blaas' | 'none';

export interface FeedState {
  pipeline: 'fresh' | 'stale' | 'unknown';
  hold: OfflineHold;
  /** While stale: the last sign of life of the feed that stopped. */
  lastSeen: Iso | null;
}

/**
 * How the pull-log feed stands at `now`, for the pipeline guard and GET /v1/health alike. It is judged by
 * anything it delivers (a bouncer list, a health-check line), not by the newest pull: when every device stops
 * pulling while the files keep coming, that is an outage to report, not a stale feed. Two marks:
 * - nothing at all arrived for `staleAfter` (no log line, no bouncer list): the delivery itself is down (a
 *   bucket, a shipper), every offline flip is held;
 * - the access logs stopped while bouncer lists still arrive: the firewalls' feed is down, their flips are held;
 *   bouncers are still judged by their engines' lists. The access logs are judged only once they have fed a
 *   known integration: in a deployment of bouncer lists only, a stray line must not start a clock.
 * One engine's list stopping alone is not held: its host may be down with its bouncers (see outage/), and a
 * missed outage costs more than a question about a cron line. Nothing ever seen is no feed yet (`unknown`).
 */
export function feedState(deployment: DeploymentState, staleAfter: number, now: Iso): FeedState {
  const anything = deployment.feed_seen_at;
  const logs = deployment.log_records_at !== null ? deployment.logs_seen_at : null;
  const stopped = (at: Iso | null) => staleAfter > 0 && at !== null && addSeconds(at, staleAfter) <= now;
  const hold: OfflineHold = stopped(anything) ? 'all' : stopped(logs) ? 'blaas' : 'none';
  return {
    pipeline: anything === null ? 'unknown' : hold === 'none' ? 'fresh' : 'stale',
    hold,
    lastSeen: hold === 'all' ? anything : hold === 'blaas' ? logs : null,
  };
}

/**
 * How far the feed that carries this integration's pulls has delivered: the newest access-log line for one
 * that pulls the blocklist URL, the newest bouncer list of its engine for one seen through a LAPI. A late
 * warning is judged on it rather than on the clock, so a feed that lags opens nothing. Null: nothing arrived.
 */
export function feedWatermark(
  deployment: Pick<DeploymentState, 'logs_seen_at'>,
  integration: Pick<Integration, 'source' | 'lapi'>,
): Iso | null {
  if (integration.source === 'blaas') return deployment.logs_seen_at;
  const all = Object.values(integration.lapi?.engines ?? {});
  // The engines whose newest snapshot lists the bouncer; if none does, any it was seen on.
  const listing = all.filter((engine) => engine.listed_at !== null && engine.listed_at >= engine.checked_at);
  const engines = (listing.length > 0 ? listing : all).map((engine) => engine.checked_at);
  return engines.length > 0 ? engines.reduce((a, b) => (a > b ? a : b)) : null;
}

const CYCLE_KEY = { pk: 'DEPLOYMENT', sk: 'CYCLE' };
/** The time marks of the feed the record keeps, each only ever moved forward. */
type Mark = 'newest_record_at' | 'feed_seen_at' | 'logs_seen_at' | 'log_records_at';

export class Deployment {
  constructor(private readonly table: Table) {}

  async get(): Promise<DeploymentState> {
    const row = await this.table.get(CYCLE_KEY);
    return {
      last_cycle_at: (row?.last_cycle_at as Iso | undefined) ?? null,
      last_cycle_outcome:
        (row?.last_cycle_outcome as DeploymentState['last_cycle_outcome'] | undefined) ?? null,
      newest_record_at: (row?.newest_record_at as Iso | undefined) ?? null,
      // Records written before the feed's own mark: the newest pull was the only sign of life then.
      feed_seen_at:
        (row?.feed_seen_at as Iso | undefined) ?? (row?.newest_record_at as Iso | undefined) ?? null,
      logs_seen_at: (row?.logs_seen_at as Iso | undefined) ?? null,
      log_records_at: (row?.log_records_at as Iso | undefined) ?? null,
      last_ingest: (row?.last_ingest as IngestCounts | undefined) ?? null,
      pipeline_issue: (row?.pipeline_issue as DeploymentState['pipeline_issue'] | undefined) ?? null,
      pipeline_seq: typeof row?.pipeline_seq === 'number' ? row.pipeline_seq : 0,
      notifications: {
        failed_permanently: typeof row?.notify_failed_total === 'number' ? row.notify_failed_total : 0,
        last_cycle_failed_permanently:
          typeof row?.notify_failed_last_cycle === 'number' ? row.notify_failed_last_cycle : 0,
        last_failure_at: (row?.notify_last_failure_at as Iso | undefined) ?? null,
      },
    };
  }

  /** Records a finished cycle, and how many notifications it saw refused for good (counts only). */
  async recordCycle(at: Iso, outcome: 'ok' | 'failed', failedPermanently = 0): Promise<void> {
    await this.table.update({
      Key: CYCLE_KEY,
      UpdateExpression:
        failedPermanently > 0
          ? 'SET last_cycle_at = :at, last_cycle_outcome = :outcome, notify_failed_last_cycle = :n, notify_last_failure_at = :at ADD notify_failed_total :n'
          : 'SET last_cycle_at = :at, last_cycle_outcome = :outcome, notify_failed_last_cycle = :n',
      ExpressionAttributeValues: { ':at': at, ':outcome': outcome, ':n': failedPermanently },
    });
  }

  /**
   * Records what an ingest read (counts only) and moves the pull-log freshness mark forward, never back:
   * the newest record time seen.
   */
  async recordIngest(at: Iso, report: IngestSummary): Promise<void> {
    const counts: IngestCounts = {
      at,
      files_processed: report.files_processed,
      files_failed: report.files_failed.length,
      files_set_aside: report.files_set_aside.length,
      lines: report.lines,
      records: report.records,
      skipped: Object.fromEntries(
        Object.entries(report.skipped).filter((entry): entry is [string, number] => entry[1] !== undefined),
      ),
    };
    await this.table.update({
      Key: CYCLE_KEY,
      UpdateExpression: 'SET last_ingest = :counts',
      ExpressionAttributeValues: { ':counts': counts },
    });
    const stored = await this.table.get(CYCLE_KEY);
    const mark = (name: Mark) => (stored?.[name] as Iso | undefined) ?? null;
    // A mark set for the first time starts no earlier than the newest pull the record already held: after an
    // upgrade the feed was alive up to then, so a late file read first must not make it look stale.
    const floor = mark('newest_record_at');
    const proposed: Array<[Mark, Iso | null, Iso | null]> = [
      ['newest_record_at', report.newest_record_at, null],
      ['feed_seen_at', report.feed_seen_at, floor],
      ['logs_seen_at', report.logs_seen_at, floor],
      ['log_records_at', report.log_records_at, floor],
    ];
    const moves: Array<[Mark, Iso]> = [];
    for (const [name, at, start] of proposed) {
      if (at === null) continue;
      const current = mark(name);
      const value = current === null && start !== null && start > at ? start : at;
      if (current === null || value > current) moves.push([name, value]);
    }
    if (moves.length === 0) return;
    // One write for all marks, each only ever forward; a run that moved one further meanwhile makes it fail,
    // and then each is written alone under its own condition.
    const moveAll = (list: Array<[Mark, Iso]>) =>
      this.table.conditionally(
        this.table.update({
          Key: CYCLE_KEY,
          UpdateExpression: `SET ${list.map((_, i) => `#m${i} = :m${i}`).join(', ')}`,
          ConditionExpression: list
            .map((_, i) => `(attribute_not_exists(#m${i}) OR #m${i} < :m${i})`)
            .join(' AND '),
          ExpressionAttributeNames: Object.fromEntries(list.map(([name], i) => [`#m${i}`, name])),
          ExpressionAttributeValues: Object.fromEntries(list.map(([, value], i) => [`:m${i}`, value])),
        }),
      );
    if (await moveAll(moves)) return;
    for (const move of moves) await moveAll([move]);
  }

  /** Points the deployment at its open pipeline issue; false if one is already open. */
  async setPipelineIssue(ref: PipelineIssueRef): Promise<boolean> {
    return this.table.conditionally(
      this.table.update({
        Key: CYCLE_KEY,
        UpdateExpression: 'SET pipeline_issue = :ref',
        ConditionExpression: 'attribute_not_exists(pipeline_issue)',
        ExpressionAttributeValues: { ':ref': ref },
      }),
    );
  }

  /** Forgets the resolved pipeline issue `id`; false if another pass did it first. */
  async clearPipelineIssue(id: string): Promise<boolean> {
    return this.table.conditionally(
      this.table.update({
        Key: CYCLE_KEY,
        UpdateExpression:
          'REMOVE pipeline_issue SET pipeline_seq = if_not_exists(pipeline_seq, :zero) + :one',
        ConditionExpression: 'pipeline_issue.id = :id',
        ExpressionAttributeValues: { ':id': id, ':zero': 0, ':one': 1 },
      }),
    );
  }
}
