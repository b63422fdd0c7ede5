import { getConnInfo } from '@hono/node-server/conninfo';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AuthOutcome, CredentialMark, PullRequestParts, PullVerifier } from '../auth/verify.ts';
import { AUTH_OUTCOMES, CREDENTIAL_MARKS, credentialMarkOf } from '../auth/verify.ts';
import { ValidationError } from '../errors.ts';
import { integrationIdOfPath } from '../pulls/parse.ts';
import type { Iso } from '../time.ts';
import { problem, problemResponses } from './problem.ts';
import { type ApiEnv, DEVICE, IdParam, router } from './router.ts';

/**
 * Where devices' pulls are verified over HTTP: the content endpoint itself (the local runner serves it) and
 * `/v1/pull-auth` for an nginx in front of any other blocklist server. Both answer from auth/verify.ts and
 * never say why a request was refused: every refusal is the same 401, so a caller cannot probe which
 * integrations exist or which of its passwords is the old one. The reason goes to the pull log instead.
 */

/** One line of the pull log the content endpoint writes: the canonical format (README, "Pull logs"). */
export interface PullLogLine {
  time: Iso;
  integration_id: string;
  method: string;
  status: number;
  ip: string | null;
  user_agent: string | null;
  bytes: number;
  auth: AuthOutcome;
  /** Where the credential came from: `query` when the URL carried one (the value never is). */
  credential: CredentialMark;
}

/** Where the content endpoint's pull-log lines go (locally: files under PULLWATCH_LOG_DIR). */
export interface PullLog {
  record(line: PullLogLine): Promise<void>;
}

export interface PullRouteDeps {
  verifier: PullVerifier;
  now: () => Iso;
}

export interface ContentDeps extends PullRouteDeps {
  log: PullLog;
  /** The blocklist served to accepted pulls: one IP or CIDR per line. */
  blocklist: () => Promise<string>;
  /** Told when a pull-log line could not be written (the answer to the device is not held back by it). */
  onLogError?: (error: unknown) => void;
}

export const OUTCOME_HEADER = 'X-Pullwatch-Auth';
/** For nginx's log too: whether the device sent its password in the URL (`query`), or which other form. */
export const CREDENTIAL_HEADER = 'X-Pullwatch-Credential';
const CHALLENGE = { 'WWW-Authenticate': 'Basic realm="pullwatch", charset="UTF-8"' } as const;
const MAX_LOGGED_AGENT = 512;

const outcomeHeader = {
  [OUTCOME_HEADER]: {
    description: `the auth outcome: ${AUTH_OUTCOMES.join(', ')}`,
    schema: { type: 'string' as const, enum: [...AUTH_OUTCOMES] },
  },
};

const credentialHeader = {
  [CREDENTIAL_HEADER]: {
    description:
      '`query` when the original URI carries an `api_key` (whatever else was presented), else the form ' +
      'presented (`basic`, `header`) or `none`; for the access log, never a secret',
    schema: { type: 'string' as const, enum: [...CREDENTIAL_MARKS] },
  },
};

const challengeHeader = {
  'WWW-Authenticate': { description: 'the basic-auth challenge', schema: { type: 'string' as const } },
};

/** The one refusal of both routes: the API's problem body, with a basic-auth challenge instead of Bearer. */
function refused(c: Context<ApiEnv>, headers: Record<string, string> = {}): Response {
  const response = problem(
    c,
    401,
    'Unauthorized',
    'The credentials presented for this integration were refused.',
  );
  for (const [name, value] of Object.entries({ ...CHALLENGE, 'Cache-Control': 'no-store', ...headers }))
    response.headers.set(name, value);
  return response;
}

const pullAuth = createRoute({
  method: 'get',
  path: '/pull-auth',
  operationId: 'verifyPull',
  tags: ['pulls'],
  summary: 'Verify a device pull for nginx auth_request.',
  description:
    'nginx sends the original request URI in `X-Original-URI` and passes the request headers on. The ' +
    'credentials are read from basic auth, `X-Api-Key` or the `api_key` query parameter of the original ' +
    'URI. Records nothing: nginx logs the request, with the outcome and credential headers if its log ' +
    "format includes them (the README's does, and logs the path without the query).",
  ...DEVICE,
  request: {
    headers: z.object({
      'x-original-uri': z
        .string()
        .max(8192)
        .openapi({ example: '/v1/integrations/int_5f1c0a9e3b7d2c41/content' }),
    }),
  },
  responses: {
    204: {
      description: 'accepted: current password, or the previous one within its grace',
      headers: { ...outcomeHeader, ...credentialHeader },
    },
    401: {
      ...problemResponses(401)[401],
      description: 'refused',
      headers: { ...outcomeHeader, ...credentialHeader, ...challengeHeader },
    },
    ...problemResponses(400, 500, 503),
  },
});

