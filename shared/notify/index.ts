import { randomToken } from '../crypto.ts';
import { isTransient, TransportError } from '../errors.ts';
import {
  type Issue,
  issueFor,
  type NotificationEvent,
  nextReminderAt,
  pendingEvents,
} from '../issue/index.ts';
import type { Store } from '../store.ts';
import { addSeconds, type Iso } from '../time.ts';
import type { Publisher } from './publishers.ts';
import { type Notification, renderDigest, renderNotification } from './render.ts';

/** The data the notify pass reads and writes. */
export type NotifyData = Pick<Store, 'integrations' | 'issues' | 'outbox'>;

/** Longer than one notify pass can take; a crashed pass's claims are taken over after this. */
export const CLAIM_SECONDS = 300;
/** A transport that refuses a message for good (bad topic, no permission) is retried slowly. */
const PERMANENT_FAILURE_RETRY_SECONDS = 3600;
/** More notifications than this for one organization in one pass become one digest. */
export const STORM_THRESHOLD = 10;

export interface NotifyReport {
  sent: Array<
    Pick<Notification, 'event' | 'org_id' | 'subject'> & { issue_id: string | null; events: number }
  >;
  failed: Array<{ issue_id: string | null; event: string; error: string; retryable: boolean }>;
  /**
   * How many of `failed` the transport refused for good (4xx about the message, the topic or the rights):
   * they wait PERMANENT_FAILURE_RETRY_SECONDS, and someone has to look. Counted for the cycle report, the
   * deployment record (GET /v1/health) and the NotificationsFailedPermanently metric and alarm.
   */
  failed_permanently: number;
}

export interface NotifyOptions {
  store: NotifyData;
  publisher: Publisher;
  now: Iso;
  consoleUrl?: string;
  /** Seconds between reminders of an open issue; 0 turns reminders off. PULLWATCH_REMINDER_SECONDS. */
  reminderSeconds: number;
}

/** An issue whose outbox this pass holds, with the events it owes. */
interface Claimed {
  issue: Issue;
  token: string;
  events: NotificationEvent[];
}

/**
 * An open issue that its integration does not point at and would not open now: a rule pass wrote it and
 * crashed before attaching it, and the facts moved on. Only checked before an opening is announced.
 */
async function isOrphan(store: NotifyData, issue: Issue, now: Iso): Promise<boolean> {
  if (issue.state !== 'open' || issue.notified.issue_opened || issue.integration_id === null) return false;
  const integration = await store.integrations.get(issue.org_id, issue.integration_id);
  if (integration === null) return true;
  if (integration.open_issues[issue.type]?.id === issue.id) return false;
  return issueFor(integration, issue.type, now)?.id !== issue.id;
}

/**
 * Delivers every due notification once. Each issue's outbox is claimed with a conditional write, then
 * re-read, so two passes never send the same event; an event is recorded as sent right after its publish.
 * A failed publish releases the claim and is retried on a later pass. When one organization has more than
 * STORM_THRESHOLD notifications due, it gets one digest listing them instead. (The one window left is a crash
 * between a successful publish and its record: that message is sent again once the claim runs out, since SNS
 * standard topics cannot deduplicate.)
 */
export async function runNotify(options: NotifyOptions): Promise<NotifyReport> {
  const { store, now, reminderSeconds } = options;
  const report: NotifyReport = { sent: [], failed: [], failed_permanently: 0 };
  const byOrg = new Map<string, Claimed[]>();

  for (const due of await store.outbox.due(now)) {
    try {
      const claimed = await claim(options, due, reminderSeconds);
      if (claimed) byOrg.set(claimed.issue.org_id, [...(byOrg.get(claimed.issue.org_id) ?? []), claimed]);
    } catch (error) {
      // One issue's trouble (a throttled claim) must not hold back the others; it stays due for the next pass.
      report.failed.push({ issue_id: due.id, event: 'claim', error: errorMessage(error), retryable: true });
    }
  }

  for (const [orgId, claimed] of byOrg) {
    const count = claimed.reduce((total, item) => total + item.events.length, 0);
    if (count > STORM_THRESHOLD) {
      await deliverDigest(options, orgId, claimed, reminderSeconds, report);
      continue;
    }
    // The openings of one shared outage (outage/) go out as one message naming the shared cause.
    const byOutage = new Map<string, Claimed[]>();
    for (const item of claimed) {
      const key = item.events.includes('issue_opened') ? item.issue.diagnosis.group?.key : undefined;
      if (key !== undefined) byOutage.set(key, [...(byOutage.get(key) ?? []), item]);
    }
    const together = [...byOutage.values()].filter((items) => items.length > 1);
    for (const items of together) await deliverDigest(options, orgId, items, reminderSeconds, report);
    const alone = claimed.filter((item) => !together.some((items) => items.includes(item)));
    for (const item of alone) await deliverEach(options, item, reminderSeconds, report);
  }
  return report;
}

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Recording a delivered message must not fail for a passing reason: if it did, the claim would run out and
 * the message would go out a second time. So it is retried, with backoff, beyond the SDK's own retries.
 */
