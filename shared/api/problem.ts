import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  ConflictError,
  ForbiddenError,
  isThrottling,
  NotFoundError,
  UnauthorizedError,
  ValidationError,
} from '../errors.ts';

/**
 * RFC 9457 problem details, and the one mapping from errors to HTTP. A problem never carries a stack, a table
 * name or an SDK message. `type` is `about:blank` (RFC 9457 4.2.1): the status and `title` say what happened,
 * so no URI points at documentation this project does not host.
 */
export const Problem = z
  .object({
    type: z.literal('about:blank'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    request_id: z.string().optional(),
    field: z.string().optional().openapi({ description: 'the offending input, for a 400' }),
  })
  .openapi('Problem');

/** Seconds a client should wait after a 503 caused by throttling. */
export const RETRY_AFTER_SECONDS = 1;

/** Where the API logs: the project's logger (`shared/logger.ts`), or a recorder in tests. */
export interface Log {
  info(message: string, fields: Record<string, unknown>): void;
  warn(message: string, fields: Record<string, unknown>): void;
  error(message: string, fields: Record<string, unknown>): void;
}

export function problem(
  c: Context,
  status: ContentfulStatusCode,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
): Response {
  const body = { type: 'about:blank', title, status, detail, request_id: c.get('requestId'), ...extra };
  const headers: Record<string, string> = { 'Content-Type': 'application/problem+json' };
  if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="pullwatch"';
  if (status === 503) headers['Retry-After'] = String(RETRY_AFTER_SECONDS);
  return c.body(JSON.stringify(body), status, headers);
}

/** The first zod issue as a ValidationError naming its field (the dotted path; none for the whole input). */
export function validationErrorOf(error: z.ZodError): ValidationError {
  const first = error.issues[0];
  const field = first?.path.map(String).join('.') || undefined;
  if (first?.code === 'unrecognized_keys') {
    const key = first.keys[0] ?? 'field';
    const name = field ? `${field}.${key}` : key;
    return new ValidationError(`${name}: unknown field`, name);
  }
  return new ValidationError(`${field ?? 'request'}: ${first?.message ?? 'invalid'}`, field);
}

/** OpenAPIHono's `defaultHook`: a failed body, path or query validation becomes the 400 of onError. */
export function rejectInvalid(result: { success: true } | { success: false; error: z.ZodError }): void {
  if (!result.success) throw validationErrorOf(result.error);
}

const describe = (error: unknown) =>
  error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : String(error);

/**
 * The client closed the connection while its request was still being read: Node's abort of the body stream
 * (`Error: aborted`, code ECONNRESET), or the request's signal, which the node adapter aborts on a premature close.
 */
function clientAborted(error: unknown, c: Context): boolean {
  if (c.req.raw.signal?.aborted) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/** `app.onError`: domain errors to their status; anything unexpected is a 500 whose details stay in the log. */
export function errorHandler(log: Log) {
  return (error: unknown, c: Context): Response => {
    if (error instanceof ValidationError) {
      return problem(c, 400, 'Invalid request', error.message, error.field ? { field: error.field } : {});
    }
    if (error instanceof NotFoundError) return problem(c, 404, 'Not found', 'No such object.');
    if (error instanceof UnauthorizedError) return problem(c, 401, 'Unauthorized', error.message);
    if (error instanceof ForbiddenError) return problem(c, 403, 'Forbidden', error.message);
    // Only a conflict that outlived its retries gets here: someone else keeps changing the object.
    if (error instanceof ConflictError) {
      return problem(c, 409, 'Conflict', 'The object changed while we were writing it; try again.');
    }
    if (error instanceof HTTPException) {
      // The media-type gate of a route with a JSON body answers 415; our contract says 400 for that.
      if (error.status === 415) return problem(c, 400, 'Invalid request', 'body must be application/json');
      const status = error.status as ContentfulStatusCode;
      const title =
        status === 413 ? 'Payload too large' : status === 400 ? 'Invalid request' : 'Request failed';
      return problem(c, status, title, error.message || title);
    }
    if (isThrottling(error)) {
      log.warn('throttled', { request_id: c.get('requestId'), error: { name: (error as Error).name } });
      return problem(c, 503, 'Service unavailable', 'We are over our request rate; retry after a moment.');
    }
    if (clientAborted(error, c)) {
      // Nobody is left to read an answer; this one only gives the request's log line its status.
      log.info('client aborted', { request_id: c.get('requestId') });
      return problem(c, 400, 'Invalid request', 'The connection closed before the request was complete.');
    }
    log.error('unhandled error', { request_id: c.get('requestId'), error: describe(error) });
    return problem(
      c,
      500,
      'Internal error',
      'Something went wrong on our side; the request id identifies it in our logs.',
    );
  };
}

/** The error answers a route documents, by status. */
const ERROR_DESCRIPTIONS = {
  400: 'invalid input: names the offending field',
  401: 'no API key, or not a valid one',
  403: 'a read key on a write route',
  404: "no such object in the key's organization",
  409: 'the object kept changing under concurrent writes',
  413: 'body larger than 64 KB',
  500: 'an error on our side',
  503: 'throttled; retry after the Retry-After header',
} as const;

export type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

/** `responses` entries of createRoute for the given error statuses, each a problem+json body. */
export function problemResponses<S extends ErrorStatus>(...statuses: S[]) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: ERROR_DESCRIPTIONS[status],
        content: { 'application/problem+json': { schema: Problem } },
        ...(status === 503
          ? { headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer' } } } }
          : {}),
      },
    ]),
  ) as unknown as Record<
    S,
    { description: string; content: { 'application/problem+json': { schema: typeof Problem } } }
  >;
}
