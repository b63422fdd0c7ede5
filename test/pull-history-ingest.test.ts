import { describe, expect, it } from 'vitest';
import { historyCost } from '../bench/history-cost.ts';
import { createApp } from '../shared/api/app.ts';
import { FILE_LEASE_SECONDS, ingest } from '../shared/ingest/index.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { apiDocument, client, recordLog, scanTable } from './api-kit.ts';
import { freshStore, TEST_SECRET, useTestDb } from './kit/db.ts';
import { crashingStore } from './kit/faults.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { run } from './kit/ingest.ts';
import { pull } from './kit/lines.ts';
import { at } from './kit/time.ts';
import { addIntegration, type World, world } from './kit/world.ts';

/**
 * Pull history through the real ingest on dynalite and the API that serves it: what is shown, that a re-read
 * file counts nothing twice, that a late file lands in its day, and what it costs in writes.
 */

useTestDb();
useTempDirs();

const minute = (hours: number, minutes: number) => addSeconds(at(hours), minutes * 60);

function api(w: World, clock: { now: Iso }) {
  const app = createApp({
    store: w.store,
    secret: TEST_SECRET,
    now: () => clock.now,
    staleAfterSeconds: 7200,
    log: recordLog([]),
  });
  const call = client(app);
  return {
    app,
    detail: async (id: string) => {
      const reply = await call('GET', `/v1/integrations/${id}`, { key: w.key });
      expect(reply.status, reply.text).toBe(200);
      return reply.body;
    },
    list: async () => {
      const reply = await call('GET', '/v1/integrations', { key: w.key });
      expect(reply.status, reply.text).toBe(200);
      return reply.body.items as Array<Record<string, unknown>>;
    },
  };
}

const dayItems = async (w: World) =>
  (await scanTable(w.store)).filter((item) => String(item.pk).startsWith('PULLS#'));

/** Four hours of pulls, 08:00 to 11:59 on 2026-11-20: 08 and 09 leave the integration item for a day item. */
const MORNING = (id: string) => [
  pull(id, minute(8, 10)),
  pull(id, addSeconds(minute(8, 10), 20)), // the same minute again: still one minute
  pull(id, minute(8, 11)),
  pull(id, minute(9, 20), { status: 401 }),
  pull(id, minute(10, 30)),
  pull(id, minute(10, 31), { status: 403 }),
  pull(id, minute(11, 40)),
  pull(id, minute(11, 41), { method: 'HEAD' }), // not a pull that delivers a list
  pull(id, minute(11, 42), { status: 503 }),
];

describe('pull history in the API', () => {
  it('shows 48 hours in list items and 7 days of minutes per hour in the detail, shifted to now', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    const idle = await addIntegration(w, { name: 'Idle' });
    await drop(w, MORNING(fw.id));
    await run(w, at(12));
    const clock = { now: minute(13, 5) };
    const { list, detail } = api(w, clock);

    const items = await list();
    const shown = items.find((item) => item.id === fw.id) as Record<string, unknown>;
    expect(shown.timeline_48h).toEqual({ start: '2026-11-18T14:00:00Z', hours: `${'.'.repeat(42)}arba..` });
    expect((items.find((item) => item.id === idle.id) as Record<string, unknown>).timeline_48h).toEqual({
      start: '2026-11-18T14:00:00Z',
      hours: '.'.repeat(48),
    });

    const body = await detail(fw.id);
    expect(body.timeline_48h.hours).toBe(`${'.'.repeat(42)}arba..`);
    expect(body.pull_history.start).toBe('2026-11-13T14:00:00Z');
    expect(body.pull_history.unit).toBe('minutes');
    expect(body.pull_history.accepted).toHaveLength(168);
    expect(body.pull_history.refused).toHaveLength(168);
    expect(body.pull_history.accepted.slice(-6)).toEqual([2, 0, 1, 1, 0, 0]);
    expect(body.pull_history.refused.slice(-6)).toEqual([0, 1, 1, 0, 0, 0]);
    const idleBody = await detail(idle.id);
    expect(idleBody.pull_history.accepted).toEqual(new Array(168).fill(0));

    // A day later the same facts have moved 24 hours to the left.
    clock.now = minute(37, 5);
    expect((await detail(fw.id)).pull_history.accepted.slice(-30, -24)).toEqual([2, 0, 1, 1, 0, 0]);
  });

  it('documents both shapes in the OpenAPI document', async () => {
    const w = await world();
    const document = (await apiDocument(api(w, { now: at(1) }).app)) as unknown as {
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    const { schemas } = document.components;
    expect(schemas.Integration?.properties.timeline_48h).toMatchObject({
      type: 'object',
      properties: { start: { type: 'string' }, hours: { type: 'string' } },
    });
    expect(JSON.stringify(schemas.PullHistory)).toContain('"minutes"');
    expect(schemas.PullHistory?.properties.accepted).toMatchObject({
      type: 'array',
      minItems: 168,
      maxItems: 168,
    });
    expect(JSON.stringify(schemas.IntegrationDetail)).toContain('PullHistory');
  });
});

