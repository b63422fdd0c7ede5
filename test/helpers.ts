import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { defaultConfig } from '../shared/config.ts';
import { type EmbeddedDb, startDynalite } from '../shared/local/embedded-db.ts';
import { Store } from '../shared/store/index.ts';

/** The cycle's settings as shipped: the configuration's defaults (rules and notify take them from the caller). */
export const SETTINGS = {
  staleAfterSeconds: defaultConfig.PULLWATCH_STALE_AFTER_SECONDS,
  reminderSeconds: defaultConfig.PULLWATCH_REMINDER_SECONDS,
};

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hmac-0123456789';

/** A real dynalite server (in memory) for one test file. */
export async function startTestDb(): Promise<EmbeddedDb> {
  return startDynalite();
}

/** A fresh table on that server, reached through the real AWS SDK client. */
export async function freshStore(db: EmbeddedDb): Promise<Store> {
  const client = new DynamoDBClient({
    endpoint: db.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const store = new Store(client, `t_${randomBytes(6).toString('hex')}`);
  await store.ensureTable();
  return store;
}

/** ISO time `hours` after a fixed origin: tests pin time instead of sleeping. */
export const T0 = '2026-11-20T00:00:00.000Z';
export const at = (hours: number, from = T0) => new Date(Date.parse(from) + hours * 3_600_000).toISOString();
