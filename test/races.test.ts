import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../shared/api/app.ts';
import type { Integration } from '../shared/integration/index.ts';
import { refreshCredentials } from '../shared/integration/ops.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import { listenLocal } from '../shared/local/http.ts';
import { newTenant, recordLog, type Tenant, withFaults } from './api-kit.ts';
import { acceptsBasic } from './kit/checks.ts';
import { freshStore, type MeteredStore, startTestDb, TEST_SECRET } from './kit/db.ts';

/**
 * Concurrent changes of one integration from the console, over HTTP against the local server: each answer is
 * a 200 or a 409 problem (never a 500), and the stored state is the one the newest successful write stamped, as
 * its audit event says.
 */

const RUNS = 4;

let db: EmbeddedDb;
let store: MeteredStore;
let server: Server;
let base = '';
let tenant: Tenant;
const logged: Array<Record<string, unknown>> = [];
/** Per race: how many answers of each status. */
const figures: Array<{ race: string; statuses: Record<number, number> }> = [];

// The real clock, made strictly increasing: two writes in the same millisecond would otherwise tie, and the
// audit trail could not say which of them is the newest.
let last = 0;
const clock = () => {
  last = Math.max(Date.now(), last + 1);
  return new Date(last).toISOString();
};

beforeAll(async () => {
  db = await startTestDb();
  store = await freshStore(db);
  tenant = await newTenant(store);
  const log = recordLog(logged);
  const app = createApp({ store, secret: TEST_SECRET, now: clock, staleAfterSeconds: 0, log });
  server = await listenLocal(app.fetch, { port: 0, hostname: '127.0.0.1', log });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 30_000);

afterAll(async () => {
  console.log(`races: ${JSON.stringify(figures)}`);
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  store?.table.client.destroy();
  await db?.close();
});

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field
  body: any;
  type: string;
}

