import { randomToken } from '../crypto.ts';
import type { Table } from '../table/index.ts';
import type { Iso } from '../time.ts';

/**
 * One cycle at a time per deployment. The lock is one item taken with a conditional put and a lease: a run
 * holds it until `leaseUntil` at most, so a run that crashed or was stopped at its timeout never blocks the
 * watchdog for longer than its lease. In Lambda the lease is the invocation's remaining time (plus a margin for
 * clock skew): the holder cannot still be running when it runs out.
 *
 * Why a lock when every stage is already safe under concurrency (claimed files, conditional state changes,
 * claimed outbox entries): two overlapping cycles would be correct but would do the same work twice, race on
 * every conditional write, and, under a slow table, pile up invocations that each make the table slower.
 * Reserved concurrency alone would not do: it queues the overlapping event instead of dropping it, and new
 * accounts cannot reserve any.
 */
export const CYCLE_LOCK_KEY = { pk: 'DEPLOYMENT', sk: 'LOCK#cycle' } as const;

/** Takes the lock for `token` until `leaseUntil`; false while another holder's lease runs. */
export async function acquireCycleLock(
  table: Table,
  lease: { token: string; now: Iso; leaseUntil: Iso },
): Promise<boolean> {
  return table.conditionally(
    table.put({
      Item: {
        ...CYCLE_LOCK_KEY,
        entity: 'lock',
        holder: lease.token,
        acquired_at: lease.now,
        lease_until: lease.leaseUntil,
      },
      ConditionExpression: 'attribute_not_exists(pk) OR lease_until < :now',
      ExpressionAttributeValues: { ':now': lease.now },
    }),
  );
}

/** Gives the lock back; false if our lease had run out and another run holds it now. */
export async function releaseCycleLock(table: Table, token: string): Promise<boolean> {
  return table.conditionally(
    table.delete({
      Key: CYCLE_LOCK_KEY,
      ConditionExpression: 'holder = :token',
      ExpressionAttributeValues: { ':token': token },
    }),
  );
}

export type LockedRun<T> = { ran: true; result: T } | { ran: false };

/** Runs `work` holding the lock, and gives it back whatever happens; does nothing while another run holds it. */
export async function withCycleLock<T>(
  table: Table,
  lease: { now: Iso; leaseUntil: Iso },
  work: () => Promise<T>,
): Promise<LockedRun<T>> {
  const token = randomToken(12);
  if (!(await acquireCycleLock(table, { token, ...lease }))) return { ran: false };
  try {
    return { ran: true, result: await work() };
  } finally {
    await releaseCycleLock(table, token);
  }
}
