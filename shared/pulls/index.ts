import type { AuthOutcome } from '../auth/verify.ts';
import { type Integration, MIN_OFFLINE_AFTER_SECONDS, offlineIssueType } from '../integration/index.ts';
import { addSeconds, type Iso } from '../time.ts';
import { addPull, foldHours, type HourBits, type HourKey, mergeHours, sameRecent } from './activity.ts';

/** One request to an integration's blocklist endpoint, whatever log format it came from. */
export interface PullRecord {
  time: Iso;
  integration_id: string;
  method: string;
  status: number;
  ip: string | null;
  user_agent: string | null;
  /** Which credential the request presented, where the log says so (see auth/verify.ts); absent otherwise. */
  auth?: AuthOutcome | null;
  /** Set when the log shows the password rode in the URL (`?api_key=`); the value itself is never kept. */
  credential_in_url?: true;
}

export type PullClass = 'success' | 'auth_failure' | 'rate_limited' | 'server_error' | 'other';

/** A successful pull is a GET answered 2xx or 304; a HEAD proves reachability but delivers no list. */
export function classify(record: Pick<PullRecord, 'method' | 'status'>): PullClass {
  const { status } = record;
  if (status === 401 || status === 403) return 'auth_failure';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  if (record.method === 'GET' && ((status >= 200 && status < 300) || status === 304)) return 'success';
  return 'other';
}

/** How many rejection times are kept per integration; enough to tell "3 in 15 minutes" from a one-off. */
export const MAX_REJECTIONS_KEPT = 20;

interface Seen {
  at: Iso;
  ip: string | null;
  user_agent: string | null;
  auth: AuthOutcome | null;
}
type Attempt = Seen & { status: number };

/** What one security engine's snapshots said about a bouncer: both maxima, so they fold in any order. */
export interface LapiEngineState {
  /** The newest snapshot of that engine listing the bouncer (null: none known yet). */
  listed_at: Iso | null;
  /** The newest snapshot of that engine seen, listing the bouncer or not. */
  checked_at: Iso;
}

/**
 * What LAPI snapshots said about a bouncer. `revoked` is as of `seen_at`, the newest snapshot listing it;
 * `entry` is the snapshot entry (`name` or `name@ip`) with the newest last pull, `entry_pull_at` that pull;
 * `engines` holds, per snapshot path, when it last listed the bouncer and when it was last seen.
 */
export interface LapiState {
  revoked: boolean;
  /** Null when only snapshots not listing the bouncer are known. */
  seen_at: Iso | null;
  entry: string | null;
  entry_pull_at: Iso | null;
  engines: Record<string, LapiEngineState>;
}

/** At most this many snapshot paths are remembered per bouncer, the most recently seen. */
export const MAX_LAPI_ENGINES = 16;

/**
 * The bouncer was deleted from the security engine (`cscli bouncers delete` removes its row): every engine
 * that ever listed it has since printed a snapshot without it.
 */
export function lapiRemoved(state: LapiState | null): boolean {
  if (state === null) return false;
  const listing = Object.values(state.engines).filter((engine) => engine.listed_at !== null);
  return listing.length > 0 && listing.every((engine) => engine.checked_at > (engine.listed_at as Iso));
}

const maxIso = (a: Iso | null, b: Iso | null): Iso | null =>
  a === null ? b : b === null ? a : a > b ? a : b;

function mergeEngines(
  a: Record<string, LapiEngineState>,
  b: Record<string, LapiEngineState>,
): Record<string, LapiEngineState> {
  const merged: Record<string, LapiEngineState> = { ...a };
  for (const [path, engine] of Object.entries(b)) {
    const known = merged[path];
    merged[path] = known
      ? {
          listed_at: maxIso(known.listed_at, engine.listed_at),
          checked_at: maxIso(known.checked_at, engine.checked_at) as Iso,
        }
      : engine;
  }
  const paths = Object.keys(merged);
  if (paths.length <= MAX_LAPI_ENGINES) return merged;
  const kept = paths
    .sort((x, y) => {
      const left = (merged[x] as LapiEngineState).checked_at;
      const right = (merged[y] as LapiEngineState).checked_at;
      return left === right ? (x < y ? -1 : 1) : left > right ? -1 : 1;
    })
    .slice(0, MAX_LAPI_ENGINES);
  return Object.fromEntries(kept.sort().map((path) => [path, merged[path] as LapiEngineState]));
}

const revokedKey = (state: LapiState) => [state.seen_at ?? '', state.revoked ? 1 : 0] as const;
const entryKey = (state: LapiState) => [state.entry_pull_at ?? '', state.entry ?? ''] as const;

