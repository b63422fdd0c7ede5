import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import type { Context } from 'aws-lambda';
import { handle } from 'hono/aws-lambda';
import { describe, expect, it } from 'vitest';
import { assetsModule, buildConsoleAssets, GENERATED } from '../scripts/console-build.ts';
import { createApp } from '../shared/api/app.ts';
import {
  credentialForms,
  credentialState,
  duration,
  hoursOf,
  relative,
  scopeOfKey,
  summarizeHistory,
  summarizeHours,
  transitionChange,
  URL_CREDENTIAL_WARNING,
} from '../shared/console/client/format.ts';
import { ASSET_VERSION, CONSOLE_PATHS, CONTENT_SECURITY_POLICY } from '../shared/console/index.ts';
import type { Store } from '../shared/store.ts';
import { httpApiEvent } from './events.ts';

/**
 * The console as served, without a browser: the same shell on every view path with a strict policy and no
 * inline code, assets small enough, built from their sources; and the pure helpers that word the page.
 */

// The console routes read no data: a store that fails on any use proves it.
const app = createApp({
  store: new Proxy({} as Store, {
    get: () => {
      throw new Error('the console page must not touch the store');
    },
  }),
  secret: 'x'.repeat(40),
  now: () => '2026-11-28T12:00:00.000Z',
  staleAfterSeconds: 0,
  log: { info: () => {}, warn: () => {}, error: () => {} },
});

