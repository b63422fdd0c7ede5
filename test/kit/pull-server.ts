import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../shared/api/app.ts';
import type { PullLog } from '../../shared/api/pulls.ts';
import { listenLocal } from '../../shared/local/http.ts';
import type { Store } from '../../shared/store.ts';
import type { Iso } from '../../shared/time.ts';
import { recordLog } from '../api-kit.ts';
import { TEST_SECRET } from './db.ts';

/**
 * The API app (with or without the content endpoint) on a real node server on an ephemeral port, with a clock
 * the test sets, and every record the app and the server logged kept in `logged`.
 */
export interface PullServer {
  base: string;
  server: Server;
  /** The app's clock: every request is stamped with it. */
  clock: Iso;
  logged: Array<Record<string, unknown>>;
  logErrors: unknown[];
  close(): Promise<void>;
}

export async function pullServer(
  store: Store,
  options: { clock: Iso; content?: { log: PullLog; blocklist: () => Promise<string> }; secret?: string },
): Promise<PullServer> {
  const logged: Array<Record<string, unknown>> = [];
  const logErrors: unknown[] = [];
  const log = recordLog(logged);
  const s = { clock: options.clock, logged, logErrors } as PullServer;
  const app = createApp({
    store,
    secret: options.secret ?? TEST_SECRET,
    now: () => s.clock,
    staleAfterSeconds: 0,
    log,
    ...(options.content
      ? { content: { ...options.content, onLogError: (error: unknown) => logErrors.push(error) } }
      : {}),
  });
  const server = await listenLocal(app.fetch, { port: 0, hostname: '127.0.0.1', log });
  s.server = server;
  s.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  s.close = async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  };
  return s;
}

export const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** A real HTTP request (undici's fetch). */
export async function get(
  url: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> {
  const response = await fetch(url, { method: options.method ?? 'GET', headers: options.headers ?? {} });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** A request through node:http with `auth: user:pass`: what `https://user:pass@host/...` makes a client send. */
export function getWithUrlCredentials(url: string, auth: string): Promise<HttpAnswer & { raw: string[] }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { auth, method: 'GET' }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(response.headers))
          if (typeof value === 'string') headers.set(name, value);
        resolve({
          status: response.statusCode ?? 0,
          headers,
          text: Buffer.concat(chunks).toString('utf8'),
          raw: response.rawHeaders,
        });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}
