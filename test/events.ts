import type { APIGatewayProxyEventV2, APIGatewayRequestAuthorizerEventV2, ScheduledEvent } from 'aws-lambda';

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

/**
 * What API Gateway sends an HTTP API Lambda authorizer (REQUEST type, payload format 2.0), with the shape and
 * field order of AWS's own example in "Control access to HTTP APIs with AWS Lambda authorizers", section "Payload
 * format version" (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html;
 * its source: awsdocs/amazon-api-gateway-developer-guide, doc_source/http-api-lambda-authorizer.md), filled in for
 * a firewall pulling `path` through a `GET /v1/integrations/{id}/content` route. No identity source is configured
 * (pullwatch's default: no authorizer caching), so `identitySource` is empty. `pathParameters` only when the route
 * names `{id}`; header names are lowercase, as HTTP API delivers them.
 */
export function httpApiAuthorizerEvent(
  path: string,
  options: { headers?: Record<string, string>; query?: string; pathParameters?: Record<string, string> } = {},
): APIGatewayRequestAuthorizerEventV2 {
  const now = new Date();
  const query = options.query ?? '';
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: `arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/GET${path}`,
    identitySource: [],
    routeKey: 'GET /v1/integrations/{id}/content',
    rawPath: path,
    rawQueryString: query,
    cookies: [],
    headers: {
      accept: '*/*',
      host: 'abcdef123.execute-api.us-east-1.amazonaws.com',
      'user-agent': 'FortiGate/7.4.3',
      'x-amzn-trace-id': `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-0123456789abcdef01234567`,
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
      ...options.headers,
    },
    ...(query ? { queryStringParameters: Object.fromEntries(new URLSearchParams(query)) } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdef123',
      domainName: 'abcdef123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abcdef123',
      http: {
        method: 'GET',
        path,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'FortiGate/7.4.3',
      },
      requestId: `auth-${now.getTime()}`,
      routeKey: 'GET /v1/integrations/{id}/content',
      stage: '$default',
      time: clfTime(now),
      timeEpoch: now.getTime(),
    },
    ...(options.pathParameters ? { pathParameters: options.pathParameters } : {}),
  };
}

/** `12/Mar/2020:19:03:58 +0000`, the request time as the authorizer example writes it. */
function clfTime(at: Date): string {
  const [, day, month, year, time] = /^\w+, (\d+) (\w+) (\d+) ([\d:]+) GMT$/.exec(at.toUTCString()) ?? [];
  return `${day?.padStart(2, '0')}/${month}/${year}:${time} +0000`;
}
