import type { Iso } from '../../shared/time.ts';

/**
 * Synthetic devices for the cadence tests: the pull times a device of each kind makes between two instants.
 * Random ones are seeded (mulberry32), so a failure replays exactly.
 */

export type DeviceKind =
  | 'every-10s'
  | 'every-1min'
  | 'every-5min'
  | 'every-5min-jitter'
  | 'hourly-17'
  | 'business-hours'
  | 'daily-03'
  | 'sporadic-3h';

export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Every pull of a device of `kind` in [from, to), as ISO times, ascending. */
export function pullTimes(kind: DeviceKind, from: Iso, to: Iso, seed = 1): Iso[] {
  const start = Date.parse(from);
  const end = Date.parse(to);
  const random = seeded(seed);
  const times: number[] = [];
  const every = (step: number, jitter = 0) => {
    for (let t = start + 7_000; t < end; t += step) {
      const at = t + (jitter > 0 ? Math.round((random() * 2 - 1) * jitter) : 0);
      if (at >= start && at < end) times.push(at);
    }
  };
  switch (kind) {
    case 'every-10s':
      every(10_000);
      break;
    case 'every-1min':
      every(MINUTE);
      break;
    case 'every-5min':
      every(5 * MINUTE);
      break;
    case 'every-5min-jitter':
      every(5 * MINUTE, 60_000);
      break;
    case 'hourly-17':
      for (let t = Math.floor(start / HOUR) * HOUR + 17 * MINUTE; t < end; t += HOUR)
        if (t >= start) times.push(t);
      break;
    case 'daily-03':
      for (let t = Math.floor(start / DAY) * DAY + 3 * HOUR; t < end; t += DAY) if (t >= start) times.push(t);
      break;
    case 'business-hours':
      for (let t = Math.floor(start / MINUTE) * MINUTE + 5_000; t < end; t += MINUTE) {
        const date = new Date(t);
        const weekday = date.getUTCDay() >= 1 && date.getUTCDay() <= 5;
        if (t >= start && weekday && date.getUTCHours() >= 8 && date.getUTCHours() < 18) times.push(t);
      }
      break;
    case 'sporadic-3h':
      for (
        let t = start - Math.log(1 - random()) * 3 * HOUR;
        t < end;
        t += -Math.log(1 - random()) * 3 * HOUR
      )
        times.push(Math.round(t));
      break;
  }
  return times.sort((a, b) => a - b).map((t) => new Date(t).toISOString());
}
