import { createRequire } from 'node:module';
import { indexSchema, TABLE } from '../table/schema.ts';

/**
 * Index repair of the embedded database, run when this process is about to open the LevelDB files itself
 * (never against DynamoDB, never when attaching to another process's server, never in memory).
 *
 * Why it is needed: dynalite writes an item's secondary-index entries and the item itself as separate
 * LevelDB writes (old index entries deleted, new ones put, then the item put; `actions/putItem.js`,
 * `updateItem.js`, `deleteItem.js`). A process killed between them leaves an index that disagrees with its
 * item: an issue whose delivery was recorded but whose index entry still says "due", or, worse, an item
 * still due whose entry is gone, so the notify pass never sees it again. The store trusts its indexes, as it
 * may with DynamoDB, which never tears them.
 *
 * Why this way: the item is the truth. Every index entry is a pure function of its item (dynalite's own
 * `getIndexActions` computes the entries it would write for it), so the repair reads every item and every
 * index entry once, straight from LevelDB, and applies the difference (orphan entries deleted, missing or
 * stale entries put) as ONE LevelDB batch, which is atomic: a crash during the repair leaves the files as
 * they were, and the next start repairs again. Going through the DynamoDB API instead cannot delete an orphan
 * entry without first writing its old state back into the item (a crash there would corrupt the item
 * itself), and re-putting every item costs a write per item and index at every start. Healing the reads
 * instead would spread dynalite's flaw into the table layer that AWS also runs. A full pass is cheap at
 * local sizes (see README, Operating).
 *
 * It relies on dynalite's storage layout (`item-<table>~<key>`, `index-<global|local>~<table>~<index>~<key>`,
 * JSON values); `dynalite` is pinned by the lockfile and test/crash.test.ts checks the repair against real
 * torn writes, so a layout change fails a test rather than a user's data.
 */

export interface RepairReport {
  tables: number;
  /** Secondary indexes the schema defines that the stored table lacked, added and filled (see below). */
  added: string[];
  items: number;
  /** Index entries deleted because no item (or no item with that key) stands behind them. */
  removed: number;
  /** Index entries written because their item was missing from the index or the entry was stale. */
  written: number;
  ms: number;
}

interface Level {
  open(): Promise<void>;
  close(): Promise<void>;
  iterator(options: { gte: string }): AsyncIterable<[string, unknown]> & { close(): Promise<void> };
  batch(
    operations: Array<{ type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }>,
  ): Promise<void>;
}

interface TableDescription {
  TableName: string;
  TableArn?: string;
  AttributeDefinitions?: Array<{ AttributeName: string; AttributeType: string }>;
  GlobalSecondaryIndexes?: Array<{ IndexName: string }>;
  LocalSecondaryIndexes?: Array<{ IndexName: string }>;
}

interface DynaliteDb {
  getIndexActions(
    indexes: unknown[],
    existingItem: unknown,
    item: unknown,
    table: TableDescription,
  ): { puts: Array<{ index: string; key: string; item: unknown }> };
}

// Resolved from dynalite's own location, so the repair uses the very LevelDB binding and key functions
// dynalite does, whatever npm hoists.
const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
const { Level } = fromDynalite('level') as { Level: new (path: string, options: object) => Level };
const dynaliteDb = fromDynalite('./db/index.js') as DynaliteDb;

/** Every entry whose key starts with `prefix`, in key order. */
async function* entries(db: Level, prefix: string): AsyncGenerator<[string, unknown]> {
  const iterator = db.iterator({ gte: prefix });
  try {
    for await (const [key, value] of iterator) {
      if (!key.startsWith(prefix)) break;
      yield [key, value];
    }
  } finally {
    await iterator.close();
  }
}

/**
 * Adds to a stored table the global secondary indexes the schema defines and it lacks (dynalite's UpdateTable
 * cannot create one; DynamoDB's can, and the CDK stack does it there). The repair below then fills them from
 * the items, in the same atomic batch. Returns the names added.
 */
