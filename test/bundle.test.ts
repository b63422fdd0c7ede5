import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../infra/app.ts';
import { CYCLE_LOCK_KEY } from '../shared/deployment/cycle-lock.ts';
import { createIntegration, refreshCredentials } from '../shared/integration/ops.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import { CycleMetric, DEPLOYMENT_DIMENSION, METRICS_NAMESPACE } from '../shared/metrics.ts';
import type { Store } from '../shared/store.ts';
import { httpApiAuthorizerEvent, httpApiEvent, scheduledEvent } from './events.ts';
import { freshStore, startTestDb, TEST_SECRET } from './kit/db.ts';

/**
 * What runs in AWS, verified here: the bundles `cdk synth` produced (the esbuild output CDK would upload, read from
 * the cloud assembly) run in a fresh Node process each, with exactly the environment the template gives the
 * function, against a real dynalite, s3rver as the log bucket, and local SNS and Secrets Manager endpoints,
 * reached through the SDK's standard `AWS_ENDPOINT_URL_*` overrides. Every AWS call they make is recorded and
 * checked against the IAM policy the template gives that function.
 */

const exec = promisify(execFile);
const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const BUCKET = 'pull-logs';
const PREFIX = 'edge/';
const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:Pullwatch-Alerts91F83244-AbCdEf`;
const SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:KeyHashingSecret1F04BC4F-AbCdEf`;
const HARNESS = join(import.meta.dirname, 'lambda-runtime.mjs');

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

interface AwsCall {
  /** Which function made it (one child process runs at a time). */
  caller: string;
  action: string;
  resource: string;
  /** ListBucket's prefix, checked against the policy's s3:prefix condition. */
  prefix?: string;
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, string[]>>;
}

let db: EmbeddedDb;
let store: Store;
let s3rver: S3rver;
let s3: S3Client;
const servers: Server[] = [];
const calls: AwsCall[] = [];
const published: URLSearchParams[] = [];
let caller = 'setup';
let template: Template;
let workDir: string;
const endpoints: Record<string, string> = {};