async function recorded(work: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await work();
      return;
    } catch (error) {
      if (!isTransient(error) || attempt >= 6) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** attempt)));
    }
  }
}

/** Claims one due issue's outbox and works out what it owes; null if there is nothing for this pass. */
async function claim(options: NotifyOptions, due: Issue, reminderSeconds: number): Promise<Claimed | null> {
  const { store, now } = options;
  {
    const token = randomToken(12);
    if (!(await store.outbox.claim(due, token, now, addSeconds(now, CLAIM_SECONDS)))) return null;
    // The index may lag; decide from the item itself now that we hold it.
    const issue = await store.issues.get(due.org_id, due.id);
    if (!issue) return null;
    if ((await isOrphan(store, issue, now)) && (await store.issues.deleteClaimedUnannounced(issue, token)))
      return null;
    const events = pendingEvents(issue, now, reminderSeconds);
    if (events.length === 0) {
      const lastSent = issue.notified.issue_reminder ?? issue.notified.issue_opened ?? now;
      await store.outbox.release(issue, token, nextOutbox(issue, lastSent, reminderSeconds));
      return null;
    }
    return { issue, token, events };
  }
}

/** Where an issue waits after its last delivered message: until its next reminder, or nowhere. */
function nextOutbox(issue: Issue, lastSentAt: Iso, reminderSeconds: number): Iso | null {
  return issue.state === 'open' ? nextReminderAt(issue, lastSentAt, reminderSeconds) : null;
}

async function fail(
  options: NotifyOptions,
  item: Claimed,
  error: unknown,
  event: string,
  report: NotifyReport,
) {
  const retryable = error instanceof TransportError ? error.retryable : true;
  const message = error instanceof Error ? error.message : String(error);
  const retryAt = retryable ? options.now : addSeconds(options.now, PERMANENT_FAILURE_RETRY_SECONDS);
  await options.store.outbox.releaseAfterFailure(item.issue, item.token, retryAt, message);
  report.failed.push({ issue_id: item.issue.id, event, error: message, retryable });
  if (!retryable) report.failed_permanently += 1;
}

async function deliverEach(
  options: NotifyOptions,
  item: Claimed,
  reminderSeconds: number,
  report: NotifyReport,
) {
  const { store, publisher, now, consoleUrl } = options;
  for (const [index, event] of item.events.entries()) {
    const notification = renderNotification(item.issue, event, consoleUrl ? { now, consoleUrl } : { now });
    try {
      await publisher.publish(notification);
    } catch (error) {
      await fail(options, item, error, event, report);
      return;
    }
    const last = index === item.events.length - 1;
    const next = last ? nextOutbox(item.issue, now, reminderSeconds) : null;
    await recorded(() => store.outbox.complete(item.issue, event, item.token, now, last, next));
    report.sent.push({
      event,
      issue_id: item.issue.id,
      org_id: item.issue.org_id,
      subject: notification.subject,
      events: 1,
    });
  }
}

async function deliverDigest(
  options: NotifyOptions,
  orgId: string,
  claimed: Claimed[],
  reminderSeconds: number,
  report: NotifyReport,
) {
  const { store, publisher, now, consoleUrl } = options;
  const groups = claimed.map((item) => item.events.map((event) => ({ issue: item.issue, event })));
  const parts = renderDigest(orgId, groups, consoleUrl ? { now, consoleUrl } : { now });
  // Each part stands alone: a failed part leaves its issues due, the other parts' issues are recorded.
  for (const part of parts) {
    const items = part.groups.map((index) => claimed[index] as Claimed);
    try {
      await publisher.publish(part.notification);
    } catch (error) {
      for (const item of items) await fail(options, item, error, 'issue_digest', report);
      continue;
    }
    for (const item of items) {
      for (const [index, event] of item.events.entries()) {
        const last = index === item.events.length - 1;
        const next = last ? nextOutbox(item.issue, now, reminderSeconds) : null;
        await recorded(() => store.outbox.complete(item.issue, event, item.token, now, last, next));
      }
    }
    report.sent.push({
      event: 'issue_digest',
      issue_id: null,
      org_id: orgId,
      subject: part.notification.subject,
      events: items.reduce((total, item) => total + item.events.length, 0),
    });
  }
}