/** Folds two LAPI states: each part by its own maximum, so any order and any repetition give the same. */
function mergeLapi(a: LapiState | null, b: LapiState | null): LapiState | null {
  if (a === null) return b;
  if (b === null) return a;
  const revoked = later(a, b, revokedKey) as LapiState;
  const entry = later(a, b, entryKey) as LapiState;
  const engines = mergeEngines(a.engines, b.engines);
  const sorted = Object.fromEntries(
    Object.keys(engines)
      .sort()
      .map((path) => [path, engines[path]]),
  );
  return {
    revoked: revoked.revoked,
    seen_at: revoked.seen_at,
    entry: entry.entry,
    entry_pull_at: entry.entry_pull_at,
    engines: sorted as Record<string, LapiEngineState>,
  };
}

const canonical = (state: LapiState | null) =>
  state === null
    ? 'null'
    : JSON.stringify([
        state.revoked,
        state.seen_at,
        state.entry,
        state.entry_pull_at,
        Object.keys(state.engines)
          .sort()
          .map((path) => [path, state.engines[path]?.listed_at ?? null, state.engines[path]?.checked_at]),
      ]);
const sameLapi = (a: LapiState | null, b: LapiState | null) => canonical(a) === canonical(b);

/**
 * What an ingest learned about one integration, folded from any number of records. Every field is a
 * maximum, a top-N or a union, so folding is order-independent and idempotent: the same records in any
 * order, split over any files or runs, give the same summary.
 */
export interface PullSummary {
  integration_id: string;
  records: number;
  last_success: Seen | null;
  last_attempt: Attempt | null;
  /** Distinct times of rejected attempts (401/403), newest kept, ascending. */
  rejections: Iso[];
  /** The same, for refusals of the replaced password after its grace (`previous_expired`). */
  expired_rejections: Iso[];
  lapi: LapiState | null;
  /** Successes that may end a silence: see `addResumption`. Ascending. */
  resumptions: Iso[];
  /** Minutes with accepted and refused pulls, by hour: unions (see activity.ts). */
  hours: Map<HourKey, HourBits>;
  /** The newest request whose password rode in the URL: a maximum. */
  credential_in_url_at: Iso | null;
}

export function emptySummary(integrationId: string): PullSummary {
  return {
    integration_id: integrationId,
    records: 0,
    last_success: null,
    last_attempt: null,
    rejections: [],
    expired_rejections: [],
    lapi: null,
    resumptions: [],
    hours: new Map(),
    credential_in_url_at: null,
  };
}

/**
 * How many silence-ending candidates a summary keeps, the newest. Past that (one run reading over 64 silences of
 * 5 minutes or more of one integration) the oldest go, and the rule pass may fall back to the newest pull.
 */
export const MAX_RESUMPTIONS_KEPT = 64;

/**
 * Folds a success time into the candidates for "the first pull after a silence". No offline issue opens
 * before MIN_OFFLINE_AFTER_SECONDS without a success, so the pull that ends one has no other success in the
 * MIN_OFFLINE_AFTER_SECONDS before it: a success with another one just before it can never be that pull and
 * is dropped, and so the kept times are pairwise further apart than that. Whatever the order of folding, the
 * pull that ended the silence is kept, and every kept time is a real success; so "the first kept time after
 * the issue opened" is the same for any order, split or repetition of the records.
 */
function addResumption(times: Iso[], time: Iso): Iso[] {
  const from = addSeconds(time, -MIN_OFFLINE_AFTER_SECONDS);
  const until = addSeconds(time, MIN_OFFLINE_AFTER_SECONDS);
  const kept = times.filter((kept) => kept <= time || kept > until);
  if (kept.some((kept) => kept >= from && kept <= time)) return kept;
  kept.push(time);
  kept.sort();
  return kept.length > MAX_RESUMPTIONS_KEPT ? kept.slice(-MAX_RESUMPTIONS_KEPT) : kept;
}

/**
 * The one tie rule, for every "which record came last" question (the last pull, the last attempt). Many logs write
 * whole seconds (nginx's `$time_local`, CloudFront, CLF times of API Gateway), so records with equal times are
 * common, and then the time cannot say which came last. The content decides, never the order lines arrive in, so
 * folding stays order-independent: an accepted request outranks a refused one (a client is challenged first and
 * answered once it sends its credentials), then the credential closer to the current password wins (a device is
 * refused with the replaced or a wrong password, then given the new one; never the other way round). The last
 * fields only make the order total.
 */
