import { createRoute, z } from '@hono/zod-openapi';
import {
  credentialLastUsed,
  IntegrationKind,
  IntegrationPatch,
  IntegrationStatus,
  NewIntegration,
  statusOf,
  Vendor,
} from '../integration/index.ts';
import {
  createIntegration,
  deleteIntegration,
  getIntegration,
  MAX_GRACE_SECONDS,
  patchIntegration,
  refreshCredentials,
} from '../integration/ops.ts';
import { IntegrationView, integrationView, PullHistoryView } from '../integration/view.ts';
import type { Issue } from '../issue/index.ts';
import { historyDays, pullHistory } from '../pulls/activity.ts';
import { TransitionSchema } from './history.ts';
import { IssueSchema, issueView } from './issues.ts';
import { problemResponses } from './problem.ts';
import {
  actorOf,
  IdParam,
  listOf,
  NO_STORE,
  PageQuery,
  type RouteDeps,
  router,
  scope,
  Time,
} from './router.ts';

// A fresh object of the extended zod: schemas built before @hono/zod-openapi loaded have no `.openapi()`.
export const IntegrationSchema = z.object(IntegrationView.shape).openapi('Integration');
export type IntegrationResponse = z.infer<typeof IntegrationSchema>;

/** Shown once, in the answer that made them; stored only hashed. */
const Credentials = z.object({ username: z.string(), password: z.string() });

const IntegrationDetail = IntegrationSchema.extend({
  issues: z.array(IssueSchema),
  // Metadata only: never a password or a hash.
  credentials: z.object({
    username: z.string(),
    created_at: Time,
    rotated_at: Time,
    previous_password_valid: z.boolean(),
    previous_valid_until: Time.nullable(),
    last_used: z
      .enum(['current', 'previous'])
      .nullable()
      .openapi({
        description:
          'the credential of the last accepted pull, as of now: `previous` when the device pulled with the ' +
          'password a refresh replaced (it has not been given the new one); null when no pull log said',
      }),
  }),
  transitions: z.array(TransitionSchema).openapi({ description: 'the 20 most recent' }),
  lapi_entry: z.string().nullable().openapi({
    description:
      'source lapi: the bouncer entry of the engine snapshot that fed the last pull (its name, or name@ip for an auto-created or TLS entry)',
  }),
  pull_history: z.object(PullHistoryView.shape).openapi('PullHistory'),
}).openapi('IntegrationDetail');

/** The one definition of grace_seconds' bounds: the domain's constant, checked here at the edge. */
const RefreshBody = z.strictObject({
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(MAX_GRACE_SECONDS)
    .default(0)
    .openapi({ description: 'how long the previous password keeps working' }),
});

const RECENT_TRANSITIONS = 20;

const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });

const list = createRoute({
  method: 'get',
  path: '/',
  operationId: 'listIntegrations',
  tags: ['integrations'],
  summary: 'Integrations, most alarming first, then by name.',
  description: 'Open critical issue, early warning, never pulled, online, paused; then by name.',
  ...scope('read'),
  request: {
    query: z.strictObject({
      status: IntegrationStatus.optional(),
      kind: IntegrationKind.optional(),
      vendor: Vendor.optional(),
      q: z.string().min(1).max(100).optional().openapi({ description: 'part of the name, any case' }),
      ...PageQuery,
    }),
  },
  responses: {
    200: { description: 'a page of integrations', content: json(listOf(IntegrationSchema)) },
    ...problemResponses(400, 401, 500, 503),
  },
});

const create = createRoute({
  method: 'post',
  path: '/',
  operationId: 'createIntegration',
  tags: ['integrations'],
  summary: 'Creates an integration; its password is returned once.',
  description: 'The answer carries `Cache-Control: no-store`.',
  ...scope('write'),
  request: { body: { required: true, content: json(NewIntegration) } },
  responses: {
    201: {
      description: 'the integration and its credentials',
      content: json(IntegrationSchema.extend(Credentials.shape)),
    },
    ...problemResponses(400, 401, 403, 413, 500, 503),
  },
});

const get = createRoute({
  method: 'get',
  path: '/{id}',
  operationId: 'getIntegration',
  tags: ['integrations'],
  summary: 'One integration with its open issues, credential metadata and recent transitions.',
  description: "Another organization's integration answers 404, exactly like a missing one.",
  ...scope('read'),
  request: { params: IdParam },
  responses: {
    200: { description: 'the integration', content: json(IntegrationDetail) },
    ...problemResponses(401, 404, 500, 503),
  },
});

const patch = createRoute({
  method: 'patch',
  path: '/{id}',
  operationId: 'updateIntegration',
  tags: ['integrations'],
  summary: 'Changes name, vendor, threshold, pause or snooze.',
  description: 'At least one field; the others stay as they are.',
  ...scope('write'),
  request: {
    params: IdParam,
    // The domain's refine ("at least one field") has no JSON Schema form; minProperties says it. zod's own
    // .meta(), because the domain's schemas may be built before @hono/zod-openapi adds .openapi() to zod.
    body: { required: true, content: json(IntegrationPatch.meta({ minProperties: 1 })) },
  },
  responses: {
    200: { description: 'the integration', content: json(IntegrationSchema) },
    ...problemResponses(400, 401, 403, 404, 409, 413, 500, 503),
  },
});

