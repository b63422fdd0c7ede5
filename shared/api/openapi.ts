import { z } from 'zod';
import {
  IntegrationKind,
  IntegrationPatch,
  IntegrationStatus,
  ISSUE_TYPES,
  NewIntegration,
  Vendor,
} from '../integration/index.ts';

/**
 * The API's request schemas (the same zod objects the routes validate with) and response schemas, and the
 * OpenAPI 3.1 document built from them with zod's own JSON Schema output. One source, so the document
 * cannot drift from what the routes accept.
 */
export const Limit = z.coerce.number().int().min(1).max(100).default(50);
const Cursor = z.string().max(1024).optional();

export const ListIntegrationsQuery = z.strictObject({
  status: IntegrationStatus.optional(),
  kind: IntegrationKind.optional(),
  vendor: Vendor.optional(),
  q: z.string().min(1).max(100).optional(),
  limit: Limit,
  cursor: Cursor,
});
export const ListIssuesQuery = z.strictObject({
  state: z.enum(['open', 'resolved']).optional(),
  type: z.enum(ISSUE_TYPES).optional(),
  integration_id: z.string().max(64).optional(),
  limit: Limit,
  cursor: Cursor,
});
export const RefreshBody = z.strictObject({
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(0),
});

const Time = z.iso.datetime();
const Diagnosis = z.object({ code: z.string(), summary: z.string(), steps: z.array(z.string()) });
export const IssueSchema = z.object({
  id: z.string(),
  type: z.enum(ISSUE_TYPES),
  integration_id: z.string().nullable(),
  integration_name: z.string().nullable(),
  criticality: z.enum(['critical', 'high']),
  state: z.enum(['open', 'resolved']),
  opened_at: Time,
  detected_at: Time,
  resolved_at: Time.nullable(),
  resolution: z.enum(['pull_resumed', 'paused', 'deleted']).nullable(),
  last_pull_at: Time.nullable(),
  diagnosis: Diagnosis,
  notified: z.object({
    issue_opened: Time.optional(),
    issue_reminder: Time.optional(),
    issue_resolved: Time.optional(),
  }),
});
export const IntegrationSchema = z.object({
  id: z.string(),
  name: z.string(),
  kind: IntegrationKind,
  vendor: Vendor,
  source: z.enum(['blaas', 'lapi']),
  status: IntegrationStatus,
  last_pull_at: Time.nullable(),
  last_attempt_at: Time.nullable(),
  last_attempt_status: z.number().int().nullable(),
  idle_seconds: z.number().int().nullable(),
  offline_after_seconds: z.number().int(),
  paused: z.boolean(),
  snoozed_until: Time.nullable(),
  open_issues: z.number().int(),
  username: z.string(),
  credentials_rotated_at: Time,
  created_at: Time,
  updated_at: Time,
});
const Transition = z.object({
  at: Time,
  kind: z.string(),
  issue_id: z.string().nullable(),
  issue_type: z.string().nullable(),
  from_status: z.string(),
  to_status: z.string(),
  reason: z.string(),
});
export const IntegrationDetailSchema = IntegrationSchema.extend({
  issues: z.array(IssueSchema),
  credentials: z.object({
    username: z.string(),
    created_at: Time,
    rotated_at: Time,
    previous_password_valid: z.boolean(),
    previous_valid_until: Time.nullable(),
  }),
  transitions: z.array(Transition),
});
const Credentials = z.object({ username: z.string(), password: z.string() });
const AuditEvent = z.object({
  at: Time,
  type: z.string(),
  actor: z.string(),
  request_id: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
});
const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  request_id: z.string().optional(),
  field: z.string().optional(),
});
const listOf = (item: z.ZodType) => z.object({ items: z.array(item), next_cursor: z.string().nullable() });
const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  now: Time,
  last_cycle_at: Time.nullable(),
  last_cycle_outcome: z.enum(['ok', 'failed']).nullable(),
  newest_record_at: Time.nullable(),
  feed_age_seconds: z.number().int().nullable(),
  pipeline: z.enum(['fresh', 'stale', 'unknown']),
  last_ingest: z.unknown(),
});

interface RouteDoc {
  method: 'get' | 'post' | 'patch' | 'delete';
  path: string;
  summary: string;
  scope: 'none' | 'read' | 'write';
  query?: z.ZodObject;
  body?: z.ZodType;
  response: { status: number; schema?: z.ZodType; description: string };
}

