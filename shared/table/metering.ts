import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Request counts and consumed capacity, for tests and benchmarks only: production requests do not ask DynamoDB
 * for consumed capacity. Installed as a client middleware, so it sees every request of every data module.
 *
 * A request is labelled `read.<target>` or `write.<target>`: the index it queries, or the first segment of the
 * sort key it touches (`INT`, `ISSUE`, `APIKEY`, `FILE`, `CYCLE` ...), so a test can say "one integration write".
 */
export interface Usage {
  requests: Record<string, number>;
  readUnits: number;
  writeUnits: number;
  /** Capacity units by the same labels as `requests`. */
  units: Record<string, number>;
}

const READS = new Set(['GetItemCommand', 'QueryCommand', 'ScanCommand', 'BatchGetItemCommand']);
const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand']);

type Attribute = string | { S?: string } | undefined;
const text = (value: Attribute) => (typeof value === 'string' ? value : value?.S);

function targetOf(input: Record<string, unknown>): string {
  if (typeof input.IndexName === 'string') return input.IndexName;
  const key = (input.Key ?? input.Item) as Record<string, Attribute> | undefined;
  const values = input.ExpressionAttributeValues as Record<string, Attribute> | undefined;
  const requests = input.RequestItems as
    | Record<string, { Keys?: Array<Record<string, Attribute>> }>
    | undefined;
  const sk =
    text(key?.sk) ?? text(values?.[':prefix']) ?? text(Object.values(requests ?? {})[0]?.Keys?.[0]?.sk) ?? '';
  return sk.split('#')[0] || 'table';
}

export function meterUsage(client: DynamoDBClient): Usage {
  const usage: Usage = { requests: {}, readUnits: 0, writeUnits: 0, units: {} };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      const command = context.commandName ?? '';
      // Table management (CreateTable, DescribeTable) takes no capacity and is not counted.
      if (!READS.has(command) && !WRITES.has(command)) return next(args);
      const verb = READS.has(command) ? 'read' : 'write';
      const label = `${verb}.${targetOf(input)}`;
      usage.requests[label] = (usage.requests[label] ?? 0) + 1;
      input.ReturnConsumedCapacity = 'TOTAL';
      const result = await next(args);
      const output = result.output as { ConsumedCapacity?: unknown };
      for (const entry of [output.ConsumedCapacity].flat().filter(Boolean) as Array<{
        CapacityUnits?: number;
      }>) {
        if (verb === 'read') usage.readUnits += entry.CapacityUnits ?? 0;
        else usage.writeUnits += entry.CapacityUnits ?? 0;
        usage.units[label] = (usage.units[label] ?? 0) + (entry.CapacityUnits ?? 0);
      }
      return result;
    },
    { step: 'initialize', name: 'pullwatchUsageMeter', override: true },
  );
  return usage;
}

/** DynamoDB's item size: attribute names plus values (strings in UTF-8, numbers ~1 byte per 2 digits). */
function sizeOf(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number') return Math.ceil(String(Math.abs(value)).replace('.', '').length / 2) + 1;
  if (typeof value === 'boolean' || value === null || value === undefined) return 1;
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, item) => sum + 1 + sizeOf(item), 0);
  return (
    3 +
    Object.entries(value as Record<string, unknown>).reduce(
      (sum, [key, item]) => sum + 1 + Buffer.byteLength(key, 'utf8') + sizeOf(item),
      0,
    )
  );
}
/** The size DynamoDB bills an item by (a write unit per started KB). */
export const itemSize = (item: Record<string, unknown>) =>
  Object.entries(item).reduce((sum, [key, value]) => sum + Buffer.byteLength(key, 'utf8') + sizeOf(value), 0);
