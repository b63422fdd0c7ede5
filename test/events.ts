import type { APIGatewayProxyEventV2, ScheduledEvent } from 'aws-lambda';

/**
 * Event shapes as AWS delivers them, for the Lambda entry tests: nothing here is pullwatch-specific.
 */

/** What EventBridge sends a rule's Lambda target on each `rate(...)` tick. */
export function scheduledEvent(time = new Date()): ScheduledEvent {
  return {
    version: '0',
    id: `53dc4d37-cffa-4f76-80c9-${time.getTime().toString(16).padStart(12, '0')}`,
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: `${time.toISOString().slice(0, 19)}Z`,
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:123456789012:rule/Pullwatch-Schedule83A77FD1-1A2B3C4D5E6F'],
    detail: {},
  };
}

/** An API Gateway HTTP API event, payload format 2.0, as the `$default` route delivers it. */
export function httpApiEvent(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown; query?: string } = {},
): APIGatewayProxyEventV2 {
  const now = new Date();
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: options.query ?? '',
    ...(options.query
      ? { queryStringParameters: Object.fromEntries(new URLSearchParams(options.query)) }
      : {}),
    headers: {
      accept: 'application/json',
      host: 'abc123.execute-api.us-east-1.amazonaws.com',
      'user-agent': 'curl/8.5.0',
      'x-forwarded-for': '198.51.100.1',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
      ...(body === undefined
        ? {}
        : { 'content-type': 'application/json', 'content-length': String(body.length) }),
      ...options.headers,
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '198.51.100.1', userAgent: 'curl/8.5.0' },
      requestId: `req-${now.getTime()}`,
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: false,
  };
}
