import { z } from 'zod';
import { AuthOutcome } from '../auth/verify.ts';
import { ISSUE_TYPE_INFO, ISSUE_TYPES, type IssueType as IssueTypeName } from '../issue/types.ts';
import { RecentPulls } from '../pulls/activity.ts';
import { type Cadence, decodeCadence, lateAfter, profileEnd } from '../pulls/cadence.ts';
import { addSeconds, type Iso, loggedBefore, secondsBetween } from '../time.ts';

export const INTEGRATION_KINDS = ['firewall', 'remediation_component'] as const;
export const VENDORS = [
  'fortigate',
  'paloalto',
  'checkpoint',
  'pfsense',
  'opnsense',
  'sophos',
  'cisco',
  'f5',
  'mikrotik',
  'juniper',
  'other',
] as const;
export const SOURCES = ['blaas', 'lapi'] as const;
export const STATUSES = ['never_pulled', 'online', 'offline', 'paused'] as const;

export const DEFAULT_OFFLINE_AFTER_SECONDS = 86_400;
/** Bounds keep a typo from silencing a firewall for a year or paging every five minutes. */
export const MIN_OFFLINE_AFTER_SECONDS = 300;
export const MAX_OFFLINE_AFTER_SECONDS = 30 * 86_400;

export const IntegrationKind = z.enum(INTEGRATION_KINDS);
export const Vendor = z.enum(VENDORS);
export const Source = z.enum(SOURCES);
export const IntegrationStatus = z.enum(STATUSES);
export const IssueType = z.enum(ISSUE_TYPES);
export type IntegrationKind = z.infer<typeof IntegrationKind>;
export type Vendor = z.infer<typeof Vendor>;
export type IntegrationStatus = z.infer<typeof IntegrationStatus>;
export type IssueType = IssueTypeName;

export const IntegrationName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .refine((name) => !/\p{Cc}/u.test(name), 'must not contain control characters');

export const OfflineAfterSeconds = z
  .number()
  .int()
  .min(MIN_OFFLINE_AFTER_SECONDS)
  .max(MAX_OFFLINE_AFTER_SECONDS);

/** What a caller may give when creating an integration (API body and CLI flags). */
export const NewIntegration = z.strictObject({
  name: IntegrationName,
  kind: IntegrationKind,
  vendor: Vendor.optional(),
  source: Source.default('blaas'),
  offline_after_seconds: OfflineAfterSeconds.default(DEFAULT_OFFLINE_AFTER_SECONDS),
  paused: z.boolean().default(false),
  /** Warn when it is silent far longer than its own learned rhythm (see pulls/cadence.ts). */
  early_warning: z.boolean().default(true),
});
export type NewIntegration = z.input<typeof NewIntegration>;

/** What a caller may change. */
export const IntegrationPatch = z
  .strictObject({
    name: IntegrationName.optional(),
    vendor: Vendor.optional(),
    offline_after_seconds: OfflineAfterSeconds.optional(),
    paused: z.boolean().optional(),
    early_warning: z.boolean().optional(),
    /** Hold new alerts until then (open issues stay open); null ends a snooze. */
    snoozed_until: z.iso.datetime({ offset: true }).nullable().optional(),
  })
  .refine((patch) => Object.keys(patch).length > 0, 'must change at least one field');
export type IntegrationPatch = z.infer<typeof IntegrationPatch>;

const Time = z.string();

/** A reference from an integration to one of its open issues. */
export const OpenIssueRef = z.object({ id: z.string(), opened_at: Time });
export type OpenIssueRef = z.infer<typeof OpenIssueRef>;

/**
 * Which credential the device used for its last pull, as of now: a pull before a refresh used the old one. The
 * record's own outcome is believed unless its time shows for certain that it came before the refresh: a pull
 * logged `current` in the second the refresh fell in may well have presented the new password, and its log line
 * cannot say otherwise.
 */
export function credentialLastUsed(integration: Integration): 'current' | 'previous' | null {
  const { last_pull_auth: auth, last_pull_at: at } = integration;
  if (auth === null || at === null) return null;
  return auth === 'current' && !loggedBefore(at, integration.credentials.rotated_at) ? 'current' : 'previous';
}

/**
 * Whether the device sends its password in the URL, where proxies, load balancers and CDNs log it: a request
 * did so since the last successful pull (a refused one only with one of its own passwords, see `ownPassword` in
 * pulls/index.ts), or that pull did. One maximum compared with another, so it folds in any order; a pull in a
 * safer form clears it, a refused or credential-less request (a scanner) does not.
 */
export function credentialInUrl(
  integration: Pick<Integration, 'credential_in_url_at' | 'last_pull_at'>,
): boolean {
  const { credential_in_url_at: at, last_pull_at: pull } = integration;
  return at !== null && (pull === null || at >= pull);
}

