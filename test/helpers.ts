import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type EmbeddedDb, startDynalite } from '../shared/local/embedded-db.ts';
import { openStore, type Store } from '../shared/store.ts';
import { meterUsage, type Usage } from '../shared/table/metering.ts';

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hmac-0123456789';

/** A real dynalite server (in memory) for one test file. */
export async function startTestDb(): Promise<EmbeddedDb> {
  return startDynalite();
}

/** A store whose requests and consumed capacity are counted (see `shared/table/metering.ts`). */
export type MeteredStore = Store & { usage: Usage };

/** A fresh table on that server, reached through the real AWS SDK client, with its usage metered. */
export async function freshStore(db: EmbeddedDb): Promise<MeteredStore> {
  const client = new DynamoDBClient({
    endpoint: db.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const usage = meterUsage(client);
  const store = openStore(client, `t_${randomBytes(6).toString('hex')}`);
  await store.table.ensure();
  return { ...store, usage };
}

/** ISO time `hours` after a fixed origin: tests pin time instead of sleeping. */
export const T0 = '2026-11-20T00:00:00.000Z';
export const at = (hours: number, from = T0) => new Date(Date.parse(from) + hours * 3_600_000).toISOString();
