import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { type RequestIdVariables, requestId } from 'hono/request-id';
import { z } from 'zod';
import { authenticate, type Caller } from '../auth/index.ts';
import { ForbiddenError, NotFoundError, UnauthorizedError, ValidationError } from '../errors.ts';
import { IntegrationKind, IntegrationStatus, statusOf } from '../integration/index.ts';
import {
  createIntegration,
  deleteIntegration,
  getIntegration,
  integrationView,
  patchIntegration,
  refreshCredentials,
} from '../integration/ops.ts';
import type { Issue } from '../issue/index.ts';
import type { Store } from '../store/index.ts';
import { type Iso, iso, secondsBetween } from '../time.ts';
import { errorToResponse, problem } from './problem.ts';

export interface ApiDeps {
  store: Store;
  /** Secret for the keyed hashes of API keys and passwords. */
  secret: string;
  /** The clock; tests pin it. */
  now?: () => Iso;
}

type Env = { Variables: RequestIdVariables & { caller: Caller } };

const MAX_BODY_BYTES = 64 * 1024;
const NO_STORE = { 'Cache-Control': 'no-store' };

const Limit = z.coerce.number().int().min(1).max(100).default(50);
const ListIntegrationsQuery = z.strictObject({
  status: IntegrationStatus.optional(),
  kind: IntegrationKind.optional(),
  limit: Limit,
  cursor: z.string().max(1024).optional(),
});
const ListIssuesQuery = z.strictObject({
  state: z.enum(['open', 'resolved']).optional(),
  limit: Limit,
  cursor: z.string().max(1024).optional(),
});
const RefreshBody = z.strictObject({ grace_seconds: z.number().int().min(0).default(0) });

/** zod failures become one 400 naming the first offending field. */
const invalid = (result: {
  success: boolean;
  error?: { issues: Array<{ path: PropertyKey[]; message: string }> };
}) => {
  if (result.success || !result.error) return;
  const first = result.error.issues[0];
  const field = first?.path.map(String).join('.') || undefined;
  throw new ValidationError(`${field ?? 'request'}: ${first?.message ?? 'invalid'}`, field);
};

async function jsonBody(c: { req: { header(name: string): string | undefined; text(): Promise<string> } }) {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  const type = c.req.header('content-type') ?? '';
  if (!type.includes('application/json')) throw new ValidationError('body must be application/json');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError('body is not valid JSON');
  }
}

export function issueView(issue: Issue) {
  return {
    id: issue.id,
    type: issue.type,
    integration_id: issue.integration_id,
    integration_name: issue.integration_name,
    criticality: issue.criticality,
    state: issue.state,
    opened_at: issue.opened_at,
    detected_at: issue.detected_at,
    resolved_at: issue.resolved_at,
    resolution: issue.resolution,
    last_pull_at: issue.last_pull_at,
    diagnosis: issue.diagnosis,
    notified: issue.notified,
  };
}

/** The HTTP API, the same app locally (node server) and in Lambda (`hono/aws-lambda`). */
export function createApp(deps: ApiDeps) {
  const { store, secret } = deps;
  const now = deps.now ?? (() => iso(new Date()));
  const app = new Hono<Env>();

  app.use('*', requestId());
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new HTTPException(413, { message: `body larger than ${MAX_BODY_BYTES} bytes` });
      },
    }),
  );
  app.onError(errorToResponse);
  app.notFound((c) => problem(c, 404, 'Not found', 'No such route.'));

  app.get('/v1/health', async (c) => {
    const at = now();
    const deployment = await store.getDeployment();
    return c.json({
      status: deployment.last_cycle_outcome === 'failed' ? 'degraded' : 'ok',
      now: at,
      last_cycle_at: deployment.last_cycle_at,
      last_cycle_outcome: deployment.last_cycle_outcome,
      newest_record_at: deployment.newest_record_at,
      feed_age_seconds: deployment.newest_record_at ? secondsBetween(deployment.newest_record_at, at) : null,
      last_ingest: deployment.last_ingest,
    });
  });

  // Everything below needs a key; the organization comes from the key and nowhere else.
  app.use('/v1/*', async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer (\S+)$/i.exec(header);
    if (!match?.[1]) throw new UnauthorizedError('send an API key as "Authorization: Bearer <key>"');
    const caller = await authenticate(store, secret, match[1]);
    if (!caller) throw new UnauthorizedError('the API key is not valid');
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && caller.scope !== 'write') {
      throw new ForbiddenError('this API key is read-only');
    }
    c.set('caller', caller);
    await next();
  });

  const integrations = new Hono<Env>()
    .get('/', zValidator('query', ListIntegrationsQuery, invalid), async (c) => {
      const { org_id } = c.get('caller');
      const query = c.req.valid('query');
      const at = now();
      const page = await store.listIntegrations(org_id, {
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      const items = page.items
        .filter((integration) => !query.status || statusOf(integration, at) === query.status)
        .filter((integration) => !query.kind || integration.kind === query.kind)
        .map((integration) => integrationView(integration, at));
      return c.json({ items, next_cursor: page.next_cursor });
    })
    .post('/', async (c) => {
      const { org_id } = c.get('caller');
      const at = now();
      const { integration, credentials } = await createIntegration(
        store,
        secret,
        org_id,
        await jsonBody(c),
        at,
      );
      return c.json({ ...integrationView(integration, at), ...credentials }, 201, NO_STORE);
    })
    .get('/:id', async (c) => {
      const integration = await getIntegration(store, c.get('caller').org_id, c.req.param('id'));
      return c.json(integrationView(integration, now()));
    })
    .get('/:id/transitions', async (c) => {
      const { org_id } = c.get('caller');
      // 404 for another organization's integration, exactly like a missing one.
      await getIntegration(store, org_id, c.req.param('id'));
      const items = await store.listTransitions(org_id, c.req.param('id'), 50);
      return c.json({ items, next_cursor: null });
    })
    .patch('/:id', async (c) => {
      const at = now();
      const body = await jsonBody(c);
      const integration = await patchIntegration(store, c.get('caller').org_id, c.req.param('id'), body, at);
      return c.json(integrationView(integration, at));
    })
    .delete('/:id', async (c) => {
      await deleteIntegration(store, c.get('caller').org_id, c.req.param('id'), now());
      return c.body(null, 204);
    })
    .post('/:id/credentials/refresh', async (c) => {
      const at = now();
      const parsed = RefreshBody.safeParse(await jsonBody(c));
      invalid(parsed);
      const grace = parsed.success ? parsed.data.grace_seconds : 0;
      const { integration, credentials } = await refreshCredentials(
        store,
        secret,
        c.get('caller').org_id,
        c.req.param('id'),
        grace,
        at,
      );
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

  const issues = new Hono<Env>()
    .get('/', zValidator('query', ListIssuesQuery, invalid), async (c) => {
      const query = c.req.valid('query');
      const page = await store.listIssues(c.get('caller').org_id, {
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
        ...(query.state ? { state: query.state } : {}),
      });
      return c.json({ items: page.items.map(issueView), next_cursor: page.next_cursor });
    })
    .get('/:id', async (c) => {
      const issue = await store.getIssue(c.get('caller').org_id, c.req.param('id'));
      if (!issue) throw new NotFoundError('issue not found');
      return c.json(issueView(issue));
    });

  app.route('/v1/integrations', integrations);
  app.route('/v1/issues', issues);
  return app;
}