function addMissingIndexes(table: TableDescription, schema: typeof TABLE): string[] {
  const present = new Set((table.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  const missing = schema.indexes.filter((index) => !present.has(index.name));
  if (missing.length === 0) return [];
  const attributes = table.AttributeDefinitions ?? [];
  for (const index of missing) {
    for (const key of [index.partitionKey, index.sortKey]) {
      if (key && !attributes.some((known) => known.AttributeName === key.name)) {
        attributes.push({ AttributeName: key.name, AttributeType: key.type });
      }
    }
    table.GlobalSecondaryIndexes = [
      ...(table.GlobalSecondaryIndexes ?? []),
      {
        ...indexSchema(index),
        IndexArn: `${table.TableArn ?? table.TableName}/index/${index.name}`,
        IndexStatus: 'ACTIVE',
        IndexSizeBytes: 0,
        ItemCount: 0,
        ProvisionedThroughput: { ReadCapacityUnits: 0, WriteCapacityUnits: 0, NumberOfDecreasesToday: 0 },
      } as { IndexName: string },
    ];
  }
  table.AttributeDefinitions = attributes;
  return missing.map((index) => index.name);
}

/**
 * Makes every secondary-index entry of every table in the LevelDB at `path` agree with its item, after adding
 * the indexes `schema` defines that a table made by an older version lacks. Throws if the files are locked
 * (another process has them open): the caller waits and tries again, as for dynalite.
 */
export async function repairIndexes(path: string, schema: typeof TABLE = TABLE): Promise<RepairReport> {
  const started = performance.now();
  const db = new Level(path, { valueEncoding: 'json' });
  await db.open();
  const report: RepairReport = { tables: 0, added: [], items: 0, removed: 0, written: 0, ms: 0 };
  try {
    const tables: Array<{ key: string; table: TableDescription }> = [];
    for await (const [key, value] of entries(db, 'table~'))
      tables.push({ key, table: value as TableDescription });
    const batch: Parameters<Level['batch']>[0] = [];
    for (const { key: tableKey, table } of tables) {
      report.tables += 1;
      const added = addMissingIndexes(table, schema);
      if (added.length > 0) {
        batch.push({ type: 'put', key: tableKey, value: table });
        report.added.push(...added);
      }
      const kinds = [
        { type: 'global', indexes: table.GlobalSecondaryIndexes ?? [] },
        { type: 'local', indexes: table.LocalSecondaryIndexes ?? [] },
      ].filter((kind) => kind.indexes.length > 0);
      if (kinds.length === 0) continue;
      // What the indexes must hold: the entries dynalite itself writes for each item.
      const expected = new Map<string, string>();
      const values = new Map<string, unknown>();
      for await (const [, item] of entries(db, `item-${table.TableName}~`)) {
        report.items += 1;
        for (const kind of kinds) {
          for (const put of dynaliteDb.getIndexActions(kind.indexes, null, item, table).puts) {
            const key = `index-${kind.type}~${table.TableName}~${put.index}~${put.key}`;
            expected.set(key, JSON.stringify(put.item));
            values.set(key, put.item);
          }
        }
      }
      for (const kind of kinds) {
        for (const index of kind.indexes) {
          for await (const [key, value] of entries(
            db,
            `index-${kind.type}~${table.TableName}~${index.IndexName}~`,
          )) {
            const want = expected.get(key);
            if (want === undefined) {
              batch.push({ type: 'del', key });
              report.removed += 1;
            } else if (want === JSON.stringify(value)) {
              expected.delete(key);
            }
          }
        }
      }
      for (const key of expected.keys()) {
        batch.push({ type: 'put', key, value: values.get(key) });
        report.written += 1;
      }
    }
    if (batch.length > 0) await db.batch(batch);
  } finally {
    await db.close();
  }
  report.ms = Math.round(performance.now() - started);
  return report;
}