/**
 * The stored facts about an integration. Status is derived from these and `now`, never stored. Parsed on every
 * read: attributes that only key the table are dropped, and fields added after an item was written get their
 * defaults here, in one place.
 */
export const Integration = z.object({
  id: z.string(),
  org_id: z.string(),
  name: z.string(),
  kind: IntegrationKind,
  vendor: Vendor,
  source: Source,
  offline_after_seconds: z.number().int(),
  paused: z.boolean(),
  /** New issues are held until then (a maintenance window); open ones stay open. */
  snoozed_until: Time.nullable().default(null),
  created_at: Time,
  updated_at: Time,
  credentials: z.object({
    username: z.string(),
    password_hash: z.string(),
    rotated_at: Time,
    previous_password_hash: z.string().nullable(),
    previous_valid_until: Time.nullable(),
  }),
  last_pull_at: Time.nullable(),
  last_pull_ip: z.string().nullable(),
  last_pull_user_agent: z.string().nullable(),
  last_attempt_at: Time.nullable(),
  last_attempt_status: z.number().int().nullable(),
  last_attempt_ip: z.string().nullable().default(null),
  last_attempt_user_agent: z.string().nullable().default(null),
  /** Distinct times of rejected attempts (401/403) since the last successful pull, newest 20, ascending. */
  rejections: z.array(Time).default([]),
  /** Where the pull log says which credential was presented: that of the last pull, and of the last attempt. */
  last_pull_auth: AuthOutcome.nullable().default(null),
  last_attempt_auth: AuthOutcome.nullable().default(null),
  /** Times of attempts refused as `previous_expired` since the last successful pull, newest 20, ascending. */
  expired_rejections: z.array(Time).default([]),
  /** For `source: lapi`: what the newest bouncer snapshot said. */
  lapi: z
    .object({
      revoked: z.boolean(),
      /** The newest snapshot listing the bouncer; null if only snapshots without it are known. */
      seen_at: Time.nullable(),
      /** The snapshot entry that fed the last pull: the name itself or a `name@ip` variant. */
      entry: z.string().nullable().default(null),
      entry_pull_at: Time.nullable().default(null),
      /** Per snapshot path: the newest snapshot listing the bouncer, and the newest seen at all. */
      engines: z.record(z.string(), z.object({ listed_at: Time.nullable(), checked_at: Time })).default({}),
    })
    .nullable()
    .default(null),
  /**
   * While an offline issue is open: the first successful pull after it opened, which is when the outage ended
   * (the newest pull may be a cycle or more later). Null otherwise.
   */
  resumed_at: Time.nullable().default(null),
  /** The last 48 hours of pulls and the minutes of the open hours (pulls/activity.ts); null before any. */
  recent_pulls: RecentPulls.nullable().default(null),
  /** Warn when it is later than its learned cadence (below); off: only the offline threshold alerts. */
  early_warning: z.boolean().default(true),
  /** The learned cadence, encoded (pulls/cadence.ts; read it with `cadenceOf`); null until first learned. */
  cadence: z.string().nullable().default(null),
  /** When its last late warning opened: no second one is detected within 24 hours of it. */
  late_warned_at: Time.nullable().default(null),
  /**
   * The newest request whose password rode in the URL (`?api_key=`), kept only while it is not older than the last
   * successful pull (see credentialInUrl): null once the device pulls in a safer form, so its item stays small.
   */
  credential_in_url_at: Time.nullable().default(null),
  open_issues: z.partialRecord(IssueType, OpenIssueRef),
  /** How many issues of this integration have been resolved; keeps a re-opened issue's id new. */
  issue_seq: z.number().int().default(0),
  /**
   * When the rule pass will look at it next (the by_due index key): at or before `nextCheckAt`, never after.
   * See `scheduledCheckAt`. Null: nothing can change without new facts. Items of older versions lack it.
   */
  due_at: Time.nullable().default(null),
  /** Incremented by every write; writes are conditional on the version they read. */
  version: z.number().int(),
});
export type Integration = z.infer<typeof Integration>;

/** A new integration with no pull yet: the one constructor of the operations and the tests. */
export function newIntegration(
  fields: Pick<Integration, 'id' | 'org_id' | 'name' | 'kind' | 'credentials'> &
    Partial<Pick<Integration, 'vendor' | 'source' | 'offline_after_seconds' | 'paused' | 'early_warning'>>,
  now: Iso,
): Integration {
  return {
    vendor: 'other',
    source: 'blaas',
    offline_after_seconds: DEFAULT_OFFLINE_AFTER_SECONDS,
    paused: false,
    early_warning: true,
    ...fields,
    snoozed_until: null,
    created_at: now,
    updated_at: now,
    last_pull_at: null,
    last_pull_ip: null,
    last_pull_user_agent: null,
    last_attempt_at: null,
    last_attempt_status: null,
    last_attempt_ip: null,
    last_attempt_user_agent: null,
    rejections: [],
    last_pull_auth: null,
    last_attempt_auth: null,
    expired_rejections: [],
    lapi: null,
    resumed_at: null,
    recent_pulls: null,
    cadence: null,
    late_warned_at: null,
    credential_in_url_at: null,
    open_issues: {},
    issue_seq: 0,
    due_at: null,
    version: 1,
  };
}

