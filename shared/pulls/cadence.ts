import { addSeconds, type Iso } from '../time.ts';
import { DIGITS, type HourBits, type HourKey } from './activity.ts';

/**
 * A device's pull cadence, learned once a UTC day from the minute bitmaps of the 7 full days before it, so that
 * a device which stops pulling is noticed long before the fixed offline threshold when its habits allow:
 * - steady: it pulls at a regular interval; it is late after max(30 min, 5 intervals) of silence;
 * - pattern: it pulls in recurring hours (business hours); it is late once a silence has swallowed enough
 *   pulled minutes it was expected to make (phi accrual over a 48-hour profile of expected minutes per hour);
 * - irregular: neither, and learning: not enough history. Both leave it to the offline threshold.
 * Pure: every time is an argument.
 */

export const CADENCE_STATES = ['learning', 'steady', 'pattern', 'irregular'] as const;
export type CadenceState = (typeof CADENCE_STATES)[number];

export interface Cadence {
  state: CadenceState;
  /** The UTC day (YYYY-MM-DD) it was learned on: it learned from the 7 full days before it. */
  day: string;
  /** The first UTC day with an accepted pull the learner knows of (eligibility); null if none. */
  first: string | null;
  /** Days of the 7 before `day` with at least one accepted pull. */
  pulledDays: number;
  /** Median gap between pulled minutes over those 7 days, seconds (60 for once a minute or more often); null when fewer than 2 pulled minutes. */
  interval: number | null;
  /** steady only: how long a silence may last before it is late, seconds = max(30 min, 5 x interval). */
  allowance: number | null;
  /** pattern only: expected pulled minutes per hour for the 48 hours from `day` 00:00 UTC, one base64url digit per hour (value 0-60). */
  profile: string | null;
}

/**
 * phi = PHI_PER_MINUTE x E, E the pulled minutes expected during the silence; late at phi >= LATE_PHI. For
 * Poisson pulls, a silence missing E expected ones has probability e^-E, and phi = -log10 of it = E x log10(e).
 */
export const LATE_PHI = 8;
// biome-ignore lint/suspicious/noApproximativeNumericConstant: the contract's rounded figure, kept exact on purpose
export const PHI_PER_MINUTE = 0.434;
/** About 18.43 expected pulled minutes. */
const LATE_EXPECTED = LATE_PHI / PHI_PER_MINUTE;

const WINDOW_DAYS = 7;
/** Days from a first pull's day to the first learning day that can trust it: 7 full days in between. */
export const ELIGIBLE_AFTER_DAYS = WINDOW_DAYS + 1;
const DAY_MINUTES = 1440;
const WEEK_MINUTES = WINDOW_DAYS * DAY_MINUTES;
const PROFILE_HOURS = 48;
/** Days reached out of the 7 for an hour to count as one the device keeps. */
const MIN_REACHED = 5;
const MIN_PULLED_DAYS = 5;
/** Long gaps may add up to this much of the week and the device is still steady (5%). */
const STEADY_SLACK_MINUTES = Math.floor(WEEK_MINUTES * 0.05);
const MIN_ALLOWANCE_SECONDS = 1800;
/** The first and last hour of each day's active span are left out of the profile: when a device starts and
 * stops drifts by minutes, and counting those edges would expect pulls the device has not started yet. */
const EDGE_MINUTES = 60;

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

const dayMs = (day: string): number => Date.parse(`${day}T00:00:00Z`);
/** The UTC day `days` after `day` (both `YYYY-MM-DD`). */
export const addDays = (day: string, days: number): string =>
  new Date(dayMs(day) + days * DAY_MS).toISOString().slice(0, 10);

