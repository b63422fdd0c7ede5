import { omit, type Table } from '../table/index.ts';
import { INDEX } from '../table/schema.ts';
import type { Iso } from '../time.ts';
import type { ApiKeyRecord } from './index.ts';

const keyOf = (hash: string) => ({ pk: `APIKEY#${hash}`, sk: 'APIKEY' });
const keyList = (orgId: string) => `KEY#${orgId}`;

export type ApiKeySummary = Omit<ApiKeyRecord, 'hash'> & { last_used_at: Iso | null };

/** API keys, found by the keyed hash of the presented key and listed per organization through by_list. */
export class ApiKeys {
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

  async byHash(hash: string): Promise<(ApiKeyRecord & { last_used_at?: Iso }) | null> {
    const row = await this.table.get(keyOf(hash));
    return row ? (omit(row, ['pk', 'sk', 'entity', 'list_pk', 'list_sk']) as unknown as ApiKeyRecord) : null;
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
