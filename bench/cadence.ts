/**
 * How early the learned cadence notices a dead device, and whether it ever warns about a healthy one, replayed
 * on synthetic devices with no database: `node --import tsx bench/cadence.ts [--devices N]` prints JSON.
 *
 * Each device pulls for 5 weeks from Monday 2026-01-05, and the product is simulated a cycle every 5 minutes:
 * - a cycle knows every pull up to its time;
 * - the cadence is learned once a UTC day, at the first cycle of the day that sees a pull on that day, from the
 *   hours of that day and the 7 before it, the previous cadence's `first` carried;
 * - a warning opens at the first cycle at or after lateAfter(cadence, last pull) while the silence is still
 *   under 24 h (the offline threshold takes over then), never within 24 h of the previous warning.
 * The steady, hourly and business-hours kinds die at 10:07 on a random weekday of the last week: time-to-warn is
 * the warning cycle less the last pull, next to the fixed 24-hour threshold measured the same way. Every warning
 * before a death (or in the whole run, for kinds that never die) is false; the rate is per 1,000 device-days
 * from day 8, the first on which a cadence can leave learning. A dead device the cadence does not warn about
 * within 24 h is counted as missed and takes the baseline's time (the offline threshold catches it).
 *
 * 3,000 devices (428 per kind) take about 20 s on one core of the 2-core machines (35 s with two runs at once).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { HourBits, HourKey } from '../shared/pulls/activity.ts';
import { type Cadence, type CadenceState, lateAfter, learnCadence } from '../shared/pulls/cadence.ts';
import { seeded } from '../test/kit/devices.ts';

const START = Date.parse('2026-01-05T00:00:00Z'); // a Monday
const DAYS = 35;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const CYCLE = 5 * MINUTE;
/** No rule is late sooner: steady allows 30 min, and a pattern expects at most a pull a minute (18.4 min). */
const NEVER_LATE_BEFORE = 18 * MINUTE;

interface Kind {
  name: string;
  dies: boolean;
  /** Ascending pull times (ms) in [START, end). */
  pulls: (end: number, random: () => number) => number[];
}

const periodic =
  (periodMs: number, jitterMs = 0) =>
  (end: number, random: () => number): number[] => {
    const times: number[] = [];
    for (let at = START + random() * periodMs; at < end; at += periodMs) {
      const time = at + (random() * 2 - 1) * jitterMs;
      if (time >= START && time < end && time > (times.at(-1) ?? 0)) times.push(time);
    }
    return times;
  };

const KINDS: Kind[] = [
  { name: 'steady-10s', dies: true, pulls: periodic(10_000) },
  { name: 'steady-1m', dies: true, pulls: periodic(MINUTE) },
  { name: 'steady-5m-jitter', dies: true, pulls: periodic(5 * MINUTE, MINUTE) },
  {
    name: 'hourly-17',
    dies: true,
    pulls: (end, random) => periodic(HOUR)(end, () => 0).map((at) => at + 17 * MINUTE + random() * 59_000),
  },
  {
    name: 'business-hours',
    dies: true,
    pulls: (end) => {
      const times: number[] = [];
      for (let at = START; at < end; at += MINUTE) {
        const weekday = Math.floor((at - START) / DAY) % 7; // 0 is Monday
        const hour = Math.floor(((at - START) % DAY) / HOUR);
        if (weekday < 5 && hour >= 8 && hour < 18) times.push(at + 5_000);
      }
      return times;
    },
  },
  {
    name: 'daily-03',
    dies: false,
    pulls: (end, random) => periodic(DAY)(end, () => 0).map((at) => at + 3 * HOUR + random() * 59_000),
  },
  {
    name: 'sporadic-3h',
    dies: false,
    pulls: (end, random) => {
      const times: number[] = [];
      const gap = () => -Math.log(1 - random()) * 3 * HOUR;
      for (let at = START + gap(); at < end; at += gap()) times.push(at);
      return times;
    },
  },
];

const HOUR_KEYS: HourKey[] = Array.from({ length: DAYS * 24 }, (_, hour) =>
  new Date(START + hour * HOUR).toISOString().slice(0, 13),
);
const DAY_KEYS = Array.from({ length: DAYS }, (_, day) =>
  new Date(START + day * DAY).toISOString().slice(0, 10),
);

interface DeviceRun {
  falseWarnings: number;
  /** Device-days from day 8 up to the death or the end. */
  healthyDays: number;
  /** Dead devices: minutes from the last pull to the cadence's warning (null: none within 24 h). */
  cadenceMinutes: number | null;
  baselineMinutes: number | null;
  finalState: CadenceState | null;
}

