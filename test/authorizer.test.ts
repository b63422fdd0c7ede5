import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { authorizerResult, pullRequestOf } from '../shared/auth/http-authorizer.ts';
import { httpApiAuthorizerEvent } from './events.ts';

/**
 * The PullAuthorizer's edges, without AWS: what it reads from an HTTP API authorizer event and what it answers.
 * test/bundle.test.ts runs the bundled function on such events against dynalite for every outcome.
 */

const ID = 'int_5f1c0a9e3b7d2c41';

/**
 * AWS's example payload 2.0 authorizer event, verbatim: "Control access to HTTP APIs with AWS Lambda authorizers",
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html (source:
 * awsdocs/amazon-api-gateway-developer-guide, doc_source/http-api-lambda-authorizer.md).
 */
const AWS_EXAMPLE = {
  version: '2.0',
  type: 'REQUEST',
  routeArn: 'arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request',
  identitySource: ['user1', '123'],
  routeKey: '$default',
  rawPath: '/my/path',
  rawQueryString: 'parameter1=value1&parameter1=value2&parameter2=value',
  cookies: ['cookie1', 'cookie2'],
  headers: { Header1: 'value1', Header2: 'value2' },
  queryStringParameters: { parameter1: 'value1,value2', parameter2: 'value' },
  requestContext: {
    accountId: '123456789012',
    apiId: 'api-id',
    authentication: {
      clientCert: {
        clientCertPem: 'CERT_CONTENT',
        subjectDN: 'www.example.com',
        issuerDN: 'Example issuer',
        serialNumber: 'a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1',
        validity: { notBefore: 'May 28 12:30:02 2019 GMT', notAfter: 'Aug  5 09:36:04 2021 GMT' },
      },
    },
    domainName: 'id.execute-api.us-east-1.amazonaws.com',
    domainPrefix: 'id',
    http: { method: 'POST', path: '/my/path', protocol: 'HTTP/1.1', sourceIp: 'IP', userAgent: 'agent' },
    requestId: 'id',
    routeKey: '$default',
    stage: '$default',
    time: '12/Mar/2020:19:03:58 +0000',
    timeEpoch: 1583348638390,
  },
  pathParameters: { parameter1: 'value1' },
  stageVariables: { stageVariable1: 'value1', stageVariable2: 'value2' },
} as unknown as APIGatewayRequestAuthorizerEventV2;

describe('pullRequestOf: what the authorizer reads from an HTTP API authorizer event', () => {
  it("reads AWS's own example as a request for no integration, with no credentials", () => {
    expect(pullRequestOf(AWS_EXAMPLE)).toEqual({
      integrationId: '',
      parts: {
        authorization: undefined,
        apiKeyHeader: undefined,
        query: 'parameter1=value1&parameter1=value2&parameter2=value',
      },
    });
  });

  it('takes the id from the route parameter, else from the raw path behind any stage or prefix', () => {
    const path = `/v1/integrations/${ID}/content`;
    expect(pullRequestOf(httpApiAuthorizerEvent(path, { pathParameters: { id: ID } })).integrationId).toBe(
      ID,
    );
    expect(pullRequestOf(httpApiAuthorizerEvent(path)).integrationId).toBe(ID);
    expect(pullRequestOf(httpApiAuthorizerEvent(`/prod${path}`)).integrationId).toBe(ID);
    expect(
      pullRequestOf(httpApiAuthorizerEvent(`/blocklists/integrations/${ID}/content`)).integrationId,
    ).toBe(ID);
    // A `{proxy+}` route: no `id` parameter, the raw path decides.
    expect(
      pullRequestOf(httpApiAuthorizerEvent(path, { pathParameters: { proxy: `integrations/${ID}/content` } }))
        .integrationId,
    ).toBe(ID);
    expect(pullRequestOf(httpApiAuthorizerEvent('/v1/integrations')).integrationId).toBe('');
    expect(pullRequestOf(httpApiAuthorizerEvent(path, { pathParameters: { id: 'a b' } })).integrationId).toBe(
      '',
    );
  });

  it('passes the three credential carriers on as they came, header names in any case', () => {
    const event = httpApiAuthorizerEvent(`/v1/integrations/${ID}/content`, {
      headers: { Authorization: 'Basic dTpw', 'X-Api-Key': 'k' },
      query: 'api_key=q&x=1',
    });
    expect(pullRequestOf(event).parts).toEqual({
      authorization: 'Basic dTpw',
      apiKeyHeader: 'k',
      query: 'api_key=q&x=1',
    });
    const lower = httpApiAuthorizerEvent(`/v1/integrations/${ID}/content`, {
      headers: { 'x-api-key': 'k2' },
    });
    expect(pullRequestOf(lower).parts.apiKeyHeader).toBe('k2');
  });
});

describe('authorizerResult: the simple response', () => {
  it('allows the accepted outcomes and puts the outcome, the integration and its organization in the context', () => {
    expect(
      authorizerResult(ID, {
        outcome: 'previous_in_grace',
        accepted: true,
        integration: { id: ID, org_id: 'org_0123456789abcdef', kind: 'firewall' },
      }),
    ).toEqual({
      isAuthorized: true,
      context: { outcome: 'previous_in_grace', integration_id: ID, org_id: 'org_0123456789abcdef' },
    });
  });

  it('denies the others with their outcome, and without an organization when the id names none', () => {
    expect(
      authorizerResult('int_ffffffffffffffff', {
        outcome: 'unknown_integration',
        accepted: false,
        integration: null,
      }),
    ).toEqual({
      isAuthorized: false,
      context: { outcome: 'unknown_integration', integration_id: 'int_ffffffffffffffff' },
    });
  });
});
