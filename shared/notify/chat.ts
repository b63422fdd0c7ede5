import { z } from 'zod';
import type { Criticality, Issue, NotificationEvent } from '../issue/index.ts';
import { ISSUE_TYPE_INFO } from '../issue/types.ts';
import { clip, oneLine } from '../text.ts';
import { type Iso, minuteUtc } from '../time.ts';
import { durationOf, subjectOf, TAG, whyResolved } from './text.ts';

/**
 * The chat form of a notification: a custom notification of Amazon Q Developer in chat applications (formerly
 * AWS Chatbot), which posts it to the Slack and Microsoft Teams channels configured on the alert topic.
 *
 * Written from "Custom notifications using Amazon Q Developer in chat applications" (Administrator Guide,
 * https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html), sections "Event schema" and
 * "Parameter details":
 * - `version` (required) must be `1.0`; `source` (required) must be `custom`; `id` (optional) is a unique event
 *   identifier;
 * - `content.textType` (optional): only `client-markdown` is supported, rendered in the target chat platform's
 *   own markdown; `content.title` supports markdown including emojis; `content.description` (required),
 *   `content.nextSteps` and `content.keywords` are lists of strings;
 * - `metadata` (optional): `threadId` groups notifications into one thread (when the channel's preferences
 *   allow threads), `summary`, `eventType`, `relatedResources` (strings) and `additionalContext` (a map of
 *   string to string).
 *
 * Sizes: the page gives no per-field limit that we could find, so the caps below are ours and conservative:
 * a title fits one line of a chat client, and the description stays within 3,000 characters, the size of one
 * Slack text block (the smaller of the two clients). The whole form is then a few KB, far below SNS's 256 KiB
 * (sns-size.ts), and a digest stays one message whatever the number of issues it lists.
 */
export const CHAT_LIMITS = {
  title: 250,
  description: 3000,
  nextSteps: 10,
  step: 500,
  keywords: 5,
  keyword: 64,
  summary: 250,
  id: 200,
  threadId: 128,
  relatedResources: 10,
  contextValue: 1000,
} as const;

const text = (max: number) => z.string().min(1).max(max);

