import { type Criticality, ISSUE_TITLES, type Issue, type NotificationEvent } from '../issue/index.ts';
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

const RESOLVED_SMS: Record<NonNullable<Issue['resolution']>, string> = {
  pull_resumed: 'pulls again after',
  paused: 'was paused (no longer watched) after',
  deleted: 'was deleted after',
};

const minuteUtc = (at: Iso) => `${at.slice(0, 16).replace('T', ' ')} UTC`;

function noun(issue: Issue): string {
  return issue.type === 'rc_integration_offline' ? 'remediation component' : 'firewall';
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
  const name = oneLine(issue.integration_name);
  return fitName(`[pullwatch] ${TAG[event](issue)}: ${ISSUE_TITLES[issue.type]}: {name}`, name, SUBJECT_MAX);
}

export function renderSms(issue: Issue, event: NotificationEvent, now: Iso): string {
  const name = toGsm7(oneLine(issue.integration_name));
  const who = `${noun(issue)} "{name}"`;
  const cause = SHORT_CAUSE[issue.diagnosis.code];
  const lasted = durationOf(issue, now);
  const lastPull = issue.last_pull_at ? `last pulled ${minuteUtc(issue.last_pull_at)}` : 'never pulled';
  // The fixed words are plain ASCII; only the name can bring in characters outside GSM-7.
  let template: string;
  if (issue.type === 'pipeline_stale') {
    template =
      event === 'issue_resolved'
        ? `pullwatch RESOLVED: pull logs flow again after ${lasted}; offline detection resumed.`
        : `pullwatch ${TAG[event](issue)}: no pull-log record since ${minuteUtc(issue.last_pull_at ?? issue.opened_at)}; offline alerts on hold.`;
  } else if (issue.type === 'integration_auth_failing') {
    template =
      event === 'issue_opened'
        ? `pullwatch ${TAG[event](issue)}: ${who} credentials rejected since ${minuteUtc(issue.opened_at)}; likely ${cause}.`
        : event === 'issue_reminder'
          ? `pullwatch ${TAG[event](issue)}: ${who} credentials rejected for ${lasted}; likely ${cause}.`
          : `pullwatch RESOLVED: ${who} ${issue.resolution === 'pull_resumed' ? 'credentials accepted again' : RESOLVED_SMS[issue.resolution ?? 'pull_resumed']} after ${lasted}.`;
  } else {
    template =
      event === 'issue_opened'
        ? `pullwatch ${TAG[event](issue)}: ${who} ${lastPull}; likely ${cause}.`
        : event === 'issue_reminder'
          ? `pullwatch ${TAG[event](issue)}: ${who} offline for ${lasted}, ${lastPull}; likely ${cause}.`
          : `pullwatch RESOLVED: ${who} ${RESOLVED_SMS[issue.resolution ?? 'pull_resumed']} ${lasted} offline.`;
  }
  return fitName(template, name, SMS_SEGMENT_LENGTH);
}

function opening(issue: Issue, name: string): string {
  if (issue.type === 'pipeline_stale') {
    return 'No pull-log record has reached pullwatch for longer than the freshness limit. Until records flow again, no integration is flagged offline, so a log outage does not page every customer.';
  }
  if (issue.type === 'integration_auth_failing') {
    return `The ${noun(issue)} "${name}" (${issue.integration_id}) keeps trying to pull its blocklist, but its credentials are rejected, and no pull has succeeded since. It will be flagged offline once its threshold runs out.`;
  }
  return `The ${noun(issue)} "${name}" (${issue.integration_id}) has not pulled its blocklist for longer than its threshold, so it enforces an old list.`;
}

export function renderEmail(
  issue: Issue,
  event: NotificationEvent,
  context: { now: Iso; consoleUrl?: string },
): string {
  const name = oneLine(issue.integration_name);
  const lines: string[] = [];
  const lastPull = issue.last_pull_at ? `${issue.last_pull_at}` : 'never';
  const lastPullLabel = issue.type === 'pipeline_stale' ? 'Newest log record:   ' : 'Last successful pull:';
  const offline = issue.type === 'fw_integration_offline' || issue.type === 'rc_integration_offline';
  if (event === 'issue_resolved') {
    const why =
      issue.resolution === 'paused'
        ? 'The integration was paused, so it is no longer watched.'
        : issue.resolution === 'deleted'
          ? 'The integration was deleted.'
          : issue.type === 'pipeline_stale'
            ? `Pull-log records flow again (newest at ${issue.resolved_at}); offline detection has resumed.`
            : issue.type === 'integration_auth_failing'
              ? `A pull succeeded again at ${issue.resolved_at}.`
              : `The integration pulled its blocklist again at ${issue.resolved_at}.`;
    lines.push(
      `Resolved: ${ISSUE_TITLES[issue.type]}`,
      '',
      issue.type === 'pipeline_stale'
        ? why
        : `The ${noun(issue)} "${name}" (${issue.integration_id}) is back. ${why}`,
      '',
      `${offline ? 'Offline since:' : 'Open since:   '} ${issue.opened_at}`,
      `Resolved at:   ${issue.resolved_at}`,
      `${offline ? 'Offline for:  ' : 'Lasted:       '} ${durationOf(issue, context.now)}`,
    );
  } else {
    lines.push(
      `${event === 'issue_reminder' ? 'Still open: ' : ''}${ISSUE_TITLES[issue.type]} (${issue.criticality})`,
      '',
      opening(issue, name),
      '',
      `${lastPullLabel} ${lastPull}`,
      `${offline ? 'Offline since:       ' : 'Open since:          '} ${issue.opened_at}${event === 'issue_reminder' ? ` (${durationOf(issue, context.now)} ago)` : ''}`,
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
      const name = oneLine(issue.integration_name);
      const detail =
        event === 'issue_resolved'
          ? `after ${durationOf(issue, context.now)}`
          : `since ${issue.opened_at}; ${issue.diagnosis.summary}`;
      return `${label[event]} ${issue.criticality.padEnd(8)} ${ISSUE_TITLES[issue.type]}: "${name}" (${issue.integration_id ?? 'deployment'}) ${detail}`;
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
