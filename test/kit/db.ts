import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { type EmbeddedDb, localDynamoClient, startDynalite } from '../../shared/local/embedded-db.ts';
import { openStore, type Store } from '../../shared/store.ts';
import { meterUsage, type Usage } from '../../shared/table/metering.ts';

/** The deployment secret test stores sign API keys and integration credentials with. */
export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hmac-0123456789';

/** A real dynalite server (in memory) for one test file. */
export async function startTestDb(): Promise<EmbeddedDb> {
  return startDynalite();
}

let fileDb: EmbeddedDb | null = null;

/**
 * Starts one dynalite for the calling test file before its tests and closes it after them; `testDb()` reaches
 * it. Vitest loads this module once per test file, so each file has its own server.
 */
export function useTestDb(): void {
  beforeAll(async () => {
    fileDb = await startTestDb();
  });
  afterAll(async () => {
    await fileDb?.close();
    fileDb = null;
  });
}

/** The dynalite of this test file (see `useTestDb`). */
export function testDb(): EmbeddedDb {
  if (!fileDb) throw new Error('no test database: call useTestDb() at the top of the test file');
  return fileDb;
}

/**
 * The real AWS SDK client for a test server. `maxAttempts: 1` turns the SDK's retries off, for tests that
 * inject faults and must see every one.
 */
export function localClient(db: EmbeddedDb, options: { maxAttempts?: number } = {}): DynamoDBClient {
  return localDynamoClient(db.endpoint, options);
}

/** A store on a fresh table of its own, through `client`. */
export async function storeOn(client: DynamoDBClient): Promise<Store> {
  const store = openStore(client, `t_${randomBytes(6).toString('hex')}`);
  await store.table.ensure();
  return store;
}

/** A store whose requests and consumed capacity are counted (see `shared/table/metering.ts`). */
export type MeteredStore = Store & { usage: Usage };

/** A fresh table on that server (this file's by default), reached through the real AWS SDK client, with its usage metered. */
export async function freshStore(db: EmbeddedDb = testDb()): Promise<MeteredStore> {
  const client = localClient(db);
  const usage = meterUsage(client);
  return { ...(await storeOn(client)), usage };
}

/** Writes of integration items (creates included), as the metering middleware labels them. */
export const integrationWrites = (store: MeteredStore) => store.usage.requests['write.INT'] ?? 0;