/** The window's pulled minutes, as minute offsets from its start (day-7 00:00), ascending. */
function windowMinutes(hours: ReadonlyMap<HourKey, HourBits>, day: string): Int32Array {
  const dayIndex = new Map<string, number>();
  for (let index = 0; index < WINDOW_DAYS; index += 1) dayIndex.set(addDays(day, index - WINDOW_DAYS), index);
  // Slots by position, so the map's insertion order cannot matter.
  const slots: (HourBits | undefined)[] = new Array(WINDOW_DAYS * 24);
  for (const [hour, bits] of hours) {
    const index = dayIndex.get(hour.slice(0, 10));
    if (index !== undefined) slots[index * 24 + Number(hour.slice(11, 13))] = bits;
  }
  const minutes: number[] = [];
  for (let slot = 0; slot < slots.length; slot += 1) {
    const bits = slots[slot];
    if (!bits) continue;
    for (let half = 0; half < 2; half += 1) {
      let set = bits[half] as number;
      while (set !== 0) {
        const low = set & -set;
        minutes.push(slot * 60 + half * 30 + (31 - Math.clz32(low)));
        set ^= low;
      }
    }
  }
  return Int32Array.from(minutes);
}

function firstPulledDay(hours: ReadonlyMap<HourKey, HourBits>): string | null {
  let first: HourKey | null = null;
  for (const [hour, bits] of hours) {
    if ((bits[0] !== 0 || bits[1] !== 0) && (first === null || hour < first)) first = hour;
  }
  return first === null ? null : first.slice(0, 10);
}

/** The lower median, 10th and 90th percentiles of the gaps, counted by value: a once-a-minute device has
 * 10,000 gaps of one value. */
function gapQuantiles(minutes: Int32Array): { p10: number; median: number; p90: number } | null {
  if (minutes.length < 2) return null;
  const counts = new Map<number, number>();
  for (let index = 1; index < minutes.length; index += 1) {
    const gap = (minutes[index] as number) - (minutes[index - 1] as number);
    counts.set(gap, (counts.get(gap) ?? 0) + 1);
  }
  const gaps = minutes.length - 1;
  const at = (rank: number) => {
    let seen = 0;
    for (const gap of [...counts.keys()].sort((a, b) => a - b)) {
      seen += counts.get(gap) as number;
      if (seen > rank) return gap;
    }
    return 0;
  };
  const rank = (share: number) => at(Math.floor((gaps - 1) * share));
  return { p10: rank(0.1), median: rank(0.5), p90: rank(0.9) };
}

/**
 * Minutes of the week spent in gaps longer than 3 median gaps. The silences before the window's first pulled
 * minute and after its last count as gaps too (a stricter reading of "gaps between pulled minutes"): otherwise a
 * device silent for the two days at either end of the window would look steady.
 */
function longGapMinutes(minutes: Int32Array, gap: number): number {
  let total = 0;
  let previous = 0;
  for (let index = 0; index <= minutes.length; index += 1) {
    const next = index < minutes.length ? (minutes[index] as number) : WEEK_MINUTES;
    const length = next - previous;
    if (length > 3 * gap) total += length;
    previous = next;
  }
  return total;
}

/** The expected pulled minutes per hour for the 48 hours from `day` 00:00 (whole minutes, 0-60). */
function learnProfile(minutes: Int32Array): number[] {
  // counts[d][c]: day d's pulled minutes in clock hour c inside its span less the edges; reached: any at all.
  const counts = new Int32Array(WINDOW_DAYS * 24);
  const reached = new Int32Array(24);
  let start = 0;
  for (let d = 0; d < WINDOW_DAYS; d += 1) {
    let end = start;
    while (end < minutes.length && (minutes[end] as number) < (d + 1) * DAY_MINUTES) end += 1;
    if (end > start) {
      const from = (minutes[start] as number) + EDGE_MINUTES;
      const to = (minutes[end - 1] as number) - EDGE_MINUTES;
      const reachedToday = new Uint8Array(24);
      for (let index = start; index < end; index += 1) {
        const minute = minutes[index] as number;
        const clock = Math.floor((minute % DAY_MINUTES) / 60);
        reachedToday[clock] = 1;
        if (minute >= from && minute <= to) counts[d * 24 + clock] = (counts[d * 24 + clock] as number) + 1;
      }
      for (let clock = 0; clock < 24; clock += 1)
        reached[clock] = (reached[clock] as number) + (reachedToday[clock] as number);
    }
    start = end;
  }
  const profile: number[] = [];
  // The hours of `day` compare with day-7 (index 0), those of the next day with day-6 (index 1): the same
  // weekday, so a Friday-like week does not expect pulls on a Saturday.
  for (const sameWeekday of [0, 1]) {
    for (let clock = 0; clock < 24; clock += 1) {
      if ((reached[clock] as number) < MIN_REACHED) {
        profile.push(0);
        continue;
      }
      let sum = 0;
      for (let d = 0; d < WINDOW_DAYS; d += 1) sum += counts[d * 24 + clock] as number;
      const expected = Math.min(sum / WINDOW_DAYS, counts[sameWeekday * 24 + clock] as number);
      profile.push(Math.max(0, Math.min(60, Math.floor(expected))));
    }
  }
  return profile;
}