function runDevice(kind: Kind, random: () => number): DeviceRun {
  const end = START + DAYS * DAY;
  const death = kind.dies ? START + (28 + Math.floor(random() * 5)) * DAY + 10 * HOUR + 7 * MINUTE : end;
  const pulls = kind.pulls(death, random);
  const bits: HourBits[] = HOUR_KEYS.map(() => [0, 0, 0, 0]);
  let next = 0;
  let last = -1;
  let cadence: Cadence | null = null;
  let learnedDay = -1;
  let late: number | null = null;
  let lateFor = -1;
  let lastWarning = -Infinity;
  const run: DeviceRun = {
    falseWarnings: 0,
    healthyDays: Math.max(0, (death - START) / DAY - 8),
    cadenceMinutes: null,
    baselineMinutes: null,
    finalState: null,
  };
  for (let t = START; t < end; t += CYCLE) {
    while (next < pulls.length && (pulls[next] as number) <= t) {
      last = pulls[next] as number;
      const hour = Math.floor((last - START) / HOUR);
      const minute = Math.floor((last - START - hour * HOUR) / MINUTE);
      const slot = minute < 30 ? 0 : 1;
      const hourBits = bits[hour] as HourBits;
      hourBits[slot] = (hourBits[slot] as number) | (1 << (minute % 30));
      next += 1;
    }
    if (last < 0) continue;
    const day = Math.floor((t - START) / DAY);
    if (day !== learnedDay && last >= START + day * DAY) {
      const hours = new Map<HourKey, HourBits>();
      const now = Math.floor((t - START) / HOUR);
      for (let hour = Math.max(0, (day - 7) * 24); hour <= now; hour += 1) {
        const hourBits = bits[hour] as HourBits;
        if (hourBits[0] !== 0 || hourBits[1] !== 0) hours.set(HOUR_KEYS[hour] as HourKey, hourBits);
      }
      cadence = learnCadence(hours, DAY_KEYS[day] as string, cadence?.first ?? null);
      learnedDay = day;
      lateFor = -1;
    }
    if (t - last < NEVER_LATE_BEFORE || t >= last + DAY || t < lastWarning + DAY) continue;
    if (lateFor !== last) {
      const at = lateAfter(cadence, new Date(last).toISOString());
      late = at === null ? null : Date.parse(at);
      lateFor = last;
    }
    if (late === null || t < late) continue;
    lastWarning = t;
    if (t < death) run.falseWarnings += 1;
    else run.cadenceMinutes ??= (t - last) / MINUTE;
  }
  run.finalState = cadence?.state ?? null;
  if (kind.dies && last >= 0) {
    const baselineCycle = START + Math.ceil((last + DAY - START) / CYCLE) * CYCLE;
    run.baselineMinutes = (baselineCycle - last) / MINUTE;
  }
  return run;
}

const percentile = (sorted: readonly number[], p: number): number | null =>
  sorted.length === 0
    ? null
    : (sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number);
const round = (value: number | null, digits = 1): number | null =>
  value === null ? null : Math.round(value * 10 ** digits) / 10 ** digits;

export async function cadenceBench(
  log: (line: string) => void,
  options: { devices?: number; seed?: number } = {},
): Promise<Record<string, unknown>> {
  const perKind = Math.floor((options.devices ?? 3000) / KINDS.length);
  const random = seeded(options.seed ?? 20260105);
  const began = performance.now();
  const kinds: Record<string, unknown>[] = [];
  log(
    'kind               devices  p50 min  p90 min  max min  missed  baseline p50  ratio  false/1000 d  final states',
  );
  for (const kind of KINDS) {
    const runs = Array.from({ length: perKind }, () =>
      runDevice(kind, seeded(Math.floor(random() * 2 ** 32))),
    );
    const falseWarnings = runs.reduce((sum, run) => sum + run.falseWarnings, 0);
    const healthyDays = runs.reduce((sum, run) => sum + run.healthyDays, 0);
    const dead = runs.filter((run) => run.baselineMinutes !== null);
    const missed = dead.filter((run) => run.cadenceMinutes === null).length;
    const toWarn = dead
      .map((run) => run.cadenceMinutes ?? (run.baselineMinutes as number))
      .sort((a, b) => a - b);
    const baseline = dead.map((run) => run.baselineMinutes as number).sort((a, b) => a - b);
    const states: Record<string, number> = {};
    for (const run of runs) states[run.finalState ?? 'none'] = (states[run.finalState ?? 'none'] ?? 0) + 1;
    const p50 = percentile(toWarn, 0.5);
    const baselineP50 = percentile(baseline, 0.5);
    const result = {
      kind: kind.name,
      devices: perKind,
      dead: dead.length,
      time_to_warn_minutes: {
        p50: round(p50),
        p90: round(percentile(toWarn, 0.9)),
        max: round(toWarn.at(-1) ?? null),
      },
      missed,
      baseline_p50_minutes: round(baselineP50),
      baseline_over_cadence_p50: p50 === null || baselineP50 === null ? null : round(baselineP50 / p50),
      false_warnings: falseWarnings,
      healthy_device_days: Math.round(healthyDays),
      false_per_1000_device_days: round((falseWarnings * 1000) / healthyDays, 3),
      final_states: states,
    };
    kinds.push(result);
    const cell = (value: unknown, width: number) => String(value ?? '-').padStart(width);
    log(
      `${kind.name.padEnd(18)} ${cell(perKind, 7)} ${cell(result.time_to_warn_minutes.p50, 8)} ${cell(result.time_to_warn_minutes.p90, 8)} ${cell(result.time_to_warn_minutes.max, 8)} ${cell(missed, 7)} ${cell(result.baseline_p50_minutes, 13)} ${cell(result.baseline_over_cadence_p50, 6)} ${cell(result.false_per_1000_device_days, 13)}  ${JSON.stringify(states)}`,
    );
  }
  const seconds = round((performance.now() - began) / 1000, 2);
  log(`${perKind * KINDS.length} devices x ${DAYS} days of 5-minute cycles in ${seconds} s`);
  return { devices: perKind * KINDS.length, days: DAYS, cycle_minutes: 5, seconds, kinds };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { devices: { type: 'string', default: '3000' }, seed: { type: 'string', default: '20260105' } },
  });
  const result = await cadenceBench((line) => process.stderr.write(`${line}\n`), {
    devices: Number(values.devices),
    seed: Number(values.seed),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
