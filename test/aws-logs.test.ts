import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ingest } from '../shared/ingest/index.ts';
import type { PullRecord } from '../shared/pulls/index.ts';
import { newParseContext, type ParsedLine, parseLine } from '../shared/pulls/parse.ts';
import type { Iso } from '../shared/time.ts';
import { scanTable } from './api-kit.ts';
import { useTestDb } from './kit/db.ts';
import { put, useTempDirs } from './kit/files.ts';
import { FIXTURE_IDS, type FixtureKey, fixture } from './kit/ingest.ts';
import { at } from './kit/time.ts';
import { addIntegration, current, world } from './kit/world.ts';

// ALB and CloudFront access logs, the API Gateway console-default formats, and nginx user names with spaces.

const IDS = FIXTURE_IDS;
type Key = FixtureKey;
const FORTI = 'FortiGate/7.4.3';
const PAN = 'PAN-OS/11.1.2';
const BOUNCER = 'crowdsec-firewall-bouncer/v0.0.31';

const rec = (
  time: Iso,
  key: Key,
  method: string,
  status: number,
  ip: string | null,
  user_agent: string | null,
): PullRecord => ({ time, integration_id: IDS[key], method, status, ip, user_agent });

type Pin = PullRecord | string | null;
/** Each line of a file parsed in order with one context, as the ingest reads a file. */
const pinsOf = (text: string): Pin[] => {
  const context = newParseContext();
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => {
      const parsed = parseLine(line, context);
      if (parsed === null) return null;
      return parsed.ok ? parsed.record : parsed.reason;
    });
};

const PINNED: Record<string, Pin[]> = {
  // alb.log: the layout of the Elastic Load Balancing guide, "Access logs for your Application Load Balancer",
  // "Access log entries" (syntax and the HTTP/HTTPS/HTTP2 example entries):
  // https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html
  // type time elb client:port target:port 3 timings elb_status_code target_status_code received_bytes
  // sent_bytes "request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
  // "chosen_cert_arn" matched_rule_priority request_creation_time "actions_executed" "redirect_url"
  // "error_reason" "target:port_list" "target_status_code_list" "classification" "classification_reason" conn_trace_id
  'alb.log': [
    rec('2026-11-20T10:00:00.123Z', 'fw1', 'GET', 200, '203.0.113.7', FORTI),
    rec('2026-11-20T10:01:00.500Z', 'fw2', 'GET', 304, '198.51.100.23', PAN),
    rec('2026-11-20T10:02:00.000Z', 'rc1', 'GET', 401, '192.0.2.44', BOUNCER),
    // The client went away before a response: elb_status_code and target_status_code are `-`.
    'aborted',
    // The load balancer's health check.
    'other_path',
    rec('2026-11-20T10:04:00.000Z', 'fw1', 'HEAD', 200, '203.0.113.7', FORTI),
    // A plain-HTTP listener (no cipher, no protocol) and an IPv6 client (`ip:port` without brackets).
    rec('2026-11-20T10:05:00.999Z', 'fw1', 'GET', 200, '2001:db8::7', FORTI),
  ],
  // cloudfront.log: CloudFront Developer Guide, "Standard logging reference", "Log file fields" (the 33 fields
  // of the legacy standard log in their default order, W3C with `#Version:` and `#Fields:` headers, tab-separated):
  // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logs-reference.html
  'cloudfront.log': [
    null,
    null,
    rec('2026-11-20T11:00:00.000Z', 'fw1', 'GET', 200, '203.0.113.7', FORTI),
    rec('2026-11-20T11:00:05.000Z', 'fw2', 'GET', 403, '198.51.100.23', PAN),
    // cs(User-Agent) is URL-encoded.
    rec('2026-11-20T11:00:10.000Z', 'rc1', 'GET', 200, '192.0.2.44', `${BOUNCER} (linux; amd64)`),
    // Status 000: the viewer closed the connection before CloudFront answered.
    'aborted',
    'other_path',
    rec('2026-11-20T11:01:00.000Z', 'fw1', 'GET', 304, '2001:db8::7', FORTI),
  ],
  // cloudfront-reordered.log: the same source; a distribution may log a subset of the fields in another order
  // (standard logging v2 lets one pick the fields and their order), and a file may name its columns again.
  'cloudfront-reordered.log': [
    null,
    null,
    rec('2026-11-20T11:30:00.000Z', 'fw2', 'GET', 200, '198.51.100.23', PAN),
    rec('2026-11-20T11:31:00.000Z', 'rc1', 'GET', 429, '192.0.2.44', BOUNCER),
    null,
    rec('2026-11-20T11:40:00.000Z', 'fw1', 'GET', 200, '203.0.113.7', `${FORTI} (build 2573)`),
  ],
};

