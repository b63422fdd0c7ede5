import type { Criticality, Issue, NotificationEvent } from '../issue/index.ts';
import { ISSUE_TYPE_INFO, type MessageParts } from '../issue/types.ts';
import { humanDuration, type Iso, secondsBetween } from '../time.ts';
import { SMS_SEGMENT_LENGTH, toGsm7 } from './gsm7.ts';

/** One message about one issue event, in every form a subscriber may receive it. */
export interface Notification {
  event: NotificationEvent | 'issue_digest';
  org_id: string;
  /** null for a digest, which covers several issues. */
  issue_id: string | null;
  issue_type: Issue['type'] | 'digest';
  criticality: Criticality;
  subject: string;
  email: string;
  sms: string;
  /** SNS message attributes, so subscriptions can filter (e.g. SMS only for critical). */
  attributes: { org_id: string; issue_type: string; criticality: string; event: string };
}

export const SUBJECT_MAX = 99;

const SHORT_CAUSE: Record<Issue['diagnosis']['code'], string> = {
  never_pulled: 'it never pulled',
  credentials_rejected: 'credentials rejected',
  credentials_not_updated: 'new credentials not set on device',
  rate_limited: 'rate limited (429)',
  server_errors: 'endpoint errors (5xx)',
  no_requests: 'no requests seen',
  bouncer_revoked: 'bouncer revoked',
  bouncer_removed: 'bouncer deleted from engine',
};

