import { bucketOf, isIssuedId } from '../crypto.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import { decodeCursor, isConditionFailure, type Page, type Row, type Table } from '../table/index.ts';
import { orgOfPartition, orgPartition } from '../table/keys.ts';
import { INDEX, SHARDS } from '../table/schema.ts';
import type { Iso } from '../time.ts';
import { consoleRank, Integration, nextCheckAt } from './index.ts';

/** Names cannot hold control characters, so this separator sorts below anything a name contains. */
const LIST_SEPARATOR = '\u0001';

const keyOf = (orgId: string, id: string) => ({ pk: orgPartition(orgId), sk: `INT#${id}` });
const listPartition = (orgId: string) => `INT#${orgId}`;

/** An integration as stored: the schema drops the attributes that key the indexes and fills later defaults. */
const toIntegration = (row: Row): Integration => Integration.parse(row);

/**
 * The item of an integration: its facts, plus the attributes that place it in the indexes (the schedule
 * index's check time, the list order, the id and lapi-name lookups).
 */
function itemOf(integration: Integration, now: Iso): Row {
  const checkAt = nextCheckAt(integration, now);
  return {
    ...keyOf(integration.org_id, integration.id),
    entity: 'integration',
    lookup_id: integration.id,
    ...(integration.source === 'lapi' ? { lapi_name: `${integration.org_id}#${integration.name}` } : {}),
    list_pk: listPartition(integration.org_id),
    list_sk: [consoleRank(integration), integration.name.toLowerCase(), integration.id].join(LIST_SEPARATOR),
    name_lc: integration.name.toLowerCase(),
    ...integration,
    ...(checkAt === null ? {} : { check_shard: String(bucketOf(integration.id, SHARDS)), check_at: checkAt }),
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
  /** Integration id -> organization. Never changes for an id, so it is safe to keep for the process. */
  private readonly orgOfIntegration = new Map<string, string>();

  constructor(private readonly table: Table) {}

  async create(integration: Integration, now: Iso): Promise<void> {
    await this.table.put({ Item: itemOf(integration, now), ConditionExpression: 'attribute_not_exists(pk)' });
  }

  async get(orgId: string, id: string): Promise<Integration | null> {
    if (!isIssuedId(id)) return null;
    const row = await this.table.get(keyOf(orgId, id), true);
    return row ? toIntegration(row) : null;
  }

  /** A batch read (strongly consistent unless told otherwise); missing ones are simply absent. */
  async getMany(refs: Array<{ org_id: string; id: string }>, consistent = true): Promise<Integration[]> {
    const rows = await this.table.batchGet(
      refs.map((ref) => keyOf(ref.org_id, ref.id)),
      consistent,
    );
    return rows.map(toIntegration);
  }

  /**
   * Writes the integration as `next` if nobody changed it since `expectedVersion` was read.
   * Returns the stored integration (with its new version); throws ConflictError otherwise.
   */
  async save(next: Integration, expectedVersion: number, now: Iso): Promise<Integration> {
    const stored: Integration = { ...next, version: expectedVersion + 1 };
    try {
      await this.table.put({
        Item: itemOf(stored, now),
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
        Key: keyOf(integration.org_id, integration.id),
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
      start = { ...keyOf(orgId, cursor.i), list_pk: listPartition(orgId), list_sk: cursor.s };
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

  /** The organization that owns an integration id, from the lookup index (the ingest only knows the id). */
  async orgOf(integrationId: string): Promise<string | null> {
    if (!isIssuedId(integrationId)) return null;
    const cached = this.orgOfIntegration.get(integrationId);
    if (cached) return cached;
    const { rows } = await this.table.query({
      IndexName: INDEX.byLookup,
      KeyConditionExpression: 'lookup_id = :id',
      ExpressionAttributeValues: { ':id': integrationId },
      Limit: 1,
    });
    const pk = rows[0]?.pk;
    if (typeof pk !== 'string') return null;
    const orgId = orgOfPartition(pk);
    this.orgOfIntegration.set(integrationId, orgId);
    return orgId;
  }

  /**
   * An integration found by its id alone, whatever its organization (the credential verifier only knows the id
   * in the URL). Tenancy is the caller's to enforce; the id is random, so it names at most one integration.
   */
  async byId(id: string, consistent = false): Promise<Integration | null> {
    const orgId = await this.orgOf(id);
    if (orgId === null) return null;
    const row = await this.table.get(keyOf(orgId, id), consistent);
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

  /** Integrations whose next check time has come: the rule pass's candidates. */
  async due(now: Iso): Promise<Integration[]> {
    const rows = await this.table.dueRows(
      { name: INDEX.byCheck, shard: 'check_shard', at: 'check_at' },
      SHARDS,
      now,
    );
    return rows.map(toIntegration);
  }
}
