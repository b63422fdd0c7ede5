import { createRoute, z } from '@hono/zod-openapi';
import { PUBLIC, router } from './router.ts';

/** The API described: the OpenAPI document the routes generate, and a plain HTML page made from it. */

/** The parts of an OpenAPI operation the HTML page reads. */
interface Operation {
  summary?: string;
  description?: string;
  'x-scope'?: string;
  security?: unknown[];
  parameters?: Array<{ name: string; in: string }>;
  requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> };
  responses?: Record<string, unknown>;
}
export interface ApiDocument {
  paths?: Record<string, Record<string, Operation>>;
  [key: string]: unknown;
}

const getDocument = createRoute({
  method: 'get',
  path: '/openapi.json',
  operationId: 'getOpenApiDocument',
  tags: ['documentation'],
  summary: 'This API described as OpenAPI 3.1.',
  description: 'Generated from the same route definitions that validate requests.',
  ...PUBLIC,
  responses: {
    200: {
      description: 'the OpenAPI document',
      content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
    },
  },
});

const getDocsPage = createRoute({
  method: 'get',
  path: '/docs',
  operationId: 'getDocsPage',
  tags: ['documentation'],
  summary: 'This API described for people (HTML).',
  description: 'A self-contained page: no scripts, no outside assets.',
  ...PUBLIC,
  responses: {
    200: { description: 'an HTML page', content: { 'text/html': { schema: z.string() } } },
  },
});

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

export function docsPage(document: ApiDocument): string {
  const sections = Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => {
      const query = (operation.parameters ?? [])
        .filter((parameter) => parameter.in === 'query')
        .map((parameter) => parameter.name)
        .join(', ');
      const fields = operation.requestBody?.content?.['application/json']?.schema?.properties;
      const body = fields ? JSON.stringify(fields, null, 2) : '';
      const success = Object.keys(operation.responses ?? {}).find((status) => status.startsWith('2'));
      const scope = operation['x-scope'] ?? 'no auth';
      return `<section><h2><code>${method.toUpperCase()} ${escapeHtml(path)}</code></h2>
<p>${escapeHtml(operation.summary ?? '')} ${escapeHtml(operation.description ?? '')}</p>
<p>Scope: <b>${escapeHtml(scope)}</b>${query ? `; query: <code>${escapeHtml(query)}</code>` : ''}; answers ${success ?? ''}.</p>
${body ? `<details><summary>Body fields</summary><pre>${escapeHtml(body)}</pre></details>` : ''}</section>`;
    }),
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>pullwatch API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:54rem;margin:2rem auto;padding:0 1rem}code,pre{background:#f4f4f4;padding:.1rem .3rem}section{border-top:1px solid #ddd;padding:.5rem 0}</style></head>
<body><h1>pullwatch API</h1>
<p>JSON under <code>/v1</code>. Send <code>Authorization: Bearer &lt;api key&gt;</code>; read keys start with <code>pwr_</code>, write keys with <code>pww_</code>. Lists are <code>{"items": [...], "next_cursor": ...}</code>; errors are <code>application/problem+json</code>. Machine-readable: <a href="/v1/openapi.json">/v1/openapi.json</a>.</p>
${sections.join('\n')}
</body></html>`;
}

/** `document(origin)`: the whole app's document, with this deployment's origin as its server. */
export function docsRoutes(document: (origin: string) => ApiDocument) {
  return router()
    .openapi(getDocument, (c) => c.json(document(new URL(c.req.url).origin), 200))
    .openapi(getDocsPage, (c) => c.html(docsPage(document(new URL(c.req.url).origin)), 200));
}
