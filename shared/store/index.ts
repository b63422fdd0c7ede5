import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { bucketOf } from '../crypto.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import { type Integration, nextCheckAt } from '../integration/index.ts';
import type { Issue, IssueState, NotificationEvent, Resolution } from '../issue/index.ts';
import type { Iso } from '../time.ts';
import { INDEX, SHARDS, TABLE } from './schema.ts';

export interface Organization {
  id: string;
  name: string;
  created_at: Iso;
}

export type KeyScope = 'read' | 'write';

export interface ApiKeyRecord {
  key_id: string;
  org_id: string;
  scope: KeyScope;
  /** Keyed hash of the key: the key itself is never stored. */
  hash: string;
  created_at: Iso;
}

export interface LedgerEntry {
  key: string;
  /** processing: a run holds it until lease_until; retry: unreadable, tried again from retry_at; set_aside: given up. */
  status: 'processing' | 'done' | 'retry' | 'set_aside';
  lease_until: Iso | null;
  retry_at: Iso | null;
  attempts: number;
  done_at: Iso | null;
  error?: string;
}

/** Counts only: what the last ingest read (no tenant data, safe for the unauthenticated health route). */
export interface IngestCounts {
  at: Iso;
  files_processed: number;
  files_failed: number;
  files_set_aside: number;
  lines: number;
  records: number;
  skipped: Record<string, number>;
}

export interface DeploymentState {
  last_cycle_at: Iso | null;
  last_cycle_outcome: 'ok' | 'failed' | null;
  newest_record_at: Iso | null;
  last_ingest: IngestCounts | null;
  /** The open pipeline_stale issue, if any, and how many have been resolved (keeps new ids new). */
  pipeline_issue: { id: string; opened_at: Iso } | null;
  pipeline_seq: number;
}

/** One audit record: who did what to an integration, when, in which request. Never holds a secret. */
export interface AuditEvent {
  integration_id: string;
  at: Iso;
  type:
    | 'created'
    | 'credentials_refreshed'
    | 'previous_password_expired'
    | 'updated'
    | 'paused'
    | 'resumed'
    | 'deleted';
  actor: string;
  request_id: string | null;
  detail: Record<string, string | number | boolean | null>;
}

/** One recorded change of an integration: an issue opened or resolved, a pause, a credential refresh. */
export interface Transition {
  integration_id: string;
  at: Iso;
  kind: 'issue_opened' | 'issue_resolved' | 'paused' | 'resumed';
  issue_id: string | null;
  issue_type: string | null;
  from_status: string;
  to_status: string;
  reason: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Counts of requests and consumed capacity per operation label, for tests and benchmarks. */
export interface StoreUsage {
  requests: Record<string, number>;
  readUnits: number;
  writeUnits: number;
}

const orgPk = (orgId: string) => `ORG#${orgId}`;
/** Ids we issue look like `int_0f3a...`; anything else cannot exist, so it is not looked up. */
const PLAUSIBLE_ID = /^[a-z]{2,5}_[0-9a-f]{8,40}$/;
const shardOf = (id: string) => String(bucketOf(id, SHARDS));
const BATCH_GET_LIMIT = 100;

interface BatchGetOutput {
  Responses?: Record<string, Array<Record<string, unknown>>>;
  UnprocessedKeys?: Record<string, { Keys?: Array<Record<string, unknown>> }>;
}

// Attributes that exist only to key the table or its indexes; they never leave the store.
const STORAGE_ATTRIBUTES = [
  'pk',
  'sk',
  'entity',
  'lookup_id',
  'lapi_name',
  'list_pk',
  'list_sk',
  'name_lc',
  'check_shard',
  'check_at',
  'outbox_shard',
  'outbox_at',
  'claim_token',
  'claim_until',
  'last_error',
  'delivery_attempts',
] as const;

function strip<T>(item: Record<string, unknown>): T {
  const copy: Record<string, unknown> = { ...item };
  for (const attribute of STORAGE_ATTRIBUTES) delete copy[attribute];
  return copy as T;
}

/**
 * Console order: open critical issues first, then early warnings, never pulled, healthy, paused. It is the
 * alert state as last written (the rule pass rewrites it within a cycle of any change), not the clock.
 */
/** Names cannot hold control characters, so this separator sorts below anything a name contains. */
const LIST_SEPARATOR = '\u0001';

function listRank(integration: Integration): number {
  if (integration.paused) return 5;
  const open = Object.keys(integration.open_issues);
  if (open.some((type) => type !== 'integration_auth_failing')) return 1;
  if (open.length > 0) return 2;
  return integration.last_pull_at === null ? 3 : 4;
}

/** An integration as stored, with defaults for fields added after it was written. */
function toIntegration(item: Record<string, unknown>): Integration {
  const defaults: Partial<Integration> = {
    last_attempt_ip: null,
    last_attempt_user_agent: null,
    rejections: [],
    lapi: null,
    snoozed_until: null,
    issue_seq: 0,
  };
  return { ...defaults, ...strip<Integration>(item) };
}

const isConditionFailure = (error: unknown) =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === 'ConditionalCheckFailedException');

/** What a cursor holds: the sort position (`s`) and id (`i`) of the last item a page returned. */
interface Cursor {
  s: string;
  i: string;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): Cursor {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof decoded === 'object' && decoded !== null) {
      const { s, i } = decoded as Record<string, unknown>;
      if (typeof s === 'string' && typeof i === 'string' && s.length <= 400) return { s, i };
    }
  } catch {
    // fall through to the validation error
  }
  throw new ValidationError('cursor is not valid', 'cursor');
}

