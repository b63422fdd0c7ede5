import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bucketOf } from '../shared/crypto.ts';
import { rulesMessageOf } from '../shared/fanout/index.ts';
import { S3ObjectsSource, S3Source } from '../shared/ingest/sources.ts';
import type { Integration } from '../shared/integration/index.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import { createOrg } from '../shared/org/index.ts';
import type { Store } from '../shared/store.ts';
import { SHARDS } from '../shared/table/schema.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { scheduledEvent } from './events.ts';
import { freshStore, startTestDb, TEST_SECRET } from './kit/db.ts';
import { tempDir, useTempDirs } from './kit/files.ts';
import { pullFacts } from './kit/ingest.ts';
import { lines, pull } from './kit/lines.ts';

/**
 * The fan-out's Lambda handlers (ingest worker, rules worker, tick) as imported source, driven with the event
 * shapes AWS documents (test/fixtures/aws-events, sources in its README), against dynalite and s3rver through
 * the real SDK clients. There is no SQS server here (docs/../shared platform notes): SQS's part, redelivery of
 * the records a handler reports failed, is played by calling the handler again with those records; the tick's
 * SendMessageBatch goes to a local endpoint that records it.
 */

useTempDirs();

const BUCKET = 'pull-logs';
const PREFIX = 'logs/';
const FIXTURES = join(import.meta.dirname, 'fixtures', 'aws-events');
const fixture = <T>(name: string): T => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as T;

let db: EmbeddedDb;
let store: Store;
let s3server: S3rver;
let s3: S3Client;
let services: Server;
const published: URLSearchParams[] = [];
const sqsBatches: Array<{ QueueUrl: string; Entries: Array<{ Id: string; MessageBody: string }> }> = [];

beforeAll(async () => {
  db = await startTestDb();
  store = await freshStore(db);
  s3server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: await tempDir('fanout-s3'),
    configureBuckets: [{ name: BUCKET }],
  });
  const { port } = await s3server.run();
  const s3Endpoint = `http://127.0.0.1:${port}`;
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  // SNS (Query protocol) and SQS (JSON protocol) on one local endpoint, told apart by the SQS target header.
  services = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      const target = String(request.headers['x-amz-target'] ?? '');
      if (target === 'AmazonSQS.SendMessageBatch') {
        const input = JSON.parse(body) as (typeof sqsBatches)[number];
        sqsBatches.push(input);
        const md5 = (text: string) => createHash('md5').update(text).digest('hex');
        response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        response.end(
          JSON.stringify({
            Successful: input.Entries.map((entry) => ({
              Id: entry.Id,
              MessageId: randomBytes(8).toString('hex'),
              MD5OfMessageBody: md5(entry.MessageBody),
            })),
            Failed: [],
          }),
        );
        return;
      }
      published.push(new URLSearchParams(body));
      response.writeHead(200, { 'content-type': 'text/xml' });
      response.end(
        `<PublishResponse><PublishResult><MessageId>m-${published.length}</MessageId></PublishResult></PublishResponse>`,
      );
    });
  });
  await new Promise<void>((resolve) => services.listen(0, '127.0.0.1', resolve));
  const local = `http://127.0.0.1:${(services.address() as AddressInfo).port}`;
  Object.assign(process.env, {
    DYNAMODB_ENDPOINT: db.endpoint,
    TABLE_NAME: store.table.name,
    PULLWATCH_DEPLOYMENT: 'fanout-test',
    PULLWATCH_LOG_BUCKET: BUCKET,
    PULLWATCH_LOG_PREFIX: PREFIX,
    PULLWATCH_RULES_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/pullwatch-rules',
    AWS_ENDPOINT_URL_SQS: local,
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    SNS_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:pullwatch-alerts',
    SNS_ENDPOINT: local,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
  });
});

afterAll(async () => {
  s3?.destroy();
  await s3server?.close();
  services?.closeAllConnections();
  await new Promise((resolve) => services?.close(resolve));
  await db?.close();
});

// ---- events, as AWS shapes them ---------------------------------------------------------------------

type S3Notification = {
  Records: Array<{ eventName: string; s3: { bucket: { name: string }; object: Record<string, unknown> } }>;
};
const sqsTemplate = () => fixture<SQSEvent>('sqs-event.json').Records[0] as SQSRecord;

