import { isIssuedId } from '../crypto.ts';
import { ValidationError } from '../errors.ts';
import { decodeCursor, omit, type Page, type Row, type Table } from '../table/index.ts';
import { orgPartition } from '../table/keys.ts';
import type { Iso } from '../time.ts';

/**
 * What happened to an integration, kept after it is deleted: recorded transitions (issues opened and
 * resolved, pauses) and the audit trail of who changed it. Both are append-only records under the
 * organization's partition, written idempotently (the same record twice stays one).
 */

/** One recorded change of an integration's status: an issue opened or resolved, a pause or a resume. */
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

export interface PageRequest {
  limit: number;
  cursor?: string;
}

const HISTORY_STORAGE = ['pk', 'sk', 'entity'] as const;

export class History {
  constructor(private readonly table: Table) {}

  /** Records a transition; writing the same one twice (a retried pass) leaves one record. */
  async putTransition(ref: { org_id: string; id: string }, transition: Transition): Promise<void> {
    const sk = `TR#${ref.id}#${transition.at}#${transition.kind}#${transition.issue_id ?? ''}`;
    await this.put(ref.org_id, sk, 'transition', transition);
  }

  /** An integration's transitions, newest first. */
  async transitions(orgId: string, integrationId: string, page: PageRequest): Promise<Page<Transition>> {
    return this.newestFirst<Transition>(orgId, `TR#${integrationId}#`, integrationId, page);
  }

  async putEvent(orgId: string, event: AuditEvent): Promise<void> {
    const sk = `EV#${event.integration_id}#${event.at}#${event.type}#${event.request_id ?? ''}`;
    await this.put(orgId, sk, 'event', event);
  }

  /** An integration's audit trail, newest first; it outlives the integration. */
  async events(orgId: string, integrationId: string, page: PageRequest): Promise<Page<AuditEvent>> {
    return this.newestFirst<AuditEvent>(orgId, `EV#${integrationId}#`, integrationId, page);
  }

  private async put(orgId: string, sk: string, entity: string, record: object): Promise<void> {
    await this.table.put({ Item: { pk: orgPartition(orgId), sk, entity, ...record } });
  }

  private async newestFirst<T>(orgId: string, prefix: string, integrationId: string, page: PageRequest) {
    if (!isIssuedId(integrationId)) return { items: [], next_cursor: null } as Page<T>;
    let start: Row | undefined;
    if (page.cursor) {
      const cursor = decodeCursor(page.cursor);
      // A cursor only ever continues the list it came from.
      if (!cursor.s.startsWith(prefix) || cursor.i !== integrationId)
        throw new ValidationError('cursor is not valid', 'cursor');
      start = { pk: orgPartition(orgId), sk: cursor.s };
    }
    return this.table.paged<T>(
      {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': orgPartition(orgId), ':prefix': prefix },
        ScanIndexForward: false,
        ExclusiveStartKey: start,
      },
      page.limit,
      async (rows) => rows.map((row) => omit(row, HISTORY_STORAGE) as T),
      (row) => ({ s: row.sk as string, i: integrationId }),
    );
  }
}