async function call(method: string, path: string, json?: unknown): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${tenant.writeKey}`,
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  return {
    status: response.status,
    body: await response.json(),
    type: response.headers.get('content-type') ?? '',
  };
}

async function createFirewall(name: string): Promise<string> {
  const created = await call('POST', '/v1/integrations', { name, kind: 'firewall' });
  expect(created.status).toBe(201);
  return created.body.id;
}

async function stored(id: string): Promise<Integration> {
  const integration = await store.integrations.get(tenant.orgId, id);
  if (!integration) throw new Error(`no integration ${id}`);
  return integration;
}

async function events(id: string) {
  const reply = await call('GET', `/v1/integrations/${id}/events?limit=100`);
  expect(reply.status).toBe(200);
  return reply.body.items as Array<{ at: string; type: string; detail: Record<string, unknown> }>;
}

function expectOnly200Or409(race: string, answers: Answer[]) {
  const statuses: Record<number, number> = {};
  for (const answer of answers) statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
  figures.push({ race, statuses });
  for (const answer of answers) {
    expect([200, 409], JSON.stringify(answer.body)).toContain(answer.status);
    if (answer.status === 409) {
      expect(answer.type).toContain('application/problem+json');
      expect(answer.body).toMatchObject({ status: 409, title: 'Conflict' });
      expect(answer.body.detail).toMatch(/try again/);
    }
  }
  expect(answers.some((answer) => answer.status === 200)).toBe(true);
}

/**
 * The stored credentials are those of the newest successful refresh: its rotation time and grace window, as
 * both its answer and its audit event say, and its password is the one in force.
 */
async function expectCredentialsOfNewestRefresh(id: string, refreshes: Answer[]) {
  const integration = await stored(id);
  const won = refreshes.filter((answer) => answer.status === 200).map((answer) => answer.body);
  const refreshed = (await events(id)).filter((event) => event.type === 'credentials_refreshed');
  expect(refreshed).toHaveLength(won.length);
  // Every successful answer has its audit event, with the same stamp and grace window.
  for (const answer of won) {
    expect(refreshed).toContainEqual(
      expect.objectContaining({
        at: answer.rotated_at,
        detail: expect.objectContaining({ previous_valid_until: answer.previous_valid_until }),
      }),
    );
  }
  const newestEvent = refreshed.reduce((a, b) => (b.at > a.at ? b : a));
  expect(integration.credentials.rotated_at).toBe(newestEvent.at);
  expect(integration.credentials.previous_valid_until).toBe(newestEvent.detail.previous_valid_until);
  const newest = won.reduce((a, b) => (b.rotated_at > a.rotated_at ? b : a));
  const currentOnly = {
    ...integration,
    credentials: { ...integration.credentials, previous_password_hash: null },
  };
  expect(acceptsBasic(TEST_SECRET, currentOnly, newest.username, newest.password, clock())).toBe(true);
}

describe('concurrent changes of one integration', () => {
  it(`20 concurrent credential refreshes, ${RUNS} runs: 200 or 409, and the newest refresh is in force`, async () => {
    for (let run = 0; run < RUNS; run += 1) {
      const id = await createFirewall(`Refresh race ${run}`);
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          call('POST', `/v1/integrations/${id}/credentials/refresh`, { grace_seconds: 60 * (i + 1) }),
        ),
      );
      expectOnly200Or409(`20 refreshes #${run + 1}`, answers);
      await expectCredentialsOfNewestRefresh(id, answers);
    }
  }, 60_000);

  it(`10 refreshes and 10 PATCHes at once, ${RUNS} runs: 200 or 409, and state and audit trail agree`, async () => {
    for (let run = 0; run < RUNS; run += 1) {
      const id = await createFirewall(`Mixed race ${run}`);
      const requests = Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0
          ? call('POST', `/v1/integrations/${id}/credentials/refresh`, { grace_seconds: 30 * (i + 1) })
          : call('PATCH', `/v1/integrations/${id}`, {
              name: `Mixed race ${run} v${i}`,
              offline_after_seconds: 3600 + i * 60,
            }),
      );
      const answers = await Promise.all(requests);
      expectOnly200Or409(`10 refreshes + 10 PATCHes #${run + 1}`, answers);
      const refreshes = answers.filter((_, i) => i % 2 === 0);
      if (refreshes.some((answer) => answer.status === 200))
        await expectCredentialsOfNewestRefresh(id, refreshes);

      // The name in force is that of the newest successful PATCH, per its answer and its audit event.
      const integration = await stored(id);
      const patched = answers.filter((answer, i) => i % 2 === 1 && answer.status === 200).map((a) => a.body);
      const updates = (await events(id)).filter((event) => event.type === 'updated');
      expect(updates).toHaveLength(patched.length);
      if (patched.length > 0) {
        const newest = patched.reduce((a, b) => (b.updated_at > a.updated_at ? b : a));
        const newestEvent = updates.reduce((a, b) => (b.at > a.at ? b : a));
        expect(integration.name).toBe(newest.name);
        expect(newestEvent).toMatchObject({ at: newest.updated_at, detail: { name: newest.name } });
      }
    }
  }, 60_000);

  it('a refresh that lost a race is stamped when it finally wrote, not when it began', async () => {
    // The interleaving the races above can only hope for, forced: A reads and stamps, B refreshes and wins, A's
    // write conflicts and retries. Stamped before its loop, A would store a rotation older than B's audit event.
    const id = await createFirewall('Forced interleaving');
    let interleaved = false;
    const racing = withFaults(store, 'integrations', {
      async save(next, expectedVersion, now) {
        if (!interleaved) {
          interleaved = true;
          await refreshCredentials(store, TEST_SECRET, tenant.orgId, id, 120, clock, {
            key_id: 'b',
            request_id: 'b',
          });
        }
        return store.integrations.save(next, expectedVersion, now);
      },
    });
    const a = await refreshCredentials(racing, TEST_SECRET, tenant.orgId, id, 60, clock, {
      key_id: 'a',
      request_id: 'a',
    });
    const refreshed = (await events(id)).filter((event) => event.type === 'credentials_refreshed');
    expect(refreshed.map((event) => event.detail.grace_seconds)).toEqual([60, 120]);
    const integration = await stored(id);
    expect(integration.credentials.rotated_at).toBe(a.integration.credentials.rotated_at);
    expect(integration.credentials.rotated_at).toBe(refreshed[0]?.at);
    expect(integration.credentials.previous_valid_until).toBe(refreshed[0]?.detail.previous_valid_until);
  });

  it('logged no unhandled error', () => {
    expect(logged.filter((line) => line.level === 'error')).toEqual([]);
    expect(logged.filter((line) => line.message === 'request' && line.status === 500)).toEqual([]);
  });
});
