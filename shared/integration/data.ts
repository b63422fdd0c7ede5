import { bucketOf, isIssuedId } from '../crypto.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import { decodeCursor, isConditionFailure, type Page, type Row, type Table } from '../table/index.ts';
import { orgPartition } from '../table/keys.ts';
import { ALL_SHARDS, INDEX, SHARDS } from '../table/schema.ts';
import type { Iso } from '../time.ts';
import { consoleRank, Integration, scheduledCheckAt } from './index.ts';

/** Names cannot hold control characters, so this separator sorts below anything a name contains. */
const LIST_SEPARATOR = '\u0001';

/** An integration's own partition: the id is random and global, so it is the whole key (see schema.ts). */
const keyOf = (id: string) => ({ pk: `INT#${id}`, sk: `INT#${id}` });
/** Where versions before the id keys kept it, in its organization's partition. */
const legacyKeyOf = (orgId: string, id: string) => ({ pk: orgPartition(orgId), sk: `INT#${id}` });
const listPartition = (orgId: string) => `INT#${orgId}`;

/** An integration as stored: the schema drops the attributes that key the indexes and fills later defaults. */
/**
 * Item size is cost: DynamoDB charges a write unit per started KB of the item, so every pull of an item past
 * 1 KB costs double. Attribute names count as much as values, so facts that are null or an empty list are
 * left out of the item and put back on read: the nullable ones as null, the others by their schema default.
 */
const fields = Object.entries(Integration.shape);
const NULL_WHEN_ABSENT = fields
  .filter(([, field]) => field.safeParse(null).success && !field.safeParse(undefined).success)
  .map(([name]) => name);
const OMITTED_WHEN_EMPTY = new Set(
  fields
    .filter(([, field]) => {
      const absent = field.safeParse(undefined);
      return absent.success && Array.isArray(absent.data) && absent.data.length === 0;
    })
    .map(([name]) => name),
);
const NULLABLE = new Set(fields.filter(([, field]) => field.safeParse(null).success).map(([name]) => name));

/** The last attempt's details, which most of the time are those of the last pull (the attempt was the pull). */
const ATTEMPT_DETAILS = [
  ['last_attempt_at', 'last_pull_at'],
  ['last_attempt_ip', 'last_pull_ip'],
  ['last_attempt_user_agent', 'last_pull_user_agent'],
  ['last_attempt_auth', 'last_pull_auth'],
] as const;

function compact(integration: Record<string, unknown>): Row {
  const facts = { ...integration };
  // Defaults the read puts back: early warnings on, no replaced password.
  if (facts.early_warning === true) delete facts.early_warning;
  const credentials = facts.credentials as Record<string, unknown>;
  if (credentials.previous_password_hash === null && credentials.previous_valid_until === null) {
    const { previous_password_hash: _, previous_valid_until: __, ...current } = credentials;
    facts.credentials = current;
  }
  // Stored once when the last attempt was the last pull: the read copies them back (its status stays stored).
  if (
    facts.last_attempt_at !== null &&
    ATTEMPT_DETAILS.every(([attempt, pull]) => facts[attempt] === facts[pull])
  ) {
    for (const [attempt] of ATTEMPT_DETAILS) delete facts[attempt];
  }
  return Object.fromEntries(
    Object.entries(facts).filter(
      ([name, value]) =>
        !(value === null && NULLABLE.has(name)) &&
        !(Array.isArray(value) && value.length === 0 && OMITTED_WHEN_EMPTY.has(name)),
    ),
  );
}

function toIntegration(row: Row): Integration {
  const attemptWasPull = row.last_attempt_at === undefined && typeof row.last_attempt_status === 'number';
  const attempt = attemptWasPull
    ? Object.fromEntries(ATTEMPT_DETAILS.map(([attempt, pull]) => [attempt, row[pull] ?? null]))
    : {};
  const credentials = {
    previous_password_hash: null,
    previous_valid_until: null,
    ...(row.credentials as Row),
  };
  return Integration.parse({
    ...Object.fromEntries(NULL_WHEN_ABSENT.map((name) => [name, null])),
    ...row,
    ...attempt,
    credentials,
  });
}

/** With the check time a write stores (see `scheduledCheckAt`). */
const scheduled = (integration: Integration, now: Iso, watermark?: Iso): Integration => ({
  ...integration,
  due_at: scheduledCheckAt(integration, now, watermark),
});

/**
 * The item of an integration: its facts, plus the attributes that place it in the indexes (the rule pass's
 * check time, the list order, the lapi-name lookup). An index key is left out rather than stored null.
 */
