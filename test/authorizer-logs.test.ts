import { describe, expect, it } from 'vitest';
import { AUTH_OUTCOMES } from '../shared/auth/verify.ts';
import { parseLine } from '../shared/pulls/parse.ts';
import { GUIDE, HTTP_API_LOG_FIELDS } from './kit/guide.ts';

/**
 * docs/deploy-aws.md, "Verifying pulls with the PullAuthorizer", gives the blocklist API an access-log format that
 * carries the authorizer's outcome (`"auth":"$context.authorizer.outcome"`). These are the lines API Gateway writes
 * with it, for every row of the guide's denial table, read by the real parser.
 */

const ID = 'int_5f1c0a9e3b7d2c41';

const FORMAT = JSON.stringify({
  ...HTTP_API_LOG_FIELDS,
  auth: '$context.authorizer.outcome',
  authError: '$context.authorizer.error',
  credential: '$context.authorizer.credential',
});

/**
 * One line as API Gateway writes it: each variable replaced by its value, `-` for a variable with none (how
 * access logs show an empty variable).
 */
function line(values: {
  path?: string;
  status: string;
  auth?: string;
  authError?: string;
  method?: string;
  credential?: string;
}) {
  const filled: Record<string, string> = {
    '$context.requestTime': '21/Nov/2026:10:00:00 +0000',
    '$context.httpMethod': values.method ?? 'GET',
    '$context.path': values.path ?? `/v1/integrations/${ID}/content`,
    '$context.status': values.status,
    '$context.identity.sourceIp': '203.0.113.7',
    '$context.identity.userAgent': 'FortiGate/7.4.3',
    '$context.requestId': 'Ab1CdEfGhIjKlMn=',
    '$context.authorizer.outcome': values.auth ?? '-',
    '$context.authorizer.error': values.authError ?? '-',
    '$context.authorizer.credential': values.credential ?? '-',
  };
  return FORMAT.replace(/\$context\.[A-Za-z.]+/g, (variable) => filled[variable] ?? variable);
}

const pull = (status: number, extra: Record<string, unknown> = {}) => ({
  ok: true,
  record: {
    time: '2026-11-21T10:00:00.000Z',
    integration_id: ID,
    method: 'GET',
    status,
    ip: '203.0.113.7',
    user_agent: 'FortiGate/7.4.3',
    ...extra,
  },
});

describe('API Gateway access logs with the PullAuthorizer outcome', () => {
  it('is the format the deploy guide shows', () => {
    expect(GUIDE).toContain(FORMAT);
  });

  it('an accepted pull carries its outcome', () => {
    expect(parseLine(line({ status: '200', auth: 'current' }))).toEqual(pull(200, { auth: 'current' }));
    expect(parseLine(line({ status: '304', auth: 'previous_in_grace' }))).toEqual(
      pull(304, { auth: 'previous_in_grace' }),
    );
  });

  it('a refusal whose context API Gateway logged carries its outcome, for every refusing code', () => {
    for (const outcome of AUTH_OUTCOMES.filter(
      (code) => code !== 'current' && code !== 'previous_in_grace',
    )) {
      expect(parseLine(line({ status: '403', auth: outcome })), outcome).toEqual(
        pull(403, { auth: outcome }),
      );
    }
  });

  it('a refusal logged without the context is an auth failure without an outcome', () => {
    expect(parseLine(line({ status: '403' }))).toEqual(pull(403));
    expect(parseLine(line({ status: '403', auth: '' }))).toEqual(pull(403));
  });

  it('a request stopped for a missing identity source (caching on) is a 401 without an outcome', () => {
    expect(parseLine(line({ status: '401' }))).toEqual(pull(401));
  });

  it('a failed authorizer is a server error, its error message ignored', () => {
    expect(
      parseLine(line({ status: '500', authError: 'The authorizer returned an invalid response' })),
    ).toEqual(pull(500));
  });

  it('a stage or base path before the route, and HEAD requests, are read like the rest', () => {
    expect(
      parseLine(
        line({ path: `/prod/v1/integrations/${ID}/content`, status: '200', auth: 'current', method: 'HEAD' }),
      ),
    ).toEqual({ ok: true, record: { ...pull(200, { auth: 'current' }).record, method: 'HEAD' } });
  });

  it('a value that is not an outcome code is no outcome, never a parse failure', () => {
    for (const value of ['CURRENT', 'null', 'wrong password', 'x'.repeat(300)]) {
      expect(parseLine(line({ status: '403', auth: value })), value).toEqual(pull(403));
    }
  });

  it('the credential mark: `query` flags the record (API Gateway logs no query string), anything else does not', () => {
    expect(parseLine(line({ status: '200', auth: 'current', credential: 'query' }))).toEqual(
      pull(200, { auth: 'current', credential_in_url: true }),
    );
    for (const credential of ['basic', 'header', 'none', '-', 'QUERY', 'api_key=x']) {
      expect(parseLine(line({ status: '200', auth: 'current', credential })), credential).toEqual(
        pull(200, { auth: 'current' }),
      );
    }
  });
});
