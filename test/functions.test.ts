import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CycleReport } from '../shared/cycle.ts';
import {
  acquireCycleLock,
  CYCLE_LOCK_KEY,
  releaseCycleLock,
  withCycleLock,
} from '../shared/deployment/cycle-lock.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import { CycleMetric, cycleMetrics, toEmf } from '../shared/metrics.ts';
import type { Store } from '../shared/store.ts';
import { httpApiEvent, scheduledEvent } from './events.ts';
import { freshStore, startTestDb, TEST_SECRET } from './kit/db.ts';
import { at, T0 } from './kit/time.ts';

/**
 * The Lambda entries as imported source (fast to debug), and the pieces they add: the cycle lock and the
 * metrics. test/bundle.test.ts runs the same entries as the bundles CDK uploads.
 */

let db: EmbeddedDb;
let store: Store;
let sns: Server;
let logDir: string;
const published: string[] = [];

beforeAll(async () => {
  db = await startTestDb();
  store = await freshStore(db);
  sns = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      published.push(body);
      response.writeHead(200, { 'content-type': 'text/xml' });
      response.end(
        '<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>',
      );
    });
  });
  await new Promise<void>((resolve) => sns.listen(0, '127.0.0.1', resolve));
  logDir = await mkdtemp(join(tmpdir(), 'pullwatch-fn-'));
  Object.assign(process.env, {
    DYNAMODB_ENDPOINT: db.endpoint,
    TABLE_NAME: store.table.name,
    PULLWATCH_KEY_SECRET: TEST_SECRET,
    PULLWATCH_LOG_DIR: logDir,
    PULLWATCH_DEPLOYMENT: 'test-deployment',
    SNS_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:pullwatch-alerts',
    SNS_ENDPOINT: `http://127.0.0.1:${(sns.address() as AddressInfo).port}`,
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'y',
  });
  await writeFile(join(logDir, 'empty.jsonl'), '');
});

afterAll(async () => {
  sns.closeAllConnections();
  await new Promise((resolve) => sns.close(resolve));
  await db.close();
  await rm(logDir, { recursive: true, force: true });
});

/** Captures what the entries write to stdout (their JSON log and EMF lines). */
async function capture<T>(
  work: () => Promise<T>,
): Promise<{ value: T; lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
    return true;
  });
  try {
    return { value: await work(), lines };
  } finally {
    spy.mockRestore();
  }
}

const original = DynamoDBDocumentClient.prototype.send;

/** Hono types the v2 event's body as `string | null`; API Gateway leaves it out when there is none. */
type ApiEvent = Parameters<typeof import('../functions/api.ts')['handler']>[0];
const apiEvent = (...args: Parameters<typeof httpApiEvent>) => httpApiEvent(...args) as unknown as ApiEvent;

let invocations = 0;
/** What the Lambda runtime hands each invocation, as far as the entries and the logger read it. */
const lambdaContext = (remainingMs = 240_000) =>
  ({
    awsRequestId: `req-${++invocations}`,
    functionName: 'pullwatch-test',
    getRemainingTimeInMillis: () => remainingMs,
  }) as unknown as Context;

describe('the cycle lock', () => {
  it('is held by one run at a time, even when many start at once', async () => {
    let running = 0;
    let most = 0;
    // The holder keeps the lock until every other start has been turned away, however slow the machine is (a
    // fixed wait let a late start take the lock legitimately after the first run gave it back).
    let turnedAway = 0;
    let allTried: () => void = () => {};
    const everyoneTried = new Promise<void>((resolve) => {
      allTried = resolve;
    });
    const runs = await Promise.all(
      Array.from({ length: 8 }, () =>
        withCycleLock(store.table, { now: T0, leaseUntil: at(1) }, async () => {
          running += 1;
          most = Math.max(most, running);
          await everyoneTried;
          running -= 1;
        }).then((run) => {
          if (!run.ran && ++turnedAway === 7) allTried();
          return run;
        }),
      ),
    );
    expect(runs.filter((run) => run.ran)).toHaveLength(1);
    expect(most).toBe(1);
    // Given back afterwards: the next run takes it.
    expect((await withCycleLock(store.table, { now: T0, leaseUntil: at(1) }, async () => 'next')).ran).toBe(
      true,
    );
  });

  it('is given back when the work throws', async () => {
    await expect(
      withCycleLock(store.table, { now: T0, leaseUntil: at(1) }, async () => {
        throw new Error('stage exploded');
      }),
    ).rejects.toThrow('stage exploded');
    expect(await acquireCycleLock(store.table, { token: 'after', now: T0, leaseUntil: at(1) })).toBe(true);
    expect(await releaseCycleLock(store.table, 'after')).toBe(true);
  });

  it('is taken over once a crashed holder lease has run out, and only its holder can give it back', async () => {
    expect(await acquireCycleLock(store.table, { token: 'crashed', now: T0, leaseUntil: at(0.1) })).toBe(
      true,
    );
    expect(await acquireCycleLock(store.table, { token: 'early', now: at(0.05), leaseUntil: at(1) })).toBe(
      false,
    );
    expect(await acquireCycleLock(store.table, { token: 'later', now: at(0.2), leaseUntil: at(1) })).toBe(
      true,
    );
    // The crashed run, back from the dead, cannot release the new holder's lock.
    expect(await releaseCycleLock(store.table, 'crashed')).toBe(false);
    expect(await releaseCycleLock(store.table, 'later')).toBe(true);
  });
});

