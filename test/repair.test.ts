import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { openLocal } from '../shared/local/context.ts';
import { startDynalite } from '../shared/local/embedded-db.ts';
import { repairIndexes } from '../shared/local/repair.ts';
import { openStore, type Store } from '../shared/store.ts';
import { INDEX } from '../shared/table/schema.ts';
import { localClient } from './kit/db.ts';
import { tempDir, useTempDirs } from './kit/files.ts';

/**
 * The index repair at open, on torn states made by hand in dynalite's LevelDB: the three ways a process killed
 * inside a dynalite write leaves an index disagreeing with its item (an entry missing, an orphan entry, a
 * stale copy). Each is first shown to mislead a query, then mended by the next open.
 */

useTempDirs();

interface Level {
  open(): Promise<void>;
  close(): Promise<void>;
  iterator(options: { gte: string }): AsyncIterable<[string, unknown]> & { close(): Promise<void> };
  put(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
}
const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
const { Level } = fromDynalite('level') as { Level: new (path: string, options: object) => Level };

const OUTBOX = `index-global~pullwatch~${INDEX.byOutbox}~`;

/** The by_outbox entries in LevelDB, by the issue sort key they stand for. */
async function outboxEntries(
  db: Level,
): Promise<Map<string, { key: string; value: Record<string, unknown> }>> {
  const found = new Map<string, { key: string; value: Record<string, unknown> }>();
  const iterator = db.iterator({ gte: OUTBOX });
  for await (const [key, value] of iterator) {
    if (!key.startsWith(OUTBOX)) break;
    const row = value as Record<string, { S: string }>;
    found.set(row.sk?.S as string, { key, value: value as Record<string, unknown> });
  }
  await iterator.close();
  return found;
}

const issue = (sk: string, note: string) => ({
  pk: 'ORG#org_test',
  sk,
  note,
  outbox_shard: '0',
  outbox_at: '2026-11-20T00:00:00.000Z',
});

/** The issue rows the by_outbox index says are due, with their note. */
async function due(store: Store): Promise<string[]> {
  const rows = await store.table.dueRows(
    { name: INDEX.byOutbox, shard: 'outbox_shard', at: 'outbox_at' },
    [0],
    '2026-11-21T00:00:00.000Z',
  );
  return rows.map((row) => `${row.sk} ${row.note}`).sort();
}

describe('index repair at open', () => {
  it('mends a missing entry, an orphan entry and a stale copy, in one pass, and then finds nothing', async () => {
    const dataDir = await tempDir('repair');
    const config = loadConfig({ PULLWATCH_DATA_DIR: dataDir });
    const path = join(dataDir, 'db');

    const first = await openLocal(config, { publish: false });
    expect(first.db?.repair).toMatchObject({ removed: 0, written: 0 });
    for (const sk of ['ISSUE#lost', 'ISSUE#delivered', 'ISSUE#stale']) {
      await first.store.table.put({ Item: issue(sk, 'v1') });
    }
    await first.close();

    // Before: what the index held while all three were due.
    let db = new Level(path, { valueEncoding: 'json' });
    await db.open();
    const before = await outboxEntries(db);
    await db.close();

    // Through the API: "delivered" leaves the outbox, "stale" gets a new note.
    const second = await openLocal(config, { publish: false });
    await second.store.table.update({
      Key: { pk: 'ORG#org_test', sk: 'ISSUE#delivered' },
      UpdateExpression: 'REMOVE outbox_shard, outbox_at',
    });
    await second.store.table.update({
      Key: { pk: 'ORG#org_test', sk: 'ISSUE#stale' },
      UpdateExpression: 'SET note = :note',
      ExpressionAttributeValues: { ':note': 'v2' },
    });
    await second.close();

    // The tears a kill between dynalite's index write and its item write leaves.
    db = new Level(path, { valueEncoding: 'json' });
    await db.open();
    const lost = before.get('ISSUE#lost');
    const delivered = before.get('ISSUE#delivered');
    const stale = before.get('ISSUE#stale');
    if (!lost || !delivered || !stale) throw new Error('by_outbox entries not where dynalite keeps them');
    await db.del(lost.key);
    await db.put(delivered.key, delivered.value);
    await db.put(stale.key, stale.value);
    await db.close();

    // Without the repair, the index misleads: the due issue is invisible, the delivered one due, a stale copy.
    const raw = await startDynalite(path);
    const rawClient = localClient(raw);
    expect(await due(openStore(rawClient, 'pullwatch'))).toEqual(['ISSUE#delivered v1', 'ISSUE#stale v1']);
    rawClient.destroy();
    await raw.close();

    const third = await openLocal(config, { publish: false });
    expect(third.db?.repair).toMatchObject({ removed: 1, written: 2 });
    expect(await due(third.store)).toEqual(['ISSUE#lost v1', 'ISSUE#stale v2']);
    await third.close();

    expect(await repairIndexes(path)).toMatchObject({ removed: 0, written: 0 });
  }, 60_000);
});
