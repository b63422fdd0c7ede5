import { DEPLOYMENT_ORG, type Issue, type NotificationEvent } from '../issue/index.ts';
import type { Store } from '../store.ts';
import type { Iso } from '../time.ts';
import type { ChatNotification } from './chat.ts';
import { renderNotification } from './render.ts';

/** An issue's latest notification in the three forms subscribers receive it. */
export interface NotificationPreview {
  issue_id: string;
  org_id: string;
  event: NotificationEvent;
  /** When it was delivered; null when it is still due (then it is rendered as it would go out at `now`). */
  sent_at: Iso | null;
  subject: string;
  email: string;
  sms: string;
  chat: ChatNotification;
}

/**
 * The latest event an issue was (or is about to be) announced with: its resolution once resolved, else its
 * latest reminder, else its opening. Rendered as of the moment it was sent, so the texts read as delivered
 * (an event that went out inside a digest is shown as it reads alone).
 */
export function previewOf(issue: Issue, now: Iso, consoleUrl?: string): NotificationPreview {
  const event: NotificationEvent =
    issue.state === 'resolved'
      ? 'issue_resolved'
      : issue.notified.issue_reminder
        ? 'issue_reminder'
        : 'issue_opened';
  const sentAt = issue.notified[event] ?? null;
  const at = sentAt ?? now;
  const { subject, email, sms, chat } = renderNotification(
    issue,
    event,
    consoleUrl ? { now: at, consoleUrl } : { now: at },
  );
  return { issue_id: issue.id, org_id: issue.org_id, event, sent_at: sentAt, subject, email, sms, chat };
}

/** Finds the issue in the organization (or, for the deployment's own issues, in the deployment) and previews it. */
export async function previewNotification(
  store: Store,
  orgId: string | null,
  issueId: string,
  now: Iso,
  consoleUrl?: string,
): Promise<NotificationPreview | null> {
  for (const org of [orgId, DEPLOYMENT_ORG]) {
    if (org === null) continue;
    const issue = await store.issues.get(org, issueId);
    if (issue) return previewOf(issue, now, consoleUrl);
  }
  return null;
}
