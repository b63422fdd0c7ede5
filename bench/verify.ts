/**
 * Pull verification (auth/verify.ts), part of `npm run bench`: verifications per second and p99 on a warm
 * cache and a cold one, against dynalite, with the read units each costs. Baselines from the same run: the
 * keyed hash alone (the least a verification must compute) for the warm cache, and one bare GetItem of the
 * same item for the cold one (the least a verifier that keeps nothing must read).
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { PullVerifier } from '../shared/auth/verify.ts';
import { keyedHash } from '../shared/crypto.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { openStore, type Store } from '../shared/store.ts';
import type { Usage } from '../shared/table/metering.ts';
import type { Iso } from '../shared/time.ts';

const ORG = 'org_00000000000000bf';
const CREATED = '2026-11-20T00:00:00.000Z';
const NOW: Iso = '2026-11-21T12:00:00.000Z';

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;
const round = (value: number, digits = 2) => Number(value.toFixed(digits));

interface Timed {
  per_s: number;
  p50_us: number;
  p99_us: number;
}

/** Runs `step` `count` times in sequence, round robin over `items`; throughput and latency percentiles. */
async function timed<T>(items: T[], count: number, step: (item: T) => unknown): Promise<Timed> {
  const times: number[] = [];
  const start = performance.now();
  for (let index = 0; index < count; index += 1) {
    const begin = performance.now();
    await step(items[index % items.length] as T);
    times.push(performance.now() - begin);
  }
  const total = performance.now() - start;
  times.sort((x, y) => x - y);
  return {
    per_s: Math.round(count / (total / 1000)),
    p50_us: round(percentile(times, 0.5) * 1000, 1),
    p99_us: round(percentile(times, 0.99) * 1000, 1),
  };
}

export async function verificationBench(
  store: Store,
  usage: Usage,
  secret: string,
  log: (line: string) => void,
  options: { integrations?: number; warm?: number; cold?: number } = {},
) {
  const size = options.integrations ?? 1000;
  const devices: Array<{ id: string; authorization: string; password: string }> = [];
  for (let batch = 0; batch < size; batch += 50) {
    const created = await Promise.all(
      Array.from({ length: Math.min(50, size - batch) }, (_, index) =>
        createIntegration(store, secret, ORG, { name: `verify-${batch + index}`, kind: 'firewall' }, CREATED),
      ),
    );
    for (const { integration, credentials } of created) {
      const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
      devices.push({ id: integration.id, authorization: `Basic ${basic}`, password: credentials.password });
    }
  }
  const find = (id: string) => store.integrations.byId(id);
  const check = (outcome: string) => {
    if (outcome !== 'current') throw new Error(`verification answered ${outcome}`);
  };

  // Warm: every integration already cached by one verifier, as in a busy process.
  const warmVerifier = new PullVerifier(secret, find);
  for (const device of devices) await warmVerifier.verify(device.id, device, NOW);
  const warmReadsBefore = usage.readUnits;
  const warmCount = options.warm ?? 50_000;
  const warm = await timed(devices, warmCount, async (device) =>
    check((await warmVerifier.verify(device.id, device, NOW)).outcome),
  );
  const warmReadUnits = (usage.readUnits - warmReadsBefore) / warmCount;
  const hash = await timed(devices, warmCount, (device) =>
    keyedHash(secret, 'integration-password', device.password),
  );

  // Cold: a verifier that has seen nothing, every time (a fresh Lambda, or an id not seen for 30 s).
  const coldCount = options.cold ?? 2000;
  const coldReadsBefore = usage.readUnits;
  const coldRequestsBefore = Object.values(usage.requests).reduce((sum, count) => sum + count, 0);
  // A fresh store too: its id -> organization lookups are a per-process cache as well.
  const cold = await timed(devices, coldCount, async (device) => {
    const fresh = openStore(store.table.client, store.table.name);
    const verifier = new PullVerifier(secret, (id) => fresh.integrations.byId(id));
    check((await verifier.verify(device.id, device, NOW)).outcome);
  });
  const coldReadUnits = (usage.readUnits - coldReadsBefore) / coldCount;
  const coldRequests =
    (Object.values(usage.requests).reduce((sum, count) => sum + count, 0) - coldRequestsBefore) / coldCount;
  const getItem = await timed(devices, coldCount, (device) =>
    store.table.doc.send(
      new GetCommand({ TableName: store.table.name, Key: { pk: `ORG#${ORG}`, sk: `INT#${device.id}` } }),
    ),
  );

  const figures = {
    verify_warm_per_s: warm.per_s,
    verify_warm_p99_us: warm.p99_us,
    verify_warm_read_units_per_verification: round(warmReadUnits, 3),
    verify_hash_baseline_per_s: hash.per_s,
    verify_warm_ratio_vs_hash: round(hash.per_s / warm.per_s),
    verify_cold_per_s: cold.per_s,
    verify_cold_p99_us: cold.p99_us,
    verify_cold_read_units_per_verification: round(coldReadUnits, 3),
    verify_cold_requests_per_verification: round(coldRequests, 2),
    verify_getitem_baseline_per_s: getItem.per_s,
    verify_cold_ratio_vs_getitem: round(getItem.per_s / cold.per_s),
  };
  log(
    `verify: warm cache ${warm.per_s}/s (p50 ${warm.p50_us} µs, p99 ${warm.p99_us} µs, ${figures.verify_warm_read_units_per_verification} RU each); keyed hash alone ${hash.per_s}/s (ratio ${figures.verify_warm_ratio_vs_hash})`,
  );
  log(
    `        cold ${cold.per_s}/s (p50 ${cold.p50_us} µs, p99 ${cold.p99_us} µs, ${figures.verify_cold_read_units_per_verification} RU and ${figures.verify_cold_requests_per_verification} requests each); bare GetItem ${getItem.per_s}/s (ratio ${figures.verify_cold_ratio_vs_getitem})`,
  );
  return figures;
}