describe('ALB and CloudFront fixture files: each line pinned', () => {
  for (const [file, pins] of Object.entries(PINNED)) {
    it(`reads ${file}`, () => {
      expect(pinsOf(fixture(file))).toEqual(pins);
    });
  }

  it('reads a CloudFront line without any #Fields: line in AWS default column order', () => {
    const line = fixture('cloudfront.log').split('\n')[2] as string;
    expect(parseLine(line)).toEqual({ ok: true, record: PINNED['cloudfront.log']?.[2] });
  });

  it('maps columns by the #Fields: line of the same file only: a fresh context forgets it', () => {
    const reordered = fixture('cloudfront-reordered.log').split('\n');
    const row = reordered[2] as string;
    expect(parseLine(row, newParseContext())).not.toEqual({
      ok: true,
      record: PINNED['cloudfront-reordered.log']?.[2],
    });
  });
});

describe('API Gateway console-default formats and nginx user names', () => {
  it('HTTP API default format (routeKey, no path) is skipped as no_request_path', () => {
    // The HTTP API console's default access-log format (API Gateway Developer Guide, "Configure logging for HTTP APIs").
    const line = JSON.stringify({
      requestId: 'JvD5ViABoAMEVpw=',
      ip: '203.0.113.7',
      requestTime: '20/Nov/2026:10:00:00 +0000',
      httpMethod: 'GET',
      routeKey: '$default',
      status: '200',
      protocol: 'HTTP/1.1',
      responseLength: '51234',
    });
    expect(parseLine(line)).toEqual({
      ok: false,
      reason: 'no_request_path',
      time: '2026-11-20T10:00:00.000Z',
    });
    const routed = JSON.parse(line);
    routed.routeKey = 'GET /v1/integrations/{id}/content';
    expect(parseLine(JSON.stringify(routed))).toEqual({
      ok: false,
      reason: 'no_request_path',
      time: '2026-11-20T10:00:00.000Z',
    });
  });

  it('REST resourcePath (the route template) is skipped as route_template_only, in JSON and in CLF', () => {
    const json = JSON.stringify({
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      ip: '203.0.113.7',
      requestTime: '20/Nov/2026:10:00:00 +0000',
      httpMethod: 'GET',
      resourcePath: '/v1/integrations/{id}/content',
      status: '200',
      protocol: 'HTTP/1.1',
      responseLength: '51234',
    });
    // Not a pull, but the line's time still says the feed delivers.
    expect(parseLine(json)).toEqual({
      ok: false,
      reason: 'route_template_only',
      time: '2026-11-20T10:00:00.000Z',
    });
    // The REST console's CLF default: ip caller user [requestTime] "httpMethod resourcePath protocol" status length requestId
    const clf =
      '203.0.113.7 - - [20/Nov/2026:10:00:00 +0000] "GET /v1/integrations/{id}/content HTTP/1.1" 200 51234 c6af9ac6-7b61-11e6-9a41-93e8deadbeef';
    expect(parseLine(clf)).toEqual({
      ok: false,
      reason: 'route_template_only',
      time: '2026-11-20T10:00:00.000Z',
    });
    // With $context.path it is read.
    const withPath = JSON.parse(json);
    withPath.path = `/prod/v1/integrations/${IDS.fw1}/content`;
    expect(parseLine(JSON.stringify(withPath))).toMatchObject({
      ok: true,
      record: { integration_id: IDS.fw1 },
    });
  });

  it('reads nginx combined lines whose basic-auth user name holds spaces', () => {
    const line = `203.0.113.7 - Edge FortiGate 1 [20/Nov/2026:10:00:00 +0000] "GET /v1/integrations/${IDS.fw1}/content HTTP/1.1" 200 51234 "-" "${FORTI}"`;
    expect(parseLine(line)).toEqual({
      ok: true,
      record: rec('2026-11-20T10:00:00.000Z', 'fw1', 'GET', 200, '203.0.113.7', FORTI),
    });
  });
});

