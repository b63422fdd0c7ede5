import { createRoute, z } from '@hono/zod-openapi';
import { type DeploymentState, feedState } from '../deployment/index.ts';
import { secondsBetween } from '../time.ts';
import { problemResponses } from './problem.ts';
import { PUBLIC, type RouteDeps, router, Time } from './router.ts';

/** Counts only: what the last ingest read. */
const IngestCounts = z.object({
  at: Time,
  files_processed: z.number().int(),
  files_failed: z.number().int(),
  files_set_aside: z.number().int(),
  lines: z.number().int(),
  records: z.number().int(),
  skipped: z.record(z.string(), z.number().int()),
});

const CYCLE_OUTCOMES = ['ok', 'failed'] as const satisfies ReadonlyArray<
  DeploymentState['last_cycle_outcome']
>;

export const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    now: Time,
    last_cycle_at: Time.nullable(),
    last_cycle_outcome: z.enum(CYCLE_OUTCOMES).nullable(),
    /** The newest successful or attempted pull read from the feed. */
    newest_record_at: Time.nullable(),
    /** The newest sign of life of the feed: any log line, any bouncer snapshot; what `pipeline` is judged on. */
    feed_seen_at: Time.nullable(),
    /** The same, from access-log lines only; `pipeline` is stale when either is too old. */
    logs_seen_at: Time.nullable(),
    feed_age_seconds: z.number().int().nullable(),
    pipeline: z.enum(['fresh', 'stale', 'unknown']),
    last_ingest: IngestCounts.nullable(),
    /** Counts only: notifications SNS refused for good (a permanent publish failure needs an operator). */
    notifications: z.object({
      failed_permanently: z.number().int(),
      last_cycle_failed_permanently: z.number().int(),
      last_failure_at: Time.nullable(),
    }),
  })
  .openapi('Health');
export type HealthView = z.infer<typeof HealthSchema>;

const getHealth = createRoute({
  method: 'get',
  path: '/health',
  operationId: 'getHealth',
  tags: ['deployment'],
  summary: 'Last cycle, pull-log freshness and counts.',
  description: 'No auth, no tenant data: safe for an uptime probe.',
  ...PUBLIC,
  responses: {
    200: { description: 'health', content: { 'application/json': { schema: HealthSchema } } },
    ...problemResponses(500, 503),
  },
});

export function healthRoutes({ store, now, staleAfterSeconds }: RouteDeps) {
  return router().openapi(getHealth, async (c) => {
    const at = now();
    const deployment = await store.deployment.get();
    const fed = deployment.feed_seen_at;
    const { pipeline } = feedState(deployment, staleAfterSeconds, at);
    const stale = pipeline === 'stale';
    const health: HealthView = {
      status:
        deployment.last_cycle_outcome === 'failed' ||
        stale ||
        deployment.notifications.last_cycle_failed_permanently > 0
          ? 'degraded'
          : 'ok',
      now: at,
      last_cycle_at: deployment.last_cycle_at,
      last_cycle_outcome: deployment.last_cycle_outcome,
      newest_record_at: deployment.newest_record_at,
      feed_seen_at: fed,
      logs_seen_at: deployment.logs_seen_at,
      feed_age_seconds: fed ? secondsBetween(fed, at) : null,
      pipeline,
      last_ingest: deployment.last_ingest,
      notifications: deployment.notifications,
    };
    return c.json(health, 200);
  });
}