/** The moment the integration crosses its threshold: last pull (or creation) plus the threshold. */
export function offlineAt(integration: Integration): Iso {
  return addSeconds(integration.last_pull_at ?? integration.created_at, integration.offline_after_seconds);
}

export function statusOf(integration: Integration, now: Iso): IntegrationStatus {
  if (integration.paused) return 'paused';
  if (offlineAt(integration) <= now) return 'offline';
  return integration.last_pull_at === null ? 'never_pulled' : 'online';
}

export function idleSeconds(integration: Integration, now: Iso): number | null {
  return integration.last_pull_at === null
    ? null
    : Math.max(0, secondsBetween(integration.last_pull_at, now));
}

export function offlineIssueType(kind: IntegrationKind): IssueType {
  return kind === 'firewall' ? 'fw_integration_offline' : 'rc_integration_offline';
}

/** The early warning: this many rejected attempts ... */
export const AUTH_FAILING_MIN_REJECTIONS = 3;
/** ... spanning at least this long, with no success since the first of them. */
export const AUTH_FAILING_MIN_SPAN_SECONDS = 900;

/**
 * When the credentials-rejected early warning became true, or null if it is not true: the first refusal of the
 * replaced password after its grace, or else the first rejection that makes at least 3 rejected attempts
 * spanning 15 minutes since the last success. (`rejections` only
 * holds attempts after the last success.)
 */
export function authFailingSince(integration: Integration): Iso | null {
  // The replaced password after its grace: the cause is certain, so the first such refusal is enough.
  const expired = integration.expired_rejections[0];
  if (expired !== undefined) return expired;
  const times = integration.rejections;
  const first = times[0];
  if (first === undefined) return null;
  const span = AUTH_FAILING_MIN_SPAN_SECONDS * 1000;
  for (let index = AUTH_FAILING_MIN_REJECTIONS - 1; index < times.length; index += 1) {
    const time = times[index] as Iso;
    if (Date.parse(time) - Date.parse(first) >= span) return time;
  }
  return null;
}

export function isSnoozed(integration: Integration, now: Iso): boolean {
  return integration.snoozed_until !== null && integration.snoozed_until > now;
}

/** The learned cadence of an integration (pulls/cadence.ts); null before it was first learned. */
export const cadenceOf = (integration: Pick<Integration, 'cadence'>): Cadence | null =>
  integration.cadence === null ? null : decodeCadence(integration.cadence);

/** No second late warning is detected within this long of the last one's opening. */
const LATE_REPEAT_SECONDS = 86_400;

/**
 * When the integration is late against its own learned cadence if nothing more arrives: its last pull plus
 * what its rhythm allows (pulls/cadence.ts). Null when early warnings are off, it is paused, nothing was
 * learned that can warn, or the offline threshold comes first (then the critical issue is the alert).
 */
export function lateAfterOf(integration: Integration): Iso | null {
  if (!integration.early_warning || integration.paused) return null;
  const late = lateAfter(cadenceOf(integration), integration.last_pull_at);
  return late !== null && late < offlineAt(integration) ? late : null;
}

/** When a new late warning may be detected: its late time, but not within 24 h of the previous warning. */
function lateLookAt(integration: Integration, late: Iso): Iso {
  const again = integration.late_warned_at && addSeconds(integration.late_warned_at, LATE_REPEAT_SECONDS);
  return again && again > late ? again : late;
}

/** When a late warning would open if nothing arrives (the API's `late_after`): null once none can open
 * before the offline threshold (offline already, or the 24-hour rule reaching past it). */
export function lateWarningAt(integration: Integration, now: Iso): Iso | null {
  if (integration.open_issues[offlineIssueType(integration.kind)] || offlineAt(integration) <= now)
    return null;
  const late = lateAfterOf(integration);
  if (late === null || integration.open_issues.integration_pull_late) return late;
  return lateLookAt(integration, late) < offlineAt(integration) ? late : null;
}

/**
 * Since when the integration is late, as its feed shows: its late time once the feed's `watermark` (the newest
 * record time its source delivered) has passed it, so a feed that lags opens nothing. An open warning stays
 * wanted while the silence lasts; a new one is not detected within 24 h of the last (`now` is the detection).
 */
