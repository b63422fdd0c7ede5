import { randomToken } from '../crypto.ts';
import { TransportError } from '../errors.ts';
import { type Issue, offlineIssueFor, pendingEvents } from '../issue/index.ts';
import type { Store } from '../store/index.ts';
import { addSeconds, type Iso } from '../time.ts';
import type { Publisher } from './publishers.ts';
import { type Notification, renderNotification } from './render.ts';

/** Longer than one notify pass can take; a crashed pass's claims are taken over after this. */
export const CLAIM_SECONDS = 300;
/** A transport that refuses a message for good (bad topic, no permission) is retried slowly. */
const PERMANENT_FAILURE_RETRY_SECONDS = 3600;

export interface NotifyReport {
  sent: Array<Pick<Notification, 'event' | 'issue_id' | 'org_id' | 'subject'>>;
  failed: Array<{ issue_id: string; event: string; error: string; retryable: boolean }>;
}

/**
 * Delivers every due notification once. Each issue's outbox is claimed with a conditional write, then
 * re-read, so two passes never send the same event; an event is recorded as sent right after its publish.
 * A failed publish releases the claim and is retried on a later pass. (The one window left is a crash
 * between a successful publish and its record: that event is sent again after the claim runs out, since
 * SNS standard topics cannot deduplicate.)
 */
/**
 * An open issue that its integration does not point at and would not open now. Only checked before an
 * opening is announced; it costs one read per such notification.
 */
async function isOrphan(store: Store, issue: Issue, now: Iso): Promise<boolean> {
  if (issue.state !== 'open' || issue.notified.issue_opened || issue.integration_id === null) return false;
  const integration = await store.getIntegration(issue.org_id, issue.integration_id);
  if (integration === null) return true;
  if (integration.open_issues[issue.type]?.id === issue.id) return false;
  return offlineIssueFor(integration, now)?.id !== issue.id;
}

export async function runNotify(options: {
  store: Store;
  publisher: Publisher;
  now: Iso;
  consoleUrl?: string;
}): Promise<NotifyReport> {
  const { store, publisher, now, consoleUrl } = options;
  const report: NotifyReport = { sent: [], failed: [] };
  for (const due of await store.dueNotifications(now)) {
    const token = randomToken(12);
    if (!(await store.claimNotification(due, token, now, addSeconds(now, CLAIM_SECONDS)))) continue;
    // The index may lag; decide from the item itself now that we hold it.
    const issue = await store.getIssue(due.org_id, due.id);
    if (!issue) continue;
    if (await isOrphan(store, issue, now)) {
      // A rule pass wrote this issue and crashed before attaching it to its integration, and the facts have
      // moved on since: nobody should hear of an outage that no longer stands.
      if (await store.deleteClaimedUnannouncedIssue(issue, token)) continue;
    }
    const events = pendingEvents(issue);
    if (events.length === 0) {
      await store.completeNotification(
        issue,
        'issue_opened',
        token,
        issue.notified.issue_opened ?? now,
        true,
      );
      continue;
    }
    for (const [index, event] of events.entries()) {
      const notification = renderNotification(issue, event, consoleUrl ? { now, consoleUrl } : { now });
      try {
        await publisher.publish(notification);
      } catch (error) {
        const retryable = error instanceof TransportError ? error.retryable : true;
        const message = error instanceof Error ? error.message : String(error);
        await store.releaseNotification(
          issue,
          token,
          retryable ? now : addSeconds(now, PERMANENT_FAILURE_RETRY_SECONDS),
          message,
        );
        report.failed.push({ issue_id: issue.id, event, error: message, retryable });
        break;
      }
      await store.completeNotification(issue, event, token, now, index === events.length - 1);
      const { org_id, issue_id, subject } = notification;
      report.sent.push({ event, issue_id, org_id, subject });
    }
  }
  return report;
}
