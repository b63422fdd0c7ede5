import type { PullRecord } from './index.ts';

export type MalformedReason =
  | 'not_json'
  | 'not_an_object'
  | 'missing_field'
  | 'bad_time'
  | 'bad_status'
  | 'bad_type'
  | 'too_long';

export type ParsedLine = { ok: true; record: PullRecord } | { ok: false; reason: MalformedReason } | null;

/** Lines longer than this are not access-log records; refusing them keeps memory and time bounded. */
export const MAX_LINE_LENGTH = 16 * 1024;

/** RFC 3339 with an explicit offset: a time without one would depend on the reader's timezone. */
const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

/** The instant of an ISO 8601 time with offset, normalised to UTC, or null for anything else. */
export function parseIsoTime(value: string): string | null {
  const match = ISO_TIME.exec(value);
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match
    .slice(1, 7)
    .map((part) => Number(part ?? 0)) as number[];
  // Date.parse would roll 2026-02-30 over to March; a real calendar date must round-trip.
  const calendar = new Date(Date.UTC(year as number, (month as number) - 1, day));
  if (calendar.getUTCMonth() !== (month as number) - 1 || calendar.getUTCDate() !== day) return null;
  if ((hour as number) > 23 || (minute as number) > 59 || (second as number) > 59) return null;
  const millis = Date.parse(value);
  return Number.isNaN(millis) ? null : new Date(millis).toISOString();
}

const optionalString = (value: unknown): string | null | undefined =>
  value === undefined || value === null ? null : typeof value === 'string' ? value : undefined;

/**
 * Parses one pull-log line. Returns null for a blank line, a record, or the reason it is malformed.
 * Never throws, whatever the input.
 */
export function parseLine(raw: string): ParsedLine {
  const line = raw.trim();
  if (line === '') return null;
  if (line.length > MAX_LINE_LENGTH) return { ok: false, reason: 'too_long' };
  if (line[0] !== '{') return { ok: false, reason: 'not_json' };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, reason: 'not_an_object' };
  return canonical(value as Record<string, unknown>);
}

/** BRIEF 5.1 format 1: {"time","integration_id","method","status","ip","user_agent","bytes"}. */
function canonical(entry: Record<string, unknown>): ParsedLine {
  const { time, integration_id: integrationId, status } = entry;
  if (time === undefined || integrationId === undefined || status === undefined) {
    return { ok: false, reason: 'missing_field' };
  }
  if (typeof integrationId !== 'string' || integrationId.length === 0 || integrationId.length > 128) {
    return { ok: false, reason: 'bad_type' };
  }
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
    return { ok: false, reason: 'bad_status' };
  }
  const normalised = typeof time === 'string' ? parseIsoTime(time) : null;
  if (normalised === null) return { ok: false, reason: 'bad_time' };
  const method = entry.method === undefined ? 'GET' : entry.method;
  const ip = optionalString(entry.ip);
  const userAgent = optionalString(entry.user_agent);
  if (typeof method !== 'string' || ip === undefined || userAgent === undefined)
    return { ok: false, reason: 'bad_type' };
  return {
    ok: true,
    record: {
      time: normalised,
      integration_id: integrationId,
      method: method.toUpperCase(),
      status,
      ip,
      user_agent: userAgent,
    },
  };
}
