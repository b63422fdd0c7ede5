import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { authenticate } from '../auth/index.ts';
import { PullVerifier } from '../auth/verify.ts';
import { consoleRoutes } from '../console/index.ts';
import { ForbiddenError, UnauthorizedError } from '../errors.ts';
import { logger } from '../logger.ts';
import type { Store } from '../store.ts';
import type { Iso } from '../time.ts';
import { type ApiDocument, docsRoutes } from './docs.ts';
import { healthRoutes } from './health.ts';
import { historyRoutes } from './history.ts';
import { integrationRoutes } from './integrations.ts';
import { issueRoutes } from './issues.ts';
import { errorHandler, type Log, problem } from './problem.ts';
import { type ContentDeps, contentRoutes, pullAuthRoutes } from './pulls.ts';
import { type RouteDeps, router } from './router.ts';

export interface ApiDeps {
  store: Store;
  /** Secret for the keyed hashes of API keys and passwords. */
  secret: string;
  /** The clock; tests pin it. */
  now: () => Iso;
  /** Freshness limit of the pull-log feed, for /v1/health (0: not judged). */
  staleAfterSeconds: number;
  /** The console's base URL, which the notifications link to (`GET /v1/issues/{id}/notification` shows them). */
  consoleUrl?: string;
  /** Browser origins allowed to call the API (the console's); none by default. */
  corsOrigins?: string[];
  /**
   * One record per request (request ids, method, path, status, time) and one per unhandled error: the project's
   * logger unless a test records them.
   */
  log?: Log;
  /** Verifies devices' pulls (`/v1/pull-auth`, the content endpoint); one per process, for its cache. */
  verifier?: PullVerifier;
  /** Serve the content endpoint (the local runner): where its pull-log lines go and what it serves. */
  content?: Omit<ContentDeps, 'verifier' | 'now'>;
}

export const MAX_BODY_BYTES = 64 * 1024;

const INFO = {
  title: 'pullwatch API',
  version: '1',
  description:
    'Status of blocklist pulls, issues with diagnosis, and credential refresh. Every route but /v1/health and ' +
    'the documentation needs `Authorization: Bearer <api key>`; the organization comes from the key.',
  license: { name: 'UNLICENSED', identifier: 'LicenseRef-UNLICENSED' },
};

/** The HTTP API, the same app locally (node server) and in Lambda (`hono/aws-lambda`). */
export function createApp(deps: ApiDeps) {
  const { store, secret, now } = deps;
  const log = deps.log ?? logger;
  // Devices present their own credentials, not an API key.
  const verifier = deps.verifier ?? new PullVerifier(secret, (id) => store.integrations.byId(id));
  const routeDeps: RouteDeps = {
    store,
    secret,
    now,
    staleAfterSeconds: deps.staleAfterSeconds,
    ...(deps.consoleUrl ? { consoleUrl: deps.consoleUrl } : {}),
    // A refresh or delete made here takes effect at once for this process's pulls, not within the cache's bounds.
    credentialsChanged: (id) => verifier.forget(id),
  };
  const app = router();

  // Always our own id: a caller-chosen one would end up in audit records and log lines as if it were ours.
  app.use('*', async (c, next) => {
    const id = crypto.randomUUID();
    c.set('requestId', id);
    c.header('X-Request-Id', id);
    await next();
  });
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    log.info('request', {
      request_id: c.get('requestId'),
      // API Gateway's own id, to find the same request in its access log; null outside Lambda.
      api_gateway_request_id: c.env?.event?.requestContext?.requestId ?? null,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
      key_id: c.get('caller')?.key_id ?? null,
    });
  });
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
  app.onError(errorHandler(log));
  app.notFound((c) => problem(c, 404, 'Not found', 'No such route.'));

  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', { type: 'http', scheme: 'bearer' });
  let document: ApiDocument | undefined;
  // Built once, on first request, when every route below is registered; only the server differs.
  const describe = (origin: string): ApiDocument => {
    document ??= app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: INFO,
      security: [{ apiKey: [] }],
      tags: [
        { name: 'integrations', description: 'what pulls the blocklist, and its credentials' },
        { name: 'issues', description: 'what went wrong, with a diagnosis' },
        { name: 'deployment', description: 'the health of this deployment' },
        { name: 'pulls', description: "verifying a device's pull by the credential it presents" },
        { name: 'documentation', description: 'this description' },
      ],
    }) as unknown as ApiDocument;
    return { ...document, servers: [{ url: origin, description: 'this deployment' }] };
  };
  // The console page and its assets: no key (the page asks for one), nothing of a tenant in them.
  app.route('/', consoleRoutes());
  app.route('/v1', healthRoutes(routeDeps));
  app.route('/v1', docsRoutes(describe));
  app.route('/v1', pullAuthRoutes({ verifier, now }));
  if (deps.content) app.route('/v1', contentRoutes({ ...deps.content, verifier, now }));

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
  app.route('/v1/integrations', integrationRoutes(routeDeps));
  app.route('/v1/integrations', historyRoutes(routeDeps));
  app.route('/v1/issues', issueRoutes(routeDeps));
  return app;
}