const OUTCOME_RANK: Record<AuthOutcome, number> = {
  unknown_integration: 1,
  no_credentials: 2,
  wrong_password: 3,
  previous_expired: 4,
  previous_in_grace: 5,
  current: 6,
};
const sameInstantKey = (seen: Seen, status: number) =>
  [
    classify({ method: 'GET', status }) === 'success' ? 1 : 0,
    seen.auth === null ? 0 : OUTCOME_RANK[seen.auth],
    status,
    seen.ip ?? '',
    seen.user_agent ?? '',
  ] as const;
// A success keeps no status: every one of them counts as the same accepted answer.
const seenKey = (seen: Seen) => [seen.at, ...sameInstantKey(seen, 200)] as const;
const attemptKey = (attempt: Attempt) => [attempt.at, ...sameInstantKey(attempt, attempt.status)] as const;

function isAfter(a: ReadonlyArray<string | number>, b: ReadonlyArray<string | number>): boolean {
  for (let index = 0; index < a.length; index += 1) {
    const left = a[index] as string | number;
    const right = b[index] as string | number;
    if (left !== right) return left > right;
  }
  return false;
}

function later<T>(a: T | null, b: T | null, key: (value: T) => ReadonlyArray<string | number>): T | null {
  if (a === null) return b;
  if (b === null) return a;
  return isAfter(key(b), key(a)) ? b : a;
}

/**
 * The newest distinct rejection times after the last success, ascending, at most MAX_REJECTIONS_KEPT. A rejection
 * logged at the same instant as the success counts before it, as the tie rule above says.
 */
function keepRejections(times: Iso[], lastSuccess: Iso | null): Iso[] {
  const after = [...new Set(times)].filter((time) => lastSuccess === null || time > lastSuccess).sort();
  return after.slice(-MAX_REJECTIONS_KEPT);
}

/**
 * A refused request carried one of this integration's own passwords (the current one, or the replaced one in or
 * after its grace). Only then is a refused URL credential a leaked secret; a wrong or unknown one (a scanner
 * guessing, or a log that cannot say) proves nothing about the device.
 */
const ownPassword = (auth: AuthOutcome | null | undefined) =>
  auth === 'current' || auth === 'previous_in_grace' || auth === 'previous_expired';

/** Folds one record into a summary. */
export function addRecord(summary: PullSummary, record: PullRecord): void {
  summary.records += 1;
  const seen: Seen = {
    at: record.time,
    ip: record.ip,
    user_agent: record.user_agent,
    auth: record.auth ?? null,
  };
  const kind = classify(record);
  if (kind === 'success') {
    summary.last_success = later(summary.last_success, seen, seenKey);
    summary.resumptions = addResumption(summary.resumptions, record.time);
    addPull(summary.hours, record.time, 'accepted');
  }
  summary.last_attempt = later(summary.last_attempt, { ...seen, status: record.status }, attemptKey);
  if (record.credential_in_url && (kind === 'success' || ownPassword(record.auth)))
    summary.credential_in_url_at = maxIso(summary.credential_in_url_at, record.time);
  if (kind === 'auth_failure') {
    addPull(summary.hours, record.time, 'refused');
    // Cheap append; trimmed when the summary is merged or applied.
    summary.rejections.push(record.time);
    if (summary.rejections.length > 4 * MAX_REJECTIONS_KEPT) {
      summary.rejections = keepRejections(summary.rejections, summary.last_success?.at ?? null);
    }
    if (record.auth === 'previous_expired') {
      summary.expired_rejections.push(record.time);
      if (summary.expired_rejections.length > 4 * MAX_REJECTIONS_KEPT) {
        summary.expired_rejections = keepRejections(
          summary.expired_rejections,
          summary.last_success?.at ?? null,
        );
      }
    }
  }
}

/** Records what a LAPI snapshot says about a bouncer. */
export function addLapiState(summary: PullSummary, state: LapiState): void {
  summary.lapi = mergeLapi(summary.lapi, state);
}

/** Folds `other` into `into` (used to merge per-file summaries). */
export function mergeSummary(into: PullSummary, other: PullSummary): void {
  into.records += other.records;
  into.last_success = later(into.last_success, other.last_success, seenKey);
  into.last_attempt = later(into.last_attempt, other.last_attempt, attemptKey);
  into.rejections = keepRejections([...into.rejections, ...other.rejections], into.last_success?.at ?? null);
  into.expired_rejections = keepRejections(
    [...into.expired_rejections, ...other.expired_rejections],
    into.last_success?.at ?? null,
  );
  into.lapi = mergeLapi(into.lapi, other.lapi);
  for (const time of other.resumptions) into.resumptions = addResumption(into.resumptions, time);
  mergeHours(into.hours, other.hours);
  into.credential_in_url_at = maxIso(into.credential_in_url_at, other.credential_in_url_at);
}