describe('pull history folds idempotently', () => {
  it('a file read again after a crash between the integration write and its ledger entry counts nothing twice', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, MORNING(fw.id));
    const { store, state } = crashingStore(w.store, { method: 'ledger.complete', call: 1, when: 'before' });
    await expect(ingest({ store, source: w.source, now: at(12) })).rejects.toThrow(/crash/);
    expect(state.crashed).toBe(true);
    const days = await dayItems(w);
    expect(days).toHaveLength(1);
    const clock = { now: minute(12, 30) };
    const before = await api(w, clock).detail(fw.id);

    // The next run takes the file over once its lease has run out, and reads it again.
    const again = await run(w, addSeconds(at(12), FILE_LEASE_SECONDS + 60));
    expect(again.files_processed).toBe(1);
    expect(await dayItems(w)).toEqual(days);
    const after = await api(w, clock).detail(fw.id);
    expect(after.pull_history).toEqual(before.pull_history);
    expect(after.timeline_48h).toEqual(before.timeline_48h);
    expect(after.pull_history.accepted.slice(-5)).toEqual([2, 0, 1, 1, 0]);
  });

  it('merges a file more than an hour late into its day item, once however often it is delivered', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    await drop(w, MORNING(fw.id));
    await run(w, at(12));
    const writes = () => w.store.usage.requests['write.PULLS'] ?? 0;
    const written = writes();
    const late = [pull(fw.id, minute(8, 45), { status: 403 }), pull(fw.id, minute(8, 46))];
    await drop(w, late);
    await run(w, minute(12, 5));
    expect(writes()).toBe(written + 1);
    const clock = { now: minute(12, 30) };
    const once = await api(w, clock).detail(fw.id);
    expect(once.pull_history.accepted.slice(-5)).toEqual([3, 0, 1, 1, 0]);
    expect(once.pull_history.refused.slice(-5)).toEqual([1, 1, 1, 0, 0]);
    expect(once.timeline_48h.hours.slice(-5)).toBe('brba.');

    await drop(w, late);
    await drop(w, [...late].reverse());
    await run(w, minute(12, 10));
    expect(await api(w, clock).detail(fw.id)).toEqual(once);
  });

  it('keeps a day item under 1 KB even when every hour of the day had both kinds of pull', async () => {
    const w = await world();
    const fw = await addIntegration(w);
    const lines: string[] = [];
    for (let hour = 0; hour < 24; hour += 1) {
      for (let m = 0; m < 60; m += 1) {
        lines.push(
          pull(fw.id, minute(hour, m)),
          pull(fw.id, addSeconds(minute(hour, m), 1), { status: 401 }),
        );
      }
    }
    lines.push(pull(fw.id, at(26)));
    await drop(w, lines);
    await run(w, at(26.1));
    const before = w.store.usage.units['write.PULLS'] ?? 0;
    const requests = w.store.usage.requests['write.PULLS'] ?? 0;
    // Rewriting the same minutes costs what writing the full item costs: 1 WCU (it is under 1 KB).
    await drop(w, lines);
    await run(w, at(26.2));
    expect((w.store.usage.units['write.PULLS'] ?? 0) - before).toBe(
      (w.store.usage.requests['write.PULLS'] ?? 0) - requests,
    );
    const { accepted, refused } = (await api(w, { now: at(26.5) }).detail(fw.id)).pull_history;
    expect(accepted.slice(-27, -3)).toEqual(new Array(24).fill(60));
    expect(refused.slice(-27, -3)).toEqual(new Array(24).fill(60));
  });
});

describe('what the history costs', () => {
  it('adds no integration write and at most one day write per pulling integration per hour, over a day of cycles', async () => {
    const store = await freshStore();
    const cost = await historyCost({ store, usage: store.usage, count: 2, hours: 24, start: at(-2) });
    expect(cost.cycles).toBe(288);
    // One integration write per integration per cycle: the history rides on it.
    expect(cost.integration_writes).toBe(2 * 288);
    // The history adds at most ~140 bytes to the item (pull-history.test.ts), and the item stays under 1 KB:
    // a pull write is still one write unit.
    expect(cost.wcu_per_integration_write).toBe(1);
    expect(cost.history_writes).toBeGreaterThan(0);
    expect(cost.history_writes).toBeLessThanOrEqual(2 * 24);
    expect(cost.history_write_units).toBe(cost.history_writes);
    expect(cost.extra_wcu_per_pulling_integration_cycle).toBeLessThan(0.1);
  }, 180_000);
});