export const ChatNotificationSchema = z
  .object({
    version: z.literal('1.0'),
    source: z.literal('custom'),
    id: text(CHAT_LIMITS.id).optional(),
    content: z
      .object({
        textType: z.literal('client-markdown'),
        title: text(CHAT_LIMITS.title),
        description: text(CHAT_LIMITS.description),
        nextSteps: z.array(text(CHAT_LIMITS.step)).max(CHAT_LIMITS.nextSteps).optional(),
        keywords: z.array(text(CHAT_LIMITS.keyword)).max(CHAT_LIMITS.keywords).optional(),
      })
      .strict(),
    metadata: z
      .object({
        threadId: z
          .string()
          .regex(/^[A-Za-z0-9_.:-]+$/)
          .max(CHAT_LIMITS.threadId)
          .optional(),
        summary: text(CHAT_LIMITS.summary).optional(),
        eventType: text(CHAT_LIMITS.keyword).optional(),
        relatedResources: z.array(text(CHAT_LIMITS.id)).max(CHAT_LIMITS.relatedResources).optional(),
        additionalContext: z.record(z.string(), z.string().max(CHAT_LIMITS.contextValue)).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ChatNotification = z.infer<typeof ChatNotificationSchema>;

/**
 * The mark in front of a chat title, by criticality: a colour a channel reader sees before the words. A new
 * criticality has to be given one here, or the type check fails.
 */
export const CHAT_MARK: Record<Criticality, string> = {
  critical: '🔴',
  high: '🟠',
  warning: '🟡',
};
const RESOLVED_MARK = '✅';

/**
 * Text we did not write (an integration's name, a bouncer name in a diagnosis) must not turn into chat markup:
 * `<!channel>` or `<@U123>` would ping people in Slack, `<https://...|text>` would be a link, and `<at>` a
 * mention in Teams. Each starts with `<`, which becomes a look-alike; a lone `>` is left (our steps use it for
 * menu paths, and no line of ours starts with untrusted text, where it would quote).
 * Applied to every field a chat client shows (see `fitted`).
 */
export const chatSafe = (value: string) =>
  value
    .replace(/</g, '‹')
    // A lone surrogate (half an emoji cut by someone else's tool) is not text a chat client can show, and JSON
    // would write it as a 6-character escape; it becomes the replacement character.
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

/** A name in a chat line: one line, in a code span so no markdown in it applies. */
const chatName = (name: string) => `\`${chatSafe(oneLine(name)).replace(/`/g, "'")}\``;

const withConsole = (consoleUrl: string | undefined, path: string) =>
  consoleUrl ? [`Details: ${consoleUrl.replace(/\/$/, '')}${path}`] : [];

/** Cuts every field to its cap; the renderers stay below them, this is the guarantee. */
function fitted(chat: ChatNotification): ChatNotification {
  const cut = (value: string, max: number) => clip(chatSafe(value), max);
  const { content, metadata } = chat;
  return {
    ...chat,
    content: {
      textType: content.textType,
      title: cut(oneLine(content.title), CHAT_LIMITS.title),
      // Line by line: the lines stay, anything else that would break one (control characters) goes.
      description: cut(content.description.split('\n').map(oneLine).join('\n'), CHAT_LIMITS.description),
      ...(content.nextSteps && content.nextSteps.length > 0
        ? {
            nextSteps: content.nextSteps
              .slice(0, CHAT_LIMITS.nextSteps)
              .map((step) => cut(oneLine(step), CHAT_LIMITS.step)),
          }
        : {}),
      ...(content.keywords
        ? {
            keywords: content.keywords.slice(0, CHAT_LIMITS.keywords).map((k) => cut(k, CHAT_LIMITS.keyword)),
          }
        : {}),
    },
    ...(metadata
      ? {
          metadata: {
            ...metadata,
            ...(metadata.summary ? { summary: cut(oneLine(metadata.summary), CHAT_LIMITS.summary) } : {}),
          },
        }
      : {}),
  };
}

/** The issue's thread: its opening, reminders and resolution are posted in it. */
export const chatThreadId = (issue: Pick<Issue, 'id'>) => `pullwatch-${issue.id}`;

/** The chat form of one issue event. `summary` is the one-line subject (without the `[pullwatch]` tag). */
export function renderChat(
  issue: Issue,
  event: NotificationEvent,
  context: { now: Iso; consoleUrl?: string; summary: string },
): ChatNotification {
  const info = ISSUE_TYPE_INFO[issue.type];
  const subject = subjectOf(issue);
  const who = subject ? `${subject.noun} ${chatName(subject.name)}` : '';
  const mark = event === 'issue_resolved' ? RESOLVED_MARK : CHAT_MARK[issue.criticality];
  const title = `${mark} ${TAG[event](issue)}: ${info.title}${subject ? `: ${who}` : ''}`;
  const [lastPullLabel, lastPull] =
    issue.type === 'pipeline_stale'
      ? ['Newest log record', minuteUtc(issue.newest_record_at)]
      : ['Last successful pull', issue.last_pull_at ? minuteUtc(issue.last_pull_at) : 'never'];
  const since = `${info.offline ? 'Offline since' : 'Open since'}: ${minuteUtc(issue.opened_at)}`;
  const lasted = durationOf(issue, context.now);
  let description: string[];
  let nextSteps: string[];
  if (event === 'issue_resolved') {
    const why = whyResolved(issue, minuteUtc(issue.resolved_at ?? context.now));
    description = [
      subject ? `The ${who} is back. ${why}` : why,
      '',
      since,
      `${info.offline ? 'Offline for' : 'Lasted'}: ${lasted}`,
    ];
    nextSteps = withConsole(context.consoleUrl, `/issues/${issue.id}`);
  } else {
    description = [
      info.opening(subject ? `${who} (${issue.integration_id})` : ''),
      '',
      `${lastPullLabel}: ${lastPull}`,
      `${since}${event === 'issue_reminder' ? ` (${lasted} ago)` : ''}`,
      `Probable cause: ${issue.diagnosis.summary}`,
    ];
    nextSteps = [...issue.diagnosis.steps, ...withConsole(context.consoleUrl, `/issues/${issue.id}`)];
  }
  return fitted({
    version: '1.0',
    source: 'custom',
    id: event === 'issue_reminder' ? `${issue.id}.${event}.${context.now}` : `${issue.id}.${event}`,
    content: {
      textType: 'client-markdown',
      title,
      description: description.join('\n'),
      nextSteps,
      keywords: [
        event === 'issue_resolved' ? 'resolved' : issue.criticality,
        issue.type,
        issue.diagnosis.code,
      ],
    },
    metadata: {
      threadId: chatThreadId(issue),
      summary: context.summary,
      eventType: event,
      ...(issue.integration_id ? { relatedResources: [issue.integration_id] } : {}),
      additionalContext: {
        org_id: issue.org_id,
        issue_id: issue.id,
        issue_type: issue.type,
        criticality: issue.criticality,
        event,
        ...(issue.integration_id ? { integration_id: issue.integration_id } : {}),
      },
    },
  });
}

/** One issue event as a line of a digest's chat form. */
export function chatDigestLine(issue: Issue, event: NotificationEvent, now: Iso): string {
  const subject = subjectOf(issue);
  const what = subject ? `${chatName(subject.name)} (${issue.integration_id})` : '(deployment)';
  const detail =
    event === 'issue_resolved'
      ? `back after ${durationOf(issue, now)}`
      : `since ${minuteUtc(issue.opened_at)};${event === 'issue_reminder' ? ' still open;' : ''} ${issue.diagnosis.summary}`;
  const mark = event === 'issue_resolved' ? RESOLVED_MARK : CHAT_MARK[issue.criticality];
  return `${mark} ${ISSUE_TYPE_INFO[issue.type].title}: ${what} ${detail}`;
}

/**
 * The chat form of a digest (or of one part of it): one message, no thread (it is about many issues). Its lines
 * are listed until the description is full; the rest are counted, and the email and the console list them.
 */
export function renderDigestChat(parts: {
  orgId: string;
  /** Names what the part lists (see renderDigest). */
  key: string;
  criticality: Criticality;
  /** Only resolutions: good news, marked as such. */
  allResolved: boolean;
  title: string;
  lead: string[];
  lines: string[];
  nextSteps: string[];
  now: Iso;
  part: number;
}): ChatNotification {
  const head = [...parts.lead, ''].join('\n');
  const room = CHAT_LIMITS.description - head.length;
  const listed: string[] = [];
  let used = 0;
  for (const [index, line] of parts.lines.entries()) {
    const safe = clip(chatSafe(oneLine(line)), 400);
    const left = parts.lines.length - index - 1;
    // Keep room for the "and N more" line whenever lines follow.
    const reserve = left > 0 ? 80 : 0;
    if (used + safe.length + 1 + reserve > room) {
      listed.push(`... and ${parts.lines.length - index} more, listed in the email and the console.`);
      break;
    }
    listed.push(safe);
    used += safe.length + 1;
  }
  return fitted({
    version: '1.0',
    source: 'custom',
    id: `digest.${parts.orgId}.${parts.now}.${parts.key}.${parts.part}`,
    content: {
      textType: 'client-markdown',
      title: `${parts.allResolved ? RESOLVED_MARK : CHAT_MARK[parts.criticality]} ${parts.title}`,
      description: `${head}\n${listed.join('\n')}`,
      nextSteps: parts.nextSteps,
      keywords: [parts.allResolved ? 'resolved' : parts.criticality, 'digest'],
    },
    metadata: {
      summary: parts.title,
      eventType: 'issue_digest',
      additionalContext: { org_id: parts.orgId, criticality: parts.criticality, event: 'issue_digest' },
    },
  });
}