const remove = createRoute({
  method: 'delete',
  path: '/{id}',
  operationId: 'deleteIntegration',
  tags: ['integrations'],
  summary: 'Deletes an integration and its credentials; its resolved history stays.',
  description: 'Its open issues are resolved first.',
  ...scope('write'),
  request: { params: IdParam },
  responses: {
    204: { description: 'deleted' },
    ...problemResponses(401, 403, 404, 409, 500, 503),
  },
});

const refresh = createRoute({
  method: 'post',
  path: '/{id}/credentials/refresh',
  operationId: 'refreshCredentials',
  tags: ['integrations'],
  summary: 'New password, returned once; the previous one may stay valid for grace_seconds.',
  description: 'The body is optional (no grace). The answer carries `Cache-Control: no-store`.',
  ...scope('write'),
  request: { params: IdParam, body: { required: false, content: json(RefreshBody) } },
  responses: {
    200: {
      description: 'the new credentials',
      content: json(Credentials.extend({ rotated_at: Time, previous_valid_until: Time.nullable() })),
    },
    ...problemResponses(400, 401, 403, 404, 409, 413, 500, 503),
  },
});

export function integrationRoutes({ store, secret, now, credentialsChanged }: RouteDeps) {
  return router()
    .openapi(list, async (c) => {
      const { org_id } = c.get('caller');
      const query = c.req.valid('query');
      const at = now();
      const page = await store.integrations.list(org_id, {
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
        ...(query.kind ? { kind: query.kind } : {}),
        ...(query.vendor ? { vendor: query.vendor } : {}),
        ...(query.q ? { nameContains: query.q } : {}),
        ...(query.status ? { accept: (integration) => statusOf(integration, at) === query.status } : {}),
      });
      return c.json(
        {
          items: page.items.map((integration) => integrationView(integration, at)),
          next_cursor: page.next_cursor,
        },
        200,
      );
    })
    .openapi(create, async (c) => {
      const at = now();
      const { integration, credentials } = await createIntegration(
        store,
        secret,
        c.get('caller').org_id,
        c.req.valid('json'),
        at,
        actorOf(c),
      );
      return c.json({ ...integrationView(integration, at), ...credentials }, 201, NO_STORE);
    })
    .openapi(get, async (c) => {
      const { org_id } = c.get('caller');
      const at = now();
      const integration = await getIntegration(store, org_id, c.req.valid('param').id);
      const refs = Object.values(integration.open_issues).filter((ref) => ref !== undefined);
      const days = historyDays(at);
      const [issues, transitions, pullDays] = await Promise.all([
        Promise.all(refs.map((ref) => store.issues.get(org_id, ref.id))),
        store.history.transitions(org_id, integration.id, { limit: RECENT_TRANSITIONS }),
        store.pullDays.days(integration.id, days.from, days.to),
      ]);
      const { credentials } = integration;
      return c.json(
        {
          ...integrationView(integration, at),
          issues: issues.filter((issue): issue is Issue => issue !== null).map(issueView),
          credentials: {
            username: credentials.username,
            created_at: integration.created_at,
            rotated_at: credentials.rotated_at,
            previous_password_valid:
              credentials.previous_valid_until !== null && at < credentials.previous_valid_until,
            previous_valid_until: credentials.previous_valid_until,
            last_used: credentialLastUsed(integration),
          },
          transitions: transitions.items.map(({ integration_id: _id, ...transition }) => transition),
          lapi_entry: integration.lapi?.entry ?? null,
          pull_history: pullHistory(integration.recent_pulls, pullDays, at),
        },
        200,
      );
    })
    .openapi(patch, async (c) => {
      // The clock, not an instant: the write that wins is stamped when it was made (see ops.ts `When`).
      const integration = await patchIntegration(
        store,
        c.get('caller').org_id,
        c.req.valid('param').id,
        c.req.valid('json'),
        now,
        actorOf(c),
      );
      return c.json(integrationView(integration, integration.updated_at), 200);
    })
    .openapi(remove, async (c) => {
      await deleteIntegration(store, c.get('caller').org_id, c.req.valid('param').id, now, actorOf(c));
      credentialsChanged?.(c.req.valid('param').id);
      return c.body(null, 204);
    })
    .openapi(refresh, async (c) => {
      // Without a JSON body the validator hands over {} unparsed, so the default is applied here too.
      const { grace_seconds: grace = 0 } = c.req.valid('json');
      const { integration, credentials } = await refreshCredentials(
        store,
        secret,
        c.get('caller').org_id,
        c.req.valid('param').id,
        grace,
        now,
        actorOf(c),
      );
      credentialsChanged?.(integration.id);
      return c.json(
        {
          ...credentials,
          rotated_at: integration.credentials.rotated_at,
          previous_valid_until: integration.credentials.previous_valid_until,
        },
        200,
        NO_STORE,
      );
    });
}
