/**
 * Pure helpers of the console: how times, durations, statuses and timelines read. No DOM here, so the node
 * tests can pin them.
 */

import { ISSUE_TYPE_INFO } from '../../issue/types.ts';
import type { PullHistory } from '../../pulls/activity.ts';
import { humanDuration, minuteUtc, secondsBetween } from '../../time.ts';

export type Status = 'never_pulled' | 'online' | 'offline' | 'paused';

/** Status as words: the colour of its badge only repeats them. */
export const STATUS_LABEL: Record<Status, string> = {
  online: 'Online',
  offline: 'Offline',
  never_pulled: 'Never pulled',
  paused: 'Paused',
};

export const KIND_LABEL: Record<string, string> = {
  firewall: 'Firewall',
  remediation_component: 'Remediation component',
};

export const ISSUE_LABEL: Record<string, string> = Object.fromEntries(
  Object.entries(ISSUE_TYPE_INFO).map(([type, info]) => [type, info.label]),
);

/** Durations read with the same words as the alert texts: "3 h 12 min", "2 d 4 h". */
export { humanDuration as duration, secondsBetween } from '../../time.ts';

/** "12 min ago", "3 h ago", "just now"; a time ahead of `now` reads "in 2 h". */
export function relative(at: string, now: string): string {
  const seconds = secondsBetween(at, now);
  if (Math.abs(seconds) < 60) return 'just now';
  const whole = Math.abs(seconds);
  const amount =
    whole < 3600
      ? `${Math.floor(whole / 60)} min`
      : whole < 86400
        ? `${Math.floor(whole / 3600)} h`
        : `${Math.floor(whole / 86400)} d`;
  return seconds > 0 ? `${amount} ago` : `in ${amount}`;
}

/** "2026-11-28 14:05 UTC": the exact time, in one zone for everyone who reads the same page. */
export function exact(at: string): string {
  return minuteUtc(new Date(at).toISOString());
}

export type HourState = 'silent' | 'accepted' | 'refused' | 'both';
const HOUR_STATE: Record<string, HourState> = { '.': 'silent', a: 'accepted', r: 'refused', b: 'both' };

export const HOUR_LABEL: Record<HourState, string> = {
  silent: 'no pull',
  accepted: 'pulls accepted',
  refused: 'pulls refused only',
  both: 'pulls accepted and refused',
};

export interface Hour {
  start: string;
  state: HourState;
}

/** The list item's `timeline_48h`: one character per hour, oldest first, from `start`. */
export function hoursOf(timeline: { start: string; hours: string }): Hour[] {
  const origin = Date.parse(timeline.start);
  return [...timeline.hours].map((char, index) => ({
    start: new Date(origin + index * 3_600_000).toISOString(),
    state: HOUR_STATE[char] ?? 'silent',
  }));
}

/** What a timeline says in one sentence, for screen readers and the row's tooltip. */
export function summarizeHours(hours: Hour[]): string {
  const count = (state: HourState) => hours.filter((hour) => hour.state === state).length;
  const accepted = count('accepted') + count('both');
  const parts = [`pulls accepted in ${accepted} of ${hours.length} hours`];
  if (count('both') > 0) parts.push(`some refused in ${count('both')}`);
  if (count('refused') > 0) parts.push(`only refused in ${count('refused')}`);
  parts.push(`silent in ${count('silent')}`);
  return parts.join(', ');
}

/** The detail's 7 days of pull activity, as the API serves it (its schema lives with the data). */
export type { PullHistory } from '../../pulls/activity.ts';

/** The detail's `pull_history` totals, for the chart's caption. */
export function summarizeHistory(history: PullHistory): string {
  const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
  const hours = Math.max(history.accepted.length, history.refused.length);
  const silent = Array.from({ length: hours }, (_, index) => index).filter(
    (index) => (history.accepted[index] ?? 0) + (history.refused[index] ?? 0) === 0,
  ).length;
  const days = Math.round(hours / 24);
  return `pulls accepted in ${sum(history.accepted)} minutes and refused in ${sum(history.refused)} over ${days} days; ${silent} of ${hours} hours silent`;
}

