import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  type DeleteCommandInput,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type PutCommandInput,
  paginateQuery,
  paginateScan,
  QueryCommand,
  type QueryCommandInput,
  type ScanCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../errors.ts';
import { createTableInput } from './schema.ts';

/**
 * The table layer: one DynamoDB table reached through the document client, and the few patterns every data
 * module uses (a conditional write that says whether it happened, a batch read with backoff, pages with
 * opaque cursors, the sharded schedule queries). It knows keys and attributes, never what they mean: each
 * domain module owns its items.
 */

export type Row = Record<string, unknown>;
export type Key = { pk: string; sk: string };

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** What a cursor holds: the sort position (`s`) and id (`i`) of the last item a page returned. */
export interface Cursor {
  s: string;
  i: string;
}

type Input<T> = Omit<T, 'TableName'>;

const BATCH_GET_LIMIT = 100;

export const isConditionFailure = (error: unknown) =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === 'ConditionalCheckFailedException');

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

/** Reads a cursor this layer wrote; anything else is a 400 naming `cursor`. */
export function decodeCursor(cursor: string): Cursor {
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

/** A copy of a stored row without the attributes that only key the table or its indexes. */
export function omit(row: Row, attributes: readonly string[]): Row {
  const copy: Row = { ...row };
  for (const attribute of attributes) delete copy[attribute];
  return copy;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Table {
  readonly doc: DynamoDBDocumentClient;

  constructor(
    readonly client: DynamoDBClient,
    readonly name: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async get(key: Key, consistent = false): Promise<Row | null> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.name, Key: key, ConsistentRead: consistent }),
    );
    return Item ?? null;
  }

  async put(input: Input<PutCommandInput>): Promise<void> {
    await this.doc.send(new PutCommand({ ...input, TableName: this.name }));
  }

  async update(input: Input<UpdateCommandInput>): Promise<void> {
    await this.doc.send(new UpdateCommand({ ...input, TableName: this.name }));
  }

  async delete(input: Input<DeleteCommandInput>): Promise<void> {
    await this.doc.send(new DeleteCommand({ ...input, TableName: this.name }));
  }

  /** A conditional write: true if it happened, false if its condition did not hold. */
  async conditionally(write: Promise<void>): Promise<boolean> {
    try {
      await write;
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** One page of a query, as DynamoDB returns it. */
  async query(input: Input<QueryCommandInput>): Promise<{ rows: Row[]; last: Row | undefined }> {
    const output = await this.doc.send(new QueryCommand({ ...input, TableName: this.name }));
    return { rows: output.Items ?? [], last: output.LastEvaluatedKey };
  }

  /** Every row a query matches, across all its pages. */
  async queryAll(input: Input<QueryCommandInput>): Promise<Row[]> {
    const rows: Row[] = [];
    for await (const page of paginateQuery({ client: this.doc }, { ...input, TableName: this.name })) {
      rows.push(...(page.Items ?? []));
    }
    return rows;
  }

  /**
   * Every row of a scan, across all its pages. Only for one-off upgrades over a sparse index that is empty once
   * they are done; nothing on the schedule scans.
   */
  async scanAll(input: Input<ScanCommandInput>): Promise<Row[]> {
    const rows: Row[] = [];
    for await (const page of paginateScan({ client: this.doc }, { ...input, TableName: this.name })) {
      rows.push(...(page.Items ?? []));
    }
    return rows;
  }

  /** The rows at these keys, in no particular order; missing ones are simply absent. Unprocessed keys back off. */
  async batchGet(keys: Key[], consistent: boolean): Promise<Row[]> {
    const found: Row[] = [];
    for (let start = 0; start < keys.length; start += BATCH_GET_LIMIT) {
      let batch: Row[] | undefined = keys.slice(start, start + BATCH_GET_LIMIT);
      for (let attempt = 0; batch && batch.length > 0; attempt += 1) {
        if (attempt > 0) await pause(Math.min(1000, 25 * 2 ** attempt));
        const output: BatchGetCommandOutput = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.name]: { Keys: batch, ConsistentRead: consistent } } }),
        );
        found.push(...(output.Responses?.[this.name] ?? []));
        batch = output.UnprocessedKeys?.[this.name]?.Keys;
      }
    }
    return found;
  }

  /**
   * Reads one page of `limit` values, across as many DynamoDB pages as filters make necessary. The cursor
   * names only the last row returned; the partition always comes from the caller.
   */
  async paged<T>(
    input: Input<QueryCommandInput>,
    limit: number,
    /** Turns one DynamoDB page into values, in the same order; null for a row that no longer exists. */
    load: (rows: Row[]) => Promise<Array<T | null>>,
    cursorOf: (row: Row) => Cursor,
    accept: (value: T) => boolean = () => true,
  ): Promise<Page<T>> {
    const items: T[] = [];
    let last: Cursor | null = null;
    let start = input.ExclusiveStartKey;
    let exhausted = false;
    let dropped = false;
    do {
      const page = await this.query({ ...input, ExclusiveStartKey: start, Limit: Math.max(limit, 25) });
      const values = await load(page.rows);
      for (const [index, row] of page.rows.entries()) {
        if (items.length >= limit) {
          dropped = true;
          break;
        }
        last = cursorOf(row);
        const value = values[index] ?? null;
        if (value !== null && accept(value)) items.push(value);
      }
      if (dropped) break;
      start = page.last;
      exhausted = page.last === undefined;
    } while (!exhausted && items.length < limit);
    const more = dropped || (!exhausted && items.length === limit);
    return { items, next_cursor: more && last ? encodeCursor(last) : null };
  }

  /** Rows of a sharded schedule index whose time is at most `until`, from the given shards. */
  async dueRows(
    index: { name: string; shard: string; at: string },
    shards: readonly number[],
    until: string,
  ): Promise<Row[]> {
    const perShard = await Promise.all(
      shards.map((shard) =>
        this.queryAll({
          IndexName: index.name,
          KeyConditionExpression: '#shard = :shard AND #at <= :until',
          ExpressionAttributeNames: { '#shard': index.shard, '#at': index.at },
          ExpressionAttributeValues: {
            ':shard': String(shard),
            ':until': until,
          },
        }),
      ),
    );
    return perShard.flat();
  }

  /** Creates the table if it does not exist (local runner and tests; in AWS the stack owns it). */
  async ensure(): Promise<void> {
    try {
      await this.client.send(new DescribeTableCommand({ TableName: this.name }));
      return;
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
    try {
      await this.client.send(new CreateTableCommand(createTableInput(this.name)));
    } catch (error) {
      // Another process created it first: fine.
      if (!(error instanceof Error && error.name === 'ResourceInUseException')) throw error;
    }
    await untilActive(this.client, this.name);
  }
}

/** Waits until a table just created answers (dynalite, like DynamoDB, reports CREATING first). */
export async function untilActive(client: DynamoDBClient, name: string): Promise<void> {
  await waitUntilTableExists({ client, minDelay: 0.05, maxDelay: 1, maxWaitTime: 30 }, { TableName: name });
}
