import { issueKey, outboxShard, toIssue } from '../issue/data.ts';
import type { Issue, NotificationEvent } from '../issue/index.ts';
import { isConditionFailure, type Table } from '../table/index.ts';
import { ALL_SHARDS, INDEX } from '../table/schema.ts';
import type { Iso } from '../time.ts';

/**
 * The outbox: an issue with a notification to deliver carries `outbox_shard`/`outbox_at` and is in the
 * by_outbox index until it is delivered. A worker claims the issue (a token with a lease) before publishing,
 * so two runs never both send, and records each delivered event in `notified` under that claim.
 */
export class Outbox {
  constructor(private readonly table: Table) {}

  /** Issues with a notification due by `now`. */
  async due(now: Iso): Promise<Issue[]> {
    const rows = await this.table.dueRows(
      { name: INDEX.byOutbox, shard: 'outbox_shard', at: 'outbox_at' },
      ALL_SHARDS,
      now,
    );
    return rows.map(toIssue);
  }

  /** Takes the issue's outbox for this worker until `until`; false if another worker holds it. */
  async claim(issue: Issue, token: string, now: Iso, until: Iso): Promise<boolean> {
    return this.table.conditionally(
      this.table.update({
        Key: issueKey(issue.org_id, issue.id),
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
  async complete(
    issue: Issue,
    event: NotificationEvent,
    token: string,
    at: Iso,
    last: boolean,
    nextOutboxAt: Iso | null = null,
  ): Promise<void> {
    const Key = issueKey(issue.org_id, issue.id);
    const counter =
      event === 'issue_reminder' ? ', reminders_sent = if_not_exists(reminders_sent, :zero) + :one' : '';
    const counterValues = event === 'issue_reminder' ? { ':zero': 0, ':one': 1 } : {};
    if (!last) {
      await this.table.update({
        Key,
        UpdateExpression: `SET notified.#event = :at${counter} REMOVE last_error`,
        ConditionExpression: 'claim_token = :token',
        ExpressionAttributeNames: { '#event': event },
        ExpressionAttributeValues: { ':at': at, ':token': token, ...counterValues },
      });
      return;
    }
    try {
      await this.table.update({
        Key,
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
      });
      return;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    await this.table.update({
      Key,
      UpdateExpression: `SET notified.#event = :at, outbox_shard = :shard, outbox_at = :at${counter} REMOVE claim_token, claim_until, last_error`,
      ConditionExpression: 'claim_token = :token',
      ExpressionAttributeNames: { '#event': event },
      ExpressionAttributeValues: {
        ':at': at,
        ':token': token,
        ':shard': outboxShard(issue.id),
        ...counterValues,
      },
    });
  }

  /** Gives the claim back with nothing sent: the issue waits in the outbox until `nextOutboxAt`, or leaves it. */
  async release(issue: Issue, token: string, nextOutboxAt: Iso | null): Promise<void> {
    await this.table.conditionally(
      this.table.update({
        Key: issueKey(issue.org_id, issue.id),
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

  /**
   * Gives the claim back after a failed delivery; the notification is tried again at `retryAt`. The reason
   * stays on the item for an operator reading the table.
   */
  async releaseAfterFailure(issue: Issue, token: string, retryAt: Iso, reason: string): Promise<void> {
    // Our claim expired and someone else took it: they own the retry now.
    await this.table.conditionally(
      this.table.update({
        Key: issueKey(issue.org_id, issue.id),
        UpdateExpression: 'SET outbox_at = :retry, last_error = :reason REMOVE claim_token, claim_until',
        ConditionExpression: 'claim_token = :token',
        ExpressionAttributeValues: {
          ':retry': retryAt,
          ':reason': reason.slice(0, 500),
          ':token': token,
        },
      }),
    );
  }
}
