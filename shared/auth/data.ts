import { omit, type Table } from '../table/index.ts';
import { INDEX } from '../table/schema.ts';
import type { Iso } from '../time.ts';

export type KeyScope = 'read' | 'write';

export interface ApiKeyRecord {
  key_id: string;
  org_id: string;
  scope: KeyScope;
  /** Keyed hash of the key: the key itself is never stored. */
  hash: string;
  created_at: Iso;
}

const keyOf = (hash: string) => ({ pk: `APIKEY#${hash}`, sk: 'APIKEY' });
const keyList = (orgId: string) => `KEY#${orgId}`;

export type ApiKeySummary = Omit<ApiKeyRecord, 'hash'> & { last_used_at: Iso | null };

/**
 * How long this process answers a key from memory. A key revoked through another process (another Lambda
 * instance, the CLI beside the local server) still works here for at most this long; revoked through this
 * process, it stops at once. Saves the API one DynamoDB round trip per request.
 */
export const KEY_CACHE_SECONDS = 30;

type StoredKey = ApiKeyRecord & { last_used_at?: Iso };

/** API keys, found by the keyed hash of the presented key and listed per organization through by_list. */
export class ApiKeys {
  /** Keys found recently, by hash, with the time (by the caller's clock) until which they may be used unread. */
  private readonly recent = new Map<string, { record: StoredKey; until: number }>();

  constructor(private readonly table: Table) {}

  async put(record: ApiKeyRecord): Promise<void> {
    await this.table.put({
      Item: {
        ...keyOf(record.hash),
        entity: 'api_key',
        list_pk: keyList(record.org_id),
        list_sk: `${record.created_at}#${record.key_id}`,
        ...record,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
  }

  /**
   * The key with this hash. Given `now`, a key found within the last KEY_CACHE_SECONDS is answered from memory
   * (unknown keys never are: a guess always costs a read, and a new key works at once).
   */
  async byHash(hash: string, now?: Iso): Promise<StoredKey | null> {
    const at = now === undefined ? null : Date.parse(now);
    const cached = this.recent.get(hash);
    if (at !== null && cached && at < cached.until && at >= cached.until - KEY_CACHE_SECONDS * 1000) {
      return cached.record;
    }
    const row = await this.table.get(keyOf(hash));
    const record = row
      ? (omit(row, ['pk', 'sk', 'entity', 'list_pk', 'list_sk']) as unknown as StoredKey)
      : null;
    if (record && at !== null) {
      if (this.recent.size >= 1000) this.recent.clear();
      this.recent.set(hash, { record, until: at + KEY_CACHE_SECONDS * 1000 });
    } else this.recent.delete(hash);
    return record;
  }

  async list(orgId: string): Promise<ApiKeySummary[]> {
    const rows = await this.table.queryAll({
      IndexName: INDEX.byList,
      KeyConditionExpression: 'list_pk = :list',
      ExpressionAttributeValues: { ':list': keyList(orgId) },
    });
    return rows.map((row) => ({
      key_id: row.key_id as string,
      org_id: row.org_id as string,
      scope: row.scope as ApiKeyRecord['scope'],
      created_at: row.created_at as Iso,
      last_used_at: (row.last_used_at as Iso | undefined) ?? null,
    }));
  }

  /** Deletes an organization's key by id; false if it has no such key. */
  async revoke(orgId: string, keyId: string): Promise<boolean> {
    const rows = await this.table.queryAll({
      IndexName: INDEX.byList,
      KeyConditionExpression: 'list_pk = :list',
      FilterExpression: 'key_id = :key',
      ExpressionAttributeValues: { ':list': keyList(orgId), ':key': keyId },
    });
    const row = rows[0];
    if (!row) return false;
    this.recent.delete(String(row.pk).slice('APIKEY#'.length));
    return this.table.conditionally(
      this.table.delete({
        Key: { pk: row.pk, sk: row.sk },
        ConditionExpression: 'org_id = :org AND key_id = :key',
        ExpressionAttributeValues: { ':org': orgId, ':key': keyId },
      }),
    );
  }

  /** Records a key's use at most once per `everySeconds`, so busy keys do not cost a write per request. */
  async touch(hash: string, at: Iso, everySeconds: number): Promise<void> {
    const before = new Date(Date.parse(at) - everySeconds * 1000).toISOString();
    const cached = this.recent.get(hash);
    if (cached) cached.record = { ...cached.record, last_used_at: at };
    await this.table.conditionally(
      this.table.update({
        Key: keyOf(hash),
        UpdateExpression: 'SET last_used_at = :at',
        ConditionExpression:
          'attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :before)',
        ExpressionAttributeValues: { ':at': at, ':before': before },
      }),
    );
  }
}
