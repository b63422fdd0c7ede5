import { z } from 'zod';
import type { Iso } from '../time.ts';

/**
 * Pull activity: for each hour, the set of minutes with an accepted pull (a successful GET) and the set with a
 * refused one (401/403), as two 60-bit minute bitmaps. Sets fold by union, which is order-independent and
 * idempotent by construction: a file read twice sets the same bits again. So what is shown is "minutes with
 * pulls", never a request count (a count would double on a re-read file).
 *
 * Where it is kept, so that it costs no extra write per cycle:
 * - on the integration item (`RecentPulls`, written with the pull facts it travels with): the newest hour with
 *   a pull, a 48-hour state string for the console list, and the minute bitmaps of that hour and the one
 *   before (the "open" hours: stragglers for the previous hour are still free);
 * - in day items (`PULLS#{integration id}` / `PULLS#{day}`, see pulls/activity-data.ts): the bitmaps of every
 *   older hour. An hour is added there when it leaves the open pair (about once an hour per pulling
 *   integration), or when a record arrives for an hour already there (rare: a file more than an hour late).
 * The reader unions the day items with the open pair, so it never matters when (or whether) an hour was moved.
 */

/** An hour in UTC as the first 13 characters of its ISO time: `2026-11-21T10`. Sorts like the instants. */
export type HourKey = string;

/** Minute bitmaps of one hour, each 60 bits as two 30-bit halves (minutes 0-29, 30-59): [accepted lo,
 * accepted hi, refused lo, refused hi]. Halves keep the hot path (one record) on plain 32-bit integer ops. */
export type HourBits = [number, number, number, number];

export type PullClassShown = 'accepted' | 'refused';

/** How many hours the list shows, and how many the detail does. */
export const TIMELINE_HOURS = 48;
export const HISTORY_HOURS = 7 * 24;
/** Hours further back than this behind the newest one are never shown again, so they are not stored. */
export const KEPT_HOURS = HISTORY_HOURS + 24;

const HOUR_MS = 3_600_000;

export const hourOf = (time: Iso): HourKey =>
  time.length === 24 && time.endsWith('Z') ? time.slice(0, 13) : new Date(time).toISOString().slice(0, 13);
const minuteOf = (time: Iso): number =>
  time.length === 24 && time.endsWith('Z') ? Number(time.slice(14, 16)) : new Date(time).getUTCMinutes();
export const hourStart = (hour: HourKey): Iso => `${hour}:00:00Z`;
export const shiftHour = (hour: HourKey, hours: number): HourKey =>
  new Date(Date.parse(hourStart(hour)) + hours * HOUR_MS).toISOString().slice(0, 13);
/** Whole hours from `from` to `to` (negative if `to` is earlier). */
export const hoursBetween = (from: HourKey, to: HourKey): number =>
  Math.round((Date.parse(hourStart(to)) - Date.parse(hourStart(from))) / HOUR_MS);

const emptyBits = (): HourBits => [0, 0, 0, 0];

/** Marks the minute of `time` in the hours map (a summary's), for one class of pull. */
export function addPull(hours: Map<HourKey, HourBits>, time: Iso, shown: PullClassShown): void {
  const hour = hourOf(time);
  let bits = hours.get(hour);
  if (!bits) {
    bits = emptyBits();
    hours.set(hour, bits);
  }
  const minute = minuteOf(time);
  const slot = (shown === 'accepted' ? 0 : 2) + (minute < 30 ? 0 : 1);
  bits[slot] = (bits[slot] as number) | (1 << (minute % 30));
}

function orInto(hours: Map<HourKey, HourBits>, hour: HourKey, bits: Readonly<HourBits>): void {
  const into = hours.get(hour);
  if (!into) {
    hours.set(hour, [...bits]);
    return;
  }
  for (let index = 0; index < 4; index += 1) into[index] = (into[index] as number) | (bits[index] as number);
}

