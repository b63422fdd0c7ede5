import { join } from 'node:path';
import type { Config } from '../config.ts';
import { createStore } from '../runtime.ts';
import type { Store } from '../store.ts';
import { type EmbeddedDb, openLocalDatabase } from './embedded-db.ts';
import { loadOrCreateSecret } from './secret.ts';
import { gateDatabase } from './stop.ts';

export interface LocalContext {
  config: Config;
  store: Store;
  secret: string;
  db: EmbeddedDb | null;
  /** Stop starting new work on a signal (see stop.ts); writes in flight or following a read still land. */
  drain(): void;
  /** Waits for the requests in flight, then closes the client and the embedded database (once). */
  close(): Promise<void>;
}

/**
 * What every local command needs: the store (embedded database, or DYNAMODB_ENDPOINT when set), and the
 * key-hashing secret of the data directory.
 */
export async function openLocal(config: Config, options: { publish: boolean }): Promise<LocalContext> {
  const db = config.DYNAMODB_ENDPOINT ? null : await openLocalDatabase(config.PULLWATCH_DATA_DIR, options);
  const store = createStore(config, db?.endpoint ?? config.DYNAMODB_ENDPOINT);
  let moved = 0;
  try {
    await store.table.ensure();
    // Data of an older version: integrations move to their id keys before any command reads them.
    moved = await store.integrations.moveToIdKeys();
  } catch (error) {
    await db?.close();
    throw error;
  }
  const secret = config.PULLWATCH_KEY_SECRET ?? (await loadOrCreateSecret(config.PULLWATCH_DATA_DIR));
  const repaired = db?.repair;
  if (repaired && repaired.removed + repaired.written > 0) {
    process.stderr.write(
      `pullwatch: repaired the database's indexes after an unclean stop: ${repaired.removed} orphan entries removed, ${repaired.written} written (${repaired.items} items checked in ${repaired.ms} ms)\n`,
    );
  }
  if (repaired && repaired.added.length > 0) {
    process.stderr.write(`pullwatch: added the indexes ${repaired.added.join(', ')} to the database\n`);
  }
  if (moved > 0) process.stderr.write(`pullwatch: moved ${moved} integrations to their id keys\n`);
  const gate = gateDatabase(store.table.client);
  let closing: Promise<void> | null = null;
  return {
    config,
    store,
    secret,
    db,
    drain: () => gate.drain(),
    close: () => {
      // Closing dynalite under a request it is serving could stop it between an index write and the item's.
      closing ??= (async () => {
        await gate.close();
        store.table.client.destroy();
        await db?.close();
      })();
      return closing;
    },
  };
}

export const outboxPath = (config: Config) => join(config.PULLWATCH_DATA_DIR, 'outbox.jsonl');
