import { parseIsoTime } from './parse.ts';

/**
 * LAPI bouncer snapshots: the JSON array `cscli bouncers list -o json` prints, shipped
 * from a security engine host as `<org id>/<anything>.bouncers.json`. Each bouncer feeds the integration of
 * that organization whose source is `lapi` and whose name is the bouncer's name.
 */
export const SNAPSHOT_SUFFIX = /\.bouncers\.json(\.gz)?$/;
/** A snapshot lists bouncers, not requests; anything this large is not one. */
export const MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024;
const ORG_IN_PATH = /(?:^|[/.])(org_[0-9a-f]{8,40})(?=[/.])/;

export interface BouncerEntry {
  name: string;
  last_pull_at: string | null;
  revoked: boolean;
  ip: string | null;
  user_agent: string | null;
}

export type SnapshotResult =
  | { ok: true; bouncers: BouncerEntry[]; skipped: number }
  | { ok: false; reason: 'not_json' | 'not_a_snapshot' | 'no_org_in_path' | 'too_long' };

export const isSnapshot = (name: string) => SNAPSHOT_SUFFIX.test(name);

/** The organization a snapshot belongs to, from its path (`org_…/host.bouncers.json` or `org_….host.bouncers.json`). */
export function orgOfSnapshot(name: string): string | null {
  return ORG_IN_PATH.exec(name)?.[1] ?? null;
}

/** cscli prints the zero time for a bouncer that never pulled. */
const NEVER = /^0001-01-01/;

export function parseSnapshot(text: string): SnapshotResult {
  if (text.length > MAX_SNAPSHOT_BYTES) return { ok: false, reason: 'too_long' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  if (!Array.isArray(value)) return { ok: false, reason: 'not_a_snapshot' };
  const bouncers: BouncerEntry[] = [];
  let skipped = 0;
  for (const item of value) {
    if (typeof item !== 'object' || item === null || typeof (item as { name?: unknown }).name !== 'string') {
      skipped += 1;
      continue;
    }
    const entry = item as Record<string, unknown>;
    const lastPull =
      typeof entry.last_pull === 'string' && !NEVER.test(entry.last_pull)
        ? parseIsoTime(entry.last_pull)
        : null;
    const revoked = entry.revoked === true || entry.valid === false;
    const version = typeof entry.version === 'string' ? entry.version : null;
    const type = typeof entry.type === 'string' ? entry.type : null;
    bouncers.push({
      name: entry.name as string,
      last_pull_at: lastPull,
      revoked,
      ip: typeof entry.ip_address === 'string' && entry.ip_address !== '' ? entry.ip_address : null,
      user_agent: type ? (version ? `${type}/${version}` : type) : null,
    });
  }
  return { ok: true, bouncers, skipped };
}
