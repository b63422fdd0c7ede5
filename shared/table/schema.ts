/**
 * The single-table design. One definition, used by the store, the local table bootstrap and the CDK stack.
 *
 *   pk                     sk              what
 *   ORG#{org}              ORG             organization
 *   INT#{id}               INT#{id}        integration: settings, credential hashes, pull facts, open issues
 *                                          (keyed by id, so the ingest and the credential verifier, which only
 *                                          know the id, read it with one GetItem or BatchGet; tenancy is
 *                                          checked on read. Older versions keyed it ORG#{org} / INT#{id}: see
 *                                          `moveIntegrationsToIdKeys` in integration/data.ts)
 *   ORG#{org}              ISSUE#{id}      issue, with its own notification (outbox) record
 *   ORG#{org}              OUTAGE#{scope}  the latest shared outage of an engine or of the organization (outage/)
 *   APIKEY#{hmac}          APIKEY          API key, found by the keyed hash of the presented key
 *   FILE#{source key}      FILE            ingest ledger: one entry per pull-log file or S3 object
 *   DEPLOYMENT             CYCLE           last cycle outcome and pull-log freshness (for /v1/health)
 *   PULLS#{integration id} PULLS#{day}     pull history of one UTC day: minute bitmaps per hour, string sets
 *                                          only ever ADDed to; expire by TTL (`expires_at`) after ~9 days
 *
 * Sparse indexes (an item is in an index only while it carries the index's key attributes):
 *   by_due     (due_shard, due_at)        integrations the rule pass must look at by a given time. Keys only: a
 *                                         write that keeps `due_at` (a pull, see `scheduledCheckAt`) costs no
 *                                         index write at all
 *   by_outbox  (outbox_shard, outbox_at)  issues with an undelivered notification
 *   by_lookup                             retired (id keys replace it): no item this version writes carries its
 *                                         key. It stays only so the one-off move to id keys (the `migrate`
 *                                         operator command, and local data as it opens) finds the items written
 *                                         before it. (by_check, retired with it, is gone: CloudFormation removes
 *                                         that one GSI in the update.)
 *   by_lapi    (lapi_name)                "{org}#{name}" of a `source: lapi` integration, for bouncer snapshots
 *   by_list    (list_pk, list_sk)         an organization's integrations in console order (alert state, then
 *                                         name) and its API keys: pages without reading the whole partition
 */
import type { CreateTableCommandInput, GlobalSecondaryIndex } from '@aws-sdk/client-dynamodb';

export const INDEX = {
  byDue: 'by_due',
  byOutbox: 'by_outbox',
  /** Retired: see above. */
  byLookup: 'by_lookup',
  byLapiName: 'by_lapi',
  byList: 'by_list',
} as const;

/** The TTL attribute (epoch seconds): items carrying it are deleted by DynamoDB after that time. */
export const TTL_ATTRIBUTE = 'expires_at';

/** Shards spread the schedule indexes over several partitions; each pass queries them all. */
export const SHARDS = 4;
/** Every shard number, 0 to SHARDS - 1. */
export const ALL_SHARDS: readonly number[] = Array.from({ length: SHARDS }, (_, shard) => shard);

export interface KeyAttribute {
  name: string;
  type: 'S';
}

export interface IndexDefinition {
  name: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  /** ALL, KEYS_ONLY, or the keys plus these attributes (an index item is rewritten only when they change). */
  projection: 'ALL' | 'KEYS_ONLY' | { include: string[] };
}

export const TABLE = {
  partitionKey: { name: 'pk', type: 'S' } as KeyAttribute,
  sortKey: { name: 'sk', type: 'S' } as KeyAttribute,
  indexes: [
    {
      name: INDEX.byDue,
      partitionKey: { name: 'due_shard', type: 'S' },
      sortKey: { name: 'due_at', type: 'S' },
      // Keys only: DynamoDB writes an index entry only when the write changes the entry's key or a projected
      // attribute (Developer Guide, "Global secondary indexes", section on provisioned throughput: writes).
      projection: 'KEYS_ONLY',
    },
    {
      name: INDEX.byOutbox,
      partitionKey: { name: 'outbox_shard', type: 'S' },
      sortKey: { name: 'outbox_at', type: 'S' },
      projection: 'ALL',
    },
    {
      name: INDEX.byLookup,
      partitionKey: { name: 'lookup_id', type: 'S' },
      projection: 'KEYS_ONLY',
    },
    {
      name: INDEX.byList,
      partitionKey: { name: 'list_pk', type: 'S' },
      sortKey: { name: 'list_sk', type: 'S' },
      // Only what lists filter and show without the item: pulls (every cycle) then do not rewrite this index.
      projection: {
        include: [
          'id',
          'kind',
          'vendor',
          'name_lc',
          'key_id',
          'org_id',
          'scope',
          'created_at',
          'last_used_at',
        ],
      },
    },
    {
      name: INDEX.byLapiName,
      partitionKey: { name: 'lapi_name', type: 'S' },
      projection: 'KEYS_ONLY',
    },
  ] satisfies IndexDefinition[],
};

/** An index as DynamoDB's CreateTable and DescribeTable spell it: name, key schema, projection. */
export function indexSchema(index: IndexDefinition): GlobalSecondaryIndex {
  return {
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
      ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' as const }] : []),
    ],
    Projection:
      typeof index.projection === 'string'
        ? { ProjectionType: index.projection }
        : { ProjectionType: 'INCLUDE', NonKeyAttributes: index.projection.include },
  };
}

/** CreateTable's input for the table with these indexes (the schema's unless told: tests build older ones). */
export function createTableInput(
  name: string,
  indexes: IndexDefinition[] = TABLE.indexes,
): CreateTableCommandInput {
  const attributes = new Map<string, 'S'>();
  for (const key of [
    TABLE.partitionKey,
    TABLE.sortKey,
    ...indexes.flatMap((index) => [index.partitionKey, index.sortKey]),
  ]) {
    if (key) attributes.set(key.name, key.type);
  }
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({
      AttributeName,
      AttributeType,
    })),
    KeySchema: [
      { AttributeName: TABLE.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: TABLE.sortKey.name, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: indexes.map(indexSchema),
  };
}