/** Whether some 24 hours of silence in the profile add up to a late one (the simple check of the contract). */
function canBeLate(profile: readonly number[]): boolean {
  for (let from = 0; from + 24 <= profile.length; from += 1) {
    let sum = 0;
    for (let hour = from; hour < from + 24; hour += 1) sum += profile[hour] as number;
    if (sum >= LATE_EXPECTED) return true;
  }
  return false;
}

/** Not enough history to judge by: it never warns. */
export const learningCadence = (day: string, first: string | null, pulledDays = 0): Cadence => ({
  state: 'learning',
  day,
  first,
  pulledDays,
  interval: null,
  allowance: null,
  profile: null,
});

export function learnCadence(
  hours: ReadonlyMap<HourKey, HourBits>,
  day: string,
  first: string | null,
): Cadence {
  const seen = firstPulledDay(hours);
  const earliest = first === null ? seen : seen === null || first <= seen ? first : seen;
  const minutes = windowMinutes(hours, day);
  const pulled = new Set<number>();
  for (const minute of minutes) pulled.add(Math.floor(minute / DAY_MINUTES));
  const base = { day, first: earliest, pulledDays: pulled.size };
  const learning = learningCadence(day, earliest, pulled.size);
  if (earliest === null || day < addDays(earliest, ELIGIBLE_AFTER_DAYS) || pulled.size < MIN_PULLED_DAYS) {
    return learning;
  }
  const quantiles = gapQuantiles(minutes);
  if (quantiles === null) return learning;
  const gap = quantiles.median;
  const interval = gap * 60;
  // Beyond the contract's 5% rule, steady gaps must also be tight: 80% of them within half and twice the
  // median. Random pulls (exponential gaps) have a p10 of 0.15 and a p90 of 3.3 medians; without this, about
  // 1 week in 250 of a device pulling at random every 3 h on average has a median near 3 h and no gap past 3 of
  // them, passes the 5% rule, gets an allowance of 11-16 h and warns about its next long healthy gap (the
  // replay bench measured it; p90 alone still let 1 in 1,000 weeks through).
  const tight = quantiles.p10 * 2 >= gap && quantiles.p90 <= 2 * gap;
  if (tight && longGapMinutes(minutes, gap) <= STEADY_SLACK_MINUTES) {
    const allowance = Math.max(MIN_ALLOWANCE_SECONDS, 5 * interval);
    return { state: 'steady', ...base, interval, allowance, profile: null };
  }
  const profile = learnProfile(minutes);
  return canBeLate(profile)
    ? {
        state: 'pattern',
        ...base,
        interval,
        allowance: null,
        profile: profile.map((v) => DIGITS[v]).join(''),
      }
    : { state: 'irregular', ...base, interval, allowance: null, profile: null };
}

/**
 * When a silence that began at `lastPull` becomes late; null when the cadence cannot tell (learning,
 * irregular, or a pattern whose 48 hours end before enough pulls were missed). For a pattern the expected
 * minutes accrue continuously from `lastPull` (each hour's E prorated by the minute; hours before the profile's
 * start add nothing) and the answer is rounded up to the whole minute at which they reach 8 / 0.434.
 */