function itemOf(integration: Integration): Row {
  const { due_at: dueAt, ...facts } = integration;
  return {
    ...keyOf(integration.id),
    entity: 'integration',
    ...(integration.source === 'lapi' ? { lapi_name: `${integration.org_id}#${integration.name}` } : {}),
    list_pk: listPartition(integration.org_id),
    list_sk: [consoleRank(integration), integration.name.toLowerCase(), integration.id].join(LIST_SEPARATOR),
    name_lc: integration.name.toLowerCase(),
    ...compact(facts),
    ...(dueAt === null ? {} : { due_shard: String(bucketOf(integration.id, SHARDS)), due_at: dueAt }),
  };
}

export interface IntegrationListOptions {
  limit: number;
  cursor?: string;
  kind?: string;
  vendor?: string;
  nameContains?: string;
  accept?: (integration: Integration) => boolean;
}

/**
 * Integrations. Every write that changes one is conditional on the version it read (single-item conditional
 * writes only: no transactions), so concurrent writers cannot both win.
 */
export class Integrations {
  /** Set once a pass found no item left in the old layout: the move is not looked for again by this process. */
  private moved = false;

  constructor(private readonly table: Table) {}

  /** Stores a new integration; returns it as stored (with its check time). */
  async create(integration: Integration, now: Iso): Promise<Integration> {
    const stored = scheduled(integration, now);
    await this.table.put({ Item: itemOf(stored), ConditionExpression: 'attribute_not_exists(pk)' });
    return stored;
  }

  /** An organization's integration; another organization's answers null, exactly like a missing one. */
  async get(orgId: string, id: string): Promise<Integration | null> {
    const found = await this.byId(id, true);
    return found?.org_id === orgId ? found : null;
  }

  /**
   * A batch read (strongly consistent unless told otherwise) of an organization's integrations; missing ones,
   * and ones of another organization, are simply absent.
   */
  async getMany(refs: Array<{ org_id: string; id: string }>, consistent = true): Promise<Integration[]> {
    const orgOf = new Map(refs.map((ref) => [ref.id, ref.org_id]));
    const found = await this.byIds([...orgOf.keys()], consistent);
    return found.filter((integration) => orgOf.get(integration.id) === integration.org_id);
  }

  /**
   * Integrations by id alone, whatever their organization, in batches of 100 (the ingest only knows the ids
   * in the logs). Unknown ids are simply absent. Tenancy is the caller's to enforce.
   */
  async byIds(ids: string[], consistent = true): Promise<Integration[]> {
    const rows = await this.table.batchGet([...new Set(ids)].filter(isIssuedId).map(keyOf), consistent);
    return rows.map(toIntegration);
  }

  /**
   * Writes the integration as `next` if nobody changed it since `expectedVersion` was read. `watermark`: how far
   * its feed has delivered, when the writer knows (see `nextCheckAt`).
   * Returns the stored integration (with its new version); throws ConflictError otherwise.
   */
  async save(next: Integration, expectedVersion: number, now: Iso, watermark?: Iso): Promise<Integration> {
    const stored = scheduled({ ...next, version: expectedVersion + 1 }, now, watermark);
    try {
      await this.table.put({
        Item: itemOf(stored),
        ConditionExpression: '#version = :expected',
        ExpressionAttributeNames: { '#version': 'version' },
        ExpressionAttributeValues: { ':expected': expectedVersion },
      });
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw new ConflictError(`integration ${next.id} changed since version ${expectedVersion}`, {
        cause: error,
      });
    }
    return stored;
  }

  async delete(integration: Integration): Promise<void> {
    try {
      await this.table.delete({
        Key: keyOf(integration.id),
        ConditionExpression: '#version = :expected',
        ExpressionAttributeNames: { '#version': 'version' },
        ExpressionAttributeValues: { ':expected': integration.version },
      });
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw new ConflictError(`integration ${integration.id} changed`, { cause: error });
    }
  }