describe('the cycle metrics', () => {
  const report: CycleReport = {
    at: T0,
    outcome: 'ok',
    ingest: {
      files_seen: 3,
      files_processed: 2,
      files_skipped: 0,
      files_refused: [],
      files_failed: [{ name: 'a.gz', error: 'bad gzip' }],
      files_set_aside: [],
      lines: 100,
      records: 90,
      skipped: { not_json: 3, bad_time: 2, other_path: 4, unknown_integration: 1 },
      samples: [],
      integrations_updated: 5,
      newest_record_at: T0,
      feed_seen_at: T0,
      logs_seen_at: T0,
      log_records_at: T0,
    },
    rules: null,
    notify: null,
    errors: [],
    notifications_failed_permanently: 2,
  };

  it('counts malformed lines apart from other routes and unknown integrations', () => {
    const metrics = Object.fromEntries(
      cycleMetrics(report, { durationMs: 1234.4, newestRecordAt: T0, now: at(0.5) }).map((metric) => [
        metric.name,
        metric.value,
      ]),
    );
    expect(metrics).toMatchObject({
      [CycleMetric.succeeded]: 1,
      [CycleMetric.filesProcessed]: 2,
      [CycleMetric.filesFailed]: 1,
      [CycleMetric.lines]: 100,
      [CycleMetric.malformedLines]: 5,
      [CycleMetric.unknownIntegrationLines]: 1,
      [CycleMetric.issuesOpened]: 0,
      [CycleMetric.duration]: 1234,
      [CycleMetric.feedAge]: 1800,
      [CycleMetric.notificationsFailedPermanently]: 2,
    });
  });

  it('reports no feed age before any record was ever read', () => {
    const names = cycleMetrics(report, { durationMs: 1, newestRecordAt: null, now: T0 }).map((m) => m.name);
    expect(names).not.toContain(CycleMetric.feedAge);
  });

  it('writes an EMF document whose every metric and dimension has its value', () => {
    const document = toEmf([{ name: CycleMetric.succeeded, value: 1, unit: 'Count' }], {
      deployment: 'prod',
      at: new Date(T0),
      properties: { event_id: 'e-1' },
    });
    expect(document).toEqual({
      event_id: 'e-1',
      _aws: {
        Timestamp: Date.parse(T0),
        CloudWatchMetrics: [
          {
            Namespace: 'Pullwatch',
            Dimensions: [['Deployment']],
            Metrics: [{ Name: 'CycleSucceeded', Unit: 'Count' }],
          },
        ],
      },
      Deployment: 'prod',
      CycleSucceeded: 1,
    });
  });
});