/** One SQS record as Lambda delivers it, with this body. */
function sqsRecord(body: string): SQSRecord {
  return {
    ...sqsTemplate(),
    messageId: `${randomBytes(4).toString('hex')}-4c1b-4f3e-9a5d-${randomBytes(6).toString('hex')}`,
    body,
    md5OfBody: createHash('md5').update(body).digest('hex'),
  };
}

const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

/** S3's ObjectCreated notification (the documented one) for these objects, keys form-encoded as S3 writes them. */
function objectCreated(...objects: Array<{ key: string; etag: string; bucket?: string }>): string {
  const template = fixture<S3Notification>('s3-object-created.json').Records[0];
  const encode = (key: string) => encodeURIComponent(key).replaceAll('%2F', '/').replaceAll('%20', '+');
  return JSON.stringify({
    Records: objects.map(({ key, etag, bucket = BUCKET }) => ({
      ...template,
      s3: {
        ...template?.s3,
        bucket: { ...template?.s3.bucket, name: bucket, arn: `arn:aws:s3:::${bucket}` },
        object: { ...template?.s3.object, key: encode(key), eTag: etag },
      },
    })),
  });
}

/** Uploads an object and returns its key and ETag (quotes off, as S3 events carry it). */
async function upload(key: string, body: string | Buffer): Promise<{ key: string; etag: string }> {
  const { ETag = '' } = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  return { key, etag: ETag.replaceAll('"', '') };
}

let invocations = 0;
const lambdaContext = () =>
  ({
    awsRequestId: `req-${++invocations}`,
    functionName: 'pullwatch-fanout-test',
    getRemainingTimeInMillis: () => 180_000,
  }) as unknown as Context;

/** Keeps the handlers' JSON log and EMF lines out of the test output. */
async function quietly<T>(work: () => Promise<T>): Promise<T> {
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    return await work();
  } finally {
    spy.mockRestore();
  }
}

const ingestWorker = () => import('../functions/ingest-worker.ts');
const rulesWorker = () => import('../functions/rules-worker.ts');
const tick = () => import('../functions/tick.ts');

const nowIso = () => new Date().toISOString();
const minutesAgo = (minutes: number) => addSeconds(nowIso(), -60 * minutes);

async function newIntegration(name: string, createdAt: Iso = minutesAgo(60)): Promise<Integration> {
  const org = await createOrg(store, `Org ${name} ${randomBytes(3).toString('hex')}`, createdAt);
  const { integration } = await createIntegration(
    store,
    TEST_SECRET,
    org.id,
    { name, kind: 'firewall' },
    createdAt,
  );
  return integration;
}

const reread = async (integration: Integration) =>
  (await store.integrations.get(integration.org_id, integration.id)) as Integration;

const rowCount = async () =>
  (await store.table.doc.send(new ScanCommand({ TableName: store.table.name, Select: 'COUNT' }))).Count ?? 0;

// ---- the ingest worker ------------------------------------------------------------------------------

