import type { Table } from '../table/index.ts';
import { TTL_ATTRIBUTE } from '../table/schema.ts';
import { dayElements, type HourBits, type HourKey, KEPT_HOURS, type PullDay } from './activity.ts';

/**
 * Day items of pull history: one per integration and UTC day, in the integration's own partition
 * (`PULLS#{integration id}`), so the 7-day detail is one query and the key does not depend on where the
 * integration item itself lives. Each holds two string sets of `HH` + minute bitmap elements (activity.ts);
 * they are only ever added to with ADD, a union DynamoDB applies on the item: adding the same minutes twice
 * (a re-read file, a retried write) leaves the item as it was, and no read is needed before the write.
 *
 * Cost: an update is charged 1 WCU per started KB of the larger of the item before and after it (AWS, DynamoDB
 * developer guide, "Capacity unit consumption for write operations", read-write-operations.html); a full day
 * (24 hours x 2 classes x 12-byte elements) stays well under 1 KB, so each write is 1 WCU.
 */
const partition = (integrationId: string) => `PULLS#${integrationId}`;
const sortKey = (day: string) => `PULLS#${day}`;

/** Kept a day longer than the detail shows; DynamoDB's TTL deletes them after that (no write units). */
const expiresAt = (day: string) =>
  Math.floor(Date.parse(`${day}T00:00:00.000Z`) / 1000) + (KEPT_HOURS + 24) * 3600;

export class PullDays {
  constructor(private readonly table: Table) {}

  /** Adds closed hours to their day items: one write per day touched (usually one, once an hour). */
  async add(integrationId: string, closed: ReadonlyMap<HourKey, HourBits>): Promise<number> {
    const byDay = dayElements(closed);
    await Promise.all(
      [...byDay].map(([day, elements]) => {
        const adds: string[] = [];
        const values: Record<string, unknown> = { ':expires': expiresAt(day) };
        for (const shown of ['accepted', 'refused'] as const) {
          // ADD needs a non-empty set.
          if (elements[shown].length === 0) continue;
          adds.push(`${shown} :${shown}`);
          values[`:${shown}`] = new Set(elements[shown]);
        }
        return this.table.update({
          Key: { pk: partition(integrationId), sk: sortKey(day) },
          UpdateExpression: `ADD ${adds.join(', ')} SET #ttl = :expires`,
          ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: values,
        });
      }),
    );
    return byDay.size;
  }

  /** The day items from `from` to `to` (`YYYY-MM-DD`, inclusive), as far as they exist. */
  async days(integrationId: string, from: string, to: string): Promise<PullDay[]> {
    const rows = await this.table.queryAll({
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: {
        ':pk': partition(integrationId),
        ':from': sortKey(from),
        ':to': sortKey(to),
      },
    });
    return rows.map((row) => ({
      day: (row.sk as string).slice('PULLS#'.length),
      accepted: (row.accepted as Set<string> | undefined) ?? [],
      refused: (row.refused as Set<string> | undefined) ?? [],
    }));
  }
}
