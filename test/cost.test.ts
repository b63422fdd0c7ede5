import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { KEY_CACHE_SECONDS } from '../shared/auth/data.ts';
import { authenticate, createApiKey } from '../shared/auth/index.ts';
import { ingest } from '../shared/ingest/index.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { createOrg } from '../shared/org/index.ts';
import { runRules } from '../shared/rules/index.ts';
import { openStore, type Store } from '../shared/store.ts';
import { itemSize, meterUsage } from '../shared/table/metering.ts';
import { TABLE } from '../shared/table/schema.ts';
import { addSeconds } from '../shared/time.ts';
import { freshStore, localClient, TEST_SECRET, testDb, useTestDb } from './kit/db.ts';
import { type DeviceKind, pullTimes } from './kit/devices.ts';
import { drop, tempDir, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { at, T0 } from './kit/time.ts';
import { addIntegration, current, cycle, issuesOf, only, world } from './kit/world.ts';

/**
 * What a pull costs: one write of the integration's item and no index entry; the rule pass re-arms an
 * integration it looked at early, and an offline issue still opens exactly at last pull + threshold. And what a
 * fresh process reads to map the ids in the logs to integrations: batches, not a lookup per id.
 */

useTestDb();
useTempDirs();

type Item = Record<string, unknown>;

/** What each index holds of an item (null: not in it), by the index's keys and projection. */
function indexEntries(item: Item): Record<string, string | null> {
  const entries: Record<string, string | null> = {};
  for (const index of TABLE.indexes) {
    const keys = [index.partitionKey.name, index.sortKey?.name].filter((name): name is string => !!name);
    if (!keys.every((key) => item[key] !== undefined)) {
      entries[index.name] = null;
      continue;
    }
    const attributes =
      index.projection === 'ALL'
        ? Object.keys(item).sort()
        : ['pk', 'sk', ...keys, ...(index.projection === 'KEYS_ONLY' ? [] : index.projection.include)];
    entries[index.name] = JSON.stringify(attributes.map((name) => [name, item[name] ?? null]));
  }
  return entries;
}

async function rawItem(store: Store, id: string): Promise<Item> {
  const { Item } = await store.table.doc.send(
    new GetCommand({ TableName: store.table.name, Key: { pk: `INT#${id}`, sk: `INT#${id}` } }),
  );
  if (!Item) throw new Error(`no item for ${id}`);
  return Item;
}

describe('cost of a pull', () => {
  it('moves last_pull_at to the second and rewrites no index entry, cycle after cycle', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, [pull(fw.id, at(0.5))]);
    await cycle(w, at(0.6));
    const first = await rawItem(w.store, fw.id);
    expect(first.due_at).toBe(at(24));

    for (const [index, time] of ['2026-11-20T01:00:07.000Z', '2026-11-20T06:30:59.000Z'].entries()) {
      await drop(w, [pull(fw.id, time)], `later-${index}.jsonl`);
      const writes = w.store.usage.requests['write.INT'] ?? 0;
      await cycle(w, at(7 + index));
      expect((w.store.usage.requests['write.INT'] ?? 0) - writes).toBe(1);
      const item = await rawItem(w.store, fw.id);
      expect(item.last_pull_at).toBe(time);
      // The stored check time is kept (it is earlier than the real crossing), so every index entry is as it was.
      expect(indexEntries(item)).toEqual(indexEntries(first));
    }
  });

  it('keeps the item of a pulling integration under 1 KB: no null or empty fact, the attempt that was the pull stored once, each read back', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Paris edge FortiGate 600E', vendor: 'fortigate' });
    const device = { user_agent: 'FortiGate/7.4.3 build2573', ip: '203.0.113.7', auth: 'current' as const };
    await drop(w, [pull(fw.id, at(0.5), { ...device, status: 401, auth: 'wrong_password' })]);
    await cycle(w, at(0.6));
    await drop(w, [pull(fw.id, at(1), device)], 'pulls.jsonl');
    await cycle(w, at(1.1));
    const item = await rawItem(w.store, fw.id);
    expect(
      Object.entries(item).filter(
        ([, value]) => value === null || (Array.isArray(value) && value.length === 0),
      ),
    ).toEqual([]);
    expect(item.last_attempt_at).toBeUndefined();
    // DynamoDB's item size (attribute names plus values): under 1 KB is one write unit per pull.
    expect(itemSize(item)).toBeLessThan(1024);
    const read = await current(w, fw.id);
    expect(read).toMatchObject({
      last_pull_at: at(1),
      last_attempt_at: at(1),
      last_attempt_status: 200,
      last_attempt_ip: device.ip,
      last_attempt_user_agent: device.user_agent,
      last_attempt_auth: 'current',
      snoozed_until: null,
      resumed_at: null,
      lapi: null,
      rejections: [],
      expired_rejections: [],
    });
    // A refused attempt after the pull is stored in full again.
    await drop(
      w,
      [pull(fw.id, at(1.2), { ...device, status: 401, auth: 'previous_expired', ip: '203.0.113.8' })],
      'late.jsonl',
    );
    await cycle(w, at(1.3));
    expect(await rawItem(w.store, fw.id)).toMatchObject({
      last_attempt_at: at(1.2),
      last_attempt_ip: '203.0.113.8',
    });
    expect(await current(w, fw.id)).toMatchObject({
      last_pull_at: at(1),
      last_pull_ip: device.ip,
      last_attempt_at: at(1.2),
      last_attempt_auth: 'previous_expired',
      expired_rejections: [at(1.2)],
    });
  });

  it('the rule pass re-arms an integration looked at early, and the issue opens at last pull + threshold exactly', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    const lastPull = '2026-11-20T05:17:42.000Z';
    await drop(w, [pull(fw.id, lastPull)]);
    await cycle(w, at(5.5));
    expect((await current(w, fw.id)).due_at).toBe(at(24));

    // At the stored time the real crossing is later: nothing opens, the check moves to the real crossing.
    const early = await runRules({ store: w.store, now: at(24), staleAfterSeconds: 0 });
    expect(early).toMatchObject({ candidates: 1, rearmed: 1, opened: [] });
    expect((await current(w, fw.id)).due_at).toBe(at(24, lastPull));
    // Until then it is nobody's candidate.
    expect(await runRules({ store: w.store, now: at(29), staleAfterSeconds: 0 })).toMatchObject({
      candidates: 0,
    });

    const due = await runRules({ store: w.store, now: at(29.5), staleAfterSeconds: 0 });
    expect(due.opened).toHaveLength(1);
    const issue = only(await issuesOf(w, 'open'));
    expect(issue.opened_at).toBe(at(24, lastPull));
    expect(issue.detected_at).toBe(at(29.5));
  });

  it('a lowered threshold moves the stored check time earlier at once', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, [pull(fw.id, at(1))]);
    await cycle(w, at(1.1));
    const stored = await current(w, fw.id);
    await w.store.integrations.save({ ...stored, offline_after_seconds: 3600 }, stored.version, at(1.2));
    expect((await current(w, fw.id)).due_at).toBe(at(2));
  });
});