describe('the Lambda entries (source)', () => {
  it('admin creates an organization with a write key the API then accepts', async () => {
    const admin = await import('../functions/admin.ts');
    const { handler } = await import('../functions/api.ts');
    const { value: created, lines } = await capture(() =>
      admin.handler({ command: 'create-org', name: 'Acme' }, lambdaContext()),
    );
    expect(JSON.stringify(lines)).not.toContain(created.key);
    // The logger's line, with the invocation it belongs to.
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'INFO',
        message: 'organization created',
        service: 'pullwatch',
        org_id: created.org_id,
        function_request_id: expect.stringMatching(/^req-/),
        function_name: 'pullwatch-test',
        cold_start: expect.any(Boolean),
        timestamp: expect.any(String),
      }),
    );
    const context = lambdaContext();
    const health = await capture(() => handler(apiEvent('GET', '/v1/health'), context));
    expect(health.value.statusCode).toBe(200);
    expect(health.lines).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'request',
        request_id: health.value.headers?.['x-request-id'],
        function_request_id: context.awsRequestId,
        method: 'GET',
        path: '/v1/health',
        status: 200,
      }),
    ]);
    const denied = await handler(apiEvent('GET', '/v1/integrations'), context);
    expect(denied.statusCode).toBe(401);
    const listed = await handler(
      apiEvent('GET', '/v1/integrations', { headers: { authorization: `Bearer ${created.key}` } }),
      context,
    );
    expect(listed.statusCode).toBe(200);
    expect(JSON.parse(listed.body ?? '')).toMatchObject({ items: [] });
    await expect(
      admin.handler(
        { command: 'create-key', org_id: 'org_ffffffffffffffff', scope: 'read' },
        lambdaContext(),
      ),
    ).rejects.toThrow(/does not exist/);
    const read = await admin.handler(
      { command: 'create-key', org_id: created.org_id, scope: 'read' },
      lambdaContext(),
    );
    expect(read.key).toMatch(/^pwr_/);
  });

  it('moves integrations of older versions to their id keys on the operator command migrate, not in the cycle', async () => {
    const admin = await import('../functions/admin.ts');
    expect(await admin.handler({ command: 'migrate' }, lambdaContext())).toEqual({ moved: 0 });
    await expect(admin.handler({ command: 'migrate', dry: true } as never, lambdaContext())).rejects.toThrow(
      /Unrecognized key/,
    );
  });

  it('runs one cycle per scheduled event, publishes once, and emits its metrics', async () => {
    // The entry reads the real clock, so the integration is made two days old and has never pulled.
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const admin = await import('../functions/admin.ts');
    const globex = await admin.handler({ command: 'create-org', name: 'Globex' }, lambdaContext());
    const orgId = (globex as { org_id: string }).org_id;
    await createIntegration(store, TEST_SECRET, orgId, { name: 'Lyon FW', kind: 'firewall' }, twoDaysAgo);
    const cycle = await import('../functions/cycle.ts');
    const first = await capture(() => cycle.handler(scheduledEvent(), lambdaContext()));
    expect(first.value).toMatchObject({ outcome: 'ok', files_processed: 1, opened: 1, sent: 1 });
    const again = await capture(() => cycle.handler(scheduledEvent(), lambdaContext()));
    expect(again.value).toMatchObject({ outcome: 'ok', files_processed: 0, opened: 0, sent: 0 });
    expect(published).toHaveLength(1);
    const emf = first.lines.find((line) => '_aws' in line);
    expect(emf).toMatchObject({ Deployment: 'test-deployment', CycleSucceeded: 1, IssuesOpened: 1 });
    expect((await store.deployment.get()).last_cycle_outcome).toBe('ok');
  });

  it('skips the cycle while the lock is held, leaving the holder its lock', async () => {
    const cycle = await import('../functions/cycle.ts');
    expect(
      await acquireCycleLock(store.table, {
        token: 'other',
        now: T0,
        leaseUntil: '2999-01-01T00:00:00.000Z',
      }),
    ).toBe(true);
    const skipped = await capture(() => cycle.handler(scheduledEvent(), lambdaContext()));
    expect(skipped.value).toEqual({ outcome: 'skipped' });
    expect(skipped.lines.find((line) => '_aws' in line)).toMatchObject({ CycleSkipped: 1 });
    expect(await releaseCycleLock(store.table, 'other')).toBe(true);
  });

  it('leases the lock for the invocation time left, plus a margin, so a timed-out cycle frees it by itself', async () => {
    const cycle = await import('../functions/cycle.ts');
    const leases: string[] = [];
    // The entry has its own store; watch what any document client sends.
    const send = vi.spyOn(DynamoDBDocumentClient.prototype, 'send').mockImplementation(function (
      this: DynamoDBDocumentClient,
      command: unknown,
    ) {
      if (command instanceof PutCommand && command.input.Item?.sk === CYCLE_LOCK_KEY.sk) {
        leases.push(String(command.input.Item.lease_until));
      }
      return Reflect.apply(original, this, [command]);
    } as never);
    const started = Date.now();
    try {
      await capture(() => cycle.handler(scheduledEvent(), lambdaContext(60_000)));
    } finally {
      send.mockRestore();
    }
    expect(leases).toHaveLength(1);
    const lease = Date.parse(leases[0] as string) - started;
    expect(lease).toBeGreaterThanOrEqual(60_000 + 30_000 - 1000);
    expect(lease).toBeLessThanOrEqual(60_000 + 30_000 + 1000);
  });
});