const content = createRoute({
  method: 'get',
  path: '/integrations/{id}/content',
  operationId: 'getBlocklist',
  tags: ['pulls'],
  summary: 'The blocklist, for a device presenting its credentials (local runner).',
  description:
    'Basic auth (`https://user:pass@host/...`), `X-Api-Key: <password>` or `?api_key=<password>`. HEAD ' +
    'answers the same without the body. Every request, accepted or not, becomes one canonical pull-log line ' +
    'with its auth outcome and no secret.',
  ...DEVICE,
  request: { params: IdParam },
  responses: {
    200: {
      description: 'the blocklist: one IP address or CIDR range per line',
      content: { 'text/plain': { schema: z.string() } },
    },
    401: {
      ...problemResponses(401)[401],
      description: 'refused (the reason is in the pull log, never in the answer)',
      headers: challengeHeader,
    },
    ...problemResponses(500, 503),
  },
});

function credentialParts(c: Context<ApiEnv>, query: string | null): PullRequestParts {
  return { authorization: c.req.header('authorization'), apiKeyHeader: c.req.header('x-api-key'), query };
}

const queryOf = (uri: string): string | null => {
  const at = uri.indexOf('?');
  return at === -1 ? null : (uri.slice(at + 1).split('#')[0] ?? '');
};

/** `GET /v1/pull-auth`: 204 or 401 with the outcome in a header, for nginx's auth_request. */
export function pullAuthRoutes({ verifier, now }: PullRouteDeps) {
  return router().openapi(pullAuth, async (c) => {
    const uri = c.req.valid('header')['x-original-uri'];
    const id = integrationIdOfPath(uri);
    if (id === null) {
      // A misconfigured location, not a device: nginx turns this into a 500 and logs it.
      throw new ValidationError(
        'x-original-uri: must be the original request URI, ending in /integrations/{id}/content',
        'x-original-uri',
      );
    }
    const parts = credentialParts(c, queryOf(uri));
    const verdict = await verifier.verify(id, parts, now());
    const headers = {
      [OUTCOME_HEADER]: verdict.outcome,
      [CREDENTIAL_HEADER]: credentialMarkOf(parts),
      'Cache-Control': 'no-store',
    };
    return verdict.accepted ? c.body(null, 204, headers) : refused(c, headers);
  });
}

function clientIp(c: Context<ApiEnv>): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    // Not behind the node server (an in-process test request): no peer address.
    return null;
  }
}

/** `GET|HEAD /v1/integrations/{id}/content`: the blocklist, and one pull-log line per request. */
export function contentRoutes({ verifier, now, log, blocklist, onLogError }: ContentDeps) {
  return router().openapi(content, async (c) => {
    const at = now();
    const id = c.req.valid('param').id;
    const url = c.req.url;
    const parts = credentialParts(c, queryOf(url));
    const verdict = await verifier.verify(id, parts, at);
    const body = verdict.accepted ? await blocklist() : '';
    const status = verdict.accepted ? 200 : 401;
    const agent = c.req.header('user-agent');
    try {
      await log.record({
        time: at,
        integration_id: id.slice(0, 128),
        method: c.req.method,
        status,
        ip: clientIp(c),
        user_agent: agent ? agent.slice(0, MAX_LOGGED_AGENT) : null,
        bytes: c.req.method === 'HEAD' ? 0 : Buffer.byteLength(body),
        auth: verdict.outcome,
        credential: credentialMarkOf(parts),
      });
    } catch (error) {
      onLogError?.(error);
    }
    // The problem body is built by hand (as in problem.ts); the route's typed responses cannot see that.
    if (!verdict.accepted) return refused(c) as never;
    return c.text(body, 200, { 'Cache-Control': 'no-store' });
  });
}
