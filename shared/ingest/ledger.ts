import { omit, type Table } from '../table/index.ts';
import type { Iso } from '../time.ts';

/** One pull-log file or S3 object, by its identity: whether it has been read, and by which run. */
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

const entryKey = (key: string) => ({ pk: `FILE#${key}`, sk: 'FILE' });

/**
 * The ingest ledger: each file is claimed with a conditional write before it is read, so overlapping or
 * retried runs never read it twice, and a run that died mid-file leaves a lease that runs out.
 */
export class Ledger {
  constructor(private readonly table: Table) {}

  async get(keys: string[]): Promise<Map<string, LedgerEntry>> {
    const rows = await this.table.batchGet(keys.map(entryKey), true);
    const entries = new Map<string, LedgerEntry>();
    for (const row of rows) {
      const entry = omit(row, ['pk', 'sk', 'entity']) as unknown as LedgerEntry;
      entries.set(entry.key, entry);
    }
    return entries;
  }

  /** Takes a file for this run: new, or abandoned by a run whose lease ran out. */
  async claim(key: string, runId: string, now: Iso, leaseUntil: Iso): Promise<boolean> {
    return this.table.conditionally(
      this.table.update({
        Key: entryKey(key),
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

  async complete(key: string, runId: string, at: Iso, stats: Record<string, unknown>): Promise<void> {
    // Our lease ran out and another run took the file; its result is the same (ingest is idempotent).
    await this.table.conditionally(
      this.table.update({
        Key: entryKey(key),
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
  async fail(key: string, runId: string, at: Iso, error: string, setAside: boolean): Promise<void> {
    await this.table.conditionally(
      this.table.update({
        Key: entryKey(key),
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

  /**
   * Gives back a claim of a run that failed for a reason of its own, not the file's (throttling, lost races):
   * open again at once, and the attempt not counted against the file. A no-op once the file is done, failed,
   * or claimed by another run.
   */
  async release(key: string, runId: string, at: Iso): Promise<void> {
    await this.table.conditionally(
      this.table.update({
        Key: entryKey(key),
        UpdateExpression:
          'SET #status = :retry, retry_at = :at, attempts = attempts - :one REMOVE lease_until',
        ConditionExpression: 'run_id = :run AND #status = :processing',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':retry': 'retry',
          ':at': at,
          ':one': 1,
          ':run': runId,
          ':processing': 'processing',
        },
      }),
    );
  }
}