export function lateSince(integration: Integration, watermark: Iso, now: Iso): Iso | null {
  // An open warning stays until a pull after it opened (or the critical): a relearned cadence, or early
  // warnings switched off, do not end it as if the device had pulled.
  const open = integration.open_issues.integration_pull_late;
  if (open && !integration.paused && (integration.last_pull_at ?? '') <= open.opened_at)
    return open.opened_at;
  const late = lateAfterOf(integration);
  if (late === null || late > watermark) return null;
  if (open) return late;
  return lateLookAt(integration, late) <= now ? late : null;
}

/**
 * The issue types the facts call for at `now` (before any hold of the pipeline guard). `watermark`: how far the
 * integration's feed has delivered (the late warning is judged on it); writers other than the rule pass leave
 * it out and look as if the feed were current, which at worst makes the rule pass look early.
 */
export function wantedIssueTypes(integration: Integration, now: Iso, watermark: Iso = now): IssueType[] {
  if (integration.paused) return [];
  const wanted: IssueType[] = [];
  if (offlineAt(integration) <= now) wanted.push(offlineIssueType(integration.kind));
  if (authFailingSince(integration) !== null) wanted.push('integration_auth_failing');
  if (lateSince(integration, watermark, now) !== null) wanted.push('integration_pull_late');
  return wanted;
}

/**
 * When the rule pass must next look at this integration, or null if nothing can change without new facts.
 * Every writer (ingest, API, rules) stores this alongside its change, so the rule pass reads only the
 * integrations whose time has come instead of scanning all of them.
 */
export function nextCheckAt(integration: Integration, now: Iso, watermark: Iso = now): Iso | null {
  const wanted = new Set(wantedIssueTypes(integration, now, watermark));
  const open = Object.keys(integration.open_issues) as IssueType[];
  // Something to resolve: now. Something to open: now, or when a snooze ends.
  if (open.some((type) => !wanted.has(type))) return now;
  if ([...wanted].some((type) => !integration.open_issues[type])) {
    return isSnoozed(integration, now) ? (integration.snoozed_until as Iso) : now;
  }
  // Otherwise the only changes time alone can bring: a late warning, then crossing the threshold.
  if (integration.paused || integration.open_issues[offlineIssueType(integration.kind)]) return null;
  const late = integration.open_issues.integration_pull_late ? null : lateAfterOf(integration);
  const offline = offlineAt(integration);
  if (late === null) {
    // A pattern whose profile runs out before the threshold: the rule pass learns it again then (learn.ts).
    const end = integration.early_warning ? profileEnd(cadenceOf(integration)) : null;
    return end !== null && end < offline && !integration.open_issues.integration_pull_late ? end : offline;
  }
  // A late warning is judged on the feed: when the feed runs behind the clock, the late time comes that much
  // later by the clock, so a device whose logs arrive late is not looked at every pass before its time.
  const lag = watermark < now ? secondsBetween(watermark, now) : 0;
  const look = addSeconds(lateLookAt(integration, late), lag);
  return look < offline ? look : offline;
}

/**
 * The check time to store with a write: the exact `nextCheckAt`, or the one already stored while that is still
 * ahead and no later than the exact one. Looking early is always safe (the rule pass finds nothing to do and
 * re-arms the integration at its exact time); looking late never happens. Keeping the stored time is what makes
 * a pull cheap: a pull only moves the threshold crossing later, so it keeps `due_at` and, the index holding keys
 * only, writes no index entry. A continuously pulling integration is re-armed once per threshold instead of
 * re-indexed at every pull.
 */
export function scheduledCheckAt(integration: Integration, now: Iso, watermark: Iso = now): Iso | null {
  const exact = nextCheckAt(integration, now, watermark);
  const armed = integration.due_at;
  if (exact === null) return null;
  return armed !== null && armed > addSeconds(now, REARM_AHEAD_SECONDS) && armed <= exact ? armed : exact;
}

/**
 * A stored check time this close is moved to the exact one by the write that happens anyway (a pull), rather
 * than left for the rule pass to read the integration and re-arm it: with late warnings a steady device's check
 * time is only half an hour ahead, and re-arming it in the ingest's write costs no request.
 */
const REARM_AHEAD_SECONDS = 600;

/**
 * Console order: open critical issues first, then early warnings, never pulled, healthy, paused. It is the
 * alert state as last written (the rule pass rewrites it within a cycle of any change), not the clock.
 */
export function consoleRank(integration: Integration): number {
  if (integration.paused) return 5;
  const open = (Object.keys(integration.open_issues) as IssueType[]).map(
    (type) => ISSUE_TYPE_INFO[type].consoleRank,
  );
  if (open.length > 0) return Math.min(...open);
  return integration.last_pull_at === null ? 3 : 4;
}