describe('ingest worker', () => {
  it('keys an object the same whether the listing or an S3 event finds it, log or bouncer list', async () => {
    const dir = `${PREFIX}keys-${randomBytes(3).toString('hex')}/`;
    const log = await upload(
      `${dir}2026/11/20/08 part 1.jsonl`,
      lines(pull('int_0000000000000001', minutesAgo(5))),
    );
    const snapshot = await upload(`${dir}org_0123456789abcdef/engine1.bouncers.json`, '[]');
    const listed = await new S3Source(s3, BUCKET, dir).list();
    const fromEvent = await new S3ObjectsSource(s3, BUCKET, dir, [log, snapshot]).list();
    expect(fromEvent.map((file) => file.key).sort()).toEqual(listed.map((file) => file.key).sort());
    expect(listed.find((file) => file.name === snapshot.key)?.key).toMatch(/@\d{4}-\d\d-\d\dT/);
  });

  it('ingests the objects of an SQS-wrapped S3 event once; the scheduled listing then finds them done', async () => {
    const fw = await newIntegration('Edge');
    const pulledAt = minutesAgo(3);
    const object = await upload(
      `${PREFIX}event-${randomBytes(3).toString('hex')}/a b.jsonl`,
      lines(pull(fw.id, pulledAt)),
    );
    const { handler } = await ingestWorker();

    const result = await quietly(() => handler(sqsEvent(sqsRecord(objectCreated(object))), lambdaContext()));

    expect(result).toEqual({ batchItemFailures: [] });
    expect((await reread(fw)).last_pull_at).toBe(pulledAt);
    const { ingest } = await import('../shared/ingest/index.ts');
    const dir = object.key.slice(0, object.key.lastIndexOf('/') + 1);
    const listing = await ingest({ store, source: new S3Source(s3, BUCKET, dir), now: nowIso() });
    expect(listing).toMatchObject({ files_seen: 1, files_processed: 0, files_skipped: 1 });
  });

  it('reports only the failing record of a batch, which fails again when redelivered until it is set aside', async () => {
    const fw = await newIntegration('Branch');
    const dir = `${PREFIX}batch-${randomBytes(3).toString('hex')}/`;
    const good = await upload(`${dir}good.jsonl`, lines(pull(fw.id, minutesAgo(4))));
    const corrupt = await upload(`${dir}broken.jsonl.gz`, 'not gzip at all');
    const { handler } = await ingestWorker();
    const bad = sqsRecord(objectCreated(corrupt));

    const result = await quietly(() =>
      handler(sqsEvent(sqsRecord(objectCreated(good)), bad), lambdaContext()),
    );

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: bad.messageId }] });
    expect((await reread(fw)).last_pull_at).not.toBeNull();
    // SQS's redelivery: the same record again. The ledger gives up on it at its third attempt (set aside, in
    // the log and the ledger), so the message does not cycle on to the dead-letter queue.
    await expect(quietly(() => handler(sqsEvent(bad), lambdaContext()))).rejects.toThrow(
      FullBatchFailureError,
    );
    expect(await quietly(() => handler(sqsEvent(bad), lambdaContext()))).toEqual({ batchItemFailures: [] });
  });

  it('ends in the same state for a duplicate delivery and a reversed order as for one delivery in order', async () => {
    const inOrder = await newIntegration('In order');
    const shuffled = await newIntegration('Shuffled');
    const times = [minutesAgo(30), minutesAgo(20), minutesAgo(10)];
    const objectsFor = async (fw: Integration) => {
      const dir = `${PREFIX}order-${randomBytes(3).toString('hex')}/`;
      const first = await upload(
        `${dir}1.jsonl`,
        lines(pull(fw.id, times[0] as Iso), pull(fw.id, times[1] as Iso)),
      );
      const second = await upload(
        `${dir}2.jsonl`,
        lines(pull(fw.id, times[2] as Iso, { status: 401, user_agent: 'curl/8.5.0' })),
      );
      return [first, second] as const;
    };
    const [a1, a2] = await objectsFor(inOrder);
    const [b1, b2] = await objectsFor(shuffled);
    const { handler } = await ingestWorker();
    const deliver = (...bodies: string[]) =>
      quietly(() => handler(sqsEvent(...bodies.map((body) => sqsRecord(body))), lambdaContext()));

    await deliver(objectCreated(a1));
    await deliver(objectCreated(a2));
    await deliver(objectCreated(b2));
    // The same object twice in one batch: the records run side by side, so one may find the other's claim
    // live and ask to be retried; its redelivery then finds the object done.
    const twice = await deliver(objectCreated(b1), objectCreated(b1));
    expect(twice.batchItemFailures.length).toBeLessThanOrEqual(1);
    if (twice.batchItemFailures.length > 0) {
      expect(await deliver(objectCreated(b1))).toEqual({ batchItemFailures: [] });
    }
    const before = await reread(shuffled);
    await deliver(objectCreated(b1));

    const [expected, actual] = [await reread(inOrder), await reread(shuffled)];
    expect(pullFacts(actual)).toEqual(pullFacts(expected));
    expect(actual.last_pull_at).toBe(times[1]);
    expect(actual.version).toBe(before.version);
  });

  it('skips the test event S3 sends when the notification is set up, objects outside the prefix or bucket, and deleted ones', async () => {
    const fw = await newIntegration('Outside');
    const outside = await upload(
      `elsewhere/${randomBytes(3).toString('hex')}.jsonl`,
      lines(pull(fw.id, minutesAgo(2))),
    );
    const { handler } = await ingestWorker();
    const rows = await rowCount();

    const result = await quietly(() =>
      handler(
        sqsEvent(
          sqsRecord(JSON.stringify(fixture('s3-test-event.json'))),
          sqsRecord(objectCreated(outside)),
          sqsRecord(objectCreated({ key: `${PREFIX}x.jsonl`, etag: 'abc', bucket: 'another-bucket' })),
          // A bouncer list deleted since its event: HeadObject answers 404, and there is nothing to read.
          sqsRecord(objectCreated({ key: `${PREFIX}org_0123456789abcdef/gone.bouncers.json`, etag: 'abc' })),
        ),
        lambdaContext(),
      ),
    );

    expect(result).toEqual({ batchItemFailures: [] });
    expect(await rowCount()).toBe(rows);
    expect((await reread(fw)).last_pull_at).toBeNull();
  });

  it('fails a record whose body is not an S3 notification, saying so, and changes nothing', async () => {
    const { handler } = await ingestWorker();
    const rows = await rowCount();
    const error = await quietly(() =>
      handler(sqsEvent(sqsRecord(sqsTemplate().body)), lambdaContext()),
    ).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(FullBatchFailureError);
    expect(String((error as FullBatchFailureError).recordErrors[0])).toMatch(/ingest message is not JSON/);
    expect(await rowCount()).toBe(rows);
  });
});

