import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The deploy guide, whose formats and snippets the tests check against the real parser. */
export const GUIDE = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'deploy-aws.md'), 'utf8');

/** The fields of the guide's HTTP API access-log format (JSON; the authorizer's format adds its own). */
export const HTTP_API_LOG_FIELDS = {
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  rawPath: '$context.path',
  status: '$context.status',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  requestId: '$context.requestId',
};
