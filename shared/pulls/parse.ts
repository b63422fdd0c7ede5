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
  if (typeof time !== 'string') return { ok: false, reason: 'bad_time' };
  const millis = Date.parse(time);
  if (Number.isNaN(millis)) return { ok: false, reason: 'bad_time' };
  const method = entry.method === undefined ? 'GET' : entry.method;
  const ip = optionalString(entry.ip);
  const userAgent = optionalString(entry.user_agent);
  if (typeof method !== 'string' || ip === undefined || userAgent === undefined)
    return { ok: false, reason: 'bad_type' };
  return {
    ok: true,
    record: {
      time: new Date(millis).toISOString(),
      integration_id: integrationId,
      method: method.toUpperCase(),
      status,
      ip,
      user_agent: userAgent,
    },
  };
}
