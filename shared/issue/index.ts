import { stableId } from '../crypto.ts';
import { type Integration, type IssueType, offlineAt, offlineIssueType } from '../integration/index.ts';
import type { Iso } from '../time.ts';
import { type Diagnosis, diagnose } from './diagnosis.ts';

export type { Diagnosis } from './diagnosis.ts';

export type Criticality = 'critical' | 'high';
export type IssueState = 'open' | 'resolved';
export type Resolution = 'pull_resumed' | 'paused' | 'deleted';
export type NotificationEvent = 'issue_opened' | 'issue_resolved';

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
  /** Delivery record per event: the outbox. */
  notified: Partial<Record<NotificationEvent, Iso>>;
}

/**
 * The offline issue the facts call for at `now`, or null. Its id is derived from the integration, the
 * moment it went idle and how many issues it had before, so two rule passes deciding the same thing write
 * the same issue, and a later outage (or a re-open after a pause) gets a new one.
 */
export function offlineIssueFor(integration: Integration, now: Iso): Issue | null {
  if (integration.paused) return null;
  const opened = offlineAt(integration);
  if (opened > now) return null;
  const type = offlineIssueType(integration.kind);
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

/** The notification events of an issue that are due and not yet delivered, in the order they happened. */
export function pendingEvents(issue: Issue): NotificationEvent[] {
  const events: NotificationEvent[] = [];
  if (!issue.notified.issue_opened) events.push('issue_opened');
  if (issue.state === 'resolved' && !issue.notified.issue_resolved) events.push('issue_resolved');
  return events;
}