const tableArn = () => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${store.table.name}`;

/** What a `Ref` or `Fn::GetAtt` of the stack's resources stands for here. */
function resolve(value: unknown): string {
  if (typeof value === 'string') return value;
  const object = value as Record<string, unknown>;
  if ('Fn::Join' in object) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map(resolve).join(separator);
  }
  const [id, attribute] =
    'Ref' in object ? [object.Ref as string, 'Ref'] : (object['Fn::GetAtt'] as [string, string]);
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': REGION,
    'AWS::AccountId': ACCOUNT,
  };
  if (pseudo[id]) return pseudo[id];
  const known: Array<[RegExp, Record<string, string>]> = [
    [/^Table[0-9A-F]{8}$/, { Ref: store.table.name, Arn: tableArn() }],
    [/^PullLogs[0-9A-F]{8}$/, { Ref: BUCKET, Arn: `arn:aws:s3:::${BUCKET}` }],
    [/^Alerts[0-9A-F]{8}$/, { Ref: TOPIC_ARN }],
    [/^KeyHashingSecret[0-9A-F]{8}$/, { Ref: SECRET_ARN }],
  ];
  const found = known.find(([pattern]) => pattern.test(id))?.[1][attribute];
  return found ?? `unresolved:${id}.${attribute}`;
}

/** IAM's `*` and `?` wildcards. */
const glob = (pattern: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );

function allows(statements: Statement[], call: AwsCall): boolean {
  return statements.some((statement) => {
    if (statement.Effect !== 'Allow') return false;
    if (![statement.Action].flat().some((action) => glob(action).test(call.action))) return false;
    if (![statement.Resource].flat().some((resource) => glob(resolve(resource)).test(call.resource)))
      return false;
    if (!statement.Condition) return true;
    const { StringLike, ...others } = statement.Condition;
    if (Object.keys(others).length > 0 || !StringLike) return false;
    return Object.entries(StringLike).every(
      ([key, patterns]) =>
        key === 's3:prefix' && patterns.some((pattern) => glob(pattern).test(call.prefix ?? '')),
    );
  });
}

/** A reverse proxy that notes every request before passing it on unchanged (signatures stay valid). */
async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function recordingProxy(target: string, record: (request: IncomingMessage, body: Buffer) => void) {
  return createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      record(request, body);
      const upstream = httpRequest(
        new URL(request.url ?? '/', target),
        { method: request.method, headers: request.headers },
        (reply) => {
          response.writeHead(reply.statusCode ?? 502, reply.headers);
          reply.pipe(response);
        },
      );
      upstream.on('error', (error) => {
        response.writeHead(502);
        response.end(String(error));
      });
      upstream.end(body);
    });
  });
}

/** A local endpoint answering like the real service, recording each call. */
function fakeService(answer: (request: IncomingMessage, body: string) => { type: string; body: string }) {
  return createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const reply = answer(request, Buffer.concat(chunks).toString('utf8'));
      response.writeHead(200, { 'content-type': reply.type });
      response.end(reply.body);
    });
  });
}

interface Invocation {
  results: Array<{ ok: boolean; value?: unknown; error?: { name: string; message: string }; phase?: string }>;
  /** stdout, one parsed JSON object per line: what CloudWatch Logs would receive. */
  logs: Array<Record<string, unknown>>;
}

/**
 * Runs `events` through one fresh instance of the function whose description contains `description`, with the
 * environment its template entry declares (plus `override`, for a deliberately broken deployment).
 */
async function invoke(
  description: string,
  events: unknown[],
  options: { as?: string; override?: Record<string, string> } = {},
): Promise<Invocation> {
  const functions = template.findResources('AWS::Lambda::Function') as Resources;
  const fn = Object.values(functions).find((resource) =>
    String(resource.Properties.Description).includes(description),
  );
  if (!fn) throw new Error(`no function described as ${description}`);
  const code = fn.Properties.Code as { S3Key: string };
  const assetDir = join(workDir, 'cdk.out', `asset.${code.S3Key.replace(/\.zip$/, '')}`);
  const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  const environment = Object.fromEntries(
    Object.entries(variables).map(([key, value]) => [key, resolve(value)]),
  );
  const unresolved = Object.entries(environment).filter(([, value]) => value.startsWith('unresolved:'));
  expect(unresolved, 'every variable the template sets has a local stand-in').toEqual([]);

  caller = options.as ?? description;
  const eventsPath = join(workDir, `events-${Date.now()}.json`);
  const resultsPath = join(workDir, `results-${Date.now()}.json`);
  await writeFile(eventsPath, JSON.stringify(events));
  const { stdout } = await exec(
    process.execPath,
    [HARNESS, assetDir, String(fn.Properties.Timeout), eventsPath, resultsPath],
    {
      env: {
        PATH: process.env.PATH ?? '',
        ...environment,
        ...options.override,
        // What the Lambda service sets, and the SDK's own endpoint overrides (no code path of ours involved).
        AWS_REGION: REGION,
        AWS_DEFAULT_REGION: REGION,
        AWS_LAMBDA_FUNCTION_NAME: caller,
        AWS_LAMBDA_LOG_FORMAT: 'JSON',
        AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb ?? '',
        AWS_ENDPOINT_URL_S3: endpoints.s3 ?? '',
        AWS_ENDPOINT_URL_SNS: endpoints.sns ?? '',
        AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsmanager ?? '',
      },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  caller = 'setup';
  const results = JSON.parse(await readFile(resultsPath, 'utf8')) as Invocation['results'];
  const lines = stdout.split('\n').filter((line) => line.trim() !== '');
  return { results, logs: lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** The EMF documents among the log lines, checked against the specification's rules as they go. */
function emfDocuments(logs: Array<Record<string, unknown>>) {
  return logs
    .filter((line) => '_aws' in line)
    .map((line) => {
      const aws = line._aws as {
        Timestamp: number;
        CloudWatchMetrics: Array<{
          Namespace: string;
          Dimensions: string[][];
          Metrics: Array<{ Name: string }>;
        }>;
      };
      expect(Number.isInteger(aws.Timestamp)).toBe(true);
      for (const directive of aws.CloudWatchMetrics) {
        for (const dimension of directive.Dimensions.flat()) expect(typeof line[dimension]).toBe('string');
        for (const metric of directive.Metrics) expect(typeof line[metric.Name]).toBe('number');
      }
      return { directive: aws.CloudWatchMetrics[0], values: line };
    });
}

function combinedLine(integrationId: string, at: Date): string {
  const [, day, month, year, time] = /^\w+, (\d+) (\w+) (\d+) ([\d:]+) GMT$/.exec(at.toUTCString()) ?? [];
  return `203.0.113.7 - - [${day}/${month}/${year}:${time} +0000] "GET /v1/integrations/${integrationId}/content HTTP/1.1" 200 5123 "-" "FortiGate/7.4.3"`;
}

// Synthesis with four esbuild bundles takes about 30 s on a busy 2-core machine (the same before the logger).
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'pullwatch-bundle-'));
  // The cloud assembly, bundles included, exactly as `cdk synth` writes it.
  const app = new App({
    outdir: join(workDir, 'cdk.out'),
    context: { logPrefix: PREFIX, alertEmails: 'ops@example.com' },
  });
  const { stack } = buildApp(app);
  app.synth();
  template = Template.fromStack(stack);

  db = await startTestDb();
  store = await freshStore(db);
  endpoints.dynamodb = await listen(
    recordingProxy(db.endpoint, (request, body) => {
      const action = `dynamodb:${String(request.headers['x-amz-target']).split('.')[1]}`;
      const input = JSON.parse(body.toString('utf8') || '{}') as {
        TableName?: string;
        IndexName?: string;
        RequestItems?: Record<string, unknown>;
      };
      for (const table of input.TableName ? [input.TableName] : Object.keys(input.RequestItems ?? {})) {
        const arn = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${table}`;
        calls.push({ caller, action, resource: input.IndexName ? `${arn}/index/${input.IndexName}` : arn });
      }
    }),
  );

  s3rver = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: join(workDir, 's3'),
    configureBuckets: [{ name: BUCKET }],
  });
  const { port } = await s3rver.run();
  const s3Direct = `http://127.0.0.1:${port}`;
  s3 = new S3Client({
    region: REGION,
    endpoint: s3Direct,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  endpoints.s3 = await listen(
    recordingProxy(s3Direct, (request) => {
      const url = new URL(request.url ?? '/', 'http://local');
      const [bucket, ...key] = url.pathname.slice(1).split('/');
      if (url.searchParams.has('list-type')) {
        calls.push({
          caller,
          action: 's3:ListBucket',
          resource: `arn:aws:s3:::${bucket}`,
          prefix: url.searchParams.get('prefix') ?? '',
        });
      } else {
        calls.push({
          caller,
          action: `s3:${request.method === 'GET' ? 'GetObject' : request.method}`,
          resource: `arn:aws:s3:::${bucket}/${decodeURIComponent(key.join('/'))}`,
        });
      }
    }),
  );

  endpoints.sns = await listen(
    fakeService((_request, body) => {
      const form = new URLSearchParams(body);
      published.push(form);
      calls.push({ caller, action: `sns:${form.get('Action')}`, resource: form.get('TopicArn') ?? '' });
      return {
        type: 'text/xml',
        body: `<PublishResponse><PublishResult><MessageId>m-${published.length}</MessageId></PublishResult></PublishResponse>`,
      };
    }),
  );
  endpoints.secretsmanager = await listen(
    fakeService((request, body) => {
      const input = JSON.parse(body) as { SecretId: string };
      const action = String(request.headers['x-amz-target']).split('.')[1];
      calls.push({ caller, action: `secretsmanager:${action}`, resource: input.SecretId });
      return {
        type: 'application/x-amz-json-1.1',
        body: JSON.stringify({ ARN: SECRET_ARN, Name: 'KeyHashingSecret', SecretString: TEST_SECRET }),
      };
    }),
  );
  // Synth and four bundles take ~25 s on an idle 2-core machine; leave room for a busy one (the full suite on a
  // shared 2-core machine at load 15 took over 120 s).
}, 180_000);

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolveClose) => server.close(resolveClose));
  }
  s3.destroy();
  await s3rver?.close();
  await db?.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('the bundled Lambda entries, run as deployed', () => {
  let orgId: string;
  let key: string;
  let readKey: string;
  let pulling: { id: string };
  let silent: { id: string };

  it('admin: creates the first organization and its API key, then another key, from one-off invocations; refuses bad commands', async () => {
    const { results, logs } = await invoke('operator commands', [
      { command: 'create-org', name: 'Acme' },
      { command: 'create-org' },
    ]);
    const [created, refused] = results;
    expect(created?.ok).toBe(true);
    const value = created?.value as { org_id: string; key: string; scope: string };
    expect(value.scope).toBe('write');
    expect(value.key).toMatch(/^pww_/);
    ({ org_id: orgId, key } = value);
    expect(refused).toMatchObject({ ok: false, error: { name: 'ValidationError', message: /name/ } });
    // The key is returned once and never logged.
    expect(JSON.stringify(logs)).not.toContain(key);

    const another = await invoke('operator commands', [
      { command: 'create-key', org_id: orgId, scope: 'read' },
      { command: 'create-key', org_id: 'org_ffffffffffffffff', scope: 'read' },
    ]);
    expect(another.results[0]).toMatchObject({ ok: true, value: { org_id: orgId, scope: 'read' } });
    readKey = (another.results[0]?.value as { key?: string } | undefined)?.key ?? '';
    expect(readKey).toMatch(/^pwr_/);
    expect(another.results[1]).toMatchObject({ ok: false, error: { name: 'NotFoundError' } });
  });

  it('api: answers API Gateway v2 events, with the organization taken from the key', async () => {
    const auth = { authorization: `Bearer ${key}` };
    const { results, logs } = await invoke('HTTP status API', [
      httpApiEvent('GET', '/v1/health'),
      httpApiEvent('GET', '/v1/integrations'),
      httpApiEvent('POST', '/v1/integrations', {
        headers: auth,
        body: { name: 'Paris edge', kind: 'firewall', vendor: 'fortigate' },
      }),
      httpApiEvent('GET', '/v1/integrations', {
        headers: { authorization: `Bearer ${readKey}` },
        query: 'limit=10',
      }),
    ]);
    const [health, denied, created, listed] = results.map(
      (result) => result.value as { statusCode: number; headers: Record<string, string>; body: string },
    );
    expect(results.every((result) => result.ok)).toBe(true);
    expect(health?.statusCode).toBe(200);
    expect(denied?.statusCode).toBe(401);
    expect(denied?.headers['content-type']).toContain('application/problem+json');
    expect(created?.statusCode).toBe(201);
    pulling = JSON.parse(created?.body ?? '{}') as { id: string };
    expect(pulling.id).toMatch(/^int_/);
    expect(
      (JSON.parse(listed?.body ?? '{}') as { items: Array<{ id: string }> }).items.map((item) => item.id),
    ).toEqual([pulling.id]);
    expect(logs.every((line) => typeof line === 'object')).toBe(true);
    // One logger line per request, carrying both our request id and the invocation's, cold start on the first.
    const requests = logs.filter((line) => line.message === 'request');
    expect(requests.map((line) => [line.request_id, line.function_request_id, line.cold_start])).toEqual([
      [health?.headers['x-request-id'], 'local-0', true],
      [denied?.headers['x-request-id'], 'local-1', false],
      [created?.headers['x-request-id'], 'local-2', false],
      [listed?.headers['x-request-id'], 'local-3', false],
    ]);
    expect(requests.every((line) => line.level === 'INFO' && line.service === 'pullwatch')).toBe(true);
  });

  it('cycle: a scheduled event reads the gzip log object, opens the issue, publishes once, and reports EMF metrics', async () => {
    // One integration pulled a minute ago (in the bucket under the prefix); one was made two days ago and never did.
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    ({ integration: silent } = await createIntegration(
      store,
      TEST_SECRET,
      orgId,
      { name: 'Lyon FW', kind: 'firewall' },
      twoDaysAgo,
    ));
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `${PREFIX}2026/11/21/access.log.gz`,
        Body: gzipSync(`${combinedLine(pulling.id, new Date(Date.now() - 60_000))}\n`),
      }),
    );
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'elsewhere/not-ours.log', Body: 'x\n' }));

    const { results, logs } = await invoke('watchdog cycle', [scheduledEvent(), scheduledEvent()]);
    expect(results[0]).toMatchObject({
      ok: true,
      value: { outcome: 'ok', files_processed: 1, records: 1, opened: 1, resolved: 0, sent: 1, errors: [] },
    });
    // The next tick has nothing new: the file is in the ledger, the notification delivered.
    expect(results[1]).toMatchObject({
      ok: true,
      value: { outcome: 'ok', files_processed: 0, opened: 0, sent: 0 },
    });

    expect(published).toHaveLength(1);
    const publish = published[0] as URLSearchParams;
    expect(publish.get('TopicArn')).toBe(TOPIC_ARN);
    expect(publish.get('MessageStructure')).toBe('json');
    expect(publish.get('Subject')).toContain('Lyon FW');
    const attributes = Object.fromEntries(
      [1, 2, 3, 4].map((n) => [
        publish.get(`MessageAttributes.entry.${n}.Name`),
        publish.get(`MessageAttributes.entry.${n}.Value.StringValue`),
      ]),
    );
    expect(attributes).toMatchObject({ org_id: orgId, criticality: 'critical', event: 'issue_opened' });

    const [first, second] = emfDocuments(logs);
    expect(first?.directive).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [[DEPLOYMENT_DIMENSION]],
    });
    expect(first?.values).toMatchObject({
      [DEPLOYMENT_DIMENSION]: 'Pullwatch',
      [CycleMetric.succeeded]: 1,
      [CycleMetric.filesProcessed]: 1,
      [CycleMetric.lines]: 1,
      [CycleMetric.malformedLines]: 0,
      [CycleMetric.issuesOpened]: 1,
      [CycleMetric.notificationsSent]: 1,
    });
    expect(first?.values[CycleMetric.feedAge]).toBeGreaterThanOrEqual(60);
    expect(second?.values).toMatchObject({ [CycleMetric.succeeded]: 1, [CycleMetric.filesProcessed]: 0 });
    expect(silent.id).toMatch(/^int_/);
  });

  it('cycle: does nothing while another cycle holds the lock, and leaves that lock alone', async () => {
    const leaseUntil = new Date(Date.now() + 120_000).toISOString();
    await store.table.doc.send(
      new PutCommand({
        TableName: store.table.name,
        Item: { ...CYCLE_LOCK_KEY, holder: 'another-cycle', lease_until: leaseUntil },
      }),
    );
    const { results, logs } = await invoke('watchdog cycle', [scheduledEvent()]);
    expect(results[0]).toEqual({ ok: true, value: { outcome: 'skipped' } });
    expect(emfDocuments(logs)[0]?.values).toMatchObject({ [CycleMetric.skipped]: 1 });
    expect(emfDocuments(logs)[0]?.values).not.toHaveProperty(CycleMetric.succeeded);
    const { Item } = await store.table.doc.send(
      new GetCommand({ TableName: store.table.name, Key: CYCLE_LOCK_KEY }),
    );
    expect(Item?.holder).toBe('another-cycle');
    await store.table.doc.send(new DeleteCommand({ TableName: store.table.name, Key: CYCLE_LOCK_KEY }));
  });

  it('cycle: a failing stage fails the invocation (for the Errors alarm) after reporting CycleSucceeded 0 and releasing the lock', async () => {
    const { results, logs } = await invoke('watchdog cycle', [scheduledEvent()], {
      as: 'cycle with a missing bucket',
      override: { PULLWATCH_LOG_BUCKET: 'no-such-bucket' },
    });
    expect(results[0]).toMatchObject({
      ok: false,
      phase: 'invoke',
      error: { name: 'CycleFailedError', message: /ingest: .*bucket/i },
    });
    expect(emfDocuments(logs)[0]?.values).toMatchObject({
      [CycleMetric.succeeded]: 0,
      [CycleMetric.failed]: 1,
    });
    const { Item } = await store.table.doc.send(
      new GetCommand({ TableName: store.table.name, Key: CYCLE_LOCK_KEY }),
    );
    expect(Item).toBeUndefined();
    expect((await store.deployment.get()).last_cycle_outcome).toBe('failed');
  });

  it('authorizer: answers HTTP API authorizer events with each outcome, for each credential form, and never logs a secret', async () => {
    // Times are injected into the stored facts (the bundle reads the real clock): one integration refreshed a
    // minute ago with an hour of grace, one refreshed two days ago whose hour of grace is long over.
    const at = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000).toISOString();
    const fresh = await createIntegration(
      store,
      TEST_SECRET,
      orgId,
      { name: 'Nice FW', kind: 'firewall' },
      at(86_400),
    );
    const replaced = fresh.credentials;
    const refreshed = await refreshCredentials(store, TEST_SECRET, orgId, fresh.integration.id, 3600, at(60));
    const stale = await createIntegration(
      store,
      TEST_SECRET,
      orgId,
      { name: 'Nantes FW', kind: 'firewall' },
      at(3 * 86_400),
    );
    const expired = stale.credentials;
    await refreshCredentials(store, TEST_SECRET, orgId, stale.integration.id, 3600, at(2 * 86_400));

    const id = fresh.integration.id;
    const content = (integrationId: string) => `/v1/integrations/${integrationId}/content`;
    const basic = (username: string, password: string) => ({
      authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
    });
    const current = refreshed.credentials;
    const wrong = 'not-the-password-0123456789abcdef';
    const cases: Array<[string, unknown, boolean, string]> = [
      [
        'current (basic)',
        httpApiAuthorizerEvent(content(id), {
          headers: basic(current.username, current.password),
          pathParameters: { id },
        }),
        true,
        'current',
      ],
      [
        'current (X-Api-Key)',
        httpApiAuthorizerEvent(content(id), {
          headers: { 'x-api-key': current.password },
          pathParameters: { id },
        }),
        true,
        'current',
      ],
      [
        'current (?api_key, a stage before the route, no path parameter)',
        httpApiAuthorizerEvent(`/prod${content(id)}`, {
          query: `api_key=${encodeURIComponent(current.password)}`,
        }),
        true,
        'current',
      ],
      [
        'previous_in_grace',
        httpApiAuthorizerEvent(content(id), {
          headers: basic(replaced.username, replaced.password),
          pathParameters: { id },
        }),
        true,
        'previous_in_grace',
      ],
      [
        'previous_expired',
        httpApiAuthorizerEvent(content(stale.integration.id), {
          headers: { 'x-api-key': expired.password },
          pathParameters: { id: stale.integration.id },
        }),
        false,
        'previous_expired',
      ],
      [
        'wrong_password',
        httpApiAuthorizerEvent(content(id), {
          headers: basic(current.username, wrong),
          pathParameters: { id },
        }),
        false,
        'wrong_password',
      ],
      [
        "wrong_password (another integration's user)",
        httpApiAuthorizerEvent(content(stale.integration.id), {
          headers: basic(current.username, current.password),
          pathParameters: { id: stale.integration.id },
        }),
        false,
        'wrong_password',
      ],
      [
        'no_credentials',
        httpApiAuthorizerEvent(content(id), { pathParameters: { id } }),
        false,
        'no_credentials',
      ],
      [
        'unknown_integration',
        httpApiAuthorizerEvent(content('int_ffffffffffffffff'), {
          headers: basic(current.username, current.password),
          pathParameters: { id: 'int_ffffffffffffffff' },
        }),
        false,
        'unknown_integration',
      ],
    ];
    const { results, logs } = await invoke(
      'pull authorizer',
      cases.map(([, event]) => event),
    );
    expect(results.every((result) => result.ok)).toBe(true);
    const answers = results.map(
      (result) => result.value as { isAuthorized: boolean; context: Record<string, unknown> },
    );
    for (const [index, [name, , accepted, outcome]] of cases.entries()) {
      expect(answers[index], name).toMatchObject({ isAuthorized: accepted, context: { outcome } });
    }
    // The context the access log reads: the outcome, the integration, its organization when it has one, and
    // the credential mark (`query` when the URL carried the password).
    expect(answers[0]).toEqual({
      isAuthorized: true,
      context: { outcome: 'current', integration_id: id, org_id: orgId, credential: 'basic' },
    });
    expect(answers[8]).toEqual({
      isAuthorized: false,
      context: {
        outcome: 'unknown_integration',
        integration_id: 'int_ffffffffffffffff',
        credential: 'basic',
      },
    });
    expect(answers.map((answer) => answer.context.credential)).toEqual([
      'basic',
      'header',
      'query',
      'basic',
      'header',
      'basic',
      'basic',
      'none',
      'basic',
    ]);

    // One line per verification with the outcome and the integration, cold start on the first; no secret anywhere.
    const verified = logs.filter((line) => line.message === 'pull verified');
    expect(verified.map((line) => line.outcome)).toEqual(cases.map(([, , , outcome]) => outcome));
    expect(verified.map((line) => line.credential)).toEqual(
      answers.map((answer) => answer.context.credential),
    );
    expect(verified.every((line) => typeof line.integration_id === 'string' && line.level === 'INFO')).toBe(
      true,
    );
    expect(verified[0]).toMatchObject({
      cold_start: true,
      function_request_id: 'local-0',
      integration_id: id,
    });
    const written = JSON.stringify(logs);
    for (const secret of [current.password, replaced.password, expired.password, wrong]) {
      expect(written).not.toContain(secret);
      expect(written).not.toContain(encodeURIComponent(secret));
    }
    expect(written).not.toContain(basic(current.username, current.password).authorization.slice(6));
    expect(written).not.toContain('Basic ');
  });

  it('every AWS call each bundle made is allowed by the IAM policy the template gives that function', () => {
    const functions = template.findResources('AWS::Lambda::Function') as Resources;
    const policies = template.findResources('AWS::IAM::Policy') as Resources;
    const statementsFor = (description: string): Statement[] => {
      const fn = Object.values(functions).find((resource) =>
        String(resource.Properties.Description).includes(description),
      );
      if (!fn) throw new Error(`no function described as ${description}`);
      const role = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      return Object.values(policies)
        .filter((policy) => JSON.stringify(policy.Properties.Roles) === JSON.stringify([{ Ref: role }]))
        .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
    };
    const checked = ['operator commands', 'HTTP status API', 'watchdog cycle', 'pull authorizer'];
    for (const description of checked) {
      const made = calls.filter((call) => call.caller === description);
      expect(made.length, description).toBeGreaterThan(0);
      const denied = made.filter((call) => !allows(statementsFor(description), call));
      expect(denied, `${description}: calls its role does not allow`).toEqual([]);
    }
    // And the policy is not wider than the calls in one visible way: the API never touches S3 or SNS.
    expect(
      calls.filter((call) => call.caller === 'HTTP status API' && /^(s3|sns):/.test(call.action)),
    ).toEqual([]);
    // The authorizer reads: an integration's item by its id; the key secret once.
    expect(
      [
        ...new Set(calls.filter((call) => call.caller === 'pull authorizer').map((call) => call.action)),
      ].sort(),
    ).toEqual(['dynamodb:GetItem', 'secretsmanager:GetSecretValue']);
  });
});