/** Unions `other` into `into`. */
export function mergeHours(into: Map<HourKey, HourBits>, other: ReadonlyMap<HourKey, HourBits>): void {
  for (const [hour, bits] of other) orInto(into, hour, bits);
}

// ---- encodings -------------------------------------------------------------------------------------------

/** The base64url digits, value 0 to 63: the encodings here and the learned cadence's profile (cadence.ts). */
export const DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const DIGIT_VALUE = new Map([...DIGITS].map((digit, value) => [digit, value]));

/** 30 bits as 5 base64url digits, most significant first. */
function encode30(value: number): string {
  let text = '';
  for (let shift = 24; shift >= 0; shift -= 6) text += DIGITS[(value >>> shift) & 63];
  return text;
}

function decode30(text: string): number {
  let value = 0;
  for (const digit of text) value = (value << 6) | (DIGIT_VALUE.get(digit) ?? 0);
  return value >>> 0;
}

/** A 60-bit minute bitmap as 10 base64url characters (minutes 30-59, then 0-29): hex would take 15. */
export const encodeMinutes = (lo: number, hi: number): string => encode30(hi) + encode30(lo);
export const decodeMinutes = (text: string): [number, number] => [
  decode30(text.slice(5, 10)),
  decode30(text.slice(0, 5)),
];