export function lateAfter(cadence: Cadence | null, lastPull: Iso | null): Iso | null {
  if (cadence === null || lastPull === null) return null;
  if (cadence.state === 'steady')
    return cadence.allowance === null ? null : addSeconds(lastPull, cadence.allowance);
  if (cadence.state !== 'pattern' || cadence.profile === null) return null;
  const start = dayMs(cadence.day);
  let at = Math.max(Date.parse(lastPull), start);
  let expected = 0;
  for (let hour = Math.floor((at - start) / HOUR_MS); hour < PROFILE_HOURS; hour += 1) {
    const perHour = DIGITS.indexOf(cadence.profile[hour] ?? 'A');
    const hourEnd = start + (hour + 1) * HOUR_MS;
    const gained = (perHour * (hourEnd - at)) / HOUR_MS;
    if (perHour > 0 && expected + gained >= LATE_EXPECTED) {
      const reached = at + ((LATE_EXPECTED - expected) / perHour) * HOUR_MS;
      return new Date(Math.ceil(reached / MINUTE_MS) * MINUTE_MS).toISOString();
    }
    expected += gained;
    at = hourEnd;
  }
  return null;
}

// ---- encoding --------------------------------------------------------------------------------------------

/**
 * `S` `20260114` `20260105` `7` `.8c` `.1e0` `.` (steady, every 5 min, late after 30): the state's initial, the
 * day, the first day (or `-`), the pulled days, then interval and allowance in seconds in base 36 and the 48
 * profile digits, each empty when null. About 26 characters, 74 with a profile, for an item with a 1 KB budget.
 */
export function encodeCadence(cadence: Cadence): string {
  const compact = (day: string) => day.replaceAll('-', '');
  return [
    `${cadence.state[0]?.toUpperCase()}${compact(cadence.day)}${cadence.first === null ? '-' : compact(cadence.first)}${cadence.pulledDays}`,
    cadence.interval?.toString(36) ?? '',
    cadence.allowance?.toString(36) ?? '',
    cadence.profile ?? '',
  ].join('.');
}

const ENCODED = /^([LSPI])(\d{8})(\d{8}|-)([0-7])\.([0-9a-z]{0,8})\.([0-9a-z]{0,8})\.([A-Za-z0-9_-]{48})?$/;

/** The cadence `encodeCadence` wrote; null for anything else (it must re-encode to the same text). */
export function decodeCadence(text: string): Cadence | null {
  const match = ENCODED.exec(text);
  if (!match) return null;
  const [, initial, day, first, pulledDays, interval, allowance, profile] = match;
  const state = CADENCE_STATES.find((name) => name[0]?.toUpperCase() === initial);
  const isoDay = (compact: string) => `${compact.slice(0, 4)}-${compact.slice(4, 6)}-${compact.slice(6, 8)}`;
  const seconds = (value: string | undefined) => (value ? Number.parseInt(value, 36) : null);
  if (state === undefined || day === undefined) return null;
  const cadence: Cadence = {
    state,
    day: isoDay(day),
    first: first === undefined || first === '-' ? null : isoDay(first),
    pulledDays: Number(pulledDays),
    interval: seconds(interval),
    allowance: seconds(allowance),
    profile: profile ?? null,
  };
  const realDay = (value: string | null) =>
    value === null || (!Number.isNaN(dayMs(value)) && addDays(value, 0) === value);
  const consistent =
    realDay(cadence.day) &&
    realDay(cadence.first) &&
    (cadence.profile === null || [...cadence.profile].every((digit) => DIGITS.indexOf(digit) <= 60)) &&
    (cadence.state === 'steady') === (cadence.allowance !== null) &&
    (cadence.state === 'pattern') === (cadence.profile !== null) &&
    (cadence.state !== 'learning' || cadence.interval === null) &&
    (cadence.state === 'learning' || cadence.interval !== null) &&
    // Gaps are whole minutes, at least one.
    (cadence.interval ?? 60) % 60 === 0 &&
    (cadence.interval ?? 60) > 0 &&
    (cadence.allowance ?? MIN_ALLOWANCE_SECONDS) >= MIN_ALLOWANCE_SECONDS;
  // Re-encoding rules out non-canonical spellings (leading zeros), so decode(encode(c)) is the only way in.
  return consistent && encodeCadence(cadence) === text ? cadence : null;
}

/** When a pattern's 48-hour profile runs out (a silent device is learned again then, see learn.ts), or null. */
export function profileEnd(cadence: Cadence | null): Iso | null {
  return cadence?.state === 'pattern'
    ? addSeconds(`${cadence.day}T00:00:00.000Z`, PROFILE_HOURS * 3600)
    : null;
}