export const ROUTES: RouteDoc[] = [
  {
    method: 'get',
    path: '/v1/health',
    summary: 'Last cycle, pull-log freshness and counts. No auth, no tenant data.',
    scope: 'none',
    response: { status: 200, schema: Health, description: 'health' },
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    summary: 'This API described as OpenAPI 3.1.',
    scope: 'none',
    response: { status: 200, description: 'the OpenAPI document' },
  },
  {
    method: 'get',
    path: '/v1/docs',
    summary: 'This API described for people (HTML).',
    scope: 'none',
    response: { status: 200, description: 'an HTML page' },
  },
  {
    method: 'get',
    path: '/v1/integrations',
    summary: 'Integrations, most alarming first, then by name.',
    scope: 'read',
    query: ListIntegrationsQuery,
    response: { status: 200, schema: listOf(IntegrationSchema), description: 'a page of integrations' },
  },
  {
    method: 'post',
    path: '/v1/integrations',
    summary: 'Creates an integration; its password is returned once.',
    scope: 'write',
    body: NewIntegration,
    response: {
      status: 201,
      schema: IntegrationSchema.extend(Credentials.shape),
      description: 'the integration and its credentials',
    },
  },
  {
    method: 'get',
    path: '/v1/integrations/{id}',
    summary: 'One integration with its open issues, credential metadata and recent transitions.',
    scope: 'read',
    response: { status: 200, schema: IntegrationDetailSchema, description: 'the integration' },
  },
  {
    method: 'patch',
    path: '/v1/integrations/{id}',
    summary: 'Changes name, vendor, threshold or pause.',
    scope: 'write',
    body: IntegrationPatch,
    response: { status: 200, schema: IntegrationSchema, description: 'the integration' },
  },
  {
    method: 'delete',
    path: '/v1/integrations/{id}',
    summary: 'Deletes an integration and its credentials; its resolved history stays.',
    scope: 'write',
    response: { status: 204, description: 'deleted' },
  },
  {
    method: 'post',
    path: '/v1/integrations/{id}/credentials/refresh',
    summary: 'New password, returned once; the previous one may stay valid for grace_seconds.',
    scope: 'write',
    body: RefreshBody,
    response: {
      status: 200,
      schema: Credentials.extend({ rotated_at: Time, previous_valid_until: Time.nullable() }),
      description: 'the new credentials',
    },
  },
  {
    method: 'get',
    path: '/v1/integrations/{id}/transitions',
    summary: 'Status changes, newest first.',
    scope: 'read',
    response: { status: 200, schema: listOf(Transition), description: 'transitions' },
  },
  {
    method: 'get',
    path: '/v1/integrations/{id}/events',
    summary: 'Audit trail: who created, refreshed, paused, resumed or deleted, when, in which request.',
    scope: 'read',
    response: { status: 200, schema: listOf(AuditEvent), description: 'events' },
  },
  {
    method: 'get',
    path: '/v1/issues',
    summary: 'Issues of the organization.',
    scope: 'read',
    query: ListIssuesQuery,
    response: { status: 200, schema: listOf(IssueSchema), description: 'a page of issues' },
  },
  {
    method: 'get',
    path: '/v1/issues/{id}',
    summary: 'One issue with its diagnosis.',
    scope: 'read',
    response: { status: 200, schema: IssueSchema, description: 'the issue' },
  },
];

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const parameters: unknown[] = [];
    for (const name of route.path.match(/\{(\w+)\}/g) ?? []) {
      parameters.push({ name: name.slice(1, -1), in: 'path', required: true, schema: { type: 'string' } });
    }
    if (route.query) {
      const shape = jsonSchema(route.query, 'input') as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
      for (const [name, schema] of Object.entries(shape.properties ?? {})) {
        parameters.push({ name, in: 'query', required: shape.required?.includes(name) ?? false, schema });
      }
    }
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, unknown>)[route.method] = {
      summary: route.summary,
      ...(route.scope === 'none' ? { security: [] } : { 'x-scope': route.scope }),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
            },
          }
        : {}),
      responses: {
        [route.response.status]: {
          description: route.response.description,
          ...(route.response.schema
            ? { content: { 'application/json': { schema: jsonSchema(route.response.schema, 'output') } } }
            : {}),
        },
        default: {
          description: 'an error',
          content: { 'application/problem+json': { schema: jsonSchema(Problem, 'output') } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'pullwatch API',
      version: '1',
      description:
        'Status of blocklist pulls, issues with diagnosis, and credential refresh. Every route but /v1/health needs `Authorization: Bearer <api key>`; the organization comes from the key.',
    },
    components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
    security: [{ apiKey: [] }],
    paths,
  };
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/** A plain, self-contained HTML reference page (no scripts, no outside assets). */
export function docsPage(): string {
  const sections = ROUTES.map((route) => {
    const query = route.query ? Object.keys(route.query.shape).join(', ') : '';
    const body = route.body ? JSON.stringify(jsonSchema(route.body, 'input').properties ?? {}, null, 2) : '';
    return `<section><h2><code>${route.method.toUpperCase()} ${escapeHtml(route.path)}</code></h2>
<p>${escapeHtml(route.summary)}</p>
<p>Scope: <b>${route.scope === 'none' ? 'no auth' : route.scope}</b>${query ? `; query: <code>${escapeHtml(query)}</code>` : ''}; answers ${route.response.status}.</p>
${body ? `<details><summary>Body fields</summary><pre>${escapeHtml(body)}</pre></details>` : ''}</section>`;
  }).join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>pullwatch API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:54rem;margin:2rem auto;padding:0 1rem}code,pre{background:#f4f4f4;padding:.1rem .3rem}section{border-top:1px solid #ddd;padding:.5rem 0}</style></head>
<body><h1>pullwatch API</h1>
<p>JSON under <code>/v1</code>. Send <code>Authorization: Bearer &lt;api key&gt;</code>; read keys start with <code>pwr_</code>, write keys with <code>pww_</code>. Lists are <code>{"items": [...], "next_cursor": ...}</code>; errors are <code>application/problem+json</code>. Machine-readable: <a href="/v1/openapi.json">/v1/openapi.json</a>.</p>
${sections}
</body></html>`;
}
