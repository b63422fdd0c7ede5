import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCycle } from '../shared/cycle.ts';
import { TransportError } from '../shared/errors.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import type { Integration } from '../shared/integration/index.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { type Issue, offlineIssueFor } from '../shared/issue/index.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import { isGsm7Basic } from '../shared/notify/gsm7.ts';
import { SnsPublisher } from '../shared/notify/publishers.ts';
import { renderNotification } from '../shared/notify/render.ts';
import { createOrg } from '../shared/org/index.ts';
import type { Store } from '../shared/store/index.ts';
import type { Iso } from '../shared/time.ts';
import { at, freshStore, SETTINGS, startTestDb, T0, TEST_SECRET } from './helpers.ts';

const TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:pullwatch-alerts';
const PUBLISH_OK =
  '<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>';

// ---- a local SNS endpoint that records every request ---------------------------------------------

interface Reply {
  status: number;
  body: string;
}

const snsError = (code: string, message: string, type = 'Sender') =>
  `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`;

let db: EmbeddedDb;
let server: Server;
let endpoint: string;
let requests: URLSearchParams[] = [];
let reply: Reply = { status: 200, body: PUBLISH_OK };
const tempDirs: string[] = [];

beforeAll(async () => {
  db = await startTestDb();
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      response.writeHead(reply.status, { 'content-type': 'text/xml' });
      response.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await db.close();
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

beforeEach(() => {
  requests = [];
  reply = { status: 200, body: PUBLISH_OK };
});

const snsPublisher = () =>
  new SnsPublisher(
    new SNSClient({
      region: 'us-east-1',
      endpoint,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      maxAttempts: 1,
    }),
    TOPIC_ARN,
  );

/** The message attributes of a Query-protocol Publish, as name -> {DataType, StringValue}. */
function messageAttributes(
  request: URLSearchParams,
): Record<string, { type: string | null; value: string | null }> {
  const attributes: Record<string, { type: string | null; value: string | null }> = {};
  for (let n = 1; request.has(`MessageAttributes.entry.${n}.Name`); n += 1) {
    const name = request.get(`MessageAttributes.entry.${n}.Name`) as string;
    attributes[name] = {
      type: request.get(`MessageAttributes.entry.${n}.Value.DataType`),
      value: request.get(`MessageAttributes.entry.${n}.Value.StringValue`),
    };
  }
  return attributes;
}

function messageOf(request: URLSearchParams): Record<string, string> {
  return JSON.parse(request.get('Message') ?? 'null') as Record<string, string>;
}

// ---- the product side ----------------------------------------------------------------------------

async function firewall(store: Store, orgId: string, name: string): Promise<Integration> {
  const { integration } = await createIntegration(
    store,
    TEST_SECRET,
    orgId,
    { name, kind: 'firewall', vendor: 'paloalto' },
    T0,
  );
  return integration;
}

async function offlineIssue(name: string): Promise<Issue> {
  const store = await freshStore(db);
  const org = await createOrg(store, 'Acme', T0);
  const issue = offlineIssueFor(await firewall(store, org.id, name), at(30));
  if (!issue) throw new Error('expected an offline issue');
  return issue;
}

describe('SnsPublisher on the wire', () => {
  it('publishes one Publish with a json message structure, the subject and the filter attributes', async () => {
    const issue = await offlineIssue('Branch PA-440 Zürich');
    const notification = renderNotification(issue, 'issue_opened', { now: at(30) });

    const messageId = await snsPublisher().publish(notification);

    expect(messageId).toBe('m-1');
    expect(requests).toHaveLength(1);
    const request = requests[0] as URLSearchParams;
    expect(request.get('Action')).toBe('Publish');
    expect(request.get('TopicArn')).toBe(TOPIC_ARN);
    expect(request.get('MessageStructure')).toBe('json');
    expect(request.get('Subject')).toBe(notification.subject);
    expect(request.get('Subject')).toContain('Branch PA-440 Zürich');

    const message = messageOf(request);
    expect(Object.keys(message).sort()).toEqual(['default', 'email', 'sms']);
    expect(message.email).toBe(notification.email);
    expect(message.default).toBe(notification.email);
    expect(message.sms).toBe(notification.sms);
    expect(message.email).toContain(issue.diagnosis.summary);
    expect(message.sms).toContain('Branch PA-440 Zürich');
    expect(message.sms?.length).toBeLessThanOrEqual(160);
    expect(isGsm7Basic(message.sms ?? '')).toBe(true);

    expect(messageAttributes(request)).toEqual({
      org_id: { type: 'String', value: issue.org_id },
      issue_type: { type: 'String', value: 'fw_integration_offline' },
      criticality: { type: 'String', value: 'critical' },
      event: { type: 'String', value: 'issue_opened' },
    });
  });

  it('sends the resolution with event issue_resolved', async () => {
    const issue = await offlineIssue('core-fw');
    const resolved: Issue = { ...issue, state: 'resolved', resolved_at: at(33), resolution: 'pull_resumed' };

    await snsPublisher().publish(renderNotification(resolved, 'issue_resolved', { now: at(33) }));

    const request = requests[0] as URLSearchParams;
    expect(messageAttributes(request).event?.value).toBe('issue_resolved');
    expect(request.get('Subject')).toMatch(/RESOLVED/);
    expect(messageOf(request).sms).toContain('core-fw');
  });

  it.each([
    { what: 'HTTP 500 InternalError', status: 500, code: 'InternalError', type: 'Receiver', retryable: true },
    {
      what: 'HTTP 503 ServiceUnavailable',
      status: 503,
      code: 'ServiceUnavailable',
      type: 'Receiver',
      retryable: true,
    },
    { what: 'HTTP 400 Throttling', status: 400, code: 'Throttling', type: 'Sender', retryable: true },
    {
      what: 'HTTP 400 InvalidParameter',
      status: 400,
      code: 'InvalidParameter',
      type: 'Sender',
      retryable: false,
    },
    {
      what: 'HTTP 403 AuthorizationError',
      status: 403,
      code: 'AuthorizationError',
      type: 'Sender',
      retryable: false,
    },
    {
      what: 'HTTP 404 NotFound (no such topic)',
      status: 404,
      code: 'NotFound',
      type: 'Sender',
      retryable: false,
    },
  ])(
    'turns $what into a TransportError with retryable $retryable',
    async ({ status, code, type, retryable }) => {
      reply = { status, body: snsError(code, `${code} from the test endpoint`, type) };
      const notification = renderNotification(await offlineIssue('fw'), 'issue_opened', { now: at(30) });

      const error = await snsPublisher()
        .publish(notification)
        .then(
          () => null,
          (thrown: unknown) => thrown,
        );

      expect(error).toBeInstanceOf(TransportError);
      expect((error as TransportError).retryable).toBe(retryable);
      expect((error as TransportError).message).toContain(code);
      expect(requests).toHaveLength(1);
    },
  );

  it('turns an endpoint that cannot be reached into a retryable TransportError', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const publisher = new SnsPublisher(
      new SNSClient({
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${port}`,
        credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
        maxAttempts: 1,
      }),
      TOPIC_ARN,
    );
    const notification = renderNotification(await offlineIssue('fw'), 'issue_opened', { now: at(30) });

    const error = await publisher.publish(notification).then(
      () => null,
      (thrown: unknown) => thrown,
    );

    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).retryable).toBe(true);
  });
});

describe('a whole cycle publishing to SNS', () => {
  async function setup() {
    const store = await freshStore(db);
    const org = await createOrg(store, 'Acme', T0);
    const dir = await mkdtemp(join(tmpdir(), 'pullwatch-sns-'));
    tempDirs.push(dir);
    const logs = join(dir, 'pull-logs');
    await mkdir(logs);
    const publisher = snsPublisher();
    // The pipeline guard is off: these tests are about SNS delivery and jump hours ahead with no newer log
    // record (the guard itself is covered in detection.test.ts).
    const cycle = async (now: Iso) => {
      const report = await runCycle({
        store,
        source: new DirectorySource(logs),
        publisher,
        now,
        ...SETTINGS,
        staleAfterSeconds: 0,
      });
      expect(report.errors).toEqual([]);
      return report;
    };
    const dropPull = (name: string, integrationId: string, time: Iso) =>
      writeFile(
        join(logs, name),
        `${JSON.stringify({ time, integration_id: integrationId, status: 200 })}\n`,
      );
    return { store, org, cycle, dropPull };
  }

  it('publishes exactly one message per event: opened once, resolved once', async () => {
    const { store, org, cycle, dropPull } = await setup();
    const fw = await firewall(store, org.id, 'HQ Palo Alto');
    await dropPull('a.jsonl', fw.id, at(1));
    await cycle(at(2));
    expect(requests).toEqual([]);

    for (const hour of [26, 27, 30]) await cycle(at(hour));
    expect(requests.map((request) => messageAttributes(request).event?.value)).toEqual(['issue_opened']);

    await dropPull('b.jsonl', fw.id, at(31));
    for (const hour of [31.5, 32, 40]) await cycle(at(hour));

    const [opened, resolved] = await store.listIssues(org.id, { limit: 10 }).then((page) => page.items);
    expect(resolved).toBeUndefined();
    expect(requests.map((request) => messageAttributes(request).event?.value)).toEqual([
      'issue_opened',
      'issue_resolved',
    ]);
    for (const request of requests) {
      expect(request.get('TopicArn')).toBe(TOPIC_ARN);
      expect(messageAttributes(request).org_id?.value).toBe(org.id);
      expect(messageAttributes(request).issue_type?.value).toBe('fw_integration_offline');
      expect(request.get('Subject')).toContain('HQ Palo Alto');
    }
    expect(opened).toMatchObject({
      state: 'resolved',
      notified: { issue_opened: at(26), issue_resolved: at(31.5) },
    });
  });

  it('retries a publish the endpoint answered with 500 on the next cycle, and publishes it once', async () => {
    const { store, org, cycle } = await setup();
    await firewall(store, org.id, 'edge');
    reply = { status: 500, body: snsError('InternalError', 'try again', 'Receiver') };

    const failed = await cycle(at(30));
    expect(failed.notify?.failed).toMatchObject([{ event: 'issue_opened', retryable: true }]);

    reply = { status: 200, body: PUBLISH_OK };
    await cycle(at(30.1));
    await cycle(at(31));

    expect(requests).toHaveLength(2);
    expect(requests.map((request) => messageAttributes(request).event?.value)).toEqual([
      'issue_opened',
      'issue_opened',
    ]);
  });
});
