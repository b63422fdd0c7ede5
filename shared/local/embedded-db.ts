import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient, type DynamoDBClientConfig, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { type RepairReport, repairIndexes } from './repair.ts';

/**
 * The embedded DynamoDB (dynalite on LevelDB). LevelDB allows one process per directory, so the process
 * that runs the database publishes its address in `db.json`, and every other pullwatch command on the same
 * data directory talks to that server instead of opening the files itself.
 */
export interface EmbeddedDb {
  endpoint: string;
  /** True when this process runs the server; false when it attached to another process's. */
  owned: boolean;
  /** What the index repair at open found (see repair.ts); null when this process did not open the files. */
  repair?: RepairReport | null;
  close(): Promise<void>;
}

interface Published {
  endpoint: string;
  pid: number;
}

const publishedPath = (dataDir: string) => join(dataDir, 'db.json');

/** A client of a local DynamoDB-protocol server, which checks no credentials (the runner, tests, benches). */
export function localDynamoClient(endpoint: string, options: DynamoDBClientConfig = {}): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    ...options,
  });
}

async function answers(endpoint: string): Promise<boolean> {
  const client = localDynamoClient(endpoint, {
    maxAttempts: 1,
    requestHandler: { requestTimeout: 2000, connectionTimeout: 1000 },
  });
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }));
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

/** Starts dynalite on a free loopback port; in memory when `path` is omitted (tests). */
export async function startDynalite(path?: string): Promise<EmbeddedDb> {
  const server = dynalite({
    ...(path ? { path } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
  if (!(await answers(endpoint))) {
    await close();
    throw new Error(`the database at ${path ?? '(memory)'} cannot be opened; is another process using it?`);
  }
  return { endpoint, owned: true, close };
}

async function readPublished(dataDir: string): Promise<Published | null> {
  try {
    const parsed = JSON.parse(await readFile(publishedPath(dataDir), 'utf8')) as Partial<Published>;
    return typeof parsed.endpoint === 'string' && typeof parsed.pid === 'number'
      ? { endpoint: parsed.endpoint, pid: parsed.pid }
      : null;
  } catch {
    return null;
  }
}

/**
 * Attaches to the database a running `pullwatch` serves for this data directory, or opens it itself.
 * `publish` makes this process the one others attach to (the long-running server does that).
 */
export async function openLocalDatabase(dataDir: string, options: { publish: boolean }): Promise<EmbeddedDb> {
  await mkdir(dataDir, { recursive: true });
  const published = await readPublished(dataDir);
  if (published && published.pid !== process.pid && (await answers(published.endpoint))) {
    if (options.publish) {
      throw new Error(`pullwatch is already running on this data directory (pid ${published.pid})`);
    }
    return { endpoint: published.endpoint, owned: false, close: async () => {} };
  }
  let lastError: unknown;
  // A short CLI command may hold the files for a moment; wait for it rather than fail.
  for (let attempt = 0; attempt < 20; attempt += 1) {
    try {
      // Before dynalite serves a single request: a killed process may have left an index torn from its item.
      const repair = await repairIndexes(join(dataDir, 'db'));
      const db = { ...(await startDynalite(join(dataDir, 'db'))), repair };
      if (!options.publish) return db;
      await writeFile(
        publishedPath(dataDir),
        JSON.stringify({ endpoint: db.endpoint, pid: process.pid }),
        'utf8',
      );
      return {
        ...db,
        close: async () => {
          await rm(publishedPath(dataDir), { force: true });
          await db.close();
        },
      };
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  throw lastError;
}
