import { stableId } from '../crypto.ts';
import {
  authFailingSince,
  type Integration,
  type IssueType,
  offlineAt,
  offlineIssueType,
} from '../integration/index.ts';
import type { Iso } from '../time.ts';
import { addSeconds } from '../time.ts';
import { type Diagnosis, diagnose } from './diagnosis.ts';

export type { Diagnosis } from './diagnosis.ts';

export type Criticality = 'critical' | 'high';
export type IssueState = 'open' | 'resolved';
export type Resolution = 'pull_resumed' | 'paused' | 'deleted';
export type NotificationEvent = 'issue_opened' | 'issue_reminder' | 'issue_resolved';

/** Deployment-wide issues (the pull-log feed) belong to this pseudo-organization, which no API key maps to. */
export const DEPLOYMENT_ORG = 'deployment';

export const CRITICALITY: Record<IssueType, Criticality> = {
  fw_integration_offline: 'critical',
  rc_integration_offline: 'critical',
  integration_auth_failing: 'high',
  pipeline_stale: 'critical',
};

export const ISSUE_TITLES: Record<IssueType, string> = {
  fw_integration_offline: 'Firewall Integration Offline',
  rc_integration_offline: 'Remediation Component Integration Offline',
  integration_auth_failing: 'Integration Credentials Rejected',
  pipeline_stale: 'Pull Logs Stopped Arriving',
};

export interface Issue {
  id: string;
  org_id: string;
  type: IssueType;
  integration_id: string | null;
  /** Copied at open time so alerts and history read well even after a rename or delete. */
  integration_name: string;
  vendor: Integration['vendor'];
  criticality: Criticality;
  state: IssueState;
  /** When the condition became true (last pull + threshold), not when we noticed. */
  opened_at: Iso;
  detected_at: Iso;
  resolved_at: Iso | null;
  resolution: Resolution | null;
  last_pull_at: Iso | null;
  diagnosis: Diagnosis;
  /** Delivery record per event (for reminders: the last one sent): the outbox. */
  notified: Partial<Record<NotificationEvent, Iso>>;
  reminders_sent?: number;
}

/**
 * The issue of `type` the facts call for at `now`, or null. Its id is derived from the integration, the
 * moment the condition became true and how many issues it had before, so two rule passes deciding the same
 * thing write the same issue, and a later outage (or a re-open after a pause) gets a new one.
 */
export function issueFor(integration: Integration, type: IssueType, now: Iso): Issue | null {
  if (integration.paused) return null;
  let opened: Iso | null = null;
  if (type === offlineIssueType(integration.kind)) {
    const crossing = offlineAt(integration);
    opened = crossing <= now ? crossing : null;
  } else if (type === 'integration_auth_failing') {
    opened = authFailingSince(integration);
  }
  if (opened === null) return null;
  return {
    id: stableId('iss', integration.id, type, opened, integration.issue_seq),
    org_id: integration.org_id,
    type,
    integration_id: integration.id,
    integration_name: integration.name,
    vendor: integration.vendor,
    criticality: CRITICALITY[type],
    state: 'open',
    opened_at: opened,
    detected_at: now,
    resolved_at: null,
    resolution: null,
    last_pull_at: integration.last_pull_at,
    diagnosis: diagnose(integration),
    notified: {},
  };
}

/** The offline issue the facts call for at `now`, or null. */
export function offlineIssueFor(integration: Integration, now: Iso): Issue | null {
  return issueFor(integration, offlineIssueType(integration.kind), now);
}

/** The deployment-wide issue: no pull-log record since `newestRecordAt`, for longer than `staleAfter`. */
export function pipelineIssue(newestRecordAt: Iso, staleAfterSeconds: number, seq: number, now: Iso): Issue {
  const opened = addSeconds(newestRecordAt, staleAfterSeconds);
  return {
    id: stableId('iss', 'pipeline', opened, seq),
    org_id: DEPLOYMENT_ORG,
    type: 'pipeline_stale',
    integration_id: null,
    integration_name: 'pull-log feed',
    vendor: 'other',
    criticality: CRITICALITY.pipeline_stale,
    state: 'open',
    opened_at: opened,
    detected_at: now,
    resolved_at: null,
    resolution: null,
    last_pull_at: newestRecordAt,
    diagnosis: {
      code: 'no_requests',
      summary: `No pull-log record has arrived since ${newestRecordAt}; offline detection is on hold until records flow again.`,
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
export function pendingEvents(issue: Issue, now: Iso, reminderSeconds: number): NotificationEvent[] {
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

/** When the next reminder of an open issue falls due, given when its last message went out. */
export function nextReminderAt(lastSentAt: Iso, reminderSeconds: number): Iso | null {
  return reminderSeconds > 0 ? addSeconds(lastSentAt, reminderSeconds) : null;
}
