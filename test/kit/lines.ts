import { randomBytes } from 'node:crypto';
import type { PullRecord } from '../../shared/pulls/index.ts';
import type { Iso } from '../../shared/time.ts';

/** Pull-log lines in each format the ingest reads (listed in the README), built from a record. */

/** The text of a file of these lines. */
export const lines = (...items: string[]) => `${items.join('\n')}\n`;

/** A successful GET from a FortiGate, unless `extra` says otherwise (`null` ip or user agent: not logged). */
export function pullRecord(
  integrationId: string,
  time: Iso,
  extra: Partial<Omit<PullRecord, 'time' | 'integration_id'>> = {},
): PullRecord {
  return {
    time,
    integration_id: integrationId,
    method: extra.method ?? 'GET',
    status: extra.status ?? 200,
    ip: extra.ip === undefined ? '203.0.113.7' : extra.ip,
    user_agent: extra.user_agent === undefined ? 'FortiGate/7.4.3' : extra.user_agent,
    ...(extra.auth ? { auth: extra.auth } : {}),
  };
}

/** One canonical pull-log line (format 1): the record as JSON, with a response size. */
export function pull(
  integrationId: string,
  time: Iso,
  extra: Partial<Omit<PullRecord, 'time' | 'integration_id'>> = {},
): string {
  return JSON.stringify({ ...pullRecord(integrationId, time, extra), bytes: 51234 });
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** Common Log Format time in UTC, e.g. `20/Nov/2026:08:00:00 +0000`. */
export function clf(time: Iso): string {
  const d = new Date(time);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** An Apache/nginx "combined" access-log line. */
export function combinedLine(record: PullRecord): string {
  return `${record.ip ?? '-'} - - [${clf(record.time)}] "${record.method} /v1/integrations/${record.integration_id}/content HTTP/1.1" ${record.status} 0 "-" "${record.user_agent ?? '-'}"`;
}

/** An API Gateway (HTTP API) access-log line. */
export function apiGatewayLine(record: PullRecord): string {
  return JSON.stringify({
    requestId: randomBytes(8).toString('base64'),
    ip: record.ip,
    requestTimeEpoch: Date.parse(record.time),
    httpMethod: record.method,
    routeKey: `${record.method} /v1/integrations/{id}/content`,
    rawPath: `/v1/integrations/${record.integration_id}/content`,
    status: String(record.status),
    protocol: 'HTTP/1.1',
    responseLength: 0,
    userAgent: record.user_agent,
  });
}