  /**
   * One page of an organization's integrations in console order, from the by_list index. Stored fields
   * narrow in the query's filter; `accept` narrows by anything derived (the status); pages fill across index
   * pages. The index holds keys and list fields only, so each page's items are then read whole, in order.
   */
  async list(orgId: string, options: IntegrationListOptions): Promise<Page<Integration>> {
    const filters: string[] = [];
    const values: Record<string, unknown> = { ':list': listPartition(orgId) };
    if (options.kind) {
      filters.push('kind = :kind');
      values[':kind'] = options.kind;
    }
    if (options.vendor) {
      filters.push('vendor = :vendor');
      values[':vendor'] = options.vendor;
    }
    if (options.nameContains) {
      filters.push('contains(name_lc, :q)');
      values[':q'] = options.nameContains.toLowerCase();
    }
    let start: Row | undefined;
    if (options.cursor) {
      const cursor = decodeCursor(options.cursor);
      if (!isIssuedId(cursor.i) || !cursor.s.endsWith(`${LIST_SEPARATOR}${cursor.i}`))
        throw new ValidationError('cursor is not valid', 'cursor');
      start = { ...keyOf(cursor.i), list_pk: listPartition(orgId), list_sk: cursor.s };
    }
    return this.table.paged(
      {
        IndexName: INDEX.byList,
        KeyConditionExpression: 'list_pk = :list',
        ExpressionAttributeValues: values,
        ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
        ExclusiveStartKey: start,
      },
      options.limit,
      async (rows) => {
        const refs = rows.map((row) => ({ org_id: orgId, id: row.id as string }));
        const whole = new Map((await this.getMany(refs, false)).map((found) => [found.id, found]));
        return rows.map((row) => whole.get(row.id as string) ?? null);
      },
      (row) => ({ s: row.list_sk as string, i: row.id as string }),
      options.accept,
    );
  }

  /**
   * An integration found by its id alone, whatever its organization (the credential verifier only knows the id
   * in the URL): one GetItem. Tenancy is the caller's to enforce; the id is random, so it names at most one.
   */
  async byId(id: string, consistent = false): Promise<Integration | null> {
    if (!isIssuedId(id)) return null;
    const row = await this.table.get(keyOf(id), consistent);
    return row ? toIntegration(row) : null;
  }

  /** The id of an organization's `source: lapi` integration with this name, from the by_lapi index. */
  async lapiIntegrationId(orgId: string, name: string): Promise<string | null> {
    const { rows } = await this.table.query({
      IndexName: INDEX.byLapiName,
      KeyConditionExpression: 'lapi_name = :name',
      ExpressionAttributeValues: { ':name': `${orgId}#${name}` },
      Limit: 1,
    });
    const sk = rows[0]?.sk;
    return typeof sk === 'string' ? sk.slice('INT#'.length) : null;
  }

  /**
   * Integrations of one shard of the by_due index (or of all) whose check time has come: the rule pass's
   * candidates. The index holds keys only, so the items are then read whole (strongly consistent: the pass
   * decides on them).
   */
  async due(now: Iso, shard?: number): Promise<Integration[]> {
    return this.byIds(await this.dueIds(now, shard), true);
  }

  /** The ids of the integrations (of one shard, or of all) whose check time is at most `until`: keys only. */
  async dueIds(until: Iso, shard?: number): Promise<string[]> {
    const rows = await this.table.dueRows(
      { name: INDEX.byDue, shard: 'due_shard', at: 'due_at' },
      shard === undefined ? ALL_SHARDS : [shard],
      until,
    );
    return rows.map((row) => (row.pk as string).slice('INT#'.length));
  }

  /**
   * Moves integrations written by versions before the id keys (ORG#{org} / INT#{id}, found through the retired
   * by_lookup index, which only they populate) to their id key, with the new index attributes. Idempotent and
   * safe to run concurrently and to resume after a crash: each is copied (unless a copy at least as new is
   * there), then the old item is deleted only if it has not changed since it was read; otherwise it is copied
   * again. The old check time (`check_at`) becomes the new one as it is. Runs when local data opens and by the
   * `migrate` operator command in AWS (one Scan request when nothing is left). Returns how many were moved.
   */
  async moveToIdKeys(): Promise<number> {
    if (this.moved) return 0;
    const legacy = await this.table.scanAll({ IndexName: INDEX.byLookup });
    let count = 0;
    for (const entry of legacy) {
      const key = { pk: entry.pk as string, sk: entry.sk as string };
      for (let attempt = 0; attempt < 5; attempt += 1) {
        const row = await this.table.get(key, true);
        if (!row) break;
        const integration = {
          ...toIntegration(row),
          due_at: typeof row.check_at === 'string' ? row.check_at : null,
        };
        await this.table.conditionally(
          this.table.put({
            Item: itemOf(integration),
            ConditionExpression: 'attribute_not_exists(pk) OR #version < :version',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':version': integration.version },
          }),
        );
        const deleted = await this.table.conditionally(
          this.table.delete({
            Key: legacyKeyOf(integration.org_id, integration.id),
            ConditionExpression: '#version = :version',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':version': integration.version },
          }),
        );
        if (deleted) {
          count += 1;
          break;
        }
      }
    }
    this.moved = legacy.length === 0 || count === legacy.length;
    return count;
  }
}
