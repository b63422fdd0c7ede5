import { type Criticality, ISSUE_TITLES, type Issue, type NotificationEvent } from '../issue/index.ts';
import { humanDuration, type Iso, secondsBetween } from '../time.ts';
import { SMS_SEGMENT_LENGTH, toGsm7 } from './gsm7.ts';

/** One message about one issue event, in every form a subscriber may receive it. */
export interface Notification {
  event: NotificationEvent;
  org_id: string;
  issue_id: string;
  issue_type: Issue['type'];
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

export function renderSubject(issue: Issue, event: NotificationEvent): string {
  const name = oneLine(issue.integration_name);
  const template =
    event === 'issue_opened'
      ? `[pullwatch] ${issue.criticality.toUpperCase()}: ${ISSUE_TITLES[issue.type]}: {name}`
      : `[pullwatch] RESOLVED: ${ISSUE_TITLES[issue.type]}: {name}`;
  return fitName(template, name, SUBJECT_MAX);
}

export function renderSms(issue: Issue, event: NotificationEvent): string {
  const name = toGsm7(oneLine(issue.integration_name));
  // The fixed words are plain ASCII; only the name can bring in characters outside GSM-7.
  const template =
    event === 'issue_opened'
      ? `pullwatch ${issue.criticality.toUpperCase()}: ${noun(issue)} "{name}" ${issue.last_pull_at ? `last pulled ${minuteUtc(issue.last_pull_at)}` : 'never pulled'}; likely ${SHORT_CAUSE[issue.diagnosis.code]}.`
      : `pullwatch RESOLVED: ${noun(issue)} "{name}" ${RESOLVED_SMS[issue.resolution ?? 'pull_resumed']} ${humanDuration(secondsBetween(issue.opened_at, issue.resolved_at ?? issue.opened_at))} offline.`;
  return fitName(template, name, SMS_SEGMENT_LENGTH);
}

export function renderEmail(
  issue: Issue,
  event: NotificationEvent,
  context: { now: Iso; consoleUrl?: string },
): string {
  const name = oneLine(issue.integration_name);
  const lines: string[] = [];
  const lastPull = issue.last_pull_at ? `${issue.last_pull_at}` : 'never';
  if (event === 'issue_opened') {
    lines.push(
      `${ISSUE_TITLES[issue.type]} (${issue.criticality})`,
      '',
      `The ${noun(issue)} "${name}" (${issue.integration_id}) has not pulled its blocklist for longer than its threshold, so it enforces an old list.`,
      '',
      `Last successful pull: ${lastPull}`,
      `Offline since:        ${issue.opened_at}`,
      `Noticed at:           ${issue.detected_at}`,
      '',
      `Probable cause: ${issue.diagnosis.summary}`,
      '',
      'What to check:',
      ...issue.diagnosis.steps.map((step, index) => `  ${index + 1}. ${step}`),
      '',
      'This issue resolves by itself once the integration pulls again; you will get a message when it does.',
    );
  } else {
    const downFor = humanDuration(secondsBetween(issue.opened_at, issue.resolved_at ?? context.now));
    const why =
      issue.resolution === 'paused'
        ? 'The integration was paused, so it is no longer watched.'
        : issue.resolution === 'deleted'
          ? 'The integration was deleted.'
          : `The integration pulled its blocklist again at ${issue.resolved_at}.`;
    lines.push(
      `Resolved: ${ISSUE_TITLES[issue.type]}`,
      '',
      `The ${noun(issue)} "${name}" (${issue.integration_id}) is back. ${why}`,
      '',
      `Offline since: ${issue.opened_at}`,
      `Resolved at:   ${issue.resolved_at}`,
      `Offline for:   ${downFor}`,
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
    sms: renderSms(issue, event),
    attributes: { org_id: issue.org_id, issue_type: issue.type, criticality: issue.criticality, event },
  };
}
