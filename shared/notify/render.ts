import { stableId } from '../crypto.ts';
import { sharedOutageParts } from '../issue/diagnosis.ts';
import { CRITICALITIES, type Criticality, type Issue, type NotificationEvent } from '../issue/index.ts';
import { ISSUE_TYPE_INFO, type MessageParts } from '../issue/types.ts';
import type { DiagnosisGroup } from '../outage/index.ts';
import { clip, oneLine } from '../text.ts';
import { humanDuration, type Iso, minuteUtc, secondsBetween } from '../time.ts';
import { chatDigestLine, renderChat, renderDigestChat } from './chat.ts';
import { gsm7Septets, SMS_BUDGET, toGsm7 } from './gsm7.ts';
import type { Notification } from './notification.ts';
import {
  CHAT_DESCRIPTION_MAX_BYTES,
  capEmail,
  emailLineBytes,
  publishBytes,
  SNS_PUBLISH_BUDGET_BYTES,
} from './sns-size.ts';
import { durationOf, fitName, subjectOf, TAG, whyResolved } from './text.ts';

export type { Notification } from './notification.ts';

export const SUBJECT_MAX = 99;

/** A subject without its `[pullwatch] ` tag: the chat form's summary (the channel already says who posts). */
const untagged = (subject: string) => subject.replace(/^\[pullwatch\] /, '');

const SHORT_CAUSE: Record<Issue['diagnosis']['code'], string> = {
  never_pulled: 'not set up on the device yet',
  credentials_rejected: 'credentials rejected',
  credentials_not_updated: 'new credentials not set on device',
  credentials_missing: 'device sends no credentials',
  rate_limited: 'rate limited (429)',
  server_errors: 'endpoint errors (5xx)',
  no_requests: 'no requests seen',
  bouncer_revoked: 'bouncer revoked',
  bouncer_removed: 'bouncer deleted from engine',
  shared_outage: 'shared outage',
};

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
  const silentFrom = issue.type === 'pipeline_stale' ? issue.newest_record_at : issue.last_pull_at;
  const usual = issue.type === 'pipeline_stale' ? undefined : issue.cadence?.usual_interval_seconds;
  return {
    tag: TAG[event](issue),
    who: subject ? `${subject.noun} "{name}"` : '',
    lastPull,
    since: minuteUtc(issue.opened_at),
    cause: SHORT_CAUSE[issue.diagnosis.code],
    lasted: durationOf(issue, now),
    resolution: issue.resolution ?? 'pull_resumed',
    usual: usual ? humanDuration(usual) : 'its usual rhythm',
    silence: silentFrom ? humanDuration(secondsBetween(silentFrom, now)) : durationOf(issue, now),
    silentSince: silentFrom ? `${silentFrom.slice(11, 16)} UTC` : minuteUtc(issue.opened_at),
  };
}

/** The email's lines on the rhythm a late warning was judged against. */
function rhythmLines(issue: Issue): string[] {
  if (issue.type === 'pipeline_stale' || !issue.cadence) return [];
  const { state, usual_interval_seconds: usual, pulled_days: days } = issue.cadence;
  const every = usual ? `a pull every ~${humanDuration(usual)}` : 'its usual rhythm';
  return [
    `Usual rhythm:         ${state === 'steady' ? every : `${every} while active, on a daily pattern`}`,
    `Learned from:         the 7 days before, ${days} of them with pulls`,
  ];
}

export function renderSms(issue: Issue, event: NotificationEvent, now: Iso): string {
  // The fixed words are plain ASCII; only the name can bring in characters outside GSM-7.
  const template = ISSUE_TYPE_INFO[issue.type].sms[event](messageParts(issue, event, now));
  const subject = subjectOf(issue);
  // An extension character of our fixed words (the `~` of a warning) takes two septets of the segment.
  const fixed = template.split('{name}').join('');
  const budget = SMS_BUDGET - ((gsm7Septets(fixed) ?? fixed.length) - fixed.length);
  if (!subject) return clip(template, budget);
  return fitName(template, toGsm7(oneLine(subject.name)), budget);
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
    const why = whyResolved(issue, issue.resolved_at ?? context.now);
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
      ...rhythmLines(issue),
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
  const subject = renderSubject(issue, event);
  return capEmail({
    event,
    org_id: issue.org_id,
    issue_id: issue.id,
    issue_type: issue.type,
    criticality: issue.criticality,
    subject,
    email: renderEmail(issue, event, context),
    sms: renderSms(issue, event, context.now),
    chat: renderChat(issue, event, { ...context, summary: untagged(subject) }),
    attributes: { org_id: issue.org_id, issue_type: issue.type, criticality: issue.criticality, event },
  });
}

