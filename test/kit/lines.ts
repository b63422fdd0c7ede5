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

/**
 * A line of the README's nginx `log_format pullwatch`: the combined format with the path only, no referer, then the
 * auth outcome and the credential mark. `$time_local` has whole seconds.
 */
export function nginxLine(record: PullRecord, mark = 'basic'): string {
  return `${record.ip ?? '-'} - fw-user [${clf(record.time)}] "${record.method} /v1/integrations/${record.integration_id}/content HTTP/1.1" ${record.status} 51234 "-" "${record.user_agent ?? '-'}" "${record.auth ?? ''}" "${mark}"`;
}

/**
 * An ALB access-log line (the fields of test/fixtures/alb.log). ALB writes microseconds; `written` is the time as
 * the line shows it (default: the record's time with its milliseconds padded to microseconds).
 */
export function albLine(record: PullRecord, written = record.time.replace(/\.(\d{3})Z$/, '.$1000Z')): string {
  return `https ${written} app/blocklist-edge/50dc6c495c0c9188 ${record.ip ?? '-'}:51514 10.0.1.15:8080 0.000 0.004 0.000 ${record.status} ${record.status} 231 51234 "${record.method} https://blocklist.example.com:443/v1/integrations/${record.integration_id}/content HTTP/1.1" "${record.user_agent ?? '-'}" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/blocklist/73e2d6bc24d8a067 "Root=1-6767f2a0-3b1d1c2e5f6a7b8c9d0e1f20" "blocklist.example.com" "-" 0 ${written} "forward" "-" "-" "10.0.1.15:8080" "${record.status}" "-" "-" TID_1a2b3c4d5e6f`;
}

/** A CloudFront standard-log file (W3C headers, then one row per record): `date` and `time` have whole seconds. */
export function cloudFrontLines(records: PullRecord[]): string[] {
  const fields =
    'date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query';
  return [
    '#Version: 1.0',
    `#Fields: ${fields}`,
    ...records.map((record) =>
      [
        record.time.slice(0, 10),
        record.time.slice(11, 19),
        'FRA56-P4',
        '51234',
        record.ip ?? '-',
        record.method,
        'd111111abcdef8.cloudfront.net',
        `/v1/integrations/${record.integration_id}/content`,
        String(record.status),
        '-',
        encodeURIComponent(record.user_agent ?? '-'),
        '-',
      ].join('\t'),
    ),
  ];
}
