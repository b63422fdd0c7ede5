import { zValidator } from '@hono/zod-validator';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import type { RequestIdVariables } from 'hono/request-id';
import { authenticate, type Caller } from '../auth/index.ts';
import { ForbiddenError, NotFoundError, UnauthorizedError, ValidationError } from '../errors.ts';
import { statusOf } from '../integration/index.ts';
import {
  type Actor,
  createIntegration,
  deleteIntegration,
  getIntegration,
  integrationView,
  patchIntegration,
  refreshCredentials,
} from '../integration/ops.ts';
import type { Issue } from '../issue/index.ts';
import type { AuditEvent, Store } from '../store/index.ts';
import { addSeconds, type Iso, iso, secondsBetween } from '../time.ts';
import { docsPage, ListIntegrationsQuery, ListIssuesQuery, openApiDocument, RefreshBody } from './openapi.ts';
import { errorToResponse, problem } from './problem.ts';

export interface ApiDeps {
  store: Store;
  /** Secret for the keyed hashes of API keys and passwords. */
  secret: string;
  /** The clock; tests pin it. */
  now?: () => Iso;
  /** Browser origins allowed to call the API (the console's); none by default. */
  corsOrigins?: string[];
  /** Freshness limit of the pull-log feed, for /v1/health (0: not judged). */
  staleAfterSeconds?: number;
  /** One JSON line per request (request id, method, path, status, time); never headers or bodies. */
  log?: (message: string, fields: Record<string, unknown>) => void;
}

type Env = { Variables: RequestIdVariables & { caller: Caller } };

const MAX_BODY_BYTES = 64 * 1024;
const NO_STORE = { 'Cache-Control': 'no-store' };

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

/**
 * The end of each grace window, derived from the refresh events (nobody performs it, so nothing stores it):
 * a window ends at its `previous_valid_until`, or earlier if a later refresh replaced that password.
 */
function expiredGraceWindows(events: AuditEvent[], now: Iso): AuditEvent[] {
  const refreshes = events
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

const actorOf = (c: Context<Env>): Actor => ({
  key_id: c.get('caller').key_id,
  request_id: c.get('requestId'),
});

/** The HTTP API, the same app locally (node server) and in Lambda (`hono/aws-lambda`). */
export function createApp(deps: ApiDeps) {
  const { store, secret } = deps;
  const now = deps.now ?? (() => iso(new Date()));
  const staleAfter = deps.staleAfterSeconds ?? 7200;
  const app = new Hono<Env>();

  // Always our own id: a caller-chosen one would end up in audit records and log lines as if it were ours.
  app.use('*', async (c, next) => {
    const id = crypto.randomUUID();
    c.set('requestId', id);
    c.header('X-Request-Id', id);
    await next();
  });
  if (deps.log) {
    const log = deps.log;
    app.use('*', async (c, next) => {
      const started = performance.now();
      await next();
      log('request', {
        request_id: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
        key_id: c.get('caller')?.key_id ?? null,
      });
    });
  }
  if (deps.corsOrigins && deps.corsOrigins.length > 0) {
    app.use(
      '/v1/*',
      cors({
        origin: deps.corsOrigins,
        allowHeaders: ['Authorization', 'Content-Type'],
        allowMethods: ['GET', 'POST', 'PATCH', 'DELETE'],
        exposeHeaders: ['X-Request-Id'],
        maxAge: 600,
      }),
    );
  }
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
    const newest = deployment.newest_record_at;
    const stale = staleAfter > 0 && newest !== null && addSeconds(newest, staleAfter) <= at;
    return c.json({
      status: deployment.last_cycle_outcome === 'failed' || stale ? 'degraded' : 'ok',
      now: at,
      last_cycle_at: deployment.last_cycle_at,
      last_cycle_outcome: deployment.last_cycle_outcome,
      newest_record_at: newest,
      feed_age_seconds: newest ? secondsBetween(newest, at) : null,
      pipeline: newest === null ? 'unknown' : stale ? 'stale' : 'fresh',
      last_ingest: deployment.last_ingest,
    });
  });
  app.get('/v1/openapi.json', (c) => c.json(openApiDocument()));
  app.get('/v1/docs', (c) => c.html(docsPage()));

  // Everything below needs a key; the organization comes from the key and nowhere else.
  app.use('/v1/*', async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer (\S+)$/i.exec(header);
    if (!match?.[1]) throw new UnauthorizedError('send an API key as "Authorization: Bearer <key>"');
    const caller = await authenticate(store, secret, match[1], now());
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
        ...(query.kind ? { kind: query.kind } : {}),
        ...(query.vendor ? { vendor: query.vendor } : {}),
        ...(query.q ? { nameContains: query.q } : {}),
        ...(query.status ? { accept: (integration) => statusOf(integration, at) === query.status } : {}),
      });
      return c.json({
        items: page.items.map((integration) => integrationView(integration, at)),
        next_cursor: page.next_cursor,
      });
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
        actorOf(c),
      );
      return c.json({ ...integrationView(integration, at), ...credentials }, 201, NO_STORE);
    })
    .get('/:id', async (c) => {
      const { org_id } = c.get('caller');
      const at = now();
      const integration = await getIntegration(store, org_id, c.req.param('id'));
      const refs = Object.values(integration.open_issues).filter((ref) => ref !== undefined);
      const [issues, transitions] = await Promise.all([
        Promise.all(refs.map((ref) => store.getIssue(org_id, ref.id))),
        store.listTransitions(org_id, integration.id, 20),
      ]);
      const { credentials } = integration;
      return c.json({
        ...integrationView(integration, at),
        issues: issues.filter((issue): issue is Issue => issue !== null).map(issueView),
        // Metadata only: never a password or a hash.
        credentials: {
          username: credentials.username,
          created_at: integration.created_at,
          rotated_at: credentials.rotated_at,
          previous_password_valid:
            credentials.previous_valid_until !== null && at < credentials.previous_valid_until,
          previous_valid_until: credentials.previous_valid_until,
        },
        transitions: transitions.map(({ integration_id: _id, ...transition }) => transition),
      });
    })
    .get('/:id/transitions', async (c) => {
      const { org_id } = c.get('caller');
      // 404 for another organization's integration, exactly like a missing one.
      const integration = await getIntegration(store, org_id, c.req.param('id'));
      const items = await store.listTransitions(org_id, integration.id, 100);
      return c.json({
        items: items.map(({ integration_id: _id, ...transition }) => transition),
        next_cursor: null,
      });
    })
    .get('/:id/events', async (c) => {
      const { org_id } = c.get('caller');
      const at = now();
      const id = c.req.param('id');
      const events: AuditEvent[] = await store.listEvents(org_id, id, 100);
      // A deleted integration keeps its trail; an id with no trail in this organization is unknown.
      if (events.length === 0) await getIntegration(store, org_id, id);
      events.push(...expiredGraceWindows(events, at));
      events.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
      return c.json({ items: events.map(({ integration_id: _id, ...event }) => event), next_cursor: null });
    })
    .patch('/:id', async (c) => {
      const at = now();
      const body = await jsonBody(c);
      const integration = await patchIntegration(
        store,
        c.get('caller').org_id,
        c.req.param('id'),
        body,
        at,
        actorOf(c),
      );
      return c.json(integrationView(integration, at));
    })
    .delete('/:id', async (c) => {
      await deleteIntegration(store, c.get('caller').org_id, c.req.param('id'), now(), actorOf(c));
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
        actorOf(c),
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
        ...(query.type ? { type: query.type } : {}),
        ...(query.integration_id ? { integrationId: query.integration_id } : {}),
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
