import { z } from 'zod';
import { stableId } from '../crypto.ts';
import {
  authFailingSince,
  cadenceOf,
  type Integration,
  IntegrationKind,
  type IssueType,
  lateSince,
  offlineAt,
  offlineIssueType,
  Vendor,
} from '../integration/index.ts';
import { DiagnosisGroup } from '../outage/index.ts';
import type { Iso } from '../time.ts';
import { addSeconds } from '../time.ts';
import { DIAGNOSIS_CODES, diagnose } from './diagnosis.ts';
import {
  CRITICALITIES,
  criticalityOf,
  INTEGRATION_ISSUE_TYPES,
  ISSUE_STATES,
  ISSUE_TYPE_INFO,
  NOTIFICATION_EVENTS,
  type NotificationEvent,
  RESOLUTIONS,
} from './types.ts';

export type { Diagnosis } from './diagnosis.ts';

export {
  CRITICALITIES,
  type Criticality,
  ISSUE_STATES,
  NOTIFICATION_EVENTS,
  type NotificationEvent,
  RESOLUTIONS,
  type Resolution,
} from './types.ts';

/** Deployment-wide issues (the pull-log feed) belong to this pseudo-organization, which no API key maps to. */
export const DEPLOYMENT_ORG = 'deployment';

const Time = z.string();

const IssueFields = {
  id: z.string(),
  org_id: z.string(),
  criticality: z.enum(CRITICALITIES),
  state: z.enum(ISSUE_STATES),
  /** When the condition became true (last pull + threshold), not when we noticed. */
  opened_at: Time,
  detected_at: Time,
  resolved_at: Time.nullable(),
  resolution: z.enum(RESOLUTIONS).nullable(),
  diagnosis: z.object({
    code: z.enum(DIAGNOSIS_CODES),
    summary: z.string(),
    steps: z.array(z.string()),
    group: DiagnosisGroup.optional(),
  }),
  /** Delivery record per event (for reminders: the last one sent): the outbox. */
  notified: z.partialRecord(z.enum(NOTIFICATION_EVENTS), Time),
  reminders_sent: z.number().int().optional(),
};

/** An issue of one integration. Name, kind and vendor are copied at open time so alerts read well after a rename or delete. */
export const IntegrationIssue = z.object({
  ...IssueFields,
  type: z.enum(INTEGRATION_ISSUE_TYPES),
  integration_id: z.string(),
  integration_name: z.string(),
  integration_kind: IntegrationKind.default('firewall'),
  vendor: Vendor,
  last_pull_at: Time.nullable(),
  /** A late warning: the rhythm it was judged against (pulls/cadence.ts), for its messages. */
  cadence: z
    .object({
      state: z.enum(['steady', 'pattern']),
      usual_interval_seconds: z.number().int().nullable(),
      pulled_days: z.number().int(),
    })
    .optional(),
});

/** The deployment's pull-log feed stopped: no integration, no name, only the newest record seen. */
export const PipelineIssue = z.object({
  ...IssueFields,
  type: z.literal('pipeline_stale'),
  integration_id: z.null(),
  newest_record_at: Time,
});

export const Issue = z.discriminatedUnion('type', [IntegrationIssue, PipelineIssue]);
export type Issue = z.infer<typeof Issue>;
export type IntegrationIssue = z.infer<typeof IntegrationIssue>;
export type PipelineIssue = z.infer<typeof PipelineIssue>;
export type IssueState = Issue['state'];

/** An issue as stored; items written before the feed issue had its own shape keep their newest record time. */
export function parseIssue(row: Record<string, unknown>): Issue {
  if (row.type === 'pipeline_stale' && row.newest_record_at === undefined) {
    return Issue.parse({ ...row, newest_record_at: row.last_pull_at, integration_id: null });
  }
  return Issue.parse(row);
}

/**
 * The issue of `type` the facts call for at `now`, or null. Its id is derived from the integration, the
 * moment the condition became true and how many issues it had before, so two rule passes deciding the same
 * thing write the same issue, and a later outage (or a re-open after a pause) gets a new one.
 */