describe('never throws on ALB- and CloudFront-like lines', () => {
  const REASONS = [
    'not_json',
    'unrecognized',
    'other_path',
    'missing_field',
    'bad_time',
    'bad_status',
    'bad_type',
    'too_long',
    'aborted',
    'no_request_path',
    'route_template_only',
  ];
  const wellFormed = (parsed: ParsedLine) => {
    if (parsed === null) return;
    if (parsed.ok) {
      expect(parsed.record.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(Number.isInteger(parsed.record.status)).toBe(true);
    } else expect(REASONS).toContain(parsed.reason);
  };
  const word = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom(
      '-',
      '000',
      '200',
      '%',
      '%E0%A4%A',
      '%20',
      '"',
      '\\"',
      '2026-11-20',
      '10:00:00',
      '#Fields:',
    ),
    fc.constantFrom(`/v1/integrations/${IDS.fw1}/content`, 'https://h:443/v1/integrations/{id}/content?x=y'),
  );

  it('over CloudFront-like tab-separated lines, after any #Fields: line', () => {
    const names = fc.array(
      fc.oneof(
        fc.constantFrom('date', 'time', 'cs-method', 'cs-uri-stem', 'sc-status', 'c-ip', 'cs(User-Agent)'),
        fc.string({ maxLength: 8 }),
      ),
      { maxLength: 10 },
    );
    fc.assert(
      fc.property(names, fc.array(fc.array(word, { maxLength: 12 }), { maxLength: 5 }), (fields, rows) => {
        const context = newParseContext();
        wellFormed(parseLine(`#Fields: ${fields.join(' ')}`, context));
        for (const row of rows) wellFormed(parseLine(row.join('\t'), context));
      }),
      { numRuns: 400 },
    );
  });

  it('over ALB-like space-separated lines', () => {
    const type = fc.constantFrom('http', 'https', 'h2', 'ws', 'wss', 'grpcs');
    const time = fc.constantFrom(
      '2026-11-20T10:00:00.123456Z',
      '2026-13-20T10:00:00.1Z',
      '2026-11-20T10',
      '-',
    );
    fc.assert(
      fc.property(type, time, fc.array(word, { maxLength: 30 }), (t, when, rest) => {
        wellFormed(parseLine(`${t} ${when} ${rest.join(' ')}`));
        wellFormed(parseLine(`${t} ${when} x 1.2.3.4:5 - 0 0 0 ${rest.join(' ')}`, newParseContext()));
      }),
      { numRuns: 400 },
    );
  });
});

useTestDb();
useTempDirs();

describe('ingest of ALB and CloudFront files, end to end', () => {
  it('moves last pull from an ALB file and two CloudFront files with different #Fields: orders', async () => {
    const w = await world();
    const fw1 = await addIntegration(w, { name: 'Edge FortiGate' });
    const fw2 = await addIntegration(w, { name: 'DC Palo Alto', vendor: 'paloalto' });
    const rc1 = await addIntegration(w, { name: 'Web bouncer', kind: 'remediation_component' });
    const swap = (text: string) =>
      text.replaceAll(IDS.fw1, fw1.id).replaceAll(IDS.fw2, fw2.id).replaceAll(IDS.rc1, rc1.id);
    await put(
      w,
      'AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/11/20/alb.log',
      swap(fixture('alb.log')),
    );
    await put(w, 'cf/E2EXAMPLE.2026-11-20-11.a1b2c3d4', swap(fixture('cloudfront.log')));
    await put(w, 'cf/E2EXAMPLE.2026-11-20-11.e5f6a7b8', swap(fixture('cloudfront-reordered.log')));

    const report = await ingest({ store: w.store, source: w.source, now: at(12) });

    expect(report).toMatchObject({ files_processed: 3, files_failed: [], records: 5 + 4 + 3 });
    // Header lines are not malformed: only the aborted requests and the other paths are skipped.
    expect(report.skipped).toEqual({ aborted: 2, other_path: 2 });
    const [a, b, c] = [await current(w, fw1), await current(w, fw2), await current(w, rc1)];
    expect([a.last_pull_at, a.last_pull_user_agent]).toEqual([
      '2026-11-20T11:40:00.000Z',
      `${FORTI} (build 2573)`,
    ]);
    expect([b.last_pull_at, b.last_pull_ip]).toEqual(['2026-11-20T11:30:00.000Z', '198.51.100.23']);
    expect([c.last_pull_at, c.last_attempt_status]).toEqual(['2026-11-20T11:00:10.000Z', 429]);
  });
});

