import { createRoute, z } from '@hono/zod-openapi';
import { NotFoundError } from '../errors.ts';
import { IssueType } from '../integration/index.ts';
import { DIAGNOSIS_CODES } from '../issue/diagnosis.ts';
import { IntegrationIssue, type Issue, NOTIFICATION_EVENTS } from '../issue/index.ts';
import { ChatNotificationSchema } from '../notify/chat.ts';
import { previewOf } from '../notify/preview.ts';
import { DiagnosisGroup } from '../outage/index.ts';
import { problemResponses } from './problem.ts';
import { IdParam, listOf, PageQuery, type RouteDeps, router, scope, Time } from './router.ts';

const Diagnosis = z.object({
  code: z.enum(DIAGNOSIS_CODES),
  summary: z.string(),
  steps: z.array(z.string()),
  group: DiagnosisGroup.extend({ since: Time }).optional().openapi({
    description:
      'For shared_outage: the integrations that went silent together (how many, out of how many, since when, which engine).',
  }),
});

/**
 * The issue as the API shows it, derived from the stored issue's schema (issue/index.ts): its own fields as
 * they are, and the ones the deployment's feed issue lacks made nullable (one flat shape for both kinds).
 */
const stored = IntegrationIssue.shape;
export const IssueSchema = z
  .object({
    id: stored.id,
    type: IssueType,
    integration_id: stored.integration_id.nullable().describe('null for pipeline_stale'),
    integration_name: stored.integration_name.nullable(),
    criticality: stored.criticality,
    state: stored.state,
    opened_at: Time,
    detected_at: Time,
    resolved_at: Time.nullable(),
    resolution: stored.resolution,
    last_pull_at: Time.nullable(),
    diagnosis: Diagnosis,
    notified: stored.notified,
    // .describe, not .openapi: the domain's schemas may be built before @hono/zod-openapi extends zod.
    cadence: stored.cadence.describe(
      'integration_pull_late only: the rhythm it was judged against (steady or pattern, the median gap between pulled minutes, and how many of the 7 days before had pulls)',
    ),
  })
  .openapi('Issue');
export type IssueView = z.infer<typeof IssueSchema>;

/** The issue as the API shows it: no organization, no outbox bookkeeping. */
export function issueView(issue: Issue): IssueView {
  return {
    id: issue.id,
    type: issue.type,
    integration_id: issue.integration_id,
    integration_name: issue.type === 'pipeline_stale' ? null : issue.integration_name,
    criticality: issue.criticality,
    state: issue.state,
    opened_at: issue.opened_at,
    detected_at: issue.detected_at,
    resolved_at: issue.resolved_at,
    resolution: issue.resolution,
    last_pull_at: issue.type === 'pipeline_stale' ? null : issue.last_pull_at,
    diagnosis: issue.diagnosis,
    notified: issue.notified,
    ...(issue.type !== 'pipeline_stale' && issue.cadence ? { cadence: issue.cadence } : {}),
  };
}

const NotificationPreviewSchema = z
  .object({
    issue_id: z.string(),
    event: z.enum(NOTIFICATION_EVENTS),
    sent_at: Time.nullable().openapi({ description: 'null while it is still due' }),
    subject: z.string().openapi({ description: 'the email subject' }),
    email: z.string(),
    sms: z.string(),
    // The custom-notification schema of Amazon Q Developer in chat applications (shared/notify/chat.ts).
    chat: ChatNotificationSchema,
  })
  .openapi('NotificationPreview');

const listIssues = createRoute({
  method: 'get',
  path: '/',
  operationId: 'listIssues',
  tags: ['issues'],
  summary: 'Issues of the organization.',
  description: 'Newest first; filter by state, type or integration.',
  ...scope('read'),
  request: {
    query: z.strictObject({
      state: IntegrationIssue.shape.state.optional(),
      type: IssueType.optional(),
      integration_id: z.string().max(64).optional(),
      ...PageQuery,
    }),
  },
  responses: {
    200: {
      description: 'a page of issues',
      content: { 'application/json': { schema: listOf(IssueSchema) } },
    },
    ...problemResponses(400, 401, 500, 503),
  },
});

const getIssue = createRoute({
  method: 'get',
  path: '/{id}',
  operationId: 'getIssue',
  tags: ['issues'],
  summary: 'One issue with its diagnosis.',
  description: "Another organization's issue answers 404, exactly like a missing one.",
  ...scope('read'),
  request: { params: IdParam },
  responses: {
    200: { description: 'the issue', content: { 'application/json': { schema: IssueSchema } } },
    ...problemResponses(401, 404, 500, 503),
  },
});

const getIssueNotification = createRoute({
  method: 'get',
  path: '/{id}/notification',
  operationId: 'getIssueNotification',
  tags: ['issues'],
  summary: "The issue's latest notification in its three forms.",
  description:
    'Its resolution once resolved, else its latest reminder, else its opening, as it was sent (or as it would go ' +
    'out now, when it is still due): the email with its subject, the SMS, and the chat form (an Amazon Q ' +
    'Developer in chat applications custom notification, also what webhooks receive).',
  ...scope('read'),
  request: { params: IdParam },
  responses: {
    200: {
      description: 'the notification',
      content: { 'application/json': { schema: NotificationPreviewSchema } },
    },
    ...problemResponses(401, 404, 500, 503),
  },
});

export function issueRoutes({ store, now, consoleUrl }: RouteDeps) {
  return router()
    .openapi(listIssues, async (c) => {
      const query = c.req.valid('query');
      const page = await store.issues.list(c.get('caller').org_id, {
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
        ...(query.state ? { state: query.state } : {}),
        ...(query.type ? { type: query.type } : {}),
        ...(query.integration_id ? { integrationId: query.integration_id } : {}),
      });
      return c.json({ items: page.items.map(issueView), next_cursor: page.next_cursor }, 200);
    })
    .openapi(getIssue, async (c) => {
      const issue = await store.issues.get(c.get('caller').org_id, c.req.valid('param').id);
      if (!issue) throw new NotFoundError('issue not found');
      return c.json(issueView(issue), 200);
    })
    .openapi(getIssueNotification, async (c) => {
      const issue = await store.issues.get(c.get('caller').org_id, c.req.valid('param').id);
      if (!issue) throw new NotFoundError('issue not found');
      const { org_id: _org, ...preview } = previewOf(issue, now(), consoleUrl);
      return c.json(preview, 200);
    });
}
