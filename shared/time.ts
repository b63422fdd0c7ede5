/** Times are stored and served as ISO 8601 UTC strings; they sort lexicographically like the instants. */
export type Iso = string;

export const iso = (date: Date): Iso => date.toISOString();

/**
 * The real clock. Only process entries read it (a Lambda handler per invocation, the local runner per cycle or
 * request, the CLI once per command); everything below them takes `now` as an argument, so tests pin time.
 */
export const systemClock = (): Iso => new Date().toISOString();

export const addSeconds = (at: Iso, seconds: number): Iso =>
  new Date(Date.parse(at) + seconds * 1000).toISOString();

export const secondsBetween = (from: Iso, to: Iso): number =>
  Math.floor((Date.parse(to) - Date.parse(from)) / 1000);

/**
 * Whether a time read from a pull log was certainly before `instant`, a time pullwatch wrote itself (a refresh's
 * `rotated_at`, in milliseconds). Many logs write whole seconds (nginx's `$time_local`, CloudFront, CLF times), so a
 * logged time with no fraction only says "somewhere in that second": it is before `instant` when its whole second
 * is. A millisecond time that happens to end in `.000` is read the same way; that widens it by under a second, and
 * only towards the record.
 */
export const loggedBefore = (logged: Iso, instant: Iso): boolean =>
  logged.endsWith('.000Z') ? addSeconds(logged, 1) <= instant : logged < instant;

export const laterOf = (a: Iso | null, b: Iso | null): Iso | null => {
  if (a === null) return b;
  if (b === null) return a;
  return a >= b ? a : b;
};

/** The minute of an instant as operators read it in messages and pages: `2026-11-21 10:00 UTC`. */
export const minuteUtc = (at: Iso): string => `${at.slice(0, 16).replace('T', ' ')} UTC`;

/** "3 h 12 min", "2 d 4 h": a human duration for alert texts. */
export function humanDuration(totalSeconds: number): string {
  const seconds = Math.max(0, Math.floor(totalSeconds));
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  if (minutes > 0) return `${minutes} min`;
  return `${seconds} s`;
}
