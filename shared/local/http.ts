import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import { MAX_BODY_BYTES } from '../api/app.ts';
import type { Log } from '../api/problem.ts';
import { logger } from '../logger.ts';

/**
 * The local runner's HTTP server: the API app behind Node's http server, with the edges the Hono adapter and
 * Node leave bare answered in the app's error shape (problem+json with an X-Request-Id), and with answers sent
 * before the request body was read closed cleanly instead of leaving a keep-alive connection that the adapter
 * would destroy under the client's next request.
 */

export interface LocalHttpOptions {
  port: number;
  hostname: string;
  /**
   * An `Expect: 100-continue` upload declared larger is refused without inviting the body; the API's limit
   * unless told otherwise.
   */
  maxBodyBytes?: number;
  log?: Log;
}

/** How long, and how many bytes, a refused upload is still read after the answer, so closing does not reset it. */
const LINGER_MS = 2_000;
const LINGER_BYTES = 16 * 1024 * 1024;

interface Refusal {
  status: number;
  title: string;
  detail: string;
}

function problemText(refusal: Refusal, requestId: string): string {
  return JSON.stringify({
    type: 'about:blank',
    title: refusal.title,
    status: refusal.status,
    detail: refusal.detail,
    request_id: requestId,
  });
}

function problemHeaders(requestId: string, body: string): Record<string, string> {
  return {
    'Content-Type': 'application/problem+json',
    'Content-Length': String(Buffer.byteLength(body)),
    'X-Request-Id': requestId,
    Connection: 'close',
  };
}

/**
 * After an answer sent while the client may still be uploading: send our FIN, keep reading (and dropping) what
 * arrives for a bounded time and size, then close. Closing a socket with unread input makes the kernel send a
 * reset, and a reset can make the client lose the answer it was sent (the "lingering close" of HTTP servers).
 * Node's server calls `destroySoon` once a `Connection: close` response is finished, hence the override on this
 * one socket.
 */
function lingerOnClose(request: IncomingMessage): void {
  const socket = request.socket as Socket & { pullwatchLinger?: true };
  if (socket.pullwatchLinger) return;
  socket.pullwatchLinger = true;
  socket.destroySoon = function lingeringDestroySoon(this: Socket) {
    if (this.writable) this.end();
    if (request.complete) {
      if (this.writableFinished) this.destroy();
      else this.once('finish', () => this.destroy());
      return;
    }
    let bytes = 0;
    const close = () => {
      clearTimeout(timer);
      this.destroy();
    };
    const timer = setTimeout(close, LINGER_MS);
    timer.unref();
    // Whoever read the body so far (the app's body stream) would pause it again when its queue fills; the
    // rest is dropped here, as Node itself does when it dumps an unread body.
    request.removeAllListeners('data');
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > LINGER_BYTES) close();
    });
    request.once('end', close);
    this.once('end', close);
    this.once('close', () => clearTimeout(timer));
    request.resume();
  };
}

/** Answers with a problem written by hand, for requests that never reach the app. */
function refuse(response: ServerResponse, refusal: Refusal, log: Log, request: IncomingMessage): void {
  const requestId = randomUUID();
  const body = problemText(refusal, requestId);
  if (!request.complete) lingerOnClose(request);
  response.writeHead(refusal.status, problemHeaders(requestId, body));
  response.end(body);
  log.info('request', {
    request_id: requestId,
    method: request.method,
    path: null,
    status: refusal.status,
    refused: refusal.detail,
  });
}

const INVALID_TARGET: Refusal = {
  status: 400,
  title: 'Invalid request',
  detail: 'The request target or Host header is not valid.',
};

/**
 * An absolute-form target must name a host before its path: URL parsing would read `http:///v1/health` as host
 * `v1` and path `/health`, and the adapter would pass that on as another route.
 */
