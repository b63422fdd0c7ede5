import type { Table } from '../table/index.ts';
import type { Iso } from '../time.ts';

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
  feed_seen_at?: Iso | null;
  logs_seen_at?: Iso | null;
  log_records_at?: Iso | null;
  files_processed: number;
  files_failed: unknown[];
  files_set_aside: unknown[];
  lines: number;
  records: number;
  skipped: Partial<Record<string, number>>;
}

const CYCLE_KEY = { pk: 'DEPLOYMENT', sk: 'CYCLE' };

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
    // The newest pull the record held before this ingest: where a feed mark set for the first time starts.
    const before = ((await this.table.get(CYCLE_KEY))?.newest_record_at as Iso | undefined) ?? null;
    await this.moveForward('newest_record_at', report.newest_record_at);
    await this.moveForward('feed_seen_at', report.feed_seen_at ?? report.newest_record_at, before);
    await this.moveForward('logs_seen_at', report.logs_seen_at ?? null, before);
    await this.moveForward('log_records_at', report.log_records_at ?? null, before);
  }

  /**
   * Sets a time mark of the deployment record to `at` if that is later; never moves it back. A mark set for the
   * first time starts no earlier than `floor`: after an upgrade the feed was alive up to the newest pull the
   * record already holds, so a late file read first must not make it look stale.
   */
  private async moveForward(
    attribute: 'newest_record_at' | 'feed_seen_at' | 'logs_seen_at' | 'log_records_at',
    at: Iso | null,
    floor: Iso | null = null,
  ): Promise<void> {
    if (at === null) return;
    const write = (value: Iso, condition: string) =>
      this.table.conditionally(
        this.table.update({
          Key: CYCLE_KEY,
          UpdateExpression: 'SET #mark = :at',
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#mark': attribute },
          ExpressionAttributeValues: { ':at': value },
        }),
      );
    if (await write(at, '#mark < :at')) return;
    await write(floor !== null && floor > at ? floor : at, 'attribute_not_exists(#mark)');
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