export function issueFor(
  integration: Integration,
  type: IssueType,
  now: Iso,
  watermark: Iso = now,
): IntegrationIssue | null {
  if (integration.paused) return null;
  let opened: Iso | null = null;
  let cadence: IntegrationIssue['cadence'];
  if (type === offlineIssueType(integration.kind)) {
    const crossing = offlineAt(integration);
    opened = crossing <= now ? crossing : null;
  } else if (type === 'integration_auth_failing') {
    opened = authFailingSince(integration);
  } else if (type === 'integration_pull_late') {
    const late = lateSince(integration, watermark, now);
    // Never later than its detection (a feed record stamped ahead of the clock cannot date it in the future).
    opened = late !== null && late > now ? now : late;
    const learned = cadenceOf(integration);
    if (learned && (learned.state === 'steady' || learned.state === 'pattern')) {
      cadence = {
        state: learned.state,
        usual_interval_seconds: learned.interval,
        pulled_days: learned.pulledDays,
      };
    }
  }
  if (opened === null || type === 'pipeline_stale') return null;
  return {
    id: stableId('iss', integration.id, type, opened, integration.issue_seq),
    org_id: integration.org_id,
    type,
    integration_id: integration.id,
    integration_name: integration.name,
    integration_kind: integration.kind,
    vendor: integration.vendor,
    criticality: criticalityOf(type),
    state: 'open',
    opened_at: opened,
    detected_at: now,
    resolved_at: null,
    resolution: null,
    last_pull_at: integration.last_pull_at,
    ...(cadence ? { cadence } : {}),
    diagnosis: diagnose(integration),
    notified: {},
  };
}

/** The deployment-wide issue: no pull-log record since `newestRecordAt`, for longer than `staleAfter`. */
export function pipelineIssue(
  newestRecordAt: Iso,
  staleAfterSeconds: number,
  seq: number,
  now: Iso,
  /** Only the access logs stopped; bouncer lists still arrive. */
  logsOnly = false,
): PipelineIssue {
  const opened = addSeconds(newestRecordAt, staleAfterSeconds);
  return {
    id: stableId('iss', 'pipeline', opened, seq),
    org_id: DEPLOYMENT_ORG,
    type: 'pipeline_stale',
    integration_id: null,
    criticality: criticalityOf('pipeline_stale'),
    state: 'open',
    opened_at: opened,
    detected_at: now,
    resolved_at: null,
    resolution: null,
    newest_record_at: newestRecordAt,
    diagnosis: {
      code: 'no_requests',
      summary: logsOnly
        ? `No access-log line has arrived since ${newestRecordAt} (bouncer lists still arrive); offline detection of the integrations fed by access logs is on hold until they deliver again.`
        : `Nothing has arrived from the pull-log feed since ${newestRecordAt} (no log line, no bouncer list); offline detection is on hold until it delivers again.`,
      steps: [
        'Check that the blocklist endpoint still writes its access logs (and that the endpoint itself is up).',
        'Check the delivery path of the logs to the bucket or directory pullwatch reads (log shipper, Firehose, prefix).',
        'Look at GET /v1/health: last_ingest shows how many files and lines the last cycle read.',
      ],
    },
    notified: {},
  };
}

/**
 * The notification events of an issue that are due at `now` and not yet delivered, in the order they
 * happened. A reminder is due every `reminderSeconds` (0: never) after the opening or the last reminder.
 */
export function pendingEvents(issue: Issue, now: Iso, everySeconds: number): NotificationEvent[] {
  const reminderSeconds = reminderSecondsOf(issue, everySeconds);
  const events: NotificationEvent[] = [];
  const opened = issue.notified.issue_opened;
  if (!opened) events.push('issue_opened');
  if (issue.state === 'resolved') {
    if (!issue.notified.issue_resolved) events.push('issue_resolved');
  } else if (opened && reminderSeconds > 0) {
    const last = issue.notified.issue_reminder ?? opened;
    if (addSeconds(last, reminderSeconds) <= now) events.push('issue_reminder');
  }
  return events;
}

/** The reminder period of this issue: the deployment's, or none for a type without reminders (a warning). */
export const reminderSecondsOf = (issue: Issue, everySeconds: number): number =>
  ISSUE_TYPE_INFO[issue.type].reminders ? everySeconds : 0;

/** When the next reminder of an open issue falls due, given when its last message went out. */
export function nextReminderAt(issue: Issue, lastSentAt: Iso, everySeconds: number): Iso | null {
  const reminderSeconds = reminderSecondsOf(issue, everySeconds);
  return reminderSeconds > 0 ? addSeconds(lastSentAt, reminderSeconds) : null;
}
