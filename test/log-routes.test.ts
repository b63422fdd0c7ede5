import { describe, expect, it } from 'vitest';
import { parseLine } from '../shared/pulls/parse.ts';
import { GUIDE, HTTP_API_LOG_FIELDS } from './kit/guide.ts';

/**
 * docs/deploy-aws.md tells operators how to get the blocklist endpoint's access logs into the bucket, and
 * which pullwatch format each route yields. These are those claims, checked against the real parser, with the
 * access-log formats copied from the guide (the test fails if the guide's text drifts from them).
 */

const ID = 'int_5f1c0a9e3b7d2c41';

/** The access-log formats the guide gives for API Gateway (HTTP API, and REST API). */
const HTTP_API_FORMAT = JSON.stringify(HTTP_API_LOG_FIELDS);
const REST_API_FORMAT = JSON.stringify({
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  path: '$context.path',
  status: '$context.status',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  requestId: '$context.requestId',
});

/** What API Gateway writes for one pull: the format with its $context variables filled in. */
function render(format: string, path: string): string {
  const values: Record<string, string> = {
    '$context.requestTime': '21/Nov/2026:10:00:00 +0000',
    '$context.httpMethod': 'GET',
    '$context.path': path,
    '$context.status': '200',
    '$context.identity.sourceIp': '203.0.113.7',
    '$context.identity.userAgent': 'FortiGate/7.4.3',
    '$context.requestId': 'Ab1CdEfGhIjKlMn=',
  };
  return format.replace(/\$context\.[A-Za-z.]+/g, (variable) => values[variable] ?? variable);
}

const pull = {
  time: '2026-11-21T10:00:00.000Z',
  integration_id: ID,
  method: 'GET',
  status: 200,
  ip: '203.0.113.7',
  user_agent: 'FortiGate/7.4.3',
};

describe('the log routes in the deploy guide', () => {
  it('shows the API Gateway access-log formats tested here', () => {
    expect(GUIDE).toContain(HTTP_API_FORMAT);
    expect(GUIDE).toContain(REST_API_FORMAT);
  });

  it('API Gateway HTTP API (via CloudWatch Logs and Firehose): the API Gateway JSON format', () => {
    expect(parseLine(render(HTTP_API_FORMAT, `/v1/integrations/${ID}/content`))).toEqual({
      ok: true,
      record: pull,
    });
  });

  it('API Gateway REST API (straight to Firehose): the same format, the stage in the path does not matter', () => {
    expect(parseLine(render(REST_API_FORMAT, `/prod/v1/integrations/${ID}/content`))).toEqual({
      ok: true,
      record: pull,
    });
  });

  it('nginx shipped as it writes its log: the combined format', () => {
    const line = `203.0.113.7 - - [21/Nov/2026:10:00:00 +0000] "GET /v1/integrations/${ID}/content HTTP/1.1" 200 5123 "-" "FortiGate/7.4.3"`;
    expect(parseLine(line)).toEqual({ ok: true, record: pull });
  });

  it("ALB access logs: read (the ELB guide's layout, ISO time with microseconds)", () => {
    const line = `http 2026-11-21T10:00:00.123456Z app/edge/50dc6c495c0c9188 203.0.113.7:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://blocklist.example.com:80/v1/integrations/${ID}/content HTTP/1.1" "FortiGate/7.4.3" - - arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/edge/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2026-11-21T10:00:00.122000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-"`;
    expect(parseLine(line)).toEqual({ ok: true, record: { ...pull, time: '2026-11-21T10:00:00.123Z' } });
  });

  it('CloudFront standard logs: the W3C text is read; the JSON of logging v2 is not', () => {
    const w3c = `2026-11-21\t10:00:00\tIAD89-C1\t5123\t203.0.113.7\tGET\td111111abcdef8.cloudfront.net\t/v1/integrations/${ID}/content\t200\t-\tFortiGate/7.4.3\t-\t-\tMiss`;
    expect(parseLine(w3c)).toEqual({ ok: true, record: pull });
    const v2 = JSON.stringify({
      date: '2026-11-21',
      time: '10:00:00',
      'c-ip': '203.0.113.7',
      'cs-method': 'GET',
      'cs-uri-stem': `/v1/integrations/${ID}/content`,
      'sc-status': '200',
      'cs(User-Agent)': 'FortiGate/7.4.3',
    });
    expect(parseLine(v2)).toEqual({ ok: false, reason: 'missing_field' });
  });
});
