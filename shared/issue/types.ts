import type { IssueType } from '../integration/index.ts';

/**
 * The issue types: everything that differs from one type to another is in this one table, which the rule
 * pass, the console order, the API and the messages all read, instead of each keeping its own switch.
 */
// Value lists, so schemas (the stored issue, the API's) enumerate them from here instead of copying them.
export const CRITICALITIES = ['critical', 'high'] as const;
export const ISSUE_STATES = ['open', 'resolved'] as const;
export const RESOLUTIONS = ['pull_resumed', 'paused', 'deleted'] as const;
export const NOTIFICATION_EVENTS = ['issue_opened', 'issue_reminder', 'issue_resolved'] as const;
export type Criticality = (typeof CRITICALITIES)[number];
export type Resolution = (typeof RESOLUTIONS)[number];
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

/** The words a message is built from; each type's templates choose among them. */
export interface MessageParts {
  /** `CRITICAL`, `STILL OPEN (high)` ... */
  tag: string;
  /** `firewall "{name}"`: the `{name}` slot is filled last, cut to what the length limit leaves. */
  who: string;
  /** `last pulled 2026-11-21 10:00 UTC` or `never pulled` (for the feed: its newest record). */
  lastPull: string;
  /** Minute of the moment the condition became true, `2026-11-21 10:00 UTC`. */
  since: string;
  /** Short probable cause, `no requests seen`. */
  cause: string;
  /** How long it lasted, `1 d 2 h`. */
  lasted: string;
  resolution: Resolution;
}

export interface IssueTypeInfo {
  criticality: Criticality;
  title: string;
  /** Whether one integration has it (an integration issue) or the whole deployment does. */
  scope: 'integration' | 'deployment';
  /** Is this issue the integration being offline (labels say "offline since" rather than "open since"). */
  offline: boolean;
  /** Console order of an integration while this issue is open: lower comes first. */
  consoleRank: number;
  /**
   * SMS text per event, with a `{name}` slot where the scope is an integration. No "pullwatch" word: SNS
   * already puts the topic's display name in front ("pullwatch> ").
   */
  sms: Record<NotificationEvent, (parts: MessageParts) => string>;
  /** The first paragraph of the email of an open issue. */
  opening: (who: string) => string;
  /** Why it was resolved by itself (pull resumed), with the resolution time. */
  resumed: (resolvedAt: string) => string;
}

/** How an integration issue ended, as the end of an SMS sentence. */
const ENDED: Record<Resolution, string> = {
  pull_resumed: 'pulls again after',
  paused: 'was paused (no longer watched) after',
  deleted: 'was deleted after',
};

const offline = (title: string): IssueTypeInfo => ({
  criticality: 'critical',
  title,
  scope: 'integration',
  offline: true,
  consoleRank: 1,
  sms: {
    issue_opened: (p) => `${p.tag}: ${p.who} ${p.lastPull}; likely ${p.cause}.`,
    // "offline for" already dates it; the last pull is in the email, and the room goes to the name.
    issue_reminder: (p) => `${p.tag}: ${p.who} offline for ${p.lasted}; likely ${p.cause}.`,
    issue_resolved: (p) => `RESOLVED: ${p.who} ${ENDED[p.resolution]} ${p.lasted} offline.`,
  },
  opening: (who) =>
    `The ${who} has not pulled its blocklist for longer than its threshold, so it enforces an old list.`,
  resumed: (at) => `The integration pulled its blocklist again at ${at}.`,
});

export const ISSUE_TYPE_INFO: Record<IssueType, IssueTypeInfo> = {
  fw_integration_offline: offline('Firewall Integration Offline'),
  rc_integration_offline: offline('Remediation Component Integration Offline'),
  integration_auth_failing: {
    criticality: 'high',
    title: 'Integration Credentials Rejected',
    scope: 'integration',
    offline: false,
    consoleRank: 2,
    sms: {
      issue_opened: (p) => `${p.tag}: ${p.who} credentials rejected since ${p.since}; likely ${p.cause}.`,
      issue_reminder: (p) => `${p.tag}: ${p.who} credentials rejected for ${p.lasted}; likely ${p.cause}.`,
      issue_resolved: (p) =>
        `RESOLVED: ${p.who} ${p.resolution === 'pull_resumed' ? 'credentials accepted again' : ENDED[p.resolution]} after ${p.lasted}.`,
    },
    opening: (who) =>
      `The ${who} keeps trying to pull its blocklist, but its credentials are rejected, and no pull has succeeded since. It will be flagged offline once its threshold runs out.`,
    resumed: (at) => `A pull succeeded again at ${at}.`,
  },
  pipeline_stale: {
    criticality: 'critical',
    title: 'Pull Logs Stopped Arriving',
    scope: 'deployment',
    offline: false,
    consoleRank: 1,
    sms: {
      issue_opened: (p) => `${p.tag}: no pull-log record since ${p.lastPull}; offline alerts on hold.`,
      issue_reminder: (p) => `${p.tag}: no pull-log record since ${p.lastPull}; offline alerts on hold.`,
      issue_resolved: (p) => `RESOLVED: pull logs flow again after ${p.lasted}; offline detection resumed.`,
    },
    opening: () =>
      'No pull-log record has reached pullwatch for longer than the freshness limit. Until records flow again, no integration is flagged offline, so a log outage does not page every customer.',
    resumed: (at) => `Pull-log records flow again (newest at ${at}); offline detection has resumed.`,
  },
};

export const criticalityOf = (type: IssueType): Criticality => ISSUE_TYPE_INFO[type].criticality;
export const titleOf = (type: IssueType): string => ISSUE_TYPE_INFO[type].title;
