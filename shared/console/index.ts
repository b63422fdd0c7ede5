import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { type Context, Hono } from 'hono';
import { SCRIPT, STYLE } from './assets.gen.ts';

/**
 * The console: one HTML shell for every view path and its script and style, served by the API's own app (so
 * it works the same under `npm start` and behind API Gateway), with nothing fetched from anywhere else. The
 * script talks to /v1 with the key the person typed; the server renders no tenant data into the page.
 */

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/** The views' paths; /issues/{id} is where alert emails link (`PULLWATCH_CONSOLE_URL`/issues/{id}). */
export const CONSOLE_PATHS = ['/', '/integrations', '/integrations/:id', '/issues', '/issues/:id'] as const;

interface Asset {
  type: string;
  body: Uint8Array;
  gzip: Uint8Array;
}

const asset = (type: string, text: string): Asset => {
  const body = new TextEncoder().encode(text);
  return { type, body, gzip: gzipSync(body, { level: 9 }) };
};

export const ASSETS = {
  'app.js': asset('text/javascript; charset=utf-8', SCRIPT),
  'app.css': asset('text/css; charset=utf-8', STYLE),
};

/** Changes with the assets, so a browser may keep them for a year and still never run an old script. */
export const ASSET_VERSION = createHash('sha256').update(SCRIPT).update(STYLE).digest('hex').slice(0, 12);

export const SHELL = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pullwatch</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/app.css?v=${ASSET_VERSION}">
<script type="module" src="/console/app.js?v=${ASSET_VERSION}"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<span class="brand">pullwatch</span>
<nav id="nav" aria-label="Main"></nav>
<div id="who"></div>
</header>
<div id="banner"></div>
<main id="main" tabindex="-1"><noscript><p>The pullwatch console needs JavaScript. The API itself is described at <a href="/v1/docs">/v1/docs</a>.</p></noscript></main>
<div id="status" class="sr-only" role="status" aria-live="polite"></div>
</body>
</html>
`;

function serveAsset(c: Context, name: keyof typeof ASSETS) {
  const { type, body, gzip } = ASSETS[name];
  const versioned = c.req.query('v') === ASSET_VERSION;
  const gzipped = /\bgzip\b/.test(c.req.header('accept-encoding') ?? '');
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    'Content-Type': type,
    'Cache-Control': versioned ? 'public, max-age=31536000, immutable' : 'no-cache',
    ETag: `"${ASSET_VERSION}${gzipped ? '-gz' : ''}"`,
    Vary: 'Accept-Encoding',
  };
  if (gzipped) headers['Content-Encoding'] = 'gzip';
  return c.body((gzipped ? gzip : body) as Uint8Array<ArrayBuffer>, 200, headers);
}

export function consoleRoutes() {
  const app = new Hono();
  for (const path of CONSOLE_PATHS) {
    app.get(path, (c) => c.html(SHELL, 200, { ...SECURITY_HEADERS, 'Cache-Control': 'no-cache' }));
  }
  app.get('/console/app.js', (c) => serveAsset(c, 'app.js'));
  app.get('/console/app.css', (c) => serveAsset(c, 'app.css'));
  return app;
}
