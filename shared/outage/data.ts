import type { Table } from '../table/index.ts';
import { orgPartition } from '../table/keys.ts';
import { OutageGroup } from './index.ts';

const outageKey = (orgId: string, scopeKey: string) => ({
  pk: orgPartition(orgId),
  sk: `OUTAGE#${scopeKey}`,
});

/**
 * The latest shared outage of each scope (an engine, or the organization): one small item, written when a rule
 * pass first decides the group and read when its other members' issues open, so every member names the same
 * group whichever pass opens it.
 */
export class Outages {
  constructor(private readonly table: Table) {}

  async get(orgId: string, scopeKey: string): Promise<OutageGroup | null> {
    // Eventually consistent (half a read unit): a group is written at least a pass before another pass needs it.
    const row = await this.table.get(outageKey(orgId, scopeKey));
    if (row === null) return null;
    const parsed = OutageGroup.safeParse(row.group);
    return parsed.success ? parsed.data : null;
  }

  /**
   * Records `group` unless the scope already holds this group or a later one; returns the group that stands.
   * Two passes deciding at once: the first write stands, the second reads it back.
   */
  async record(orgId: string, scopeKey: string, group: OutageGroup): Promise<OutageGroup> {
    const written = await this.table.conditionally(
      this.table.put({
        Item: { ...outageKey(orgId, scopeKey), entity: 'outage', since: group.since, group },
        ConditionExpression: 'attribute_not_exists(pk) OR since < :since',
        ExpressionAttributeValues: { ':since': group.since },
      }),
    );
    if (written) return group;
    return (await this.get(orgId, scopeKey)) ?? group;
  }
}