/** One hour of the chart, for its tooltip. */
export function describeHour(start: string, accepted: number, refused: number): string {
  return `${exact(start)}: accepted pulls in ${accepted} minutes, refused in ${refused}`;
}

/** What the device presents, in words; null when nothing is known yet. */
export function credentialState(lastUsed: 'current' | 'previous' | null | undefined): string | null {
  if (lastUsed === 'previous') return 'The device still uses the previous password.';
  if (lastUsed === 'current') return 'The device uses the current password.';
  return null;
}

/** Said wherever an integration is flagged `credential_in_url`: what is wrong, and the safer forms. */
export const URL_CREDENTIAL_WARNING =
  'The device sends its password in the URL (?api_key=), where proxies, load balancers and CDNs write it into ' +
  'their logs. Configure HTTP basic auth or the X-Api-Key header instead, then refresh the credentials.';

/**
 * The change a status-history line records, in words. An issue that leaves the status as it was (an early
 * warning: pulls refused while the integration is still online) names the issue instead of "Online → Online".
 */
export function transitionChange(item: {
  kind: string;
  issue_type?: string | null;
  from_status: string;
  to_status: string;
}): string {
  const word = (status: string) => STATUS_LABEL[status as Status] ?? status;
  if (item.from_status !== item.to_status) return `${word(item.from_status)} → ${word(item.to_status)}`;
  const issue = item.issue_type ? (ISSUE_LABEL[item.issue_type] ?? item.issue_type) : null;
  const what =
    item.kind === 'issue_opened'
      ? `${issue ?? 'Issue'} started`
      : item.kind === 'issue_resolved'
        ? `${issue ?? 'Issue'} ended`
        : item.kind.replaceAll('_', ' ');
  return `${what} (still ${word(item.to_status)})`;
}

/** Forms a firewall's configuration takes for the same credentials. */
export function credentialForms(contentUrl: string, username: string, password: string) {
  const url = new URL(contentUrl);
  const withUser = `${url.protocol}//${encodeURIComponent(username)}:${encodeURIComponent(password)}@${url.host}${url.pathname}`;
  return [
    { label: 'URL with user and password', value: withUser },
    { label: 'Basic auth user', value: username },
    { label: 'Basic auth password', value: password },
    { label: 'X-Api-Key header', value: `X-Api-Key: ${password}` },
    // Last, and said why: a URL is written into the logs of every proxy, load balancer and CDN on the way.
    {
      label: 'URL with ?api_key= (last resort: URLs get logged on the way)',
      value: `${contentUrl}?api_key=${encodeURIComponent(password)}`,
    },
  ];
}

/** Which actions a key gets: pullwatch prefixes read keys `pwr_` and write keys `pww_` (the server enforces it). */
export function scopeOfKey(key: string): 'read' | 'write' | null {
  if (/^pww_[A-Za-z0-9_-]{43}$/.test(key)) return 'write';
  if (/^pwr_[A-Za-z0-9_-]{43}$/.test(key)) return 'read';
  return null;
}

/** The auth outcome of a pull, in words. */
export const AUTH_LABEL: Record<string, string> = {
  current: 'current password',
  previous_in_grace: 'previous password, within its grace',
  previous_expired: 'previous password, after its grace ended',
  wrong_password: 'wrong password',
  no_credentials: 'no credentials',
  unknown_integration: 'unknown integration',
};

/** An integration's learned rhythm, as the API shows it. */
export interface Cadence {
  state: 'learning' | 'steady' | 'pattern' | 'irregular';
  usual_interval_seconds: number | null;
  late_after: string | null;
}

/** The learned rhythm in words, for the detail page. */
export function rhythmText(cadence: Cadence): string {
  const every = cadence.usual_interval_seconds
    ? `a pull every ~${humanDuration(cadence.usual_interval_seconds)}`
    : 'no usual interval yet';
  switch (cadence.state) {
    case 'learning':
      return 'still learning (it needs 7 full days with pulls on at least 5 of them)';
    case 'steady':
      return `steady: ${every}`;
    case 'pattern':
      return `a daily pattern: ${every} while active`;
    case 'irregular':
      return `irregular (${every}): no early warning, only the offline threshold`;
  }
}
