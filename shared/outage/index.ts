import { z } from 'zod';
import { type Integration, offlineAt } from '../integration/index.ts';
import { SNAPSHOT_SUFFIX } from '../pulls/lapi.ts';
import { oneLine } from '../text.ts';
import { addSeconds, type Iso, secondsBetween } from '../time.ts';

/**
 * Shared outages: many integrations of one organization, or every bouncer of one security engine, that stopped
 * pulling within minutes of each other while the pull-log feed kept arriving. Each keeps its own offline issue
 * (each resolves on its own), but the probable cause is the one thing they share, and the operator hears it once.
 *
 * How a group is decided (pure, from stored facts and `now`):
 * - scope: the bouncers listed by one engine snapshot path (lapi), or the organization's other integrations;
 * - members: integrations of the scope that made no request at all since their last pull (silent, not rejected
 *   or erroring), whose last pulls lie within GROUP_WINDOW_SECONDS of the first member's, idle for at least
 *   MIN_IDLE_SECONDS;
 * - population: integrations of the scope that were still pulling just before the silence began (not paused,
 *   not already offline then);
 * - a shared outage needs at least MIN_MEMBERS of the scope and MIN_SHARE of its population: one engine's
 *   bouncers all hang on one Local API, so two of two already point at it, and most of them must be silent;
 *   firewalls in many customers' networks fail one by one for their own reasons, so three and half of the
 *   organization are far beyond chance (2 of 40 is two issues, not an outage).
 */

/** Last pulls this close to each other count as one event (an engine or endpoint failing stops them all at once). */
export const GROUP_WINDOW_SECONDS = 600;
/** A member must be silent at least this long, so a device between two pulls is never counted. */
export const MIN_IDLE_SECONDS = 2 * GROUP_WINDOW_SECONDS;
export const MIN_MEMBERS = { engine: 2, organization: 3 } as const;
export const MIN_SHARE = { engine: 0.8, organization: 0.5 } as const;

export const OutageGroup = z.object({
  /** Identifies the group across passes: its scope and the first member's last pull. */
  key: z.string(),
  scope: z.enum(['engine', 'organization']),
  /** The engine's name (its snapshot file's name) for an engine group; null for the organization. */
  engine: z.string().nullable(),
  /** The snapshot path of that engine, as the integrations record it; null for the organization. */
  engine_path: z.string().nullable(),
  /** How many went silent together, out of how many were pulling before. */
  silent: z.number().int(),
  of: z.number().int(),
  /** The first and the last member's last pull. */
  since: z.string(),
  until: z.string(),
  member_ids: z.array(z.string()),
  /** When the group's one message goes out: once its members' offline issues have opened (bounded). */
  notify_at: z.string(),
});
export type OutageGroup = z.infer<typeof OutageGroup>;

/** The group as an issue's diagnosis carries it (no member list: the organization's other issues show those). */
export const DiagnosisGroup = OutageGroup.pick({
  key: true,
  scope: true,
  engine: true,
  silent: true,
  of: true,
  since: true,
});
export type DiagnosisGroup = z.infer<typeof DiagnosisGroup>;

export interface Scope {
  kind: OutageGroup['scope'];
  /** Unique within the organization. */
  key: string;
  engine: string | null;
  enginePath: string | null;
}

/** The engine that lists a bouncer now: the snapshot path that listed it most recently. */
function enginePathOf(integration: Integration): string | null {
  const engines = Object.entries(integration.lapi?.engines ?? {});
  let best: [string, Iso] | null = null;
  for (const [path, engine] of engines) {
    if (engine.listed_at !== null && (best === null || engine.listed_at > best[1]))
      best = [path, engine.listed_at];
  }
  return best?.[0] ?? null;
}

/**
 * `lapi/org_x/engine-1.bouncers.json` → `engine-1`. A file name can hold anything; it is shown in messages, so
 * control characters and line breaks become spaces.
 */
export function engineName(path: string): string {
  const file = path.slice(path.lastIndexOf('/') + 1);
  const name = file.replace(SNAPSHOT_SUFFIX, '') || file;
  return oneLine(name) || 'engine';
}

export function scopeOf(integration: Integration): Scope {
  const path = integration.source === 'lapi' ? enginePathOf(integration) : null;
  return path === null
    ? { kind: 'organization', key: 'organization', engine: null, enginePath: null }
    : { kind: 'engine', key: `engine:${path}`, engine: engineName(path), enginePath: path };
}

/** The last pull of an integration that has made no request at all since (null: never pulled, paused, or trying). */
export function silentSince(integration: Integration): Iso | null {
  const last = integration.last_pull_at;
  if (last === null || integration.paused) return null;
  if (integration.last_attempt_at !== null && integration.last_attempt_at > last) return null;
  return last;
}

/**
 * The shared outage `anchor` belongs to, among `scope` (every integration of its scope, itself included), or
 * null when its silence is its own. Pure.
 */
export function decideGroup(anchor: Integration, scope: Integration[], now: Iso): OutageGroup | null {
  const anchorLast = silentSince(anchor);
  if (anchorLast === null) return null;
  const own = scopeOf(anchor);
  const from = addSeconds(anchorLast, -GROUP_WINDOW_SECONDS);
  const to = addSeconds(anchorLast, GROUP_WINDOW_SECONDS);
  const inScope = scope.filter((other) => !other.paused && scopeOf(other).key === own.key);
  // Pulling before the silence began: pulled at some time, and not yet past its own threshold then.
  const population = inScope.filter((other) => other.last_pull_at !== null && offlineAt(other) > from);
  const members = population.filter((other) => {
    const last = silentSince(other);
    return last !== null && last >= from && last <= to && secondsBetween(last, now) >= MIN_IDLE_SECONDS;
  });
  if (!members.some((member) => member.id === anchor.id)) return null;
  if (members.length < MIN_MEMBERS[own.kind] || members.length < MIN_SHARE[own.kind] * population.length)
    return null;
  const lasts = members.map((member) => member.last_pull_at as Iso).sort();
  const crossings = members.map(offlineAt).sort();
  const firstCrossing = crossings[0] as Iso;
  const lastCrossing = crossings[crossings.length - 1] as Iso;
  const cap = addSeconds(firstCrossing, GROUP_WINDOW_SECONDS);
  const since = lasts[0] as Iso;
  return {
    key: `${own.key}#${since}`,
    scope: own.kind,
    engine: own.engine,
    engine_path: own.enginePath,
    silent: members.length,
    of: population.length,
    since,
    until: lasts[lasts.length - 1] as Iso,
    member_ids: members.map((member) => member.id).sort(),
    notify_at: lastCrossing < cap ? lastCrossing : cap,
  };
}

/** Whether a stored group still speaks for `integration`: a member, still silent since the same last pull. */
export function groupHolds(group: OutageGroup, integration: Integration): boolean {
  const last = silentSince(integration);
  return (
    last !== null &&
    group.member_ids.includes(integration.id) &&
    last >= group.since &&
    last <= group.until &&
    scopeOf(integration).key === group.key.slice(0, group.key.lastIndexOf('#'))
  );
}

export const diagnosisGroup = (group: OutageGroup): DiagnosisGroup => ({
  key: group.key,
  scope: group.scope,
  engine: group.engine,
  silent: group.silent,
  of: group.of,
  since: group.since,
});