/** One printable line: control characters and runs of spaces become a single space. */
const oneLine = (text: string) =>
  text
    .replace(/[\p{Cc}\u2028\u2029]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/** Cuts to at most `max` UTF-16 units (how SNS counts), never inside a surrogate pair. */
const clip = (text: string, max: number) => {
  if (text.length <= max) return text;
  let out = '';
  for (const char of text) {
    if (out.length + char.length > max - 3) break;
    out += char;
  }
  return `${out}...`;
};

const minuteUtc = (at: Iso) => `${at.slice(0, 16).replace('T', ' ')} UTC`;

/** What the messages call the subject of an integration issue; null for the deployment's feed. */
function subjectOf(issue: Issue): { noun: string; name: string } | null {
  if (issue.type === 'pipeline_stale') return null;
  return {
    noun: issue.integration_kind === 'remediation_component' ? 'remediation component' : 'firewall',
    name: issue.integration_name,
  };
}

/** Fills `template` (with one `{name}` slot) so the whole text fits `max` characters. */
function fitName(template: string, name: string, max: number): string {
  const room = max - (template.length - '{name}'.length);
  // split/join, not String.replace: a name holding `$&` or `$'` must stay literal.
  return template.split('{name}').join(clip(name, Math.max(1, room)));
}

const TAG: Record<NotificationEvent, (issue: Issue) => string> = {
  issue_opened: (issue) => issue.criticality.toUpperCase(),
  issue_reminder: (issue) => `STILL OPEN (${issue.criticality})`,
  issue_resolved: () => 'RESOLVED',
};

const durationOf = (issue: Issue, now: Iso) =>
  humanDuration(secondsBetween(issue.opened_at, issue.resolved_at ?? now));

export function renderSubject(issue: Issue, event: NotificationEvent): string {
  const title = `[pullwatch] ${TAG[event](issue)}: ${ISSUE_TYPE_INFO[issue.type].title}`;
  const subject = subjectOf(issue);
  if (!subject) return clip(title, SUBJECT_MAX);
  return fitName(`${title}: {name}`, oneLine(subject.name), SUBJECT_MAX);
}

function messageParts(issue: Issue, event: NotificationEvent, now: Iso): MessageParts {
  const subject = subjectOf(issue);
  const lastPull =
    issue.type === 'pipeline_stale'
      ? minuteUtc(issue.newest_record_at)
      : issue.last_pull_at
        ? `last pulled ${minuteUtc(issue.last_pull_at)}`
        : 'never pulled';
  return {
    tag: TAG[event](issue),
    who: subject ? `${subject.noun} "{name}"` : '',
    lastPull,
    since: minuteUtc(issue.opened_at),
    cause: SHORT_CAUSE[issue.diagnosis.code],
    lasted: durationOf(issue, now),
    resolution: issue.resolution ?? 'pull_resumed',
  };
}

export function renderSms(issue: Issue, event: NotificationEvent, now: Iso): string {
  // The fixed words are plain ASCII; only the name can bring in characters outside GSM-7.
  const template = ISSUE_TYPE_INFO[issue.type].sms[event](messageParts(issue, event, now));
  const subject = subjectOf(issue);
  if (!subject) return clip(template, SMS_SEGMENT_LENGTH);
  return fitName(template, toGsm7(oneLine(subject.name)), SMS_SEGMENT_LENGTH);
}

export function renderEmail(
  issue: Issue,
  event: NotificationEvent,
  context: { now: Iso; consoleUrl?: string },
): string {
  const info = ISSUE_TYPE_INFO[issue.type];
  const subject = subjectOf(issue);
  const who = subject ? `${subject.noun} "${oneLine(subject.name)}" (${issue.integration_id})` : '';
  const lines: string[] = [];
  const [lastPullLabel, lastPull] =
    issue.type === 'pipeline_stale'
      ? ['Newest log record:   ', issue.newest_record_at]
      : ['Last successful pull:', issue.last_pull_at ?? 'never'];
  if (event === 'issue_resolved') {
    const why =
      issue.resolution === 'paused'
        ? 'The integration was paused, so it is no longer watched.'
        : issue.resolution === 'deleted'
          ? 'The integration was deleted.'
          : info.resumed(issue.resolved_at ?? context.now);
    lines.push(
      `Resolved: ${info.title}`,
      '',
      subject ? `The ${who} is back. ${why}` : why,
      '',
      `${info.offline ? 'Offline since:' : 'Open since:   '} ${issue.opened_at}`,
      `Resolved at:   ${issue.resolved_at}`,
      `${info.offline ? 'Offline for:  ' : 'Lasted:       '} ${durationOf(issue, context.now)}`,
    );
  } else {
    lines.push(
      `${event === 'issue_reminder' ? 'Still open: ' : ''}${info.title} (${issue.criticality})`,
      '',
      info.opening(who),
      '',
      `${lastPullLabel} ${lastPull}`,
      `${info.offline ? 'Offline since:       ' : 'Open since:          '} ${issue.opened_at}${event === 'issue_reminder' ? ` (${durationOf(issue, context.now)} ago)` : ''}`,
      `Noticed at:           ${issue.detected_at}`,
      '',
      `Probable cause: ${issue.diagnosis.summary}`,
      '',
      'What to check:',
      ...issue.diagnosis.steps.map((step, index) => `  ${index + 1}. ${step}`),
      '',
      'This issue resolves by itself once the cause is gone; you will get a message when it does.',
    );
  }
  if (context.consoleUrl)
    lines.push('', `Details: ${context.consoleUrl.replace(/\/$/, '')}/issues/${issue.id}`);
  return `${lines.join('\n')}\n`;
}

export function renderNotification(
  issue: Issue,
  event: NotificationEvent,
  context: { now: Iso; consoleUrl?: string },
): Notification {
  return {
    event,
    org_id: issue.org_id,
    issue_id: issue.id,
    issue_type: issue.type,
    criticality: issue.criticality,
    subject: renderSubject(issue, event),
    email: renderEmail(issue, event, context),
    sms: renderSms(issue, event, context.now),
    attributes: { org_id: issue.org_id, issue_type: issue.type, criticality: issue.criticality, event },
  };
}

/** Storm control: many events of one organization in one pass, as one message that lists them. */
export function renderDigest(
  orgId: string,
  entries: Array<{ issue: Issue; event: NotificationEvent }>,
  context: { now: Iso; consoleUrl?: string },
): Notification {
  const count = (event: NotificationEvent) => entries.filter((entry) => entry.event === event).length;
  const opened = count('issue_opened');
  const reminded = count('issue_reminder');
  const resolved = count('issue_resolved');
  const critical = entries.filter(
    (entry) => entry.event !== 'issue_resolved' && entry.issue.criticality === 'critical',
  ).length;
  const criticality: Criticality = critical > 0 ? 'critical' : 'high';
  const summary = `${opened} opened (${critical} critical), ${resolved} resolved, ${reminded} still open`;
  const label: Record<NotificationEvent, string> = {
    issue_opened: 'OPENED  ',
    issue_reminder: 'STILL   ',
    issue_resolved: 'RESOLVED',
  };
  const lines = [
    `${entries.length} pullwatch notifications at once: ${summary}.`,
    'They are listed here in one message instead of one message each.',
    '',
    ...entries.map(({ issue, event }) => {
      const subject = subjectOf(issue);
      const what = subject ? `"${oneLine(subject.name)}" (${issue.integration_id})` : '(deployment)';
      const detail =
        event === 'issue_resolved'
          ? `after ${durationOf(issue, context.now)}`
          : `since ${issue.opened_at}; ${issue.diagnosis.summary}`;
      return `${label[event]} ${issue.criticality.padEnd(8)} ${ISSUE_TYPE_INFO[issue.type].title}: ${what} ${detail}`;
    }),
  ];
  if (context.consoleUrl) lines.push('', `Console: ${context.consoleUrl.replace(/\/$/, '')}/issues`);
  return {
    event: 'issue_digest',
    org_id: orgId,
    issue_id: null,
    issue_type: 'digest',
    criticality,
    subject: clip(`[pullwatch] ${entries.length} notifications: ${summary}`, SUBJECT_MAX),
    email: `${lines.join('\n')}\n`,
    sms: clip(
      `pullwatch: ${entries.length} notifications: ${summary}. Details by email.`,
      SMS_SEGMENT_LENGTH,
    ),
    attributes: { org_id: orgId, issue_type: 'digest', criticality, event: 'issue_digest' },
  };
}