/**
 * All DynamoDB access of pullwatch. Every write that changes a state is conditional on the state it read
 * (single-item conditional writes only: no transactions, no streams), so concurrent runs cannot both win.
 */
export class Store {
  readonly doc: DynamoDBDocumentClient;
  readonly usage: StoreUsage = { requests: {}, readUnits: 0, writeUnits: 0 };
  /** Integration id -> organization. Never changes for an id, so it is safe to keep for the process. */
  private readonly orgOfIntegration = new Map<string, string>();

  constructor(
    readonly client: DynamoDBClient,
    readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  // biome-ignore lint/suspicious/noExplicitAny: the document client's commands share no useful common type
  private async send<T>(label: string, command: any): Promise<T> {
    command.input.ReturnConsumedCapacity = 'TOTAL';
    this.usage.requests[label] = (this.usage.requests[label] ?? 0) + 1;
    const output = (await this.doc.send(command)) as { ConsumedCapacity?: unknown };
    const consumed = [output.ConsumedCapacity].flat().filter(Boolean) as Array<{
      ReadCapacityUnits?: number;
      WriteCapacityUnits?: number;
      CapacityUnits?: number;
    }>;
    for (const entry of consumed) {
      const isRead = label.startsWith('read.');
      const units = entry.CapacityUnits ?? 0;
      if (isRead) this.usage.readUnits += entry.ReadCapacityUnits ?? units;
      else this.usage.writeUnits += entry.WriteCapacityUnits ?? units;
    }
    return output as T;
  }

  /** A conditional write: true if it happened, false if its condition did not hold. */
  private async tryWrite(label: string, command: unknown): Promise<boolean> {
    try {
      await this.send(label, command);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  // ---- table -------------------------------------------------------------------------------------

  /** Creates the table if it does not exist (local runner and tests; in AWS the stack owns it). */
  async ensureTable(): Promise<void> {
    try {
      await this.client.send(new DescribeTableCommand({ TableName: this.tableName }));
      return;
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
    const attributes = new Map<string, 'S'>();
    const remember = (key: { name: string; type: 'S' } | undefined) => {
      if (key) attributes.set(key.name, key.type);
    };
    remember(TABLE.partitionKey);
    remember(TABLE.sortKey);
    for (const index of TABLE.indexes) {
      remember(index.partitionKey);
      remember(index.sortKey);
    }
    try {
      await this.client.send(
        new CreateTableCommand({
          TableName: this.tableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({
            AttributeName,
            AttributeType,
          })),
          KeySchema: [
            { AttributeName: TABLE.partitionKey.name, KeyType: 'HASH' },
            { AttributeName: TABLE.sortKey.name, KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: TABLE.indexes.map((index) => ({
            IndexName: index.name,
            KeySchema: [
              { AttributeName: index.partitionKey.name, KeyType: 'HASH' as const },
              ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' as const }] : []),
            ],
            Projection:
              typeof index.projection === 'string'
                ? { ProjectionType: index.projection }
                : { ProjectionType: 'INCLUDE', NonKeyAttributes: index.projection.include },
          })),
        }),
      );
    } catch (error) {
      // Another process created it first: fine.
      if (!(error instanceof Error && error.name === 'ResourceInUseException')) throw error;
    }
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const { Table } = await this.client.send(new DescribeTableCommand({ TableName: this.tableName }));
      if (Table?.TableStatus === 'ACTIVE') return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`table ${this.tableName} did not become active`);
  }

  // ---- organizations and keys --------------------------------------------------------------------

  async createOrg(org: Organization): Promise<void> {
    await this.send(
      'write.org',
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: orgPk(org.id), sk: 'ORG', entity: 'org', ...org },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async getOrg(orgId: string): Promise<Organization | null> {
    const { Item } = await this.send<{ Item?: Record<string, unknown> }>(
      'read.org',
      new GetCommand({ TableName: this.tableName, Key: { pk: orgPk(orgId), sk: 'ORG' } }),
    );
    return Item ? strip<Organization>(Item) : null;
  }

  async putApiKey(record: ApiKeyRecord): Promise<void> {
    await this.send(
      'write.key',
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: `APIKEY#${record.hash}`,
          sk: 'APIKEY',
          entity: 'api_key',
          list_pk: `KEY#${record.org_id}`,
          list_sk: `${record.created_at}#${record.key_id}`,
          ...record,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async getApiKey(hash: string): Promise<ApiKeyRecord | null> {
    const { Item } = await this.send<{ Item?: Record<string, unknown> }>(
      'read.key',
      new GetCommand({ TableName: this.tableName, Key: { pk: `APIKEY#${hash}`, sk: 'APIKEY' } }),
    );
    return Item ? strip<ApiKeyRecord>(Item) : null;
  }

  // ---- integrations ------------------------------------------------------------------------------

  private integrationItem(integration: Integration, now: Iso): Record<string, unknown> {
    const checkAt = nextCheckAt(integration, now);
    return {
      pk: orgPk(integration.org_id),
      sk: `INT#${integration.id}`,
      entity: 'integration',
      lookup_id: integration.id,
      ...(integration.source === 'lapi' ? { lapi_name: `${integration.org_id}#${integration.name}` } : {}),
      list_pk: `INT#${integration.org_id}`,
      list_sk: [listRank(integration), integration.name.toLowerCase(), integration.id].join(LIST_SEPARATOR),
      name_lc: integration.name.toLowerCase(),
      ...integration,
      ...(checkAt === null ? {} : { check_shard: shardOf(integration.id), check_at: checkAt }),
    };
  }

  async createIntegration(integration: Integration, now: Iso): Promise<void> {
    await this.send(
      'write.integration.create',
      new PutCommand({
        TableName: this.tableName,
        Item: this.integrationItem(integration, now),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async getIntegration(orgId: string, id: string): Promise<Integration | null> {
    if (!PLAUSIBLE_ID.test(id)) return null;
    const { Item } = await this.send<{ Item?: Record<string, unknown> }>(
      'read.integration',
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: orgPk(orgId), sk: `INT#${id}` },
        ConsistentRead: true,
      }),
    );
    return Item ? toIntegration(Item) : null;
  }

  /** Strongly consistent batch read; missing ones are simply absent from the result. */
  async getIntegrations(
    refs: Array<{ org_id: string; id: string }>,
    consistent = true,
  ): Promise<Integration[]> {
    const found: Integration[] = [];
    for (let start = 0; start < refs.length; start += BATCH_GET_LIMIT) {
      let keys: Array<Record<string, unknown>> | undefined = refs
        .slice(start, start + BATCH_GET_LIMIT)
        .map((ref) => ({ pk: orgPk(ref.org_id), sk: `INT#${ref.id}` }));
      for (let attempt = 0; keys && keys.length > 0; attempt += 1) {
        if (attempt > 0)
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
        const output: BatchGetOutput = await this.send<BatchGetOutput>(
          'read.integration.batch',
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: consistent } },
          }),
        );
        for (const item of output.Responses?.[this.tableName] ?? []) found.push(toIntegration(item));
        keys = output.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return found;
  }

  /**
   * Writes the integration as `next` if nobody changed it since `expectedVersion` was read.
   * Returns the stored integration (with its new version); throws ConflictError otherwise.
   */
  async saveIntegration(next: Integration, expectedVersion: number, now: Iso): Promise<Integration> {
    const stored: Integration = { ...next, version: expectedVersion + 1 };
    try {
      await this.send(
        'write.integration',
        new PutCommand({
          TableName: this.tableName,
          Item: this.integrationItem(stored, now),
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':expected': expectedVersion },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError(`integration ${next.id} changed since version ${expectedVersion}`, {
          cause: error,
        });
      }
      throw error;
    }
    return stored;
  }

  async deleteIntegration(integration: Integration): Promise<void> {
    try {
      await this.send(
        'write.integration.delete',
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: orgPk(integration.org_id), sk: `INT#${integration.id}` },
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':expected': integration.version },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error))
        throw new ConflictError(`integration ${integration.id} changed`, { cause: error });
      throw error;
    }
  }

  /**
   * One page of an organization's integrations in console order, from the by_list index. `filter` narrows
   * by stored fields; `accept` by anything derived (the status); the page is filled across index pages.
   */
  async listIntegrations(
    orgId: string,
    options: {
      limit: number;
      cursor?: string;
      kind?: string;
      vendor?: string;
      nameContains?: string;
      accept?: (integration: Integration) => boolean;
    },
  ): Promise<Page<Integration>> {
    const filters: string[] = [];
    const values: Record<string, unknown> = { ':list': `INT#${orgId}` };
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
    const input: QueryCommandInput = {
      TableName: this.tableName,
      IndexName: INDEX.byList,
      KeyConditionExpression: 'list_pk = :list',
      ExpressionAttributeValues: values,
      ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
    };
    const start = options.cursor ? decodeCursor(options.cursor) : null;
    if (start) {
      const id = start.i;
      if (!PLAUSIBLE_ID.test(id) || !start.s.endsWith(`${LIST_SEPARATOR}${id}`))
        throw new ValidationError('cursor is not valid', 'cursor');
      input.ExclusiveStartKey = {
        pk: orgPk(orgId),
        sk: `INT#${id}`,
        list_pk: `INT#${orgId}`,
        list_sk: start.s,
      };
    }
    // The index holds keys and list fields only; each page's items are then read whole, in index order.
    return this.paged(
      'read.integration.list',
      input,
      options.limit,
      async (rows) => {
        const refs = rows.map((row) => ({ org_id: orgId, id: row.id as string }));
        const whole = new Map((await this.getIntegrations(refs, false)).map((found) => [found.id, found]));
        return rows.map((row) => whole.get(row.id as string) ?? null);
      },
      (row) => ({ s: row.list_sk as string, i: row.id as string }),
      options.accept,
    );
  }

  /** The organization that owns an integration id, from the lookup index (the ingest only knows the id). */
  async findIntegrationOrg(integrationId: string): Promise<string | null> {
    if (!PLAUSIBLE_ID.test(integrationId)) return null;
    const cached = this.orgOfIntegration.get(integrationId);
    if (cached) return cached;
    const { Items } = await this.send<{ Items?: Array<Record<string, unknown>> }>(
      'read.integration.lookup',
      new QueryCommand({
        TableName: this.tableName,
        IndexName: INDEX.byLookup,
        KeyConditionExpression: 'lookup_id = :id',
        ExpressionAttributeValues: { ':id': integrationId },
        Limit: 1,
      }),
    );
    const pk = Items?.[0]?.pk;
    if (typeof pk !== 'string') return null;
    const orgId = pk.slice('ORG#'.length);
    this.orgOfIntegration.set(integrationId, orgId);
    return orgId;
  }

  /** The id of an organization's `source: lapi` integration with this name, from the by_lapi index. */
  async findLapiIntegration(orgId: string, name: string): Promise<string | null> {
    const { Items } = await this.send<{ Items?: Array<Record<string, unknown>> }>(
      'read.integration.lookup',
      new QueryCommand({
        TableName: this.tableName,
        IndexName: INDEX.byLapiName,
        KeyConditionExpression: 'lapi_name = :name',
        ExpressionAttributeValues: { ':name': `${orgId}#${name}` },
        Limit: 1,
      }),
    );
    const sk = Items?.[0]?.sk;
    return typeof sk === 'string' ? sk.slice('INT#'.length) : null;
  }

  /** Integrations whose next check time has come: the rule pass's candidates. */
  async dueIntegrations(now: Iso): Promise<Integration[]> {
    const items = await this.queryShards(
      'read.integration.due',
      INDEX.byCheck,
      'check_shard',
      'check_at',
      now,
    );
    return items.map(toIntegration);
  }

  // ---- issues and their notifications ------------------------------------------------------------

  /** Writes a new issue with its opening notification pending; false if an issue with this id exists. */
  async putIssueIfAbsent(issue: Issue): Promise<boolean> {
    return this.tryWrite(
      'write.issue.create',
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: orgPk(issue.org_id),
          sk: `ISSUE#${issue.id}`,
          entity: 'issue',
          ...issue,
          outbox_shard: shardOf(issue.id),
          outbox_at: issue.detected_at,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  /** Deletes an issue whose opening was never announced nor is being announced; false otherwise. */
  async deleteUnannouncedIssue(issue: Issue): Promise<boolean> {
    return this.tryWrite(
      'write.issue.delete',
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: orgPk(issue.org_id), sk: `ISSUE#${issue.id}` },
        ConditionExpression:
          'attribute_not_exists(notified.issue_opened) AND attribute_not_exists(claim_token)',
      }),
    );
  }

  /** Deletes an issue whose outbox we hold and whose opening was never announced; false otherwise. */
  async deleteClaimedUnannouncedIssue(issue: Issue, token: string): Promise<boolean> {
    return this.tryWrite(
      'write.issue.delete',
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: orgPk(issue.org_id), sk: `ISSUE#${issue.id}` },
        ConditionExpression: 'claim_token = :token AND attribute_not_exists(notified.issue_opened)',
        ExpressionAttributeValues: { ':token': token },
      }),
    );
  }

