import type { Integration } from '../integration/index.ts';
import type { Iso } from '../time.ts';

/** One request to an integration's blocklist endpoint, whatever log format it came from. */
export interface PullRecord {
  time: Iso;
  integration_id: string;
  method: string;
  status: number;
  ip: string | null;
  user_agent: string | null;
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

/** What one ingest run learned about one integration, folded from any number of records. */
export interface PullSummary {
  integration_id: string;
  records: number;
  last_success: { at: Iso; ip: string | null; user_agent: string | null } | null;
  last_attempt: { at: Iso; status: number } | null;
}

export function emptySummary(integrationId: string): PullSummary {
  return { integration_id: integrationId, records: 0, last_success: null, last_attempt: null };
}

type Success = NonNullable<PullSummary['last_success']>;
type Attempt = NonNullable<PullSummary['last_attempt']>;

// Logs often have one-second resolution, so equal times are common. Ties are broken on the content, never on
// the order lines arrive in, so any order of the same records gives the same state.
const successKey = (success: Success) => [success.at, success.ip ?? '', success.user_agent ?? ''] as const;
const attemptKey = (attempt: Attempt) =>
  [
    attempt.at,
    classify({ method: 'GET', status: attempt.status }) === 'success' ? 1 : 0,
    attempt.status,
  ] as const;

function isAfter(a: ReadonlyArray<string | number>, b: ReadonlyArray<string | number>): boolean {
  for (let index = 0; index < a.length; index += 1) {
    const left = a[index] as string | number;
    const right = b[index] as string | number;
    if (left !== right) return left > right;
  }
  return false;
}

/** Folds one record into a summary. Order-independent: the newest record wins whatever order they come in. */
export function addRecord(summary: PullSummary, record: PullRecord): void {
  summary.records += 1;
  if (classify(record) === 'success') {
    const success: Success = { at: record.time, ip: record.ip, user_agent: record.user_agent };
    if (summary.last_success === null || isAfter(successKey(success), successKey(summary.last_success))) {
      summary.last_success = success;
    }
  }
  const attempt: Attempt = { at: record.time, status: record.status };
  if (summary.last_attempt === null || isAfter(attemptKey(attempt), attemptKey(summary.last_attempt))) {
    summary.last_attempt = attempt;
  }
}

/**
 * The integration after learning `summary`, or null if it teaches nothing new. Pull times only move
 * forward, so applying the same summary twice, or an older one late, changes nothing.
 */
export function applyPulls(integration: Integration, summary: PullSummary): Integration | null {
  let next = integration;
  const success = summary.last_success;
  const stored: Success | null = integration.last_pull_at
    ? {
        at: integration.last_pull_at,
        ip: integration.last_pull_ip,
        user_agent: integration.last_pull_user_agent,
      }
    : null;
  if (success && (stored === null || isAfter(successKey(success), successKey(stored)))) {
    next = {
      ...next,
      last_pull_at: success.at,
      last_pull_ip: success.ip,
      last_pull_user_agent: success.user_agent,
    };
  }
  const attempt = summary.last_attempt;
  const storedAttempt: Attempt | null =
    integration.last_attempt_at !== null && integration.last_attempt_status !== null
      ? { at: integration.last_attempt_at, status: integration.last_attempt_status }
      : null;
  if (attempt && (storedAttempt === null || isAfter(attemptKey(attempt), attemptKey(storedAttempt)))) {
    next = { ...next, last_attempt_at: attempt.at, last_attempt_status: attempt.status };
  }
  return next === integration ? null : next;
}
