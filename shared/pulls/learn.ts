import { cadenceOf, type Integration } from '../integration/index.ts';
import type { Iso } from '../time.ts';
import { activityHours, addsAcceptedBefore, type HourBits, type HourKey, mergeHours } from './activity.ts';
import type { PullDays } from './activity-data.ts';
import {
  addDays,
  ELIGIBLE_AFTER_DAYS,
  encodeCadence,
  learnCadence,
  learningCadence,
  profileEnd,
} from './cadence.ts';

/**
 * The integration's cadence, learned again when an hour of a new UTC day closes: at most once a day, in the
 * ingest write that moves the hour anyway, with one query of its day items (about 1 in 288 cycles of a device
 * that pulls all day). Records arriving late for the days it learned from (a late file, or files of one cycle
 * folded by several workers in any order) make it learn again, so what it learned depends on the records seen,
 * not on their order. One that cannot be eligible yet (first pulled, or created, less than 7 full days before)
 * is not read for: it stays `learning`.
 *
 * `before` is the integration as stored, `next` as the ingest is about to write it; `added` the hours of the
 * new records; `closed` the hours the write lets go of, which the day items may not show yet.
 */
export async function relearn(
  days: PullDays,
  before: Integration,
  next: Integration,
  added: ReadonlyMap<HourKey, HourBits>,
  closed: ReadonlyMap<HourKey, HourBits>,
): Promise<string | null> {
  const recent = next.recent_pulls;
  if (recent === null) return next.cadence;
  const day = recent.hour.slice(0, 10);
  const stored = cadenceOf(next);
  const late = stored !== null && addsAcceptedBefore(before.recent_pulls, added, `${day}T00`);
  if (stored && stored.day >= day && !late) return next.cadence;
  if (!stored && closed.size === 0) return next.cadence;

  const known = activityHours(recent, []);
  mergeHours(known, closed);
  mergeHours(known, added);
  const firstSeen = [...known.keys()].sort()[0]?.slice(0, 10) ?? day;
  const first = stored?.first ?? null;
  const earliest = first !== null && first < firstSeen ? first : firstSeen;
  // The earliest its first pull can be: what the learner knows, or (knowing nothing yet) its creation.
  const earliestPossible = first === null ? next.created_at.slice(0, 10) : earliest;
  if (addDays(earliestPossible, ELIGIBLE_AFTER_DAYS) > day) {
    return encodeCadence(learningCadence(day, earliest));
  }
  const hours = activityHours(recent, await days.days(next.id, addDays(day, -ELIGIBLE_AFTER_DAYS), day));
  mergeHours(hours, closed);
  return encodeCadence(learnCadence(hours, day, first));
}

/**
 * A silent pattern device is not learned by the ingest (nothing of it arrives), so its profile would run out:
 * a business-hours firewall dead since Friday evening would not be expected on Monday. When the rule pass finds
 * its profile run out, it learns again on the current day, from the day items (one query per silent device and
 * two days). Null: nothing to learn again.
 */
export async function relearnSilent(
  days: PullDays,
  integration: Integration,
  now: Iso,
): Promise<string | null> {
  const stored = cadenceOf(integration);
  const end = profileEnd(stored);
  if (stored === null || end === null || end > now) return null;
  const day = now.slice(0, 10);
  const hours = activityHours(
    integration.recent_pulls,
    await days.days(integration.id, addDays(day, -ELIGIBLE_AFTER_DAYS), day),
  );
  return encodeCadence(learnCadence(hours, day, stored.first));
}
