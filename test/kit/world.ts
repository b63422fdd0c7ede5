import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { defaultConfig } from '../../shared/config.ts';
import { type CycleReport, runCycle } from '../../shared/cycle.ts';
import { DirectorySource } from '../../shared/ingest/sources.ts';
import { type Integration, type NewIntegration, newIntegration } from '../../shared/integration/index.ts';
import { createIntegration } from '../../shared/integration/ops.ts';
import type { Issue } from '../../shared/issue/index.ts';
import type { Publisher } from '../../shared/notify/publishers.ts';
import type { Notification } from '../../shared/notify/render.ts';
import { createOrg, createOrgWithKey } from '../../shared/org/index.ts';
import { addSeconds, type Iso } from '../../shared/time.ts';
import { freshStore, type MeteredStore, TEST_SECRET } from './db.ts';
import { drop, tempDir } from './files.ts';
import { pull } from './lines.ts';
import { recorder } from './publishers.ts';
import { T0 } from './time.ts';

/**
 * A small world for scenario tests: a fresh table (on the file's `useTestDb()`), an organization with a write
 * key, a pull-log directory its source reads, and a publisher that records what it sends. Call `useTestDb()`
 * and `useTempDirs()` at the top of the file.
 */

/** The cycle's settings as shipped: the configuration's defaults (rules and notify take them from the caller). */
export const SETTINGS = {
  staleAfterSeconds: defaultConfig.PULLWATCH_STALE_AFTER_SECONDS,
  reminderSeconds: defaultConfig.PULLWATCH_REMINDER_SECONDS,
};
export type Settings = typeof SETTINGS;

/** Cycle settings to change: the pipeline guard's freshness limit and the reminder interval (unset: shipped default). */
export type CycleSettings = Partial<Settings>;

export interface World {
  store: MeteredStore;
  orgId: string;
  /** A write key of the organization, for the API. */
  key: string;
  /** The pull-log directory, and the source that reads it. */
  logs: string;
  source: DirectorySource;
  /** Records every notification in `sent`, and appends it to the `outbox` file as the FilePublisher does. */
  publisher: Publisher;
  sent: Notification[];
  outbox: string;
  /**
   * An integration of another organization that pulls just before every `cycle()`, so the pull-log feed stays
   * fresh and the pipeline guard (on, at its default) has no reason to hold anything. Null: no such feed.
   */
  heartbeat: Integration | null;
  /** The settings every `cycle()` of this world runs with, unless the call overrides them. */
  settings: Settings;
}

export async function world(options: CycleSettings & { heartbeat?: boolean } = {}): Promise<World> {
  const { heartbeat: withHeartbeat = false, ...settings } = options;
  const store = await freshStore();
  const dir = await tempDir('world');
  const logs = join(dir, 'pull-logs');
  await mkdir(logs);
  const outbox = join(dir, 'outbox.jsonl');
  const { org, key } = await createOrgWithKey(store, TEST_SECRET, 'Acme', 'write', T0);
  let heartbeat: Integration | null = null;
  if (withHeartbeat) {
    const keeper = await createOrg(store, 'Feed keeper', T0);
    const made = await createIntegration(
      store,
      TEST_SECRET,
      keeper.id,
      { name: 'heartbeat', kind: 'firewall', offline_after_seconds: 30 * 86_400 },
      T0,
    );
    heartbeat = made.integration;
  }
  const { publisher, sent } = recorder({ file: outbox });
  return {
    store,
    orgId: org.id,
    key,
    logs,
    source: new DirectorySource(logs),
    publisher,
    sent,
    outbox,
    heartbeat,
    settings: { ...SETTINGS, ...settings },
  };
}

/** An integration of the world's organization (or `options.orgId`): a FortiGate named 'Edge FortiGate' unless `input` says otherwise. */
/**
 * An integration built in memory (never stored), with placeholder credentials: for the pure folds and checks.
 * `fields` override the defaults (an id, an organization, the name "Edge", a firewall).
 */
export function integrationInMemory(
  fields: Partial<Parameters<typeof newIntegration>[0]> = {},
  now: Iso = T0,
): Integration {
  return newIntegration(
    {
      id: 'int_0000000000000001',
      org_id: 'org_0000000000000001',
      name: 'Edge',
      kind: 'firewall',
      credentials: {
        username: 'u',
        password_hash: 'h'.repeat(64),
        rotated_at: now,
        previous_password_hash: null,
        previous_valid_until: null,
      },
      ...fields,
    },
    now,
  );
}

export async function addIntegration(
  w: Pick<World, 'store' | 'orgId'>,
  input: Partial<NewIntegration> = {},
  options: { orgId?: string; now?: Iso } = {},
): Promise<Integration> {
  const { integration } = await createIntegration(
    w.store,
    TEST_SECRET,
    options.orgId ?? w.orgId,
    { name: 'Edge FortiGate', kind: 'firewall', vendor: 'fortigate', ...input },
    options.now ?? T0,
  );
  return integration;
}

/**
 * One whole cycle (ingest, rule pass, notify pass) at `now`, with the world's settings unless overridden; it
 * must report no error. With a heartbeat, its pull lands a minute before `now`.
 */
export async function cycle(
  w: World,
  now: Iso,
  options: CycleSettings & { publisher?: Publisher; workers?: number } = {},
): Promise<CycleReport> {
  const { publisher = w.publisher, ...settings } = options;
  if (w.heartbeat) await drop(w, [pull(w.heartbeat.id, addSeconds(now, -60))]);
  const report = await runCycle({
    store: w.store,
    source: w.source,
    publisher,
    now,
    ...w.settings,
    ...settings,
  });
  expect(report.errors).toEqual([]);
  return report;
}

/** The integration as stored now (by id in the world's organization, or a stored integration's own). */
export async function current(
  w: Pick<World, 'store' | 'orgId'>,
  integration: string | Pick<Integration, 'id' | 'org_id'>,
): Promise<Integration> {
  const [orgId, id] =
    typeof integration === 'string' ? [w.orgId, integration] : [integration.org_id, integration.id];
  const found = await w.store.integrations.get(orgId, id);
  if (!found) throw new Error(`integration ${id} is gone`);
  return found;
}

/** The issues of the world's organization (or `orgId`), newest first, in one state or all. */
export async function issuesOf(w: World, state?: 'open' | 'resolved', orgId = w.orgId): Promise<Issue[]> {
  const page = await w.store.issues.list(orgId, state ? { limit: 100, state } : { limit: 100 });
  return page.items;
}

/** What the world's publisher sent to one organization (its own by default). */
export const sentTo = (w: World, orgId = w.orgId) =>
  w.sent.filter((notification) => notification.org_id === orgId);

/** The one item of a list, asserting there is exactly one. */
export function only<T>(items: T[]): T {
  expect(items).toHaveLength(1);
  return items[0] as T;
}