/**
 * When the silence of an open offline issue (or of a late warning before it) ended: the earliest known success
 * after the issue opened. A minimum, so it folds in any order and idempotently; null while no such issue is
 * open (the rule pass clears it when it resolves the issue).
 */
function resumedAt(integration: Integration, summary: PullSummary): Iso | null {
  const open =
    integration.open_issues[offlineIssueType(integration.kind)] ??
    integration.open_issues.integration_pull_late;
  if (!open) return integration.resumed_at;
  const first = summary.resumptions.find((time) => time > open.opened_at) ?? null;
  if (first === null) return integration.resumed_at;
  return integration.resumed_at === null || first < integration.resumed_at ? first : integration.resumed_at;
}

/**
 * The integration after learning `summary`, or null if it teaches nothing new. Pull times only move
 * forward, so applying the same summary twice, or an older one late, changes nothing.
 */
export function applyPulls(integration: Integration, summary: PullSummary): Integration | null {
  const storedSuccess: Seen | null = integration.last_pull_at
    ? {
        at: integration.last_pull_at,
        ip: integration.last_pull_ip,
        user_agent: integration.last_pull_user_agent,
        auth: integration.last_pull_auth,
      }
    : null;
  const storedAttempt: Attempt | null =
    integration.last_attempt_at !== null && integration.last_attempt_status !== null
      ? {
          at: integration.last_attempt_at,
          status: integration.last_attempt_status,
          ip: integration.last_attempt_ip,
          user_agent: integration.last_attempt_user_agent,
          auth: integration.last_attempt_auth,
        }
      : null;
  const success = later(storedSuccess, summary.last_success, seenKey);
  const attempt = later(storedAttempt, summary.last_attempt, attemptKey);
  const rejections = keepRejections([...integration.rejections, ...summary.rejections], success?.at ?? null);
  const expiredRejections = keepRejections(
    [...integration.expired_rejections, ...summary.expired_rejections],
    success?.at ?? null,
  );
  const merged = mergeLapi(integration.lapi, summary.lapi);
  const lapi = sameLapi(merged, integration.lapi) ? integration.lapi : merged;
  const resumed = resumedAt(integration, summary);
  const folded = foldHours(integration.recent_pulls, summary.hours).recent;
  const recent = sameRecent(folded, integration.recent_pulls) ? integration.recent_pulls : folded;
  // Only while it can still flag (not before the last success): a device that moved to a safer form goes back
  // to its smaller item. Dropping a time older than the newest success changes no later answer, in any order.
  const newestInUrl = maxIso(integration.credential_in_url_at, summary.credential_in_url_at);
  const inUrlAt = newestInUrl !== null && success !== null && newestInUrl < success.at ? null : newestInUrl;
  const next: Integration = {
    ...integration,
    last_pull_at: success?.at ?? null,
    last_pull_ip: success?.ip ?? null,
    last_pull_user_agent: success?.user_agent ?? null,
    last_pull_auth: success?.auth ?? null,
    last_attempt_at: attempt?.at ?? null,
    last_attempt_status: attempt?.status ?? null,
    last_attempt_ip: attempt?.ip ?? null,
    last_attempt_user_agent: attempt?.user_agent ?? null,
    last_attempt_auth: attempt?.auth ?? null,
    rejections,
    expired_rejections: expiredRejections,
    lapi,
    resumed_at: resumed,
    recent_pulls: recent,
    credential_in_url_at: inUrlAt,
  };
  const changed =
    success !== storedSuccess ||
    attempt !== storedAttempt ||
    lapi !== integration.lapi ||
    resumed !== integration.resumed_at ||
    recent !== integration.recent_pulls ||
    inUrlAt !== integration.credential_in_url_at ||
    rejections.join() !== integration.rejections.join() ||
    expiredRejections.join() !== integration.expired_rejections.join();
  return changed ? next : null;
}

/**
 * The hours of pull history that `applyPulls` moves off the integration item (or that arrived too late for
 * it): the caller adds them to the day items before it writes the integration. A crash or a lost race in
 * between re-adds the same minutes, a union, so nothing is counted twice and nothing is lost.
 */
export function closedHours(integration: Integration, summary: PullSummary): Map<HourKey, HourBits> {
  return foldHours(integration.recent_pulls, summary.hours).closed;
}