describe('the page', () => {
  it.each([...CONSOLE_PATHS.map((path) => path.replace(':id', 'int_0123456789abcdef'))])(
    '%s serves the shell with the strict policy, no key needed',
    async (path) => {
      const response = await app.request(path);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/html');
      expect(response.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      const html = await response.text();
      expect(html).toContain(`<script type="module" src="/console/app.js?v=${ASSET_VERSION}"></script>`);
    },
  );

  it('has no inline script, style or event handler, and loads nothing from another origin', async () => {
    const html = await (await app.request('/')).text();
    expect(html.match(/<script\b[^>]*>/g)).toEqual([
      `<script type="module" src="/console/app.js?v=${ASSET_VERSION}">`,
    ]);
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(CONTENT_SECURITY_POLICY).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
  });

  it('leaves the API as it was: /v1 still needs a key and unknown paths are problems', async () => {
    expect((await app.request('/v1/integrations')).status).toBe(401);
    const unknown = await app.request('/elsewhere');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/problem+json');
  });
});

describe('the assets', () => {
  it('are served gzipped when asked, under 50 KB together, and cacheable for good only at their version', async () => {
    let total = 0;
    for (const [path, type] of [
      ['/console/app.js', 'text/javascript'],
      ['/console/app.css', 'text/css'],
    ] as const) {
      const zipped = await app.request(`${path}?v=${ASSET_VERSION}`, {
        headers: { 'accept-encoding': 'gzip, br' },
      });
      expect(zipped.headers.get('content-type')).toContain(type);
      expect(zipped.headers.get('content-encoding')).toBe('gzip');
      expect(zipped.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const body = new Uint8Array(await zipped.arrayBuffer());
      total += body.length;
      const plain = await app.request(path);
      expect(plain.headers.get('content-encoding')).toBeNull();
      expect(plain.headers.get('cache-control')).toBe('no-cache');
      expect(gunzipSync(body).toString('utf8')).toBe(await plain.text());
    }
    expect(total).toBeLessThan(50 * 1024);
  });

  it('are built from the sources in shared/console/client (run `npm run build:console` after changing them)', async () => {
    const built = assetsModule(await buildConsoleAssets());
    expect(built === (await readFile(GENERATED, 'utf8'))).toBe(true);
  });
});

describe('behind API Gateway', () => {
  // The Lambda entry's adapter, on the events the HTTP API's $default route delivers.
  const lambda = handle(app);
  const invoke = (path: string, headers: Record<string, string> = {}, query = '') =>
    lambda(
      // Hono's event type wants `requestContext.authorizer`, which @types/aws-lambda leaves optional.
      httpApiEvent('GET', path, {
        headers: { accept: 'text/html', ...headers },
        query,
      }) as unknown as Parameters<typeof lambda>[0],
      {} as Context,
    );

  it('serves the page with its policy, and the gzipped assets base64-encoded as API Gateway needs them', async () => {
    const page = await invoke('/integrations/int_0123456789abcdef');
    expect(page.statusCode).toBe(200);
    expect(page.headers?.['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(page.isBase64Encoded).toBe(false);
    expect(page.body).toContain('/console/app.js?v=');

    const script = await invoke('/console/app.js', { 'accept-encoding': 'gzip' }, `v=${ASSET_VERSION}`);
    expect(script.statusCode).toBe(200);
    expect(script.headers?.['content-encoding']).toBe('gzip');
    expect(script.isBase64Encoded).toBe(true);
    const served = await app.request('/console/app.js');
    expect(gunzipSync(Buffer.from(script.body ?? '', 'base64')).toString('utf8')).toBe(await served.text());
  });
});

describe('how the page words things', () => {
  const now = '2026-11-28T12:00:00.000Z';

  it("says times relative to the server's now, and durations as the alerts do", () => {
    expect(relative('2026-11-28T11:59:30.000Z', now)).toBe('just now');
    expect(relative('2026-11-28T11:48:00.000Z', now)).toBe('12 min ago');
    expect(relative('2026-11-28T09:00:00.000Z', now)).toBe('3 h ago');
    expect(relative('2026-11-26T11:00:00.000Z', now)).toBe('2 d ago');
    expect(relative('2026-11-28T14:00:00.000Z', now)).toBe('in 2 h');
    expect(duration(3 * 3600 + 12 * 60)).toBe('3 h 12 min');
    expect(duration(2 * 86400 + 4 * 3600)).toBe('2 d 4 h');
  });

  it('reads the 48-hour timeline oldest first, one character an hour', () => {
    const hours = hoursOf({ start: '2026-11-26T12:00:00.000Z', hours: `${'a'.repeat(40)}rrb.....` });
    expect(hours).toHaveLength(48);
    expect(hours[0]).toEqual({ start: '2026-11-26T12:00:00.000Z', state: 'accepted' });
    expect(hours[42]).toEqual({ start: '2026-11-28T06:00:00.000Z', state: 'both' });
    expect(summarizeHours(hours)).toBe(
      'pulls accepted in 41 of 48 hours, some refused in 1, only refused in 2, silent in 5',
    );
  });

  it('sums the 7-day history for its caption', () => {
    const accepted = Array.from({ length: 168 }, (_, hour) => (hour < 100 ? 12 : 0));
    const refused = Array.from({ length: 168 }, (_, hour) => (hour >= 160 ? 3 : 0));
    expect(summarizeHistory({ start: '2026-11-21T12:00:00.000Z', unit: 'minutes', accepted, refused })).toBe(
      'pulls accepted in 1200 minutes and refused in 24 over 7 days; 60 of 168 hours silent',
    );
  });

  it('names the credential state, the forms a firewall takes, and the scope a key gives', () => {
    expect(credentialState('previous')).toBe('The device still uses the previous password.');
    expect(credentialState(null)).toBeNull();
    const forms = credentialForms('https://pw.example/v1/integrations/int_1/content', 'pw-1', 'p/ss');
    expect(forms.map((form) => form.value)).toEqual([
      'https://pw-1:p%2Fss@pw.example/v1/integrations/int_1/content',
      'pw-1',
      'p/ss',
      'X-Api-Key: p/ss',
      'https://pw.example/v1/integrations/int_1/content?api_key=p%2Fss',
    ]);
    // The URL form last, saying why it is the last resort.
    expect(forms.at(-1)?.label).toBe('URL with ?api_key= (last resort: URLs get logged on the way)');
    expect(scopeOfKey(`pww_${'a'.repeat(43)}`)).toBe('write');
    expect(scopeOfKey(`pwr_${'a'.repeat(43)}`)).toBe('read');
    expect(scopeOfKey('pww_short')).toBeNull();
  });

  it('words a status change, naming the issue when the status stays (an early warning), never "Online → Online"', () => {
    const line = (kind: string, issueType: string | null, from: string, to: string) =>
      transitionChange({ kind, issue_type: issueType, from_status: from, to_status: to });
    expect(line('issue_opened', 'integration_auth_failing', 'online', 'online')).toBe(
      'Pulls refused started (still Online)',
    );
    expect(line('issue_resolved', 'integration_auth_failing', 'online', 'online')).toBe(
      'Pulls refused ended (still Online)',
    );
    expect(line('issue_opened', 'integration_auth_failing', 'never_pulled', 'never_pulled')).toBe(
      'Pulls refused started (still Never pulled)',
    );
    expect(line('issue_opened', 'fw_integration_offline', 'online', 'offline')).toBe('Online → Offline');
    expect(line('issue_resolved', 'fw_integration_offline', 'offline', 'online')).toBe('Offline → Online');
  });

  it('names the safer credential forms where a device sends its password in the URL', () => {
    expect(URL_CREDENTIAL_WARNING).toContain('?api_key=');
    expect(URL_CREDENTIAL_WARNING).toContain('basic auth');
    expect(URL_CREDENTIAL_WARNING).toContain('X-Api-Key');
  });
});