describe('cost of the early warning', () => {
  const CREATED = '2026-11-10T23:00:00.000Z';
  const HISTORY_FROM = '2026-11-11T00:00:00.000Z';
  const device = { user_agent: 'FortiGate/7.4.3 build2573', ip: '203.0.113.7', auth: 'current' as const };

  /** A long-named FortiGate with 9 days of `kind` pulls up to `until`, learned by one cycle at `until`. */
  async function learned(kind: DeviceKind, until: string) {
    const w = await world();
    const fw = await addIntegration(
      w,
      { name: 'Paris edge FortiGate 600E', vendor: 'fortigate' },
      { now: CREATED },
    );
    await drop(w, [
      pull(fw.id, '2026-11-11T00:00:30.000Z', { ...device, status: 401, auth: 'wrong_password' }),
    ]);
    await drop(
      w,
      pullTimes(kind, HISTORY_FROM, until).map((time) => pull(fw.id, time, device)),
      'history.jsonl',
    );
    await cycle(w, until);
    return { w, fw };
  }

  for (const [kind, state, bound] of [
    ['every-1min', 'S', 40],
    ['business-hours', 'P', 90],
  ] as const) {
    it(`keeps a pulling FortiGate with a learned ${kind === 'every-1min' ? 'steady' : 'pattern'} cadence under 1 KB`, async () => {
      // A Friday 10:07: the business-hours device is in its active hours.
      const { w, fw } = await learned(kind, '2026-11-20T10:07:00.000Z');
      const item = await rawItem(w.store, fw.id);
      expect(String(item.cadence).startsWith(state)).toBe(true);
      // The cadence costs its name and its encoding, nothing else on the item.
      const { cadence: _, ...without } = item;
      const added = itemSize(item) - itemSize(without);
      expect(added).toBe('cadence'.length + String(item.cadence).length);
      expect(added).toBeLessThanOrEqual(bound);
      expect(itemSize(item)).toBeLessThan(1024);
    });
  }

  it('a learned steady device pulling every minute costs each 5-minute cycle one integration write and no rule-pass candidate; one day-item query per UTC day', async () => {
    const from = '2026-11-20T22:00:00.000Z';
    const { w, fw } = await learned('every-1min', from);
    expect(String((await rawItem(w.store, fw.id)).cadence).startsWith('S')).toBe(true);
    // A day-item query names its range with :from and :to, no sort-key prefix: the meter labels it `table`.
    const dayQueries = () => w.store.usage.requests['read.table'] ?? 0;
    const queriesBefore = dayQueries();
    const learnedOn: string[] = [];
    // Four hours across midnight, so a new UTC day's cadence is learned once on the way.
    for (let step = 1; step <= 48; step += 1) {
      const now = addSeconds(from, step * 300);
      await drop(
        w,
        pullTimes('every-1min', addSeconds(now, -300), now).map((time) => pull(fw.id, time, device)),
        `cycle-${step}.jsonl`,
      );
      const writes = w.store.usage.requests['write.INT'] ?? 0;
      const report = await cycle(w, now);
      expect(report.rules?.candidates).toBe(0);
      expect((w.store.usage.requests['write.INT'] ?? 0) - writes).toBe(1);
      learnedOn.push(String((await rawItem(w.store, fw.id)).cadence).slice(1, 9));
    }
    expect(new Set(learnedOn)).toEqual(new Set(['20261120', '20261121']));
    expect(dayQueries() - queriesBefore).toBe(1);
    expect(await issuesOf(w)).toEqual([]);
  });
});