const ABSOLUTE_WITH_HOST = /^https?:\/\/[^/?#\\@\s]+(?:[/?#]|$)/i;

/** Parser errors that mean the client closed or reset the connection before its request was whole. */
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'HPE_INVALID_EOF_STATE']);

/** What Node's parser reports, as the status of the answer (Node's own choices, in the app's shape). */
function refusalOfParseError(error: NodeJS.ErrnoException): Refusal {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return {
      status: 431,
      title: 'Request header fields too large',
      detail: 'The request headers are too large.',
    };
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, title: 'Request timeout', detail: 'The request did not arrive in time.' };
  }
  return { status: 400, title: 'Invalid request', detail: 'The request is not valid HTTP/1.1.' };
}

/** The API on HOST:PORT; resolves once it listens. */
export async function listenLocal(
  fetch: (request: Request, env: object) => Response | Promise<Response>,
  options: LocalHttpOptions,
): Promise<Server> {
  const log = options.log ?? logger;
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  let current: IncomingMessage | null = null;
  // The adapter's bindings (the incoming message) go to the app: its content endpoint logs the peer address.
  const listener = getRequestListener((request, env) => fetch(request, env), {
    // Ours instead (Connection: close and a lingering close); the adapter's drain would destroy the socket
    // 500 ms after a keep-alive answer.
    autoCleanupIncoming: false,
    // A request target or Host the adapter cannot turn into a URL (a backslash in the path, `*`, a bad Host, a
    // malformed absolute URL): it never reaches the app, so it is answered here in the app's shape.
    errorHandler: () => {
      const requestId = randomUUID();
      const refusal = INVALID_TARGET;
      const body = problemText(refusal, requestId);
      log.info('request', {
        request_id: requestId,
        method: current?.method ?? null,
        path: null,
        status: 400,
        refused: refusal.detail,
      });
      return new Response(body, { status: 400, headers: problemHeaders(requestId, body) });
    },
  });

  // Sockets with a request in the app: an abort there is the app's to log (see problem.ts), not ours again.
  const inApp = new WeakSet<Duplex>();
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    inApp.add(socket);
    response.once('close', () => inApp.delete(socket));
    // An answer whose head goes out before the whole body arrived ends the connection, cleanly.
    const writeHead = response.writeHead;
    response.writeHead = function (this: ServerResponse, ...args: Parameters<typeof writeHead>) {
      if (!request.complete) {
        this.setHeader('Connection', 'close');
        lingerOnClose(request);
      }
      return writeHead.apply(this, args);
    } as typeof writeHead;
    const target = request.url ?? '';
    if (/^https?:/i.test(target) && !ABSOLUTE_WITH_HOST.test(target)) {
      refuse(response, INVALID_TARGET, log, request);
      return;
    }
    current = request;
    void listener(request, response);
    current = null;
  };

  // Node would require a Host header and answer its own bare 400; the adapter's check answers in our shape.
  const server = createServer({ requireHostHeader: false }, handle);
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    // Too large: the app refuses it from the header, and the client is never invited to send it.
    if (!(declared > maxBodyBytes)) response.writeContinue();
    handle(request, response);
  });
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    refuse(
      response,
      { status: 417, title: 'Expectation failed', detail: 'Only "Expect: 100-continue" is supported.' },
      log,
      request,
    );
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A client that went away mid-request is not an error of ours, and nobody is left to answer.
    if (CLIENT_GONE.has(error.code ?? '') || !socket.writable) {
      if (!inApp.has(socket)) log.info('client aborted', { code: error.code ?? null });
      socket.destroy();
      return;
    }
    const requestId = randomUUID();
    const refusal = refusalOfParseError(error);
    const body = problemText(refusal, requestId);
    const head = Object.entries(problemHeaders(requestId, body))
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    log.info('request', {
      request_id: requestId,
      method: null,
      path: null,
      status: refusal.status,
      refused: error.code ?? null,
    });
    socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}\r\n${head}\r\n${body}`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
