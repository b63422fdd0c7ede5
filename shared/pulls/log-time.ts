/**
 * The times of pull-log lines, each read to an instant in UTC or refused (null): ISO 8601 with an offset, the
 * Common Log Format's `[21/Nov/2026:10:00:00 +0000]`, and epoch seconds or milliseconds. Nothing here throws;
 * a time that names no real calendar instant (a 31 April, a month 13) is refused rather than rolled over.
 */
/** RFC 3339 with an explicit offset: a time without one would depend on the reader's timezone. */
const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;
const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};
const CLF_TIME = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;

const MIN_YEAR = 2000;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function validCalendar(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
) {
  // Written so that a NaN (a non-digit read by digits2) fails every test instead of passing them all.
  if (
    !(year >= MIN_YEAR && month >= 1 && month <= 12 && day >= 1 && hour >= 0 && hour <= 23) ||
    !(minute >= 0 && minute <= 59 && second >= 0 && second <= 59)
  )
    return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] as number));
}

/** Two ASCII digits at `at` as a number, or NaN. */
function digits2(text: string, at: number): number {
  const high = text.charCodeAt(at) - 48;
  const low = text.charCodeAt(at + 1) - 48;
  return high >= 0 && high <= 9 && low >= 0 && low <= 9 ? high * 10 + low : Number.NaN;
}

/**
 * `YYYY-MM-DDTHH:MM:SS.sssZ` exactly (what JSON loggers and toISOString write): checked by character codes,
 * since it is the hot path of the ingest.
 */
function canonicalTime(value: string): string | null {
  if (
    value.length !== 24 ||
    value.charCodeAt(4) !== 45 ||
    value.charCodeAt(7) !== 45 ||
    value.charCodeAt(10) !== 84 ||
    value.charCodeAt(13) !== 58 ||
    value.charCodeAt(16) !== 58 ||
    value.charCodeAt(19) !== 46 ||
    value.charCodeAt(23) !== 90
  ) {
    return null;
  }
  const year = digits2(value, 0) * 100 + digits2(value, 2);
  const millis = digits2(value, 20) * 10 + (value.charCodeAt(22) - 48);
  if (Number.isNaN(millis) || value.charCodeAt(22) < 48 || value.charCodeAt(22) > 57) return null;
  const ok = validCalendar(
    year,
    digits2(value, 5),
    digits2(value, 8),
    digits2(value, 11),
    digits2(value, 14),
    digits2(value, 17),
  );
  return ok ? value : null;
}

/** The instant of an ISO 8601 time with offset, normalised to UTC, or null for anything else. */
export function parseIsoTime(value: string): string | null {
  if (value.length === 24 && value.charCodeAt(23) === 90) {
    const fast = canonicalTime(value);
    if (fast !== null) return fast;
  }
  const match = ISO_TIME.exec(value);
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (!validCalendar(year, month, day, hour, minute, second)) return null;
  const millis = Date.parse(value);
  return Number.isNaN(millis) ? null : new Date(millis).toISOString();
}

// Access logs are written in time order, so consecutive lines usually share their second: remember the last.
let lastClfInput = '';
let lastClfOutput: string | null = null;

/** Common Log Format time, e.g. `21/Nov/2026:10:00:00 +0000`. */
export function parseClfTime(value: string): string | null {
  if (value === lastClfInput) return lastClfOutput;
  const match = CLF_TIME.exec(value);
  let output: string | null = null;
  const month = match ? MONTHS[match[2] as string] : undefined;
  if (match && month !== undefined) {
    const [day, year, hour, minute, second] = [match[1], match[3], match[4], match[5], match[6]].map(
      Number,
    ) as [number, number, number, number, number];
    if (validCalendar(year, month + 1, day, hour, minute, second)) {
      const offsetMinutes = (match[7] === '-' ? -1 : 1) * (Number(match[8]) * 60 + Number(match[9]));
      output = new Date(
        Date.UTC(year, month, day, hour, minute, second) - offsetMinutes * 60_000,
      ).toISOString();
    }
  }
  lastClfInput = value;
  lastClfOutput = output;
  return output;
}

/** Epoch time in seconds or milliseconds (API Gateway's requestTimeEpoch is either, depending on setup). */
export function parseEpoch(value: unknown): string | null {
  const number = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number <= 0) return null;
  const millis = number >= 1e11 ? number : number * 1000;
  const date = new Date(millis);
  return date.getUTCFullYear() >= MIN_YEAR && date.getUTCFullYear() <= 9999 ? date.toISOString() : null;
}
