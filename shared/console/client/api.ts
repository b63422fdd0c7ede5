/**
 * The API as the console calls it: same origin, the key from this browser session only, as a Bearer header
 * (never in a URL). A problem+json answer becomes an ApiError with its detail for the person to read.
 */

import type { Cadence, PullHistory } from './format.ts';

const KEY_ITEM = 'pullwatch.apiKey';

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY_ITEM),
  signIn: (key: string) => sessionStorage.setItem(KEY_ITEM, key),
  signOut: () => sessionStorage.removeItem(KEY_ITEM),
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
  ) {
    super(`${title}: ${detail}`);
  }
}

export async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  key: string | null = session.key(),
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    cache: 'no-store',
    credentials: 'omit',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!response.ok) {
    throw new ApiError(
      response.status,
      String(parsed.title ?? response.statusText),
      String(parsed.detail ?? 'The request failed.'),
    );
  }
  return parsed as T;
}

/** A query string of the set values only. */
export function query(values: Record<string, string | number | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    if (value !== null && value !== undefined && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

export interface Integration {
  id: string;
  name: string;
  kind: string;
  vendor: string;
  source: string;
  status: 'never_pulled' | 'online' | 'offline' | 'paused';
  last_pull_at: string | null;
  last_attempt_at: string | null;
  last_attempt_status: number | null;
  /** How the last try's credentials verified, when its pull log said (current, previous_in_grace, wrong_password, ...). */
  last_attempt_auth?: string | null;
  idle_seconds: number | null;
  offline_after_seconds: number;
  paused: boolean;
  snoozed_until: string | null;
  open_issues: number;
  /** The types of its open issues, most urgent first; absent from servers older than the field. */
  open_issue_types?: string[];
  /** Warn when it is later than its own rhythm; the rhythm learned, and when it would be late. */
  early_warning?: boolean;
  cadence?: Cadence;
  /** The device sends its password in the URL (`?api_key=`); absent from servers older than the flag. */
  credential_in_url?: boolean;
  credential_in_url_at?: string | null;
  username: string;
  credentials_rotated_at: string;
  /** Added by the pull-history work; shown when present. */
  timeline_48h?: { start: string; hours: string };
}

export interface Issue {
  id: string;
  type: string;
  integration_id: string | null;
  integration_name: string | null;
  criticality: string;
  state: 'open' | 'resolved';
  opened_at: string;
  detected_at: string;
  resolved_at: string | null;
  diagnosis: { code: string; summary: string; steps: string[] };
}

/** GET /v1/issues/{id}/notification: the issue's latest notification as each kind of subscriber gets it. */
export interface NotificationPreview {
  issue_id: string;
  event: 'issue_opened' | 'issue_reminder' | 'issue_resolved';
  sent_at: string | null;
  subject: string;
  email: string;
  sms: string;
  /** The chat form (a custom notification of Amazon Q Developer in chat applications), also what webhooks get. */
  chat: unknown;
}

export interface Transition {
  at: string;
  kind: string;
  issue_type: string | null;
  from_status: string;
  to_status: string;
  reason: string;
}

export interface AuditEvent {
  at: string;
  type: string;
  actor: string;
  detail: Record<string, string | number | boolean | null>;
}

export interface IntegrationDetail extends Integration {
  issues: Issue[];
  credentials: {
    username: string;
    rotated_at: string;
    previous_password_valid: boolean;
    previous_valid_until: string | null;
    /** Added by the credential-loop work: which password the device presented last. */
    last_used?: 'current' | 'previous' | null;
  };
  transitions: Transition[];
  lapi_entry: string | null;
  /** Added by the pull-history work: hourly counts of the last 7 days, oldest first. */
  pull_history?: PullHistory;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Health {
  now: string;
  pipeline: 'fresh' | 'stale' | 'unknown';
  newest_record_at: string | null;
  feed_age_seconds: number | null;
}
