import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ForbiddenError, NotFoundError, UnauthorizedError, ValidationError } from '../errors.ts';

/** RFC 9457 problem details. Never carries a stack, a table name or an SDK message. */
export function problem(
  c: Context,
  status: ContentfulStatusCode,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
): Response {
  const body = {
    type: `https://pullwatch.dev/problems/${title.toLowerCase().replaceAll(' ', '-')}`,
    title,
    status,
    detail,
    request_id: c.get('requestId'),
    ...extra,
  };
  const headers: Record<string, string> = { 'Content-Type': 'application/problem+json' };
  if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="pullwatch"';
  return c.body(JSON.stringify(body), status, headers);
}

/** The one mapping from errors to HTTP. Anything unexpected is a 500 whose details stay in the log. */
export function errorToResponse(error: unknown, c: Context): Response {
  if (error instanceof ValidationError) {
    return problem(c, 400, 'Invalid request', error.message, error.field ? { field: error.field } : {});
  }
  if (error instanceof NotFoundError) return problem(c, 404, 'Not found', 'No such object.');
  if (error instanceof UnauthorizedError) return problem(c, 401, 'Unauthorized', error.message);
  if (error instanceof ForbiddenError) return problem(c, 403, 'Forbidden', error.message);
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode;
    const title =
      status === 413 ? 'Payload too large' : status === 400 ? 'Invalid request' : 'Request failed';
    return problem(c, status, title, error.message || title);
  }
  console.error(
    JSON.stringify({
      level: 'error',
      request_id: c.get('requestId'),
      message: 'unhandled error',
      error:
        error instanceof Error
          ? { name: error.name, message: error.message, stack: error.stack }
          : String(error),
    }),
  );
  return problem(
    c,
    500,
    'Internal error',
    'Something went wrong on our side; the request id identifies it in our logs.',
  );
}