// ---- the tick and the rules worker ------------------------------------------------------------------

describe('tick and rules worker', () => {
  it('sends one message per shard, and two workers on one shard open one issue, notified once', async () => {
    // Two days old and never pulled: due, and offline once its shard is settled.
    const silent = await newIntegration('Silent', addSeconds(nowIso(), -2 * 86_400));
    const { handler: tickHandler } = await tick();
    const { handler: rulesHandler } = await rulesWorker();
    sqsBatches.length = 0;

    const first = await quietly(() => tickHandler(scheduledEvent(), lambdaContext()));

    expect(first).toMatchObject({ outcome: 'ok' });
    expect(sqsBatches).toHaveLength(1);
    expect(sqsBatches[0]?.QueueUrl).toBe(process.env.PULLWATCH_RULES_QUEUE_URL);
    const messages = (sqsBatches[0]?.Entries ?? []).map((entry) => rulesMessageOf(entry.MessageBody));
    expect(messages.map((message) => message.shard)).toEqual(
      Array.from({ length: SHARDS }, (_, shard) => shard),
    );
    const mine = messages.find((message) => message.shard === bucketOf(silent.id, SHARDS));
    const body = JSON.stringify(mine);

    // The same message handled by two workers at once (a redelivery overlapping the first run).
    const runs = await quietly(() =>
      Promise.all([
        rulesHandler(sqsEvent(sqsRecord(body)), lambdaContext()),
        rulesHandler(sqsEvent(sqsRecord(body)), lambdaContext()),
      ]),
    );
    expect(runs).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    const open = Object.values((await reread(silent)).open_issues).filter(Boolean);
    expect(open).toHaveLength(1);

    // The next tick announces it; the one after has nothing left to send.
    published.length = 0;
    await quietly(() => tickHandler(scheduledEvent(), lambdaContext()));
    const toOrg = () => published.filter((form) => JSON.stringify([...form]).includes(silent.org_id));
    expect(toOrg()).toHaveLength(1);
    await quietly(() => tickHandler(scheduledEvent(), lambdaContext()));
    expect(toOrg()).toHaveLength(1);
  });

  it('fails only the record with a bad body, names what is wrong, and changes nothing', async () => {
    const { handler } = await rulesWorker();
    const rows = await rowCount();
    const bad = sqsRecord(JSON.stringify({ shard: SHARDS, now: 'yesterday' }));
    const emptyShard = sqsRecord(JSON.stringify({ shard: 0, now: '2020-01-01T00:00:00.000Z' }));

    const result = await quietly(() => handler(sqsEvent(bad, emptyShard), lambdaContext()));

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: bad.messageId }] });
    expect(() => rulesMessageOf(bad.body)).toThrow(/rules message: shard: /);
    expect(() => rulesMessageOf('Test message.')).toThrow(/rules message is not JSON/);
    expect(await rowCount()).toBe(rows);
  });
});
