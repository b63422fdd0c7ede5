import { isIP } from 'node:net';
import { parseIsoTime } from './parse.ts';

/**
 * LAPI bouncer snapshots: the JSON array `cscli bouncers list -o json` prints, shipped
 * from a security engine host as `<org id>/<anything>.bouncers.json`. Each bouncer feeds the integration of
 * that organization whose source is `lapi` and whose name is the bouncer's base name (see `baseName`).
 *
 * The shape (crowdsecurity/crowdsec cmd/crowdsec-cli/clibouncer/bouncers.go, `bouncerInfo`): created_at,
 * updated_at, name, revoked, ip_address, type, version, last_pull (`*time.Time`: null until the first
 * pull), auth_type, os, featureflags, auto_created. There is no `valid` field (only the human table has a
 * "Valid" column, computed from `revoked`). In older engines `last_pull` was a plain time in the database
 * (pkg/apiserver/middlewares/v1/api_key.go of those versions subtracts it as a `time.Time` value), so a bouncer
 * that never pulled can show the zero time `0001-01-01T00:00:00Z`; that is still read as "never".
 */
export const SNAPSHOT_SUFFIX = /\.bouncers\.json(\.gz)?$/;
/** A snapshot lists bouncers, not requests; anything this large is not one. */
export const MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024;
const ORG_IN_PATH = /(?:^|[/.])(org_[0-9a-f]{8,40})(?=[/.])/;

export interface BouncerEntry {
  name: string;
  last_pull_at: string | null;
  revoked: boolean;
  auto_created: boolean;
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

/**
 * The name of the bouncer an entry stands for. The local API registers a TLS bouncer as `<CN>@<client ip>`
 * (pkg/apiserver/middlewares/v1/api_key.go, `authTLS`), and when an API key is used from a new address it
 * creates another entry `<name>@<client ip>` with `auto_created` (same file, `authPlain`; older versions could
 * chain them: `name@ip1@ip2`). So every trailing `@<IPv4 or IPv6 address>` is dropped, as `baseBouncerName`
 * there does; a name like `a@b` whose tail is not an address is a name of its own.
 */
export function baseName(name: string): string {
  let base = name;
  for (;;) {
    const at = base.lastIndexOf('@');
    if (at <= 0 || isIP(base.slice(at + 1)) === 0) return base;
    base = base.slice(0, at);
  }
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
    // `revoked` is a real column of the bouncer table, printed as is. crowdsec itself only ever writes false
    // (pkg/database/bouncers.go, CreateBouncer: SetRevoked(false); nothing sets it to true), but the column
    // can be set in the database by hand, and stored issues carry `bouncer_revoked`: it is still believed.
    const revoked = entry.revoked === true;
    const version = typeof entry.version === 'string' ? entry.version : null;
    const type = typeof entry.type === 'string' ? entry.type : null;
    bouncers.push({
      name: entry.name as string,
      last_pull_at: lastPull,
      revoked,
      auto_created: entry.auto_created === true,
      ip: typeof entry.ip_address === 'string' && entry.ip_address !== '' ? entry.ip_address : null,
      user_agent: type ? (version ? `${type}/${version}` : type) : null,
    });
  }
  return { ok: true, bouncers, skipped };
}
