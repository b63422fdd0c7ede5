import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import type { Caller } from '../auth/index.ts';
import type { Actor } from '../integration/ops.ts';
import type { Store } from '../store.ts';
import type { Iso } from '../time.ts';
import { rejectInvalid } from './problem.ts';

/** What every resource's routes get from createApp. */
export interface RouteDeps {
  store: Store;
  secret: string;
  now: () => Iso;
  staleAfterSeconds: number;
  /** Where notifications link to (PULLWATCH_CONSOLE_URL), so a preview reads as the message that went out. */
  consoleUrl?: string;
  /** Told when an integration's credentials changed or it was deleted (the pull verifier drops its cached copy). */
  credentialsChanged?: (integrationId: string) => void;
}

/** `event` is set by hono/aws-lambda (API Gateway's event), absent locally. */
export type ApiEnv = {
  Variables: RequestIdVariables & { caller: Caller };
  Bindings: { event?: { requestContext?: { requestId?: string } } };
};

/** A sub-app whose zod failures (body, path and query alike) become the one 400 of onError. */
export const router = () => new OpenAPIHono<ApiEnv>({ defaultHook: rejectInvalid });

export const actorOf = (c: Context<ApiEnv>): Actor => ({
  key_id: c.get('caller').key_id,
  request_id: c.get('requestId'),
});

export const NO_STORE = { 'Cache-Control': 'no-store' } as const;

/** Scope a route needs, as an OpenAPI extension the docs page and the tenancy test read. */
export const scope = (needed: 'read' | 'write') => ({ 'x-scope': needed });
/** For routes that need no key: overrides the document's global bearer requirement. */
export const PUBLIC = { security: [] };
/** For routes a device calls with its own credentials (basic auth, X-Api-Key, api_key), never an API key. */
export const DEVICE = { security: [], 'x-scope': 'device' as const };

export const Time = z.iso.datetime();

/** `{id}` of a path. Any string: a malformed id answers the 404 of a missing one, as before. */
export const IdParam = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: 'int_5f1c0a9e3b7d2c41' }),
});

/** `limit` and `cursor` of every list. */
export const PageQuery = {
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(50)
    .openapi({ description: 'items per page (1 to 100)' }),
  cursor: z.string().max(1024).optional().openapi({ description: 'next_cursor of the previous page' }),
};

/** `{items, next_cursor}` of `item`. */
export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().openapi({ description: 'null on the last page' }),
  });
