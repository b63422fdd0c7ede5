import { join } from 'node:path';
import type { Config } from '../config.ts';
import { createStore } from '../runtime.ts';
import type { Store } from '../store.ts';
import { type EmbeddedDb, openLocalDatabase } from './embedded-db.ts';
import { loadOrCreateSecret } from './secret.ts';

export interface LocalContext {
  config: Config;
  store: Store;
  secret: string;
  db: EmbeddedDb | null;
  close(): Promise<void>;
}

/**
 * What every local command needs: the store (embedded database, or DYNAMODB_ENDPOINT when set), and the
 * key-hashing secret of the data directory.
 */
export async function openLocal(config: Config, options: { publish: boolean }): Promise<LocalContext> {
  const db = config.DYNAMODB_ENDPOINT ? null : await openLocalDatabase(config.PULLWATCH_DATA_DIR, options);
  const store = createStore(config, db?.endpoint ?? config.DYNAMODB_ENDPOINT);
  try {
    await store.table.ensure();
  } catch (error) {
    await db?.close();
    throw error;
  }
  const secret = config.PULLWATCH_KEY_SECRET ?? (await loadOrCreateSecret(config.PULLWATCH_DATA_DIR));
  return {
    config,
    store,
    secret,
    db,
    close: async () => {
      store.table.client.destroy();
      await db?.close();
    },
  };
}

export const outboxPath = (config: Config) => join(config.PULLWATCH_DATA_DIR, 'outbox.jsonl');
