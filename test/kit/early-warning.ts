import { createApp } from '../../shared/api/app.ts';
import type { Integration } from '../../shared/integration/index.ts';
import type { Issue } from '../../shared/issue/index.ts';
import { addSeconds, type Iso } from '../../shared/time.ts';
import { client } from '../api-kit.ts';
import { TEST_SECRET } from './db.ts';
import { type DeviceKind, pullTimes } from './devices.ts';
import { drop } from './files.ts';
import { pull } from './lines.ts';
import { addIntegration, cycle, issuesOf, type World } from './world.ts';

/** The early-warning scenarios' world: devices with 9 days of history, cycles with injected times, the API. */

/** Created the day before its history starts: a Wednesday, 9 days and 10 hours before the death. */
export const CREATED = '2026-11-10T23:00:00.000Z';
export const HISTORY_FROM = '2026-11-11T00:00:00.000Z';
/** A Friday morning. */
export const DEATH = '2026-11-20T10:07:00.000Z';

export interface Device {
  fw: Integration;
  /** Its last pull before DEATH. */
  last: Iso;
  /** Its pulls after DEATH (a device still healthy), dropped by `cyclesUntil` as their time comes. */
  later: Iso[];
}

/**
 * A device of `kind` pulling from `from` to `until` (default: DEATH, when it dies): the pulls before DEATH are in
 * the world's logs already (learned by the first cycle), the later ones arrive cycle by cycle.
 */
export async function device(
  w: World,
  kind: DeviceKind,
  options: { until?: Iso; from?: Iso; seed?: number; offlineAfter?: number; earlyWarning?: boolean } = {},
): Promise<Device> {
  const fw = await addIntegration(
    w,
    {
      name: `fw-${kind}`,
      ...(options.offlineAfter ? { offline_after_seconds: options.offlineAfter } : {}),
      ...(options.earlyWarning === false ? { early_warning: false } : {}),
    },
    { now: CREATED },
  );
  const times = pullTimes(kind, options.from ?? HISTORY_FROM, options.until ?? DEATH, options.seed);
  const before = times.filter((time) => time < DEATH);
  await drop(
    w,
    before.map((time) => pull(fw.id, time)),
    `${fw.id}-history.jsonl`,
  );
  return { fw, last: before.at(-1) as Iso, later: times.filter((time) => time >= DEATH) };
}

/**
 * Cycles every `stepMinutes` from `from` through `until`, the healthy devices' pulls arriving as their time comes;
 * stops at the first late warning of `watch` and returns that cycle's time.
 */
export async function cyclesUntil(
  w: World,
  from: Iso,
  until: Iso,
  stepMinutes: number,
  options: { watch?: Integration; devices?: Device[] } = {},
) {
  let previous = '';
  for (let now = from; now <= until; now = addSeconds(now, stepMinutes * 60)) {
    for (const device of options.devices ?? []) {
      const due = device.later.filter((time) => time > previous && time <= addSeconds(now, -30));
      if (due.length > 0)
        await drop(
          w,
          due.map((time) => pull(device.fw.id, time)),
          `${device.fw.id}-${now}.jsonl`,
        );
    }
    previous = addSeconds(now, -30);
    await cycle(w, now);
    if (options.watch && (await lateWarnings(w, options.watch)).length > 0) return now;
  }
  return null;
}

export async function lateWarnings(w: World, fw: Integration): Promise<Issue[]> {
  return (await issuesOf(w)).filter(
    (issue) => issue.type === 'integration_pull_late' && issue.integration_id === fw.id,
  );
}

export function api(w: World, now: Iso) {
  const call = client(
    createApp({ store: w.store, secret: TEST_SECRET, now: () => now, staleAfterSeconds: 7200 }),
  );
  return (path: string, options: { json?: unknown; method?: string } = {}) =>
    call(options.method ?? 'GET', path, { key: w.key, ...(options.json ? { json: options.json } : {}) });
}