/** The most urgent of some criticalities (CRITICALITIES is ordered most urgent first). */
function worstCriticality(all: Criticality[]): Criticality {
  return CRITICALITIES.find((criticality) => all.includes(criticality)) ?? 'high';
}

/** One issue's events in a digest: they stay together in one part. */
export type DigestGroup = Array<{ issue: Issue; event: NotificationEvent }>;

/** A digest line longer than this is cut (a name is the only part of unbounded length). */
const DIGEST_LINE_MAX = 1000;

/**
 * Storm control: many events of one organization in one pass, as one message that lists them, or as few
 * parts as fit SNS's publish limit (every part with every key within `budget` bytes, see sns-size.ts). Each
 * part says which part it is and how many notifications and issues there are in all; an issue's events are
 * never split across parts. Returns the parts in order, each with the indexes of the groups it lists.
 */
export function renderDigest(
  orgId: string,
  groups: DigestGroup[],
  context: { now: Iso; consoleUrl?: string },
  budget = SNS_PUBLISH_BUDGET_BYTES,
): Array<{ notification: Notification; groups: number[] }> {
  const entries = groups.flat();
  const count = (event: NotificationEvent) => entries.filter((entry) => entry.event === event).length;
  const opened = count('issue_opened');
  const reminded = count('issue_reminder');
  const resolved = count('issue_resolved');
  const critical = entries.filter(
    (entry) => entry.event !== 'issue_resolved' && entry.issue.criticality === 'critical',
  ).length;
  const news = entries.filter((entry) => entry.event !== 'issue_resolved');
  const allResolved = entries.length > 0 && news.length === 0;
  // The worst criticality of what it opens or reminds of. A digest of good news only carries the criticality of
  // the worst issue it closes, as a single resolution does, so a subscription filtered on criticality hears the
  // end of what it heard begin; one of warnings only is a warning.
  const criticality = worstCriticality(
    (news.length > 0 ? news : entries).map((entry) => entry.issue.criticality),
  );
  const summary = `${opened} opened (${critical} critical), ${resolved} resolved, ${reminded} still open`;
  const label: Record<NotificationEvent, string> = {
    issue_opened: 'OPENED  ',
    issue_reminder: 'STILL   ',
    issue_resolved: 'RESOLVED',
  };
  const lineOf = ({ issue, event }: DigestGroup[number]) => {
    const subject = subjectOf(issue);
    const what = subject ? `"${oneLine(subject.name)}" (${issue.integration_id})` : '(deployment)';
    const detail =
      event === 'issue_resolved'
        ? `after ${durationOf(issue, context.now)}`
        : `since ${issue.opened_at}; ${issue.diagnosis.summary}`;
    return clip(
      `${label[event]} ${issue.criticality.padEnd(8)} ${ISSUE_TYPE_INFO[issue.type].title}: ${what} ${detail}`,
      DIGEST_LINE_MAX,
    );
  };
  const lines = groups.map((group) => group.map(lineOf));
  const issues = `${groups.length} issue${groups.length === 1 ? '' : 's'}`;
  // Openings that share a cause (outage/): the cause leads the message, the largest group first.
  const shared = new Map<string, DiagnosisGroup>();
  for (const { issue, event } of entries) {
    const group = issue.diagnosis.group;
    if (event === 'issue_opened' && group && !shared.has(group.key)) shared.set(group.key, group);
  }
  const causes = [...shared.values()]
    .sort((a, b) => b.silent - a.silent || (a.key < b.key ? -1 : 1))
    .map(sharedOutageParts);
  const lead = causes[0];
  // Nothing but one group's openings: the message is about that outage.
  const leadKey = shared.size === 1 ? [...shared.keys()][0] : undefined;
  const onlyOutage =
    lead !== undefined &&
    entries.every((entry) => entry.event === 'issue_opened' && entry.issue.diagnosis.group?.key === leadKey);

  const build = (part: number, parts: number, listed: number[]): Notification => {
    const inPart = listed.reduce((total, index) => total + (groups[index]?.length ?? 0), 0);
    const whole = parts === 1;
    const partOf = whole ? '' : ` (part ${part} of ${parts})`;
    const head = [
      ...(causes.length > 0
        ? [...causes.map((cause) => `Shared cause: ${cause.what}: ${cause.check}.`), '']
        : []),
      whole
        ? `${entries.length} pullwatch notifications at once (${issues}): ${summary}.`
        : `Part ${part} of ${parts}: ${entries.length} pullwatch notifications at once (${issues}): ${summary}.`,
      whole
        ? 'They are listed here in one message instead of one message each.'
        : `This part lists ${inPart} of them; the other parts list the rest (one message each, too large for one).`,
    ];
    const body = [...head, '', ...listed.flatMap((index) => lines[index] ?? [])];
    const consoleLink = context.consoleUrl
      ? `Console: ${context.consoleUrl.replace(/\/$/, '')}/issues`
      : null;
    if (consoleLink) body.push('', consoleLink);
    const subject = clip(
      onlyOutage
        ? `[pullwatch] ${criticality.toUpperCase()}${partOf}: ${lead.what}`
        : `[pullwatch] ${entries.length} notifications${partOf}: ${summary}`,
      SUBJECT_MAX,
    );
    const chat = renderDigestChat({
      orgId,
      // What this part lists names it: two digests of one pass (two outages) never share an id.
      key: stableId(
        'dg',
        ...listed.flatMap((index) => (groups[index] ?? []).map(({ issue, event }) => `${issue.id}:${event}`)),
      ),
      criticality,
      allResolved,
      title: untagged(subject),
      lead: head,
      lines: listed.flatMap((index) =>
        (groups[index] ?? []).map(({ issue, event }) => chatDigestLine(issue, event, context.now)),
      ),
      nextSteps: [
        ...causes.map((cause) => `Shared cause: ${cause.check}.`),
        ...(consoleLink ? [consoleLink] : []),
      ],
      now: context.now,
      part,
    });
    return {
      event: 'issue_digest',
      org_id: orgId,
      issue_id: null,
      issue_type: 'digest',
      criticality,
      subject,
      email: `${body.join('\n')}\n`,
      sms: clip(
        toGsm7(
          lead !== undefined
            ? `${criticality.toUpperCase()}${partOf}: ${lead.what}: ${lead.check}.${onlyOutage ? '' : ` ${entries.length} notifications; details by email.`}`
            : `${entries.length} notifications${partOf}: ${summary}. Details by email.`,
        ),
        SMS_BUDGET,
      ),
      chat,
      attributes: { org_id: orgId, issue_type: 'digest', criticality, event: 'issue_digest' },
    };
  };

  // What a part weighs before its lines, with the widest part numbers any part can have, and with room for a
  // full chat description (its lines are cut at a fixed size, so they never weigh more than that).
  const base =
    Math.max(publishBytes(build(1, 1, [])), publishBytes(build(groups.length, groups.length, []))) +
    CHAT_DESCRIPTION_MAX_BYTES;
  const packs: number[][] = [];
  let current: number[] = [];
  let size = base;
  for (const [index, group] of lines.entries()) {
    const cost = group.reduce((total, line) => total + emailLineBytes(line), 0);
    if (current.length > 0 && size + cost > budget) {
      packs.push(current);
      current = [];
      size = base;
    }
    current.push(index);
    size += cost;
  }
  packs.push(current);
  return packs.map((listed, index) => ({
    // capEmail only acts on a part holding one group too large alone, which the line cap rules out.
    notification: capEmail(build(index + 1, packs.length, listed), budget),
    groups: listed,
  }));
}
