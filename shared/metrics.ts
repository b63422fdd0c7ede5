import type { CycleReport } from './cycle.ts';
import type { SkipReason } from './ingest/index.ts';
import { type Iso, secondsBetween } from './time.ts';

/**
 * The cycle's own health as CloudWatch metrics, written as Embedded Metric Format (EMF) log lines: CloudWatch
 * Logs turns them into metrics, so no API call and no extra permission is needed. The stack's alarms read the
 * same names and dimension from here.
 *
 * Written by hand rather than with @aws-lambda-powertools/metrics: Powertools adds a `service` dimension to every
 * metric and offers no way to leave it out (powertools-lambda-typescript issue 3374). A metric is named by all
 * its dimensions, so the alarms, which match on `Deployment` alone, would watch a metric no longer written, and a
 * deployed stack's history would split in two. One document per cycle is all this needs, and the bundle test
 * checks it against the EMF specification.
 */
export const METRICS_NAMESPACE = 'Pullwatch';
/** Every metric carries the deployment's name, so two stacks in one account never mix their numbers. */
export const DEPLOYMENT_DIMENSION = 'Deployment';

export const CycleMetric = {
  /** 1 for a cycle whose three stages all succeeded; the "no successful cycle" alarm watches it. */
  succeeded: 'CycleSucceeded',
  failed: 'CycleFailed',
  /** Another cycle still held the lock: this one did nothing. */
  skipped: 'CycleSkipped',
  duration: 'CycleDuration',
  filesProcessed: 'FilesProcessed',
  filesFailed: 'FilesFailed',
  lines: 'LinesRead',
  malformedLines: 'MalformedLines',
  unknownIntegrationLines: 'UnknownIntegrationLines',
  issuesOpened: 'IssuesOpened',
  issuesResolved: 'IssuesResolved',
  notificationsSent: 'NotificationsSent',
  notificationsFailed: 'NotificationsFailed',
  /** Refused by SNS for good (bad request, topic, rights): retried only an hour later; the stack alarms on it. */
  notificationsFailedPermanently: 'NotificationsFailedPermanently',
  /** Seconds since the newest pull-log record: how fresh the feed the watchdog relies on is. */
  feedAge: 'PullLogAge',
} as const;

export type MetricName = (typeof CycleMetric)[keyof typeof CycleMetric];
export type MetricUnit = 'Count' | 'Milliseconds' | 'Seconds';

export interface Metric {
  name: MetricName;
  value: number;
  unit: MetricUnit;
}

/** Lines that are not pull-log records but are not broken either: other routes, ids nobody registered. */
const NOT_MALFORMED = new Set<SkipReason>(['other_path', 'unknown_integration']);

const count = (name: MetricName, value: number): Metric => ({ name, value, unit: 'Count' });

/** The metrics of one finished cycle. `newestRecordAt` is the feed's freshness mark after the cycle. */
export function cycleMetrics(
  report: CycleReport,
  options: { durationMs: number; newestRecordAt: Iso | null; now: Iso },
): Metric[] {
  const skipped = Object.entries(report.ingest?.skipped ?? {}) as Array<[SkipReason, number]>;
  const malformed = skipped.reduce((sum, [reason, n]) => (NOT_MALFORMED.has(reason) ? sum : sum + n), 0);
  const ingest = report.ingest;
  const metrics: Metric[] = [
    count(CycleMetric.succeeded, report.outcome === 'ok' ? 1 : 0),
    count(CycleMetric.failed, report.outcome === 'ok' ? 0 : 1),
    count(CycleMetric.skipped, 0),
    { name: CycleMetric.duration, value: Math.round(options.durationMs), unit: 'Milliseconds' },
    count(CycleMetric.filesProcessed, ingest?.files_processed ?? 0),
    count(
      CycleMetric.filesFailed,
      (ingest?.files_failed.length ?? 0) + (ingest?.files_set_aside.length ?? 0),
    ),
    count(CycleMetric.lines, ingest?.lines ?? 0),
    count(CycleMetric.malformedLines, malformed),
    count(CycleMetric.unknownIntegrationLines, ingest?.skipped.unknown_integration ?? 0),
    count(CycleMetric.issuesOpened, report.rules?.opened.length ?? 0),
    count(CycleMetric.issuesResolved, report.rules?.resolved.length ?? 0),
    count(CycleMetric.notificationsSent, report.notify?.sent.length ?? 0),
    count(CycleMetric.notificationsFailed, report.notify?.failed.length ?? 0),
    count(CycleMetric.notificationsFailedPermanently, report.notifications_failed_permanently ?? 0),
  ];
  // No record ever read: no freshness to report (a made-up age would trip any alarm on it).
  if (options.newestRecordAt !== null) {
    metrics.push({
      name: CycleMetric.feedAge,
      value: Math.max(0, secondsBetween(options.newestRecordAt, options.now)),
      unit: 'Seconds',
    });
  }
  return metrics;
}

/** A cycle that found the lock held: it counts as neither a success nor a failure. */
export function skippedCycleMetrics(): Metric[] {
  return [count(CycleMetric.skipped, 1)];
}

/**
 * One EMF document (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
 * `properties` ride along as plain log fields (searchable in Logs Insights, not metrics).
 */
export function toEmf(
  metrics: Metric[],
  options: { deployment: string; at: Date; properties?: Record<string, unknown> },
): Record<string, unknown> {
  return {
    ...options.properties,
    _aws: {
      Timestamp: options.at.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [[DEPLOYMENT_DIMENSION]],
          Metrics: metrics.map((metric) => ({ Name: metric.name, Unit: metric.unit })),
        },
      ],
    },
    [DEPLOYMENT_DIMENSION]: options.deployment,
    ...Object.fromEntries(metrics.map((metric) => [metric.name, metric.value])),
  };
}
