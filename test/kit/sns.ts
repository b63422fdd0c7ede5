import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { SnsPublisher } from '../../shared/notify/publishers.ts';

/** A local SNS endpoint that records every request, for SnsPublisher tests through the real SDK. */

/** SNS's publish limit, written out here (not imported) so the endpoint does not trust the product. */
const SNS_LIMIT_BYTES = 262_144;

export const TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:pullwatch-alerts';
export const PUBLISH_OK =
  '<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>';

/** An SNS error body (Query protocol). */
export const snsError = (code: string, message: string, type = 'Sender') =>
  `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`;

export interface SnsEndpoint {
  /** `http://127.0.0.1:<port>`, once the file's tests run. */
  endpoint: string;
  /** Every request since the current test began (form-encoded Query protocol). */
  requests: URLSearchParams[];
  /** What the endpoint answers; back to a successful Publish before each test. */
  reply: { status: number; body: string };
  /**
   * Like SNS, a Publish larger than this (message with all its keys + subject + every attribute's name, type
   * and value, in UTF-8 bytes) is refused with 400 InvalidParameter, whatever `reply` says. 256 KiB.
   */
  limitBytes: number;
  /** The requests refused for their size since the current test began, with their size. */
  oversize: Array<{ request: URLSearchParams; bytes: number }>;
}

/** The size SNS counts for a Query-protocol Publish: message, subject and every attribute, in UTF-8 bytes. */
export function publishSize(request: URLSearchParams): number {
  const bytes = (value: string | null) => Buffer.byteLength(value ?? '', 'utf8');
  let total = bytes(request.get('Message')) + bytes(request.get('Subject'));
  for (let n = 1; request.has(`MessageAttributes.entry.${n}.Name`); n += 1)
    total +=
      bytes(request.get(`MessageAttributes.entry.${n}.Name`)) +
      bytes(request.get(`MessageAttributes.entry.${n}.Value.DataType`)) +
      bytes(request.get(`MessageAttributes.entry.${n}.Value.StringValue`));
  return total;
}

/** Starts a local SNS endpoint for the calling test file, and resets what it recorded before each test. */
export function useSnsEndpoint(): SnsEndpoint {
  const sns: SnsEndpoint = {
    endpoint: '',
    requests: [],
    reply: { status: 200, body: PUBLISH_OK },
    limitBytes: SNS_LIMIT_BYTES,
    oversize: [],
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      sns.requests.push(params);
      const bytes = publishSize(params);
      if (params.get('Action') === 'Publish' && bytes > sns.limitBytes) {
        sns.oversize.push({ request: params, bytes });
        response.writeHead(400, { 'content-type': 'text/xml' });
        response.end(snsError('InvalidParameter', 'Invalid parameter: Message too long'));
        return;
      }
      response.writeHead(sns.reply.status, { 'content-type': 'text/xml' });
      response.end(sns.reply.body);
    });
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    sns.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    sns.requests = [];
    sns.oversize = [];
    sns.reply = { status: 200, body: PUBLISH_OK };
    sns.limitBytes = SNS_LIMIT_BYTES;
  });
  return sns;
}

/** An SNS client for `endpoint` with the SDK's retries off, so a test sees every failure. */
export const snsClient = (endpoint: string) =>
  new SNSClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    maxAttempts: 1,
  });

/** The product's SnsPublisher on the test topic, through `snsClient(endpoint)`. */
export const snsPublisher = (endpoint: string) => new SnsPublisher(snsClient(endpoint), TOPIC_ARN);

/** The message attributes of a Query-protocol Publish, as name -> {DataType, StringValue}. */
export function messageAttributes(
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

/** The JSON message (one text per protocol) of a Publish. */
export function messageOf(request: URLSearchParams): Record<string, string> {
  return JSON.parse(request.get('Message') ?? 'null') as Record<string, string>;
}
