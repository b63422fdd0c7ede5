import { createRoute, z } from '@hono/zod-openapi';
import type { AuditEvent } from '../history/index.ts';
import { getIntegration } from '../integration/ops.ts';
import type { Store } from '../store.ts';
import type { Iso } from '../time.ts';
import { problemResponses } from './problem.ts';
import { IdParam, listOf, PageQuery, type RouteDeps, router, scope, Time } from './router.ts';

/** An integration's recorded history: its status transitions and its audit trail, both paged newest first. */

export const TransitionSchema = z
  .object({
    at: Time,
    kind: z.string().openapi({ description: 'issue_opened, issue_resolved, paused or resumed' }),
    issue_id: z.string().nullable(),
    issue_type: z.string().nullable(),
    from_status: z.string(),
    to_status: z.string(),
    reason: z.string(),
  })
  .openapi('Transition');

export const AuditEventSchema = z
  .object({
    at: Time,
    type: z.string().openapi({
      description:
        'created, credentials_refreshed, previous_password_expired, updated, paused, resumed or deleted',
    }),
    actor: z.string().openapi({ description: "the acting API key's id, cli, or system" }),
    request_id: z.string().nullable(),
    detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  })
  .openapi('AuditEvent');

const PageOnly = z.strictObject(PageQuery);

const listTransitions = createRoute({
  method: 'get',
  path: '/{id}/transitions',
  operationId: 'listTransitions',
  tags: ['integrations'],
  summary: 'Status changes, newest first.',
  description: 'Issues opened and resolved, pauses and resumes, with the statuses before and after.',
  ...scope('read'),
  request: { params: IdParam, query: PageOnly },
  responses: {
    200: {
      description: 'a page of transitions',
      content: { 'application/json': { schema: listOf(TransitionSchema) } },
    },
    ...problemResponses(400, 401, 404, 500, 503),
  },
});

const listEvents = createRoute({
  method: 'get',
  path: '/{id}/events',
  operationId: 'listEvents',
  tags: ['integrations'],
  summary: 'Audit trail, newest first.',
  description:
    'Who created, refreshed, paused, resumed, updated or deleted the integration, when, in which request. ' +
    'The trail outlives the integration.',
  ...scope('read'),
  request: { params: IdParam, query: PageOnly },
  responses: {
    200: {
      description: 'a page of audit events',
      content: { 'application/json': { schema: listOf(AuditEventSchema) } },
    },
    ...problemResponses(400, 401, 404, 500, 503),
  },
});

const sameEvent = (a: AuditEvent, b: AuditEvent) =>
  a.at === b.at && a.type === b.type && a.request_id === b.request_id;

/** The whole trail, newest first (trails are short: a few records per change a person makes). */
async function wholeTrail(store: Store, orgId: string, id: string): Promise<AuditEvent[]> {
  const trail: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.history.events(orgId, id, { limit: 100, ...(cursor ? { cursor } : {}) });
    trail.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return trail;
}

/**
 * The end of each grace window, derived from the refresh events (nobody performs it, so nothing stores it):
 * a window ends at its `previous_valid_until`, or earlier if a later refresh replaced that password.
 */
function expiredGraceWindows(trail: AuditEvent[], now: Iso): AuditEvent[] {
  const refreshes = trail
    .filter((event) => event.type === 'credentials_refreshed')
    .sort((a, b) => (a.at < b.at ? -1 : 1));
  const expired: AuditEvent[] = [];
  for (const [index, refresh] of refreshes.entries()) {
    const until = refresh.detail.previous_valid_until;
    if (typeof until !== 'string') continue;
    const next = refreshes[index + 1]?.at;
    const end = next !== undefined && next < until ? next : until;
    if (end <= now) {
      expired.push({
        integration_id: refresh.integration_id,
        at: end,
        type: 'previous_password_expired',
        actor: 'system',
        request_id: null,
        detail: {},
      });
    }
  }
  return expired;
}

/**
 * One page of the trail with the derived expiries that belong to it. A derived event goes on the page of
 * the stored event just before it in time (at worst its own refresh), so paging shows each exactly once,
 * in order. That needs every refresh, hence the whole trail is read for the derivation.
 */
function withExpiries(page: AuditEvent[], trail: AuditEvent[], now: Iso): AuditEvent[] {
  const derived = expiredGraceWindows(trail, now).filter((expiry) => {
    const before = trail.find((event) => event.at <= expiry.at);
    return before !== undefined && page.some((event) => sameEvent(event, before));
  });
  return [...page, ...derived].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
}

export function historyRoutes({ store, now }: RouteDeps) {
  return router()
    .openapi(listTransitions, async (c) => {
      const { org_id } = c.get('caller');
      const query = c.req.valid('query');
      // 404 for another organization's integration, exactly like a missing one.
      const integration = await getIntegration(store, org_id, c.req.valid('param').id);
      const page = await store.history.transitions(org_id, integration.id, {
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      return c.json(
        {
          items: page.items.map(({ integration_id: _id, ...transition }) => transition),
          next_cursor: page.next_cursor,
        },
        200,
      );
    })
    .openapi(listEvents, async (c) => {
      const { org_id } = c.get('caller');
      const query = c.req.valid('query');
      const { id } = c.req.valid('param');
      const page = await store.history.events(org_id, id, {
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      const whole = !query.cursor && page.next_cursor === null;
      const trail = whole ? page.items : await wholeTrail(store, org_id, id);
      // A deleted integration keeps its trail; an id with no trail in this organization is unknown.
      if (trail.length === 0) await getIntegration(store, org_id, id);
      const items = withExpiries(page.items, trail, now());
      return c.json(
        { items: items.map(({ integration_id: _id, ...event }) => event), next_cursor: page.next_cursor },
        200,
      );
    });
}
