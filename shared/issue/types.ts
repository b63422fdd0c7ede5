/**
 * The issue types: everything that differs from one type to another is in this one table, which the rule
 * pass, the console order and labels, the stored and API schemas and the messages all read, instead of each
 * keeping its own list or switch. A new type is one entry here (plus the rule that opens it).
 *
 * No zod here: the console's browser bundle reads the labels from this file.
 */
// Value lists, so schemas (the stored issue, the API's) enumerate them from here instead of copying them.
/** Most urgent first. `warning`: an early warning (a device later than its own rhythm), below `high`. */
export const CRITICALITIES = ['critical', 'high', 'warning'] as const;
export const ISSUE_STATES = ['open', 'resolved'] as const;
/** `escalated`: a warning that ended because the critical offline issue of the same integration opened. */
export const RESOLUTIONS = ['pull_resumed', 'paused', 'deleted', 'escalated'] as const;
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
  /** A late warning: the learned rhythm (`1 min`), and the silence so far (`34 min`) since `HH:MM UTC`. */
  usual: string;
  silence: string;
  silentSince: string;
}

export interface IssueTypeInfo {
  criticality: Criticality;
  title: string;
  /** The console's short label. */
  label: string;
  /** Whether one integration has it (an integration issue) or the whole deployment does. */
  scope: 'integration' | 'deployment';
  /** Is this issue the integration being offline (labels say "offline since" rather than "open since"). */
  offline: boolean;
  /** Console order of an integration while this issue is open: lower comes first. */
  consoleRank: number;
  /** Reminders while it stays open (a warning has none: the critical offline issue is its reminder). */
  reminders: boolean;
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
  escalated: 'is now offline after',
};

const offline = (title: string, label: string): IssueTypeInfo => ({
  criticality: 'critical',
  title,
  label,
  scope: 'integration',
  offline: true,
  consoleRank: 1,
  reminders: true,
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

const TABLE = {
  fw_integration_offline: offline('Firewall Integration Offline', 'Firewall offline'),
  rc_integration_offline: offline(
    'Remediation Component Integration Offline',
    'Remediation component offline',
  ),
  integration_pull_late: {
    criticality: 'warning',
    title: 'Integration Pull Late',
    label: 'Pull late',
    scope: 'integration',
    offline: false,
    // With the other early warning, after the critical ones.
    consoleRank: 2,
    reminders: false,
    sms: {
      issue_opened: (p) =>
        `${p.tag}: ${p.who} usually pulls every ~${p.usual}; silent ${p.silence} since ${p.silentSince}.`,
      issue_reminder: (p) => `${p.tag}: ${p.who} silent ${p.silence} since ${p.silentSince}.`,
      issue_resolved: (p) =>
        p.resolution === 'escalated'
          ? `OFFLINE: ${p.who} stayed silent; the critical offline alert follows.`
          : `RESOLVED: ${p.who} ${ENDED[p.resolution]} ${p.lasted} late.`,
    },
    opening: (who) =>
      `The ${who} has been silent far longer than its own usual rhythm. It is not offline yet (its threshold has not run out), but a device this regular does not usually go quiet: check it before the blocklist it enforces gets old.`,
    resumed: (at) => `The integration pulled its blocklist again at ${at}.`,
  },
  integration_auth_failing: {
    criticality: 'high',
    title: 'Integration Credentials Rejected',
    label: 'Pulls refused',
    scope: 'integration',
    offline: false,
    consoleRank: 2,
    reminders: true,
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
    label: 'Pull-log feed stale',
    scope: 'deployment',
    offline: false,
    consoleRank: 1,
    reminders: true,
    sms: {
      issue_opened: (p) => `${p.tag}: no pull-log record since ${p.lastPull}; offline alerts on hold.`,
      issue_reminder: (p) => `${p.tag}: no pull-log record since ${p.lastPull}; offline alerts on hold.`,
      issue_resolved: (p) => `RESOLVED: pull logs flow again after ${p.lasted}; offline detection resumed.`,
    },
    opening: () =>
      'No pull-log record has reached pullwatch for longer than the freshness limit. Until records flow again, no integration is flagged offline, so a log outage does not page every customer.',
    resumed: (at) => `Pull-log records flow again (newest at ${at}); offline detection has resumed.`,
  },
} satisfies Record<string, IssueTypeInfo>;

export type IssueType = keyof typeof TABLE;
export const ISSUE_TYPE_INFO: Readonly<Record<IssueType, IssueTypeInfo>> = TABLE;
export const ISSUE_TYPES = Object.keys(TABLE) as [IssueType, ...IssueType[]];
/** The types one integration has (all but the deployment's own). */
export type IntegrationIssueType = Exclude<IssueType, 'pipeline_stale'>;
export const INTEGRATION_ISSUE_TYPES = ISSUE_TYPES.filter(
  (type): type is IntegrationIssueType => TABLE[type].scope === 'integration',
) as [IntegrationIssueType, ...IntegrationIssueType[]];

export const criticalityOf = (type: IssueType): Criticality => ISSUE_TYPE_INFO[type].criticality;
