import { isIP } from 'node:net';
import { parseIsoTime } from './log-time.ts';

/**
 * LAPI bouncer snapshots: the JSON array `cscli bouncers list -o json` prints, shipped from a security engine
 * host as `<org id>/<anything>.bouncers.json`. Each bouncer feeds the integration of that organization whose
 * source is `lapi` and whose name is the bouncer's base name (see `baseName`).
 *
 * Two shapes are printed, and both are read for what they mean (sources in crowdsecurity/crowdsec):
 *
 * - crowdsec 1.4.x (Debian 12 ships 1.4.6; captured in test/fixtures/crowdsec-1.4.6/): cscli marshals the
 *   database row itself (cmd/crowdsec-cli/bouncers.go, `getBouncers`, stored at commit 003306697dea), so an
 *   entry carries `id`, `api_key` (the SHA-512 of the key), `until`, and no `auto_created`, `os` or
 *   `featureflags`. The row's `last_pull` is a plain time that defaults to the moment of registration
 *   (pkg/database/ent/schema/bouncer.go of that era, stored at commit 007a64f7d7b9): a bouncer that never
 *   made a request prints its registration time there, not null. What gives it away is the rest of the row:
 *   the first authenticated request fills `ip_address` (the API-key middleware writes the client address when
 *   the stored one is empty) and `type`/`version` (from the User-Agent, `N/A` as version when it is not
 *   `type/version`), see pkg/apiserver/middlewares/v1/api_key.go of that era (stored at commit 0baff5355856).
 *   So an entry whose `ip_address`, `type` and `version` are all empty has never been used, whatever
 *   `last_pull` says (`neverUsed`). Its `created_at` is no registration time either: the schema gives it an
 *   update default, so it moves with every write to the row (the captures show it). A request from a new
 *   address overwrites `ip_address` in the same row (with a warning in the engine's log); 1.4 makes no
 *   `name@ip` entry.
 * - 1.5 and later (the boundary as pullwatch issue 19 reports it; the trees cited here are newer and only
 *   show the result): `last_pull` is nullable and null until the first pull (pkg/database/bouncers.go, stored
 *   at commit 0a80bcee04d7, queries `LastPullIsNil`); in the newest trees cscli prints the `bouncerInfo`
 *   struct of cmd/crowdsec-cli/clibouncer/bouncers.go (stored at commit 14452e34b7a6, `LastPull *time.Time`),
 *   and the entry is a chosen set of fields (created_at, updated_at, name, revoked, ip_address, type,
 *   version, last_pull, auth_type, os, featureflags, auto_created where the version has it). There is no
 *   `valid` field (only the human table has a "Valid" column, computed from `revoked`).
 *
 * When `last_pull` moves (pkg/apiserver/controllers/v1/decisions.go, stored at commit 0367a3058fee, and the
 * 1.4 middleware above; the once-a-minute rule came with crowdsec issue #1392 / PR #1445): a stream pull
 * (`/v1/decisions/stream`) sets it on every successful answer, a live query (`/v1/decisions`) only when the
 * stored one is at least a minute old, and HEAD never. So a live bouncer whose first queries came within a
 * minute of its registration shows its registration time with its address filled in: it did pull, at most a
 * minute after that time, and it is read as a pull at that time.
 *
 * The zero time `0001-01-01T00:00:00Z` (what a Go `time.Time` holds when nothing set it) has not been seen
 * from a real engine here; it is still read as "never".
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

/** A Go zero time: nothing ever set the field. */
const ZERO_TIME = /^0001-01-01/;

/**
 * The 1.4 sign of a bouncer that has never made an authenticated request: the fields its first request
 * fills are all still empty (see the header). Later engines print `last_pull: null` for it anyway. The three
 * are required together so that an engine which could not tell a client's address (and left it empty) does
 * not make a bouncer that pulled look unused: `type` and `version` come from any User-Agent, even a missing
 * one. Missing fields (another shape) say nothing.
 */
function neverUsed(entry: Record<string, unknown>): boolean {
  return entry.ip_address === '' && entry.type === '' && entry.version === '';
}

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
      typeof entry.last_pull === 'string' && !ZERO_TIME.test(entry.last_pull) && !neverUsed(entry)
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