describe('ALB and CloudFront lines with the password in the URL (?api_key=)', () => {
  // AWS writes these whatever the operator sets: ALB's `request` keeps the whole URL, CloudFront's
  // `cs-uri-query` the query. pullwatch cannot keep the password out of them, only out of its own data.
  const SECRETS = [
    'alb-Secret-0001',
    'cf-Secret-0002',
    'unknown-Secret-0003',
    'other-Secret-0004',
    'short-Secret-0005',
  ];
  const albLine = (id: string, query: string) =>
    (fixture('alb.log').split('\n')[1] as string).replace(
      `/v1/integrations/${IDS.fw2}/content HTTP/2.0`,
      `/v1/integrations/${id}/content${query} HTTP/2.0`,
    );
  const cloudFront = (id: string, query: string) => {
    const [version, fields, row] = fixture('cloudfront.log').split('\n') as [string, string, string];
    return [version, fields, row.replace(IDS.fw1, id).replace('\tformat=plain\t', `\t${query}\t`)].join('\n');
  };

  it('flags the record, never reads the value', () => {
    const alb = parseLine(albLine(IDS.fw2, `?api_key=${SECRETS[0]}`));
    const cf = pinsOf(cloudFront(IDS.fw1, `format=plain&api_key=${SECRETS[1]}`))[2];
    expect(alb).toMatchObject({ ok: true, record: { status: 304, credential_in_url: true } });
    expect(cf).toMatchObject({ status: 200, credential_in_url: true });
    for (const shown of [JSON.stringify(alb), JSON.stringify(cf)])
      for (const secret of SECRETS) expect(shown).not.toContain(secret);
    // No api_key, an empty one, or another parameter: no flag.
    for (const query of ['', '?format=plain', '?api_key=', '?apikey=x', '?x_api_key=y'])
      expect(parseLine(albLine(IDS.fw2, query)), query).not.toHaveProperty('record.credential_in_url');
    for (const query of ['-', 'format=plain', 'api_key='])
      expect(pinsOf(cloudFront(IDS.fw1, query))[2], query).not.toHaveProperty('credential_in_url');
  });

  it('ingested: the integrations are flagged, and the passwords are in no item, sample or report', async () => {
    const w = await world();
    const fw1 = await addIntegration(w, { name: 'Edge FortiGate' });
    const fw2 = await addIntegration(w, { name: 'DC Palo Alto', vendor: 'paloalto' });
    const quiet = await addIntegration(w, { name: 'Quiet one' });
    await put(
      w,
      'alb/alb.log',
      [
        albLine(fw2.id, `?api_key=${SECRETS[0]}`),
        albLine(quiet.id, '?format=plain'),
        // Skipped lines are sampled: an unknown integration, another path.
        albLine('int_ffff0000ffff0000', `?api_key=${SECRETS[2]}`),
        albLine(fw2.id, `?api_key=${SECRETS[3]}`).replace('/content?', '/contents?'),
        // A sample is cut to 200 characters, past which the lines above hold their query: a short one.
        `https truncated "GET /v1/integrations/${fw2.id}/content?api_key=${SECRETS[4]}`,
      ].join('\n'),
    );
    await put(
      w,
      'cf/E2EXAMPLE.2026-11-20-11.a1b2c3d4',
      cloudFront(fw1.id, `format=plain&api_key=${SECRETS[1]}`),
    );

    const report = await ingest({ store: w.store, source: w.source, now: at(12) });
    // The unknown integration's line is a record too, then skipped.
    expect(report).toMatchObject({ files_processed: 2, records: 4 });
    expect(report.skipped).toMatchObject({ unknown_integration: 1, other_path: 1, unrecognized: 1 });
    expect(report.samples.map((sample) => sample.text).join('\n')).toContain('api_key=[redacted]');
    const flags = await Promise.all(
      [fw1, fw2, quiet].map(async (integration) => (await current(w, integration)).credential_in_url_at),
    );
    expect(flags).toEqual(['2026-11-20T11:00:00.000Z', '2026-11-20T10:01:00.500Z', null]);

    const shown = [JSON.stringify(report), JSON.stringify(await scanTable(w.store))];
    for (const text of shown) for (const secret of SECRETS) expect(text).not.toContain(secret);
  });
});