  async getIssue(orgId: string, issueId: string): Promise<Issue | null> {
    if (!PLAUSIBLE_ID.test(issueId)) return null;
    const { Item } = await this.send<{ Item?: Record<string, unknown> }>(
      'read.issue',
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: orgPk(orgId), sk: `ISSUE#${issueId}` },
        ConsistentRead: true,
      }),
    );
    return Item ? strip<Issue>(Item) : null;
  }

  /** Open -> resolved, with its resolution notification pending. False if it was not open. */
  async resolveIssue(orgId: string, issueId: string, at: Iso, resolution: Resolution): Promise<boolean> {
    return this.tryWrite(
      'write.issue.resolve',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: orgPk(orgId), sk: `ISSUE#${issueId}` },
        UpdateExpression:
          'SET #state = :resolved, resolved_at = :at, resolution = :resolution, outbox_shard = :shard, outbox_at = :at',
        ConditionExpression: '#state = :open',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':resolved': 'resolved',
          ':open': 'open',
          ':at': at,
          ':resolution': resolution,
          ':shard': shardOf(issueId),
        },
      }),
    );
  }

  async listIssues(
    orgId: string,
    options: { limit: number; cursor?: string; state?: IssueState; type?: string; integrationId?: string },
  ): Promise<Page<Issue>> {
    const filters: string[] = [];
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':pk': orgPk(orgId), ':prefix': 'ISSUE#' };
    if (options.state) {
      filters.push('#state = :state');
      names['#state'] = 'state';
      values[':state'] = options.state;
    }
    if (options.type) {
      filters.push('#type = :type');
      names['#type'] = 'type';
      values[':type'] = options.type;
    }
    if (options.integrationId) {
      filters.push('integration_id = :integration');
      values[':integration'] = options.integrationId;
    }
    const input: QueryCommandInput = {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: values,
      ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
      ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
    };
    const start = options.cursor ? decodeCursor(options.cursor) : null;
    if (start) {
      if (!PLAUSIBLE_ID.test(start.i)) throw new ValidationError('cursor is not valid', 'cursor');
      input.ExclusiveStartKey = { pk: orgPk(orgId), sk: `ISSUE#${start.i}` };
    }
    return this.paged(
      'read.issue.list',
      input,
      options.limit,
      async (rows) => rows.map((row) => strip<Issue>(row)),
      (row) => ({ s: '', i: row.id as string }),
    );
  }

  /** Issues with a notification due by `now`. */
  async dueNotifications(now: Iso): Promise<Issue[]> {
    const items = await this.queryShards('read.outbox.due', INDEX.byOutbox, 'outbox_shard', 'outbox_at', now);
    return items.map((item) => strip<Issue>(item));
  }

  /** Takes the issue's outbox for this worker until `until`; false if another worker holds it. */
  async claimNotification(issue: Issue, token: string, now: Iso, until: Iso): Promise<boolean> {
    return this.tryWrite(
      'write.outbox.claim',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: orgPk(issue.org_id), sk: `ISSUE#${issue.id}` },
        UpdateExpression: 'SET claim_token = :token, claim_until = :until',
        ConditionExpression:
          'attribute_exists(outbox_at) AND (attribute_not_exists(claim_until) OR claim_until < :now)',
        ExpressionAttributeValues: { ':token': token, ':until': until, ':now': now },
      }),
    );
  }

  /**
   * Records one delivered event. While more events of this issue are pending (`last` false) the claim is
   * kept. On the last one the claim is given back and the issue either leaves the outbox or, while it is open
   * and reminders are on, waits in it until `nextOutboxAt`. If the issue's state moved while we published
   * (it was resolved meanwhile), it is left due now so the next pass delivers the new event.
   */
  async completeNotification(
    issue: Issue,
    event: NotificationEvent,
    token: string,
    at: Iso,
    last: boolean,
    nextOutboxAt: Iso | null = null,
  ): Promise<void> {
    const base = {
      TableName: this.tableName,
      Key: { pk: orgPk(issue.org_id), sk: `ISSUE#${issue.id}` },
    };
    const counter =
      event === 'issue_reminder' ? ', reminders_sent = if_not_exists(reminders_sent, :zero) + :one' : '';
    const counterValues = event === 'issue_reminder' ? { ':zero': 0, ':one': 1 } : {};
    if (!last) {
      await this.send(
        'write.outbox.complete',
        new UpdateCommand({
          ...base,
          UpdateExpression: `SET notified.#event = :at${counter} REMOVE last_error`,
          ConditionExpression: 'claim_token = :token',
          ExpressionAttributeNames: { '#event': event },
          ExpressionAttributeValues: { ':at': at, ':token': token, ...counterValues },
        }),
      );
      return;
    }
    try {
      await this.send(
        'write.outbox.complete',
        new UpdateCommand({
          ...base,
          UpdateExpression:
            nextOutboxAt === null
              ? `SET notified.#event = :at${counter} REMOVE claim_token, claim_until, outbox_shard, outbox_at, last_error`
              : `SET notified.#event = :at, outbox_at = :next${counter} REMOVE claim_token, claim_until, last_error`,
          ConditionExpression: 'claim_token = :token AND #state = :state',
          ExpressionAttributeNames: { '#event': event, '#state': 'state' },
          ExpressionAttributeValues: {
            ':at': at,
            ':token': token,
            ':state': issue.state,
            ...(nextOutboxAt === null ? {} : { ':next': nextOutboxAt }),
            ...counterValues,
          },
        }),
      );
      return;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    await this.send(
      'write.outbox.complete',
      new UpdateCommand({
        ...base,
        UpdateExpression: `SET notified.#event = :at, outbox_shard = :shard, outbox_at = :at${counter} REMOVE claim_token, claim_until, last_error`,
        ConditionExpression: 'claim_token = :token',
        ExpressionAttributeNames: { '#event': event },
        ExpressionAttributeValues: {
          ':at': at,
          ':token': token,
          ':shard': shardOf(issue.id),
          ...counterValues,
        },
      }),
    );
  }

  /** Gives the claim back with nothing sent: the issue waits in the outbox until `nextOutboxAt`, or leaves it. */
  async releaseOutbox(issue: Issue, token: string, nextOutboxAt: Iso | null): Promise<void> {
    await this.tryWrite(
      'write.outbox.release',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: orgPk(issue.org_id), sk: `ISSUE#${issue.id}` },
        UpdateExpression:
          nextOutboxAt === null
            ? 'REMOVE claim_token, claim_until, outbox_shard, outbox_at'
            : 'SET outbox_at = :next REMOVE claim_token, claim_until',
        ConditionExpression: 'claim_token = :token AND #state = :state',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':token': token,
          ':state': issue.state,
          ...(nextOutboxAt === null ? {} : { ':next': nextOutboxAt }),
        },
      }),
    );
  }

  /** Gives the claim back after a failed delivery; the notification is tried again at `retryAt`. */
  async releaseNotification(issue: Issue, token: string, retryAt: Iso, reason: string): Promise<void> {
    // Our claim expired and someone else took it: they own the retry now.
    await this.tryWrite(
      'write.outbox.release',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: orgPk(issue.org_id), sk: `ISSUE#${issue.id}` },
        UpdateExpression:
          'SET outbox_at = :retry, last_error = :reason, delivery_attempts = if_not_exists(delivery_attempts, :zero) + :one REMOVE claim_token, claim_until',
        ConditionExpression: 'claim_token = :token',
        ExpressionAttributeValues: {
          ':retry': retryAt,
          ':reason': reason.slice(0, 500),
          ':zero': 0,
          ':one': 1,
          ':token': token,
        },
      }),
    );
  }

  /** The claim of an issue's outbox (tests and diagnostics). */
  async deliveryAttempts(
    orgId: string,
    issueId: string,
  ): Promise<{ attempts: number; last_error: string | null }> {
    const { Item } = await this.send<{ Item?: Record<string, unknown> }>(
      'read.issue',
      new GetCommand({ TableName: this.tableName, Key: { pk: orgPk(orgId), sk: `ISSUE#${issueId}` } }),
    );
    return {
      attempts: typeof Item?.delivery_attempts === 'number' ? Item.delivery_attempts : 0,
      last_error: typeof Item?.last_error === 'string' ? Item.last_error : null,
    };
  }

  // ---- ingest ledger -----------------------------------------------------------------------------

  async getLedger(keys: string[]): Promise<Map<string, LedgerEntry>> {
    const entries = new Map<string, LedgerEntry>();
    for (let start = 0; start < keys.length; start += BATCH_GET_LIMIT) {
      let batch: Array<Record<string, unknown>> | undefined = keys
        .slice(start, start + BATCH_GET_LIMIT)
        .map((key) => ({ pk: `FILE#${key}`, sk: 'FILE' }));
      while (batch && batch.length > 0) {
        const output: BatchGetOutput = await this.send<BatchGetOutput>(
          'read.ledger',
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: batch, ConsistentRead: true } } }),
        );
        for (const item of output.Responses?.[this.tableName] ?? []) {
          const entry = strip<LedgerEntry>(item);
          entries.set(entry.key, entry);
        }
        batch = output.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return entries;
  }

  /** Takes a file for this run: new, or abandoned by a run whose lease ran out. */
  async claimFile(key: string, runId: string, now: Iso, leaseUntil: Iso): Promise<boolean> {
    return this.tryWrite(
      'write.ledger.claim',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `FILE#${key}`, sk: 'FILE' },
        UpdateExpression:
          'SET #key = :key, entity = :entity, #status = :processing, lease_until = :lease, run_id = :run, attempts = if_not_exists(attempts, :zero) + :one, done_at = if_not_exists(done_at, :null)',
        ConditionExpression:
          'attribute_not_exists(pk) OR (#status = :processing AND lease_until < :now) OR (#status = :retry AND retry_at <= :now)',
        ExpressionAttributeNames: { '#key': 'key', '#status': 'status' },
        ExpressionAttributeValues: {
          ':key': key,
          ':entity': 'ledger',
          ':processing': 'processing',
          ':retry': 'retry',
          ':lease': leaseUntil,
          ':run': runId,
          ':zero': 0,
          ':one': 1,
          ':now': now,
          ':null': null,
        },
      }),
    );
  }

  async completeFile(key: string, runId: string, at: Iso, stats: Record<string, unknown>): Promise<void> {
    // Our lease ran out and another run took the file; its result is the same (ingest is idempotent).
    await this.tryWrite(
      'write.ledger.complete',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `FILE#${key}`, sk: 'FILE' },
        UpdateExpression: 'SET #status = :done, done_at = :at, stats = :stats REMOVE lease_until',
        ConditionExpression: 'run_id = :run AND #status = :processing',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':done': 'done',
          ':at': at,
          ':stats': stats,
          ':run': runId,
          ':processing': 'processing',
        },
      }),
    );
  }

  /** Records that this run could not read a file: tried again by the next run, or set aside for good. */
  async failFile(key: string, runId: string, at: Iso, error: string, setAside: boolean): Promise<void> {
    await this.tryWrite(
      'write.ledger.fail',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `FILE#${key}`, sk: 'FILE' },
        UpdateExpression: 'SET #status = :status, retry_at = :at, #error = :error REMOVE lease_until',
        ConditionExpression: 'run_id = :run AND #status = :processing',
        ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
        ExpressionAttributeValues: {
          ':status': setAside ? 'set_aside' : 'retry',
          ':at': at,
          ':error': error.slice(0, 500),
          ':run': runId,
          ':processing': 'processing',
        },
      }),
    );
  }

  // ---- deployment --------------------------------------------------------------------------------

  async recordCycle(at: Iso, outcome: 'ok' | 'failed'): Promise<void> {
    await this.send(
      'write.deployment',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: 'DEPLOYMENT', sk: 'CYCLE' },
        UpdateExpression: 'SET last_cycle_at = :at, last_cycle_outcome = :outcome',
        ExpressionAttributeValues: { ':at': at, ':outcome': outcome },
      }),
    );
  }

  /**
   * Records what an ingest read (counts only) and moves the pull-log freshness mark forward, never back:
   * the newest record time seen.
   */
  async recordIngest(
    at: Iso,
    report: {
      newest_record_at: Iso | null;
      files_processed: number;
      files_failed: unknown[];
      files_set_aside: unknown[];
      lines: number;
      records: number;
      skipped: Partial<Record<string, number>>;
    },
  ): Promise<void> {
    const counts: IngestCounts = {
      at,
      files_processed: report.files_processed,
      files_failed: report.files_failed.length,
      files_set_aside: report.files_set_aside.length,
      lines: report.lines,
      records: report.records,
      skipped: Object.fromEntries(
        Object.entries(report.skipped).filter((entry): entry is [string, number] => entry[1] !== undefined),
      ),
    };
    await this.send(
      'write.deployment',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: 'DEPLOYMENT', sk: 'CYCLE' },
        UpdateExpression: 'SET last_ingest = :counts',
        ExpressionAttributeValues: { ':counts': counts },
      }),
    );
    if (report.newest_record_at === null) return;
    await this.tryWrite(
      'write.deployment',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: 'DEPLOYMENT', sk: 'CYCLE' },
        UpdateExpression: 'SET newest_record_at = :newest',
        ConditionExpression: 'attribute_not_exists(newest_record_at) OR newest_record_at < :newest',
        ExpressionAttributeValues: { ':newest': report.newest_record_at },
      }),
    );
  }

  /** Points the deployment at its open pipeline issue; false if one is already open. */
  async setPipelineIssue(ref: { id: string; opened_at: Iso }): Promise<boolean> {
    return this.tryWrite(
      'write.deployment',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: 'DEPLOYMENT', sk: 'CYCLE' },
        UpdateExpression: 'SET pipeline_issue = :ref',
        ConditionExpression: 'attribute_not_exists(pipeline_issue)',
        ExpressionAttributeValues: { ':ref': ref },
      }),
    );
  }

  /** Forgets the resolved pipeline issue `id`; false if another pass did it first. */
  async clearPipelineIssue(id: string): Promise<boolean> {
    return this.tryWrite(
      'write.deployment',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: 'DEPLOYMENT', sk: 'CYCLE' },
        UpdateExpression:
          'REMOVE pipeline_issue SET pipeline_seq = if_not_exists(pipeline_seq, :zero) + :one',
        ConditionExpression: 'pipeline_issue.id = :id',
        ExpressionAttributeValues: { ':id': id, ':zero': 0, ':one': 1 },
      }),
    );
  }

  // ---- audit events ------------------------------------------------------------------------------

  async putEvent(orgId: string, event: AuditEvent): Promise<void> {
    const sk = `EV#${event.integration_id}#${event.at}#${event.type}#${event.request_id ?? ''}`;
    await this.putHistory('write.event', orgId, sk, 'event', event);
  }

  /** An integration's audit trail, newest first, a page at a time; it outlives the integration. */
  async listEvents(
    orgId: string,
    integrationId: string,
    page: { limit: number; cursor?: string },
  ): Promise<Page<AuditEvent>> {
    return this.newestFirst<AuditEvent>(
      'read.event.list',
      orgId,
      `EV#${integrationId}#`,
      integrationId,
      page,
    );
  }

  // ---- API keys (listing, revoking, last use) -----------------------------------------------------

  async listApiKeys(
    orgId: string,
  ): Promise<Array<Omit<ApiKeyRecord, 'hash'> & { last_used_at: Iso | null }>> {
    const items: Array<Record<string, unknown>> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const output = await this.send<{
        Items?: Array<Record<string, unknown>>;
        LastEvaluatedKey?: Record<string, unknown>;
      }>(
        'read.key.list',
        new QueryCommand({
          TableName: this.tableName,
          IndexName: INDEX.byList,
          KeyConditionExpression: 'list_pk = :list',
          ExpressionAttributeValues: { ':list': `KEY#${orgId}` },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(output.Items ?? []));
      start = output.LastEvaluatedKey;
    } while (start);
    return items.map((item) => ({
      key_id: item.key_id as string,
      org_id: item.org_id as string,
      scope: item.scope as KeyScope,
      created_at: item.created_at as Iso,
      last_used_at: (item.last_used_at as Iso | undefined) ?? null,
    }));
  }

  /** Deletes an organization's key by id; false if it has no such key. */
  async revokeApiKey(orgId: string, keyId: string): Promise<boolean> {
    const { Items } = await this.send<{ Items?: Array<Record<string, unknown>> }>(
      'read.key.list',
      new QueryCommand({
        TableName: this.tableName,
        IndexName: INDEX.byList,
        KeyConditionExpression: 'list_pk = :list',
        FilterExpression: 'key_id = :key',
        ExpressionAttributeValues: { ':list': `KEY#${orgId}`, ':key': keyId },
      }),
    );
    const item = Items?.[0];
    if (!item) return false;
    return this.tryWrite(
      'write.key.revoke',
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: item.pk, sk: item.sk },
        ConditionExpression: 'org_id = :org AND key_id = :key',
        ExpressionAttributeValues: { ':org': orgId, ':key': keyId },
      }),
    );
  }

  /** Records a key's use at most once per `everySeconds`, so busy keys do not cost a write per request. */
  async touchApiKey(hash: string, at: Iso, everySeconds: number): Promise<void> {
    const before = new Date(Date.parse(at) - everySeconds * 1000).toISOString();
    await this.tryWrite(
      'write.key.touch',
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `APIKEY#${hash}`, sk: 'APIKEY' },
        UpdateExpression: 'SET last_used_at = :at',
        ConditionExpression:
          'attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :before)',
        ExpressionAttributeValues: { ':at': at, ':before': before },
      }),
    );
  }

  // ---- transitions -------------------------------------------------------------------------------

  /** Records a transition; writing the same one twice (a retried pass) leaves one record. */
  async putTransition(
    integration: Pick<Integration, 'org_id' | 'id'>,
    transition: Transition,
  ): Promise<void> {
    const sk = `TR#${integration.id}#${transition.at}#${transition.kind}#${transition.issue_id ?? ''}`;
    await this.putHistory('write.transition', integration.org_id, sk, 'transition', transition);
  }

  /** An integration's transitions, newest first, a page at a time. */
  async listTransitions(
    orgId: string,
    integrationId: string,
    page: { limit: number; cursor?: string },
  ): Promise<Page<Transition>> {
    return this.newestFirst<Transition>(
      'read.transition.list',
      orgId,
      `TR#${integrationId}#`,
      integrationId,
      page,
    );
  }

  /** The organization made on the first local start, if any. */
  async getDefaultOrg(): Promise<string | null> {
    const { Item } = await this.send<{ Item?: Record<string, unknown> }>(
      'read.deployment',
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: 'DEPLOYMENT', sk: 'DEFAULT_ORG' },
        ConsistentRead: true,
      }),
    );
    return typeof Item?.org_id === 'string' ? Item.org_id : null;
  }

  /** Records the default organization once; false if another process recorded one first. */
  async setDefaultOrg(orgId: string, at: Iso): Promise<boolean> {
    return this.tryWrite(
      'write.deployment',
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: 'DEPLOYMENT', sk: 'DEFAULT_ORG', org_id: orgId, created_at: at },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async getDeployment(): Promise<DeploymentState> {
    const { Item } = await this.send<{ Item?: Record<string, unknown> }>(
      'read.deployment',
      new GetCommand({ TableName: this.tableName, Key: { pk: 'DEPLOYMENT', sk: 'CYCLE' } }),
    );
    return {
      last_cycle_at: (Item?.last_cycle_at as Iso | undefined) ?? null,
      last_cycle_outcome:
        (Item?.last_cycle_outcome as DeploymentState['last_cycle_outcome'] | undefined) ?? null,
      newest_record_at: (Item?.newest_record_at as Iso | undefined) ?? null,
      last_ingest: (Item?.last_ingest as IngestCounts | undefined) ?? null,
      pipeline_issue: (Item?.pipeline_issue as DeploymentState['pipeline_issue'] | undefined) ?? null,
      pipeline_seq: typeof Item?.pipeline_seq === 'number' ? Item.pipeline_seq : 0,
    };
  }

  // ---- helpers -----------------------------------------------------------------------------------

  /**
   * Reads one page of `limit` items, across as many DynamoDB pages as filters make necessary. The cursor
   * names only the last item returned; the partition always comes from the caller's organization.
   */
  private async paged<T>(
    label: string,
    input: QueryCommandInput,
    limit: number,
    /** Turns one DynamoDB page into values, in the same order; null for a row that no longer exists. */
    load: (rows: Array<Record<string, unknown>>) => Promise<Array<T | null>>,
    cursorOf: (row: Record<string, unknown>) => Cursor,
    accept: (value: T) => boolean = () => true,
  ): Promise<Page<T>> {
    const items: T[] = [];
    let last: Cursor | null = null;
    let exhausted = false;
    let dropped = false;
    do {
      const output = await this.send<{
        Items?: Array<Record<string, unknown>>;
        LastEvaluatedKey?: Record<string, unknown>;
      }>(label, new QueryCommand({ ...input, Limit: Math.max(limit, 25) }));
      const rows = output.Items ?? [];
      const values = await load(rows);
      for (const [index, row] of rows.entries()) {
        if (items.length >= limit) {
          dropped = true;
          break;
        }
        last = cursorOf(row);
        const value = values[index] ?? null;
        if (value !== null && accept(value)) items.push(value);
      }
      if (dropped) break;
      input.ExclusiveStartKey = output.LastEvaluatedKey;
      exhausted = output.LastEvaluatedKey === undefined;
    } while (!exhausted && items.length < limit);
    const more = dropped || (!exhausted && items.length === limit);
    return { items, next_cursor: more && last ? encodeCursor(last) : null };
  }

  /** Writes one history record (transition or audit event); the same record written twice stays one. */
  private async putHistory(
    label: string,
    orgId: string,
    sk: string,
    entity: string,
    record: object,
  ): Promise<void> {
    await this.send(
      label,
      new PutCommand({ TableName: this.tableName, Item: { pk: orgPk(orgId), sk, entity, ...record } }),
    );
  }

  /**
   * History records of one integration, newest first, a page at a time. The cursor is the sort key of the
   * last record returned; one outside this integration's prefix is refused, so it cannot read other records.
   */
  private async newestFirst<T>(
    label: string,
    orgId: string,
    prefix: string,
    integrationId: string,
    page: { limit: number; cursor?: string },
  ): Promise<Page<T>> {
    const start = page.cursor ? decodeCursor(page.cursor) : null;
    if (start && (start.i !== integrationId || !start.s.startsWith(prefix))) {
      throw new ValidationError('cursor is not valid', 'cursor');
    }
    if (!PLAUSIBLE_ID.test(integrationId)) return { items: [], next_cursor: null };
    return this.paged<T>(
      label,
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': orgPk(orgId), ':prefix': prefix },
        ScanIndexForward: false,
        ...(start ? { ExclusiveStartKey: { pk: orgPk(orgId), sk: start.s } } : {}),
      },
      page.limit,
      async (rows) => rows.map((row) => strip<T>(row)),
      (row) => ({ s: String(row.sk), i: integrationId }),
    );
  }

  private async queryShards(
    label: string,
    indexName: string,
    shardAttribute: string,
    timeAttribute: string,
    until: Iso,
  ): Promise<Array<Record<string, unknown>>> {
    const results = await Promise.all(
      Array.from({ length: SHARDS }, async (_, shard) => {
        const items: Array<Record<string, unknown>> = [];
        let start: Record<string, unknown> | undefined;
        do {
          const output = await this.send<{
            Items?: Array<Record<string, unknown>>;
            LastEvaluatedKey?: Record<string, unknown>;
          }>(
            label,
            new QueryCommand({
              TableName: this.tableName,
              IndexName: indexName,
              KeyConditionExpression: '#shard = :shard AND #at <= :until',
              ExpressionAttributeNames: { '#shard': shardAttribute, '#at': timeAttribute },
              ExpressionAttributeValues: { ':shard': String(shard), ':until': until },
              ExclusiveStartKey: start,
            }),
          );
          items.push(...(output.Items ?? []));
          start = output.LastEvaluatedKey;
        } while (start);
        return items;
      }),
    );
    return results.flat();
  }
}