const popcount = (value: number): number => {
  let v = value - ((value >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
};

export const acceptedMinutes = (bits: Readonly<HourBits>) => popcount(bits[0]) + popcount(bits[1]);
export const refusedMinutes = (bits: Readonly<HourBits>) => popcount(bits[2]) + popcount(bits[3]);

/** The hour's bits as the 20 characters of one open hour: accepted, then refused. */
const encodeBits = (bits: Readonly<HourBits>) =>
  encodeMinutes(bits[0], bits[1]) + encodeMinutes(bits[2], bits[3]);
const decodeBits = (text: string): HourBits => [
  ...decodeMinutes(text.slice(0, 10)),
  ...decodeMinutes(text.slice(10, 20)),
];

/** An element of a day item's string sets: two digits of the hour of day and the minute bitmap. */
export const dayElement = (hour: HourKey, lo: number, hi: number): string =>
  `${hour.slice(11, 13)}${encodeMinutes(lo, hi)}`;

// ---- the 48-hour states ----------------------------------------------------------------------------------

/** One character per hour: '.' silent, 'a' accepted only, 'r' refused only, 'b' both. A join: bitwise or. */
const STATES = '.arb';
const stateOf = (bits: Readonly<HourBits>): number =>
  (bits[0] !== 0 || bits[1] !== 0 ? 1 : 0) | (bits[2] !== 0 || bits[3] !== 0 ? 2 : 0);
const stateValue = (char: string | undefined): number => Math.max(0, STATES.indexOf(char ?? '.'));

/** What the integration item keeps (about 100 bytes). Older items have none: null. */
export const RecentPulls = z.object({
  /** The newest hour with an accepted or refused pull. */
  hour: z.string(),
  /** 48 characters, one per hour, oldest first, the last being `hour` (see STATES). */
  states: z.string(),
  /** The open hours not yet in day items: `hour`, then the hour before, each 20 characters (accepted
   * then refused minutes, see encodeMinutes). */
  minutes: z.string(),
});
export type RecentPulls = z.infer<typeof RecentPulls>;

export interface HistoryFold {
  recent: RecentPulls | null;
  /** Hours older than the open pair, to add to the day items before the integration write drops them. */
  closed: Map<HourKey, HourBits>;
}

/**
 * Folds new hours into what the integration item holds. The newest hour is a maximum, the states a join and
 * the bitmaps unions, so the result depends only on the set of records seen, not on their order or repetition;
 * `closed` holds every hour the new item no longer carries bits for (added to the day items by union, also
 * idempotent), so no minute is ever lost between the two.
 */
export function foldHours(stored: RecentPulls | null, hours: ReadonlyMap<HourKey, HourBits>): HistoryFold {
  let newest = stored?.hour ?? null;
  for (const hour of hours.keys()) if (newest === null || hour > newest) newest = hour;
  if (newest === null) return { recent: null, closed: new Map() };
  const previous = shiftHour(newest, -1);
  const oldestKept = shiftHour(newest, -KEPT_HOURS);

  const known = new Map<HourKey, HourBits>();
  if (stored) {
    orInto(known, stored.hour, decodeBits(stored.minutes.slice(0, 20)));
    orInto(known, shiftHour(stored.hour, -1), decodeBits(stored.minutes.slice(20, 40)));
  }
  mergeHours(known, hours);

  const states: number[] = new Array(TIMELINE_HOURS).fill(0);
  if (stored) {
    const offset = hoursBetween(stored.hour, newest);
    for (let index = 0; index < TIMELINE_HOURS; index += 1) {
      states[index] = stateValue(stored.states[index + offset]);
    }
  }
  const closed = new Map<HourKey, HourBits>();
  for (const [hour, bits] of known) {
    const index = TIMELINE_HOURS - 1 - hoursBetween(hour, newest);
    if (index >= 0) states[index] = (states[index] as number) | stateOf(bits);
    if (hour < previous && hour >= oldestKept && stateOf(bits) !== 0) closed.set(hour, bits);
  }
  return {
    recent: {
      hour: newest,
      states: states.map((state) => STATES[state]).join(''),
      minutes: encodeBits(known.get(newest) ?? emptyBits()) + encodeBits(known.get(previous) ?? emptyBits()),
    },
    closed,
  };
}

export const sameRecent = (a: RecentPulls | null, b: RecentPulls | null): boolean =>
  a === b ||
  (a !== null && b !== null && a.hour === b.hour && a.states === b.states && a.minutes === b.minutes);

// ---- day items -------------------------------------------------------------------------------------------

/** What one day item holds: for each class, elements `HH` + minute bitmap; several per hour are or-ed. */
export interface PullDay {
  day: string;
  accepted: Iterable<string>;
  refused: Iterable<string>;
}

/** The day items' elements for `closed` hours, by day (`YYYY-MM-DD`). */
export function dayElements(
  closed: ReadonlyMap<HourKey, HourBits>,
): Map<string, { accepted: string[]; refused: string[] }> {
  const byDay = new Map<string, { accepted: string[]; refused: string[] }>();
  for (const [hour, bits] of closed) {
    const day = hour.slice(0, 10);
    let elements = byDay.get(day);
    if (!elements) {
      elements = { accepted: [], refused: [] };
      byDay.set(day, elements);
    }
    if (bits[0] !== 0 || bits[1] !== 0) elements.accepted.push(dayElement(hour, bits[0], bits[1]));
    if (bits[2] !== 0 || bits[3] !== 0) elements.refused.push(dayElement(hour, bits[2], bits[3]));
  }
  return byDay;
}

/** Every hour known: the day items and the open hours of the integration item, unioned. */
export function activityHours(recent: RecentPulls | null, days: Iterable<PullDay>): Map<HourKey, HourBits> {
  const hours = new Map<HourKey, HourBits>();
  for (const day of days) {
    for (const [elements, offset] of [
      [day.accepted, 0],
      [day.refused, 2],
    ] as const) {
      for (const element of elements) {
        const [lo, hi] = decodeMinutes(element.slice(2));
        const bits = emptyBits();
        bits[offset] = lo;
        bits[offset + 1] = hi;
        orInto(hours, `${day.day}T${element.slice(0, 2)}`, bits);
      }
    }
  }
  if (recent) {
    orInto(hours, recent.hour, decodeBits(recent.minutes.slice(0, 20)));
    orInto(hours, shiftHour(recent.hour, -1), decodeBits(recent.minutes.slice(20, 40)));
  }
  return hours;
}

/**
 * Whether `hours` (new records) hold an accepted minute before `before` (an hour key) that the integration item
 * did not already carry in its open hours: records arriving late for hours it already let go of, or never saw.
 */
export function addsAcceptedBefore(
  recent: RecentPulls | null,
  hours: ReadonlyMap<HourKey, HourBits>,
  before: HourKey,
): boolean {
  // Built only when an earlier hour comes up: on the ingest's hot path, new records are nearly always recent.
  let carried: Map<HourKey, HourBits> | null = null;
  for (const [hour, bits] of hours) {
    if (hour >= before || (bits[0] === 0 && bits[1] === 0)) continue;
    carried ??= activityHours(recent, []);
    const known = carried.get(hour);
    if (!known || (bits[0] & ~known[0]) !== 0 || (bits[1] & ~known[1]) !== 0) return true;
  }
  return false;
}

// ---- what the API shows (the schemas it documents, and the views it serves) ----------------------------------------------------------------------------------

const Hour = z.iso.datetime().describe('the start of an hour, UTC (`2026-11-21T10:00:00Z`)');

/** The list's compact view: one character per hour (see STATES). */
export const Timeline48h = z
  .object({
    start: Hour,
    hours: z
      .string()
      .regex(new RegExp(`^[.arb]{${TIMELINE_HOURS}}$`))
      .describe(
        "48 characters, one per hour from `start`, the last being the current hour: '.' no pull, 'a' accepted pulls only, 'r' refused pulls only (401/403), 'b' both",
      ),
  })
  .describe('pulls over the last 48 hours');

const perHour = (what: string) =>
  z
    .array(z.number().int().min(0).max(60))
    .length(HISTORY_HOURS)
    // The OpenAPI generator does not carry .length() over; .meta() says it.
    .meta({ minItems: HISTORY_HOURS, maxItems: HISTORY_HOURS })
    .describe(`${HISTORY_HOURS} hours from \`start\`, the last being the current hour: minutes with ${what}`);

/** The detail's 7 days of pull history. */
export const PullHistoryView = z
  .object({
    start: Hour,
    unit: z
      .literal('minutes')
      .describe('what is counted per hour: minutes with at least one such pull, not requests (0 to 60)'),
    accepted: perHour('an accepted pull (a GET answered 2xx or 304)'),
    refused: perHour('a refused pull (401 or 403)'),
  })
  .describe('pulls over the last 7 days, per hour');

export type Timeline = z.infer<typeof Timeline48h>;
export type PullHistory = z.infer<typeof PullHistoryView>;

/** The last 48 hours up to the hour of `now`, from the integration item alone; hours after its newest are silent. */
export function timeline48h(recent: RecentPulls | null, now: Iso): Timeline {
  const nowHour = hourOf(now);
  const start = shiftHour(nowHour, 1 - TIMELINE_HOURS);
  const offset = recent === null ? 0 : hoursBetween(recent.hour, nowHour);
  let hours = '';
  for (let index = 0; index < TIMELINE_HOURS; index += 1) {
    const char = recent?.states[index + offset];
    hours += char !== undefined && index + offset >= 0 ? char : '.';
  }
  return { start: hourStart(start), hours };
}

/** The first day item the 7-day detail needs at `now`, and the last. */
export function historyDays(now: Iso): { from: string; to: string } {
  const nowHour = hourOf(now);
  return { from: shiftHour(nowHour, 1 - HISTORY_HOURS).slice(0, 10), to: nowHour.slice(0, 10) };
}

/** The 7 days up to the hour of `now`: the day items and the open hours of the integration item, unioned. */
export function pullHistory(recent: RecentPulls | null, days: Iterable<PullDay>, now: Iso): PullHistory {
  const hours = activityHours(recent, days);
  const start = shiftHour(hourOf(now), 1 - HISTORY_HOURS);
  const accepted: number[] = [];
  const refused: number[] = [];
  for (let index = 0; index < HISTORY_HOURS; index += 1) {
    const bits = hours.get(shiftHour(start, index)) ?? emptyBits();
    accepted.push(acceptedMinutes(bits));
    refused.push(refusedMinutes(bits));
  }
  return { start: hourStart(start), unit: 'minutes', accepted, refused };
}
