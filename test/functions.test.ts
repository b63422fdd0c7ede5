import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntegration } from '../shared/integration/ops.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import { createOrgWithKey } from '../shared/org/index.ts';
import type { Store } from '../shared/store/index.ts';
import { freshStore, startTestDb, TEST_SECRET } from './helpers.ts';

/** An API Gateway HTTP API (payload 2.0) event, as the deployed function receives it. */
type ApiEvent = Parameters<typeof import('../functions/api.ts')['handler']>[0];

function httpEvent(method: string, path: string, headers: Record<string, string> = {}): ApiEvent {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'api.example.com', ...headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '198.51.100.1', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: '21/Nov/2026:10:00:00 +0000',
      timeEpoch: 1_795_000_000_000,
    },
    body: null,
    isBase64Encoded: false,
  } as unknown as ApiEvent;
}

describe('the Lambda entries', () => {
  let db: EmbeddedDb;
  let store: Store;
  let sns: Server;
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
    const logDir = await mkdtemp(join(tmpdir(), 'pullwatch-fn-'));
    Object.assign(process.env, {
      DYNAMODB_ENDPOINT: db.endpoint,
      TABLE_NAME: store.tableName,
      PULLWATCH_KEY_SECRET: TEST_SECRET,
      PULLWATCH_LOG_DIR: logDir,
      SNS_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:pullwatch-alerts',
      SNS_ENDPOINT: `http://127.0.0.1:${(sns.address() as AddressInfo).port}`,
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'y',
    });
    await writeFile(join(logDir, 'empty.jsonl'), '');
  });

  afterAll(async () => {
    await new Promise((resolve) => sns.close(resolve));
    await db.close();
  });

  it('serves the API from an API Gateway v2 event, with the organization taken from the key', async () => {
    const { handler } = await import('../functions/api.ts');
    const { key } = await createOrgWithKey(store, TEST_SECRET, 'Acme', 'write', new Date().toISOString());
    const context = {} as Context;
    const health = await handler(httpEvent('GET', '/v1/health'), context);
    expect(health.statusCode).toBe(200);
    const denied = await handler(httpEvent('GET', '/v1/integrations'), context);
    expect(denied.statusCode).toBe(401);
    expect(denied.headers?.['content-type']).toContain('application/problem+json');
    const listed = await handler(
      httpEvent('GET', '/v1/integrations', { authorization: `Bearer ${key}` }),
      context,
    );
    expect(listed.statusCode).toBe(200);
    expect(JSON.parse(listed.body ?? '')).toEqual({ items: [], next_cursor: null });
  });

  it('runs the scheduled chain ingest -> rules -> notify and publishes to SNS once', async () => {
    // The handlers read the real clock, so the integration is made two days old and has never pulled.
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const { org } = await createOrgWithKey(store, TEST_SECRET, 'Globex', 'write', twoDaysAgo);
    await createIntegration(store, TEST_SECRET, org.id, { name: 'Lyon FW', kind: 'firewall' }, twoDaysAgo);
    const ingest = await import('../functions/ingest.ts');
    const rules = await import('../functions/rules.ts');
    const notify = await import('../functions/notify.ts');
    expect(await ingest.handler()).toEqual({ files_processed: 1, records: 0 });
    expect(await rules.handler()).toEqual({ candidates: 1, opened: 1, resolved: 0 });
    expect(await notify.handler()).toEqual({ sent: 1, failed: 0 });
    expect(await notify.handler()).toEqual({ sent: 0, failed: 0 });
    expect((await store.getDeployment()).last_cycle_outcome).toBe('ok');
    expect(published).toHaveLength(1);
    const form = new URLSearchParams(published[0]);
    expect(form.get('Action')).toBe('Publish');
    expect(form.get('MessageStructure')).toBe('json');
    expect(form.get('Subject')).toBe('[pullwatch] CRITICAL: Firewall Integration Offline: Lyon FW');
  });
});
