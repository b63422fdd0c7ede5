import { bucketOf, isIssuedId } from '../crypto.ts';
import { ValidationError } from '../errors.ts';
import { decodeCursor, type Page, type Row, type Table } from '../table/index.ts';
import { orgPartition } from '../table/keys.ts';
import { SHARDS } from '../table/schema.ts';
import type { Iso } from '../time.ts';
import { type Issue, type IssueState, parseIssue, type Resolution } from './index.ts';

export const issueKey = (orgId: string, issueId: string) => ({
  pk: orgPartition(orgId),
  sk: `ISSUE#${issueId}`,
});
export const outboxShard = (issueId: string) => String(bucketOf(issueId, SHARDS));
/** An issue as stored: the schema drops the table's and the outbox's attributes. */
export const toIssue = (row: Row): Issue => parseIssue(row);

export interface IssueListOptions {
  limit: number;
  cursor?: string;
  state?: IssueState;
  type?: string;
  integrationId?: string;
}

/** Issues. Each carries its own outbox record (see `notify/outbox.ts`), so opening one is one write. */
export class Issues {
  constructor(private readonly table: Table) {}

  /**
   * Writes a new issue with its opening notification pending (due at `announceAt`, by default at once); false
   * if an issue with this id exists.
   */
  async putIfAbsent(issue: Issue, announceAt: Iso = issue.detected_at): Promise<boolean> {
    return this.table.conditionally(
      this.table.put({
        Item: {
          ...issueKey(issue.org_id, issue.id),
          entity: 'issue',
          ...issue,
          outbox_shard: outboxShard(issue.id),
          outbox_at: announceAt,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  /** Deletes an issue whose opening was never announced nor is being announced; false otherwise. */
  async deleteUnannounced(issue: Issue): Promise<boolean> {
    return this.table.conditionally(
      this.table.delete({
        Key: issueKey(issue.org_id, issue.id),
        ConditionExpression:
          'attribute_not_exists(notified.issue_opened) AND attribute_not_exists(claim_token)',
      }),
    );
  }

  /** Deletes an issue whose outbox we hold and whose opening was never announced; false otherwise. */
  async deleteClaimedUnannounced(issue: Issue, token: string): Promise<boolean> {
    return this.table.conditionally(
      this.table.delete({
        Key: issueKey(issue.org_id, issue.id),
        ConditionExpression: 'claim_token = :token AND attribute_not_exists(notified.issue_opened)',
        ExpressionAttributeValues: { ':token': token },
      }),
    );
  }

  async get(orgId: string, issueId: string): Promise<Issue | null> {
    if (!isIssuedId(issueId)) return null;
    const row = await this.table.get(issueKey(orgId, issueId), true);
    return row ? toIssue(row) : null;
  }

  /** Open -> resolved, with its resolution notification pending. False if it was not open. */
  async resolve(orgId: string, issueId: string, at: Iso, resolution: Resolution): Promise<boolean> {
    return this.table.conditionally(
      this.table.update({
        Key: issueKey(orgId, issueId),
        UpdateExpression:
          'SET #state = :resolved, resolved_at = :at, resolution = :resolution, outbox_shard = :shard, outbox_at = :at',
        ConditionExpression: '#state = :open',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':resolved': 'resolved',
          ':open': 'open',
          ':at': at,
          ':resolution': resolution,
          ':shard': outboxShard(issueId),
        },
      }),
    );
  }

  async list(orgId: string, options: IssueListOptions): Promise<Page<Issue>> {
    const filters: string[] = [];
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':pk': orgPartition(orgId), ':prefix': 'ISSUE#' };
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
    let start: Row | undefined;
    if (options.cursor) {
      const cursor = decodeCursor(options.cursor);
      if (!isIssuedId(cursor.i)) throw new ValidationError('cursor is not valid', 'cursor');
      start = issueKey(orgId, cursor.i);
    }
    return this.table.paged(
      {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: values,
        ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
        ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
        ExclusiveStartKey: start,
      },
      options.limit,
      async (rows) => rows.map(toIssue),
      (row) => ({ s: '', i: row.id as string }),
    );
  }
}