describe('cost of mapping log ids to integrations', () => {
  it('a fresh process ingesting pulls of 1,000 integrations makes at most 20 read requests', async () => {
    const setup = await freshStore();
    const org = await createOrg(setup, 'Big', T0);
    const ids: string[] = [];
    for (let start = 0; start < 1000; start += 50) {
      const made = await Promise.all(
        Array.from({ length: 50 }, (_, n) =>
          createIntegration(setup, TEST_SECRET, org.id, { name: `fw-${start + n}`, kind: 'firewall' }, T0),
        ),
      );
      ids.push(...made.map((result) => result.integration.id));
    }
    const logs = await tempDir('cold');
    await drop({ logs }, [...ids.map((id) => pull(id, at(1))), pull('int_00000000deadbeef', at(1))]);

    // A new client and store on the same table: a cold Lambda instance, nothing cached.
    const client = localClient(testDb());
    const usage = meterUsage(client);
    const cold = openStore(client, setup.table.name);
    const report = await ingest({ store: cold, source: new DirectorySource(logs), now: at(1.1) });

    expect(report.integrations_updated).toBe(1000);
    expect(report.skipped.unknown_integration).toBe(1);
    const reads = Object.entries(usage.requests)
      .filter(([label]) => label.startsWith('read.'))
      .reduce((sum, [, count]) => sum + count, 0);
    // 10 batch reads of the integrations, the ledger, and one scan for items of an older layout.
    expect(reads).toBeLessThanOrEqual(20);
    expect(usage.requests['write.INT']).toBe(1000);
    // 1,000 creates and 1,000 writes against dynalite on a shared machine: a generous bound, not a figure.
  }, 180_000);
});

describe('cost of an API key check', () => {
  it('reads a key once per KEY_CACHE_SECONDS; a revocation elsewhere takes effect within that bound, here at once', async () => {
    const store = await freshStore();
    const org = await createOrg(store, 'Keys', T0);
    const { key } = await createApiKey(store, TEST_SECRET, org.id, 'read', T0);
    const { key: other } = await createApiKey(store, TEST_SECRET, org.id, 'read', T0);
    const keyReads = () => store.usage.requests['read.APIKEY'] ?? 0;

    expect(await authenticate(store, TEST_SECRET, key, at(1))).not.toBeNull();
    const afterFirst = keyReads();
    expect(await authenticate(store, TEST_SECRET, key, addSeconds(at(1), 10))).not.toBeNull();
    expect(keyReads()).toBe(afterFirst);

    // Revoked through another process (its own store): this one still answers from memory, within the bound.
    const elsewhere = openStore(localClient(testDb()), store.table.name);
    for (const record of await elsewhere.keys.list(org.id))
      await elsewhere.keys.revoke(org.id, record.key_id);
    expect(
      await authenticate(store, TEST_SECRET, key, addSeconds(at(1), KEY_CACHE_SECONDS - 1)),
    ).not.toBeNull();
    expect(await authenticate(store, TEST_SECRET, key, addSeconds(at(1), KEY_CACHE_SECONDS))).toBeNull();

    // Revoked through this process: refused at once, cached or not.
    const { key: third, record } = await createApiKey(store, TEST_SECRET, org.id, 'read', at(2));
    expect(await authenticate(store, TEST_SECRET, third, at(2))).not.toBeNull();
    expect(await store.keys.revoke(org.id, record.key_id)).toBe(true);
    expect(await authenticate(store, TEST_SECRET, third, addSeconds(at(2), 1))).toBeNull();
    expect(await authenticate(store, TEST_SECRET, other, at(2))).toBeNull();
  });
});
