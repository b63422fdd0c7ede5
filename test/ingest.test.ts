import { randomBytes } from 'node:crypto';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOCK_SKEW_SECONDS, type IngestReport, ingest } from '../shared/ingest/index.ts';
import { S3Source } from '../shared/ingest/sources.ts';
import type { Integration } from '../shared/integration/index.ts';
import type { PullRecord } from '../shared/pulls/index.ts';
import { baseName, orgOfSnapshot, parseSnapshot } from '../shared/pulls/lapi.ts';
import { parseLine } from '../shared/pulls/parse.ts';
import { openStore } from '../shared/store.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { integrationWrites, useTestDb } from './kit/db.ts';
import { put, tempDir, useTempDirs } from './kit/files.ts';
import {
  FIXTURE_IDS,
  FIXTURE_ORG,
  type FixtureKey,
  fixture,
  fixtureIntegrations,
  idsOf,
  NOW,
  pullFacts,
  run,
  SNAPSHOT_FIXTURE,
  UNKNOWN_ID,
  withIds,
} from './kit/ingest.ts';
import { apiGatewayLine, combinedLine, lines, pull, pullRecord } from './kit/lines.ts';
import { at } from './kit/time.ts';
import { addIntegration, current, type World, world } from './kit/world.ts';

/**
 * Ingest at production grade: every pull-log format, LAPI snapshots, S3, exactly-once files,
 * unreadable files, malformed lines, bounded memory. Real files in temp directories, a real in-memory
 * dynalite, s3rver through the real AWS SDK. Time is injected as `now`, never waited for.
 */

useTestDb();
useTempDirs();

// ---- 1. fixture files: every line's parse pinned -----------------------------------------------------

type Pin = PullRecord | string | null;
const rec = (
  time: Iso,
  key: FixtureKey | 'unknown',
  method: string,
  status: number,
  ip: string | null,
  userAgent: string | null,
): PullRecord => ({
  time,
  integration_id: key === 'unknown' ? UNKNOWN_ID : FIXTURE_IDS[key],
  method,
  status,
  ip,
  user_agent: userAgent,
});

const FORTI = 'FortiGate/7.4.3';
const PAN = 'PAN-OS/11.1.2';
const BOUNCER = 'crowdsec-firewall-bouncer/v0.0.31';

/** Per file, per line: the record it yields, the reason it is skipped, or null for a blank line. */
const PINNED: Record<string, Pin[]> = {
  'canonical.jsonl': [
    rec('2026-11-20T08:00:03.120Z', 'fw1', 'GET', 200, '203.0.113.7', FORTI),
    rec('2026-11-20T08:00:04.000Z', 'fw2', 'GET', 304, '198.51.100.23', PAN),
    rec('2026-11-20T08:30:00.000Z', 'fw1', 'HEAD', 200, '203.0.113.7', FORTI),
    rec('2026-11-20T08:45:10.500Z', 'fw2', 'GET', 401, '198.51.100.23', PAN),
    rec('2026-11-20T09:00:02.777Z', 'fw1', 'GET', 200, '2001:db8::7', null),
    rec('2026-11-20T08:30:00.000Z', 'rc1', 'GET', 503, '192.0.2.44', BOUNCER),
    null,
    rec('2026-11-20T08:50:00.000Z', 'unknown', 'GET', 200, '192.0.2.99', 'curl/8.5.0'),
  ],
  'apigw.jsonl': [
    // REST API: requestTime in CLF, status as a string, `path` next to the `resourcePath` template.
    rec('2026-11-20T08:10:00.000Z', 'fw1', 'GET', 200, '203.0.113.7', FORTI),
    // HTTP API: requestTimeEpoch in milliseconds, status as a number, `rawPath`.
    rec('2026-11-20T08:15:00.250Z', 'fw2', 'GET', 304, '198.51.100.23', PAN),
    // requestTimeEpoch in seconds.
    rec('2026-11-20T08:16:00.000Z', 'rc1', 'GET', 429, '192.0.2.44', BOUNCER),
    // requestTimeEpoch in milliseconds, as a string; status "503".
    rec('2026-11-20T08:17:30.000Z', 'rc1', 'GET', 503, '192.0.2.44', BOUNCER),
    // CLF time with a +0100 offset.
    rec('2026-11-20T08:20:00.000Z', 'fw2', 'GET', 403, '198.51.100.23', PAN),
    rec('2026-11-20T08:18:00.000Z', 'fw1', 'HEAD', 200, '203.0.113.7', FORTI),
    // A health check on another route.
    'other_path',
    // A path with a query string.
    rec('2026-11-20T08:40:15.000Z', 'fw1', 'GET', 200, '2001:db8::7', FORTI),
  ],
  'combined.log': [
    rec('2026-11-20T08:20:01.000Z', 'fw1', 'GET', 200, '203.0.113.7', FORTI),
    // A basic-auth user in the user field, +0100 offset.
    rec('2026-11-20T08:21:00.000Z', 'fw2', 'GET', 304, '198.51.100.23', PAN),
    rec('2026-11-20T08:25:00.000Z', 'fw1', 'HEAD', 200, '203.0.113.7', FORTI),
    rec('2026-11-20T08:26:40.000Z', 'fw2', 'GET', 401, '198.51.100.23', PAN),
    rec('2026-11-20T08:27:00.000Z', 'rc1', 'GET', 429, '192.0.2.44', BOUNCER),
    rec('2026-11-20T08:28:00.000Z', 'rc1', 'GET', 503, '192.0.2.44', BOUNCER),
    // robots.txt
    'other_path',
    // Apache escapes the quotes inside a user agent as \".
    rec(
      '2026-11-20T08:30:30.000Z',
      'fw1',
      'GET',
      200,
      '2001:db8::7',
      'Mozilla/5.0 (X11; Linux x86_64) "ListFetcher" v2',
    ),
    // Common log format: no referer, no user agent.
    rec('2026-11-20T08:31:00.000Z', 'fw1', 'GET', 200, '203.0.113.7', null),
    // nginx "main" format with $http_x_forwarded_for appended.
    rec('2026-11-20T08:32:00.000Z', 'fw1', 'GET', 200, '203.0.113.8', FORTI),
  ],
  'mixed.log': [
    rec('2026-11-20T09:10:00.000Z', 'fw1', 'GET', 200, '203.0.113.7', FORTI),
    rec('2026-11-20T09:10:05.000Z', 'fw2', 'GET', 403, '198.51.100.23', PAN),
    rec('2026-11-20T09:10:10.000Z', 'rc1', 'GET', 200, '192.0.2.44', BOUNCER),
    rec('2026-11-20T09:11:00.000Z', 'fw1', 'GET', 200, '203.0.113.7', FORTI),
    null,
    rec('2026-11-20T09:12:00.000Z', 'fw2', 'GET', 200, '198.51.100.23', PAN),
    rec('2026-11-20T09:13:00.000Z', 'fw2', 'GET', 401, '198.51.100.23', PAN),
  ],
};

const parsedPins = (text: string): Pin[] =>
  text
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => {
      const parsed = parseLine(line);
      if (parsed === null) return null;
      return parsed.ok ? parsed.record : parsed.reason;
    });

describe('fixture files: each line of each format gives a pinned record or reason', () => {
  for (const [file, pins] of Object.entries(PINNED)) {
    it(`reads ${file}`, () => {
      expect(parsedPins(fixture(file))).toEqual(pins);
    });
  }

  it('reads the cscli bouncers snapshot (auto-created, TLS and never-pulled bouncers included)', () => {
    expect(orgOfSnapshot(SNAPSHOT_FIXTURE)).toBe(FIXTURE_ORG);
    expect(parseSnapshot(fixture(SNAPSHOT_FIXTURE))).toEqual({
      ok: true,
      skipped: 0,
      bouncers: [
        {
          name: 'fw-edge-01',
          last_pull_at: '2026-11-20T08:00:00.250Z',
          revoked: false,
          auto_created: false,
          ip: '192.0.2.10',
          user_agent: 'crowdsec-firewall-bouncer/v0.0.31-debian-pragmatic-amd64-8f1b9b3',
        },
        {
          name: 'fw-edge-01@198.51.100.7',
          last_pull_at: '2026-11-20T08:59:58.123Z',
          revoked: false,
          auto_created: true,
          ip: '198.51.100.7',
          user_agent: 'crowdsec-firewall-bouncer/v0.0.32-debian-pragmatic-amd64-1c2d3e4',
        },
        {
          name: 'nginx-web-02',
          last_pull_at: '2026-11-20T08:55:00.500Z',
          revoked: false,
          auto_created: false,
          ip: '192.0.2.11',
          user_agent: 'crowdsec-nginx-bouncer/v1.0.8',
        },
        {
          name: 'cf-worker-new',
          last_pull_at: null,
          revoked: false,
          auto_created: false,
          ip: null,
          user_agent: null,
        },
        {
          name: 'old-pfsense@2001:db8::12',
          last_pull_at: '2026-11-18T06:59:59.000Z',
          revoked: false,
          auto_created: true,
          ip: '2001:db8::12',
          user_agent: 'crowdsec-pfsense-bouncer/v0.1.4',
        },
        {
          name: 'ops@lab',
          last_pull_at: '2026-11-20T08:30:00.000Z',
          revoked: false,
          auto_created: false,
          ip: '192.0.2.13',
          user_agent: 'crowdsec-custom-bouncer/v0.0.15',
        },
      ],
    });
  });

  it('takes a bouncer name apart from its auto-created @ip suffixes only when they are addresses', () => {
    expect(baseName('fw-edge-01')).toBe('fw-edge-01');
    expect(baseName('fw-edge-01@198.51.100.7')).toBe('fw-edge-01');
    expect(baseName('fw-edge-01@2001:db8::7')).toBe('fw-edge-01');
    expect(baseName('fw-edge-01@192.0.2.1@198.51.100.7')).toBe('fw-edge-01');
    expect(baseName('ops@lab')).toBe('ops@lab');
    expect(baseName('ops@lab@192.0.2.1')).toBe('ops@lab');
    expect(baseName('a@b')).toBe('a@b');
    expect(baseName('a@999.1.1.1')).toBe('a@999.1.1.1');
    expect(baseName('@192.0.2.1')).toBe('@192.0.2.1');
  });

  it("decodes nginx's \\x22 escapes in a user agent back to quotes", () => {
    // nginx (escape=default) writes a " inside $http_user_agent as \x22, where Apache writes \".
    const line =
      '203.0.113.8 - - [20/Nov/2026:08:32:00 +0000] "GET /v1/integrations/int_5f1c0a9e3b7d2c41/content HTTP/1.1" 200 51234 "-" "Mozilla/5.0 \\x22QuotedAgent\\x22"';
    expect(parseLine(line)).toMatchObject({
      ok: true,
      record: { integration_id: FIXTURE_IDS.fw1, user_agent: 'Mozilla/5.0 "QuotedAgent"' },
    });
  });

  it('never counts a request to another path as a pull, even when its query string names a content path', () => {
    // /v1/health answers 200 to anyone; integration ids appear in alerts and logs, so they are not secret.
    const spoofed = [
      `198.51.100.66 - - [20/Nov/2026:08:40:00 +0000] "GET /v1/health?next=/v1/integrations/${FIXTURE_IDS.fw1}/content HTTP/1.1" 200 188 "-" "curl/8.5.0"`,
      `198.51.100.66 - - [20/Nov/2026:08:40:01 +0000] "GET /robots.txt?/integrations/${FIXTURE_IDS.fw1}/content HTTP/1.1" 404 153 "-" "curl/8.5.0"`,
      JSON.stringify({
        requestTimeEpoch: 1795164000000,
        httpMethod: 'GET',
        rawPath: `/v1/health?x=/integrations/${FIXTURE_IDS.fw1}/content`,
        status: 200,
        ip: '198.51.100.66',
      }),
    ];
    for (const line of spoofed) {
      const parsed = parseLine(line);
      expect({ line, parsed }).toMatchObject({ line, parsed: { ok: false, reason: 'other_path' } });
      expect(parsed).not.toHaveProperty('record');
    }
  });
});

// ---- 2. ingest semantics end to end against dynalite --------------------------------------------------

describe('ingest of the fixture files', () => {
  async function fixtureWorld() {
    const w = await world();
    const integrations = await fixtureIntegrations(w);
    const ids = idsOf(integrations);
    return { w, integrations, ids };
  }

  it('reads every format, mixed in one directory with a gzip copy, into the state a user sees', async () => {
    const { w, integrations, ids } = await fixtureWorld();
    for (const file of Object.keys(PINNED)) await put(w, file, withIds(fixture(file), ids));
    await put(w, 'archive/combined.log.gz', gzipSync(withIds(fixture('combined.log'), ids)));

    const report = await run(w, NOW);

    expect(report).toMatchObject({
      files_seen: 5,
      files_processed: 5,
      files_failed: [],
      files_set_aside: [],
      lines: 8 + 8 + 10 + 7 + 10,
      records: 7 + 7 + 9 + 6 + 9,
      integrations_updated: 3,
      newest_record_at: '2026-11-20T09:13:00.000Z',
    });
    expect(report.skipped).toEqual({ other_path: 1 + 1 + 1, unknown_integration: 1 });

    expect(pullFacts(await current(w, integrations.fw1))).toEqual({
      last_pull_at: '2026-11-20T09:11:00.000Z',
      last_pull_ip: '203.0.113.7',
      last_pull_user_agent: FORTI,
      last_attempt_at: '2026-11-20T09:11:00.000Z',
      last_attempt_status: 200,
      last_attempt_ip: '203.0.113.7',
      last_attempt_user_agent: FORTI,
      rejections: [],
    });
    expect(pullFacts(await current(w, integrations.fw2))).toEqual({
      last_pull_at: '2026-11-20T09:12:00.000Z',
      last_pull_ip: '198.51.100.23',
      last_pull_user_agent: PAN,
      last_attempt_at: '2026-11-20T09:13:00.000Z',
      last_attempt_status: 401,
      last_attempt_ip: '198.51.100.23',
      last_attempt_user_agent: PAN,
      // The 401/403 of 08:26-09:10 came before the 09:12 success.
      rejections: ['2026-11-20T09:13:00.000Z'],
    });
    expect(pullFacts(await current(w, integrations.rc1))).toEqual({
      last_pull_at: '2026-11-20T09:10:10.000Z',
      last_pull_ip: '192.0.2.44',
      last_pull_user_agent: BOUNCER,
      last_attempt_at: '2026-11-20T09:10:10.000Z',
      last_attempt_status: 200,
      last_attempt_ip: '192.0.2.44',
      last_attempt_user_agent: BOUNCER,
      rejections: [],
    });
  });

  it('a gzip copy of a file teaches exactly what the plain file does', async () => {
    const plain = await fixtureWorld();
    await put(plain.w, 'combined.log', withIds(fixture('combined.log'), plain.ids));
    const plainReport = await run(plain.w, NOW);

    const zipped = await fixtureWorld();
    await put(zipped.w, 'combined.log.gz', gzipSync(withIds(fixture('combined.log'), zipped.ids)));
    const zippedReport = await run(zipped.w, NOW);

    const counts = (report: IngestReport) => ({
      lines: report.lines,
      records: report.records,
      skipped: report.skipped,
      failed: report.files_failed,
    });
    expect(counts(zippedReport)).toEqual(counts(plainReport));
    expect(zippedReport.records).toBe(9);
    for (const key of Object.keys(FIXTURE_IDS) as FixtureKey[]) {
      expect(pullFacts(await current(zipped.w, zipped.integrations[key]))).toEqual(
        pullFacts(await current(plain.w, plain.integrations[key])),
      );
    }
    expect((await current(zipped.w, zipped.integrations.fw1)).last_pull_at).toBe('2026-11-20T08:32:00.000Z');
  });
});

describe('what counts as a pull', () => {
  it('never counts a HEAD, whatever it was answered', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    await put(
      w,
      'head.log',
      lines(
        pull(fw.id, at(8), { method: 'HEAD', status: 200 }),
        pull(fw.id, at(9), { method: 'HEAD', status: 304 }),
        combinedLine({ ...pullRecord(fw.id, at(10)), method: 'HEAD' }),
        apiGatewayLine({ ...pullRecord(fw.id, at(11)), method: 'HEAD' }),
      ),
    );

    const report = await run(w, NOW);

    expect(report.records).toBe(4);
    const after = await current(w, fw);
    expect(after.last_pull_at).toBeNull();
    expect(after.last_pull_ip).toBeNull();
  });

  it('records 401, 403, 429 and 5xx as the last attempt but never as a pull', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    const never = await addIntegration(w, { name: 'Never succeeded' });
    const failing = (id: string, hours: number, status: number) =>
      pull(id, at(hours), { status, ip: '198.51.100.99', user_agent: 'FortiGate/7.6.0' });
    await put(
      w,
      'attempts.jsonl',
      lines(
        pull(fw.id, at(8)),
        failing(fw.id, 9, 401),
        failing(fw.id, 9.25, 429),
        failing(fw.id, 9.5, 503),
        failing(fw.id, 9.75, 403),
        failing(never.id, 9, 500),
        failing(never.id, 10, 429),
      ),
    );

    await run(w, NOW);

    expect(pullFacts(await current(w, fw))).toEqual({
      last_pull_at: at(8),
      last_pull_ip: '203.0.113.7',
      last_pull_user_agent: FORTI,
      last_attempt_at: at(9.75),
      last_attempt_status: 403,
      last_attempt_ip: '198.51.100.99',
      last_attempt_user_agent: 'FortiGate/7.6.0',
      // Only the authentication rejections, not the 429 or the 503.
      rejections: [at(9), at(9.75)],
    });
    expect(pullFacts(await current(w, never))).toMatchObject({
      last_pull_at: null,
      last_attempt_at: at(10),
      last_attempt_status: 429,
      rejections: [],
    });
  });

  it('keeps the 401/403 times after the last success, and drops older ones when a success arrives', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    await put(
      w,
      'run1.jsonl',
      lines(
        pull(fw.id, at(1)),
        pull(fw.id, at(2), { status: 401 }),
        pull(fw.id, at(2), { status: 401 }), // the same rejection logged twice
        pull(fw.id, at(3), { status: 403 }),
        pull(fw.id, at(0.5), { status: 401 }), // older than the success: not a rejection
      ),
    );
    await run(w, at(4));
    expect((await current(w, fw)).rejections).toEqual([at(2), at(3)]);

    await put(w, 'run2.jsonl', lines(pull(fw.id, at(5)), pull(fw.id, at(5.5), { status: 401 })));
    await run(w, at(6));
    const after = await current(w, fw);
    expect(after.last_pull_at).toBe(at(5));
    expect(after.rejections).toEqual([at(5.5)]);

    // A late file with a rejection from before that success changes nothing.
    await put(w, 'late.jsonl', lines(pull(fw.id, at(4.5), { status: 403 })), at(4.5));
    const late = await run(w, at(7));
    expect(late.files_processed).toBe(1);
    expect((await current(w, fw)).rejections).toEqual([at(5.5)]);
  });

  it('keeps only the newest 20 distinct rejection times, ascending', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    const times = Array.from({ length: 25 }, (_, index) => addSeconds(at(1), index * 60));
    // Out of order, some twice, split over two files.
    const shuffled = [...times].reverse();
    await put(
      w,
      'a.jsonl',
      lines(...shuffled.slice(0, 13).map((time) => pull(fw.id, time, { status: 401 }))),
    );
    await put(
      w,
      'b.jsonl',
      lines(...[...shuffled.slice(10), times[24] as Iso].map((time) => pull(fw.id, time, { status: 403 }))),
    );

    await run(w, NOW);

    expect((await current(w, fw)).rejections).toEqual(times.slice(5));
  });

  it('counts records more than 5 minutes in the future as future_time, and uses the rest', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    await put(
      w,
      'skew.log',
      lines(
        pull(fw.id, addSeconds(NOW, CLOCK_SKEW_SECONDS)), // exactly at the allowance: accepted
        pull(fw.id, addSeconds(NOW, CLOCK_SKEW_SECONDS + 1)),
        combinedLine(pullRecord(fw.id, addSeconds(NOW, 3600))),
        apiGatewayLine({ ...pullRecord(fw.id, at(24 * 365)), status: 401 }),
      ),
    );

    const report = await run(w, NOW);

    expect(CLOCK_SKEW_SECONDS).toBe(300);
    expect(report.records).toBe(1);
    expect(report.skipped).toEqual({ future_time: 3 });
    expect(pullFacts(await current(w, fw))).toMatchObject({
      last_pull_at: addSeconds(NOW, CLOCK_SKEW_SECONDS),
      last_attempt_at: addSeconds(NOW, CLOCK_SKEW_SECONDS),
      rejections: [],
    });
  });

  it('never creates an integration for a pull of an unknown id', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    await put(
      w,
      'unknown.log',
      lines(
        pull(UNKNOWN_ID, at(8)),
        pull('int_abc', at(8)), // not even a possible id
        combinedLine(pullRecord(UNKNOWN_ID, at(9))),
        pull(fw.id, at(9)),
      ),
    );

    const report = await run(w, NOW);

    expect(report.skipped).toEqual({ unknown_integration: 3 });
    expect(report.integrations_updated).toBe(1);
    const listed = await w.store.integrations.list(w.orgId, { limit: 100 });
    expect(listed.items.map((integration) => integration.id)).toEqual([fw.id]);
    expect(await w.store.integrations.byId(UNKNOWN_ID)).toBeNull();
    const { Items = [] } = await w.store.table.doc.send(new ScanCommand({ TableName: w.store.table.name }));
    expect(JSON.stringify(Items)).not.toContain(UNKNOWN_ID);
    expect(JSON.stringify(Items)).not.toContain('int_abc"');
  });
});

// ---- 4. S3 source against s3rver, through the real SDK -------------------------------------------------

describe('S3 source (s3rver)', () => {
  const BUCKET = 'pull-logs';
  let server: S3rver;
  let client: S3Client;

  let directory = '';
  beforeAll(async () => {
    directory = await tempDir('s3rver');
    server = new S3rver({
      port: 0,
      address: '127.0.0.1',
      silent: true,
      directory,
      configureBuckets: [{ name: BUCKET }],
    });
    const { port } = await server.run();
    client = new S3Client({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
  });

  afterAll(async () => {
    client.destroy();
    await server.close();
  });

  const upload = (key: string, body: string | Buffer) =>
    client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  /** A prefix of its own for each test: they share one bucket. */
  const newPrefix = () => `t-${randomBytes(4).toString('hex')}/pulls/`;

  it('ingests the objects under the prefix once, .gz and snapshots included, and ignores the rest', async () => {
    const w = await world();
    const { fw1, fw2, rc1 } = await fixtureIntegrations(w);
    const bouncer = await addIntegration(w, {
      name: 'fw-edge-01',
      kind: 'remediation_component',
      source: 'lapi',
    });
    const prefix = newPrefix();
    const outside = prefix.replace('/pulls/', '/pulls-archive/');
    await upload(`${prefix}2026/11/20/08.jsonl`, lines(pull(fw1.id, at(8))));
    await upload(
      `${prefix}2026/11/20/08.log.gz`,
      gzipSync(lines(combinedLine(pullRecord(fw2.id, at(8.25))))),
    );
    await upload(`${prefix}${w.orgId}/engine1.bouncers.json.gz`, gzipSync(fixture(SNAPSHOT_FIXTURE)));
    await upload(`${outside}2026/11/20/09.jsonl`, lines(pull(fw1.id, at(9)), pull(rc1.id, at(9))));
    await upload(`other/${prefix}x.jsonl`, lines(pull(rc1.id, at(9))));
    const source = new S3Source(client, BUCKET, prefix);

    const first = await run(w, NOW, source);

    expect(first).toMatchObject({ files_seen: 3, files_processed: 3, files_failed: [], records: 2 + 5 });
    expect((await current(w, fw1)).last_pull_at).toBe(at(8));
    expect((await current(w, fw2)).last_pull_at).toBe(at(8.25));
    expect((await current(w, rc1)).last_pull_at).toBeNull();
    const lapi = await current(w, bouncer);
    expect(lapi.last_pull_at).toBe('2026-11-20T08:59:58.123Z');
    expect(lapi.lapi?.revoked).toBe(false);

    const writes = integrationWrites(w.store);
    const second = await run(w, at(13), source);
    expect(second).toMatchObject({ files_seen: 3, files_processed: 0, files_skipped: 3, records: 0 });
    expect(integrationWrites(w.store)).toBe(writes);
  });

  it('a bouncer list in S3 shows the feed alive by its LastModified, however old its last pulls are', async () => {
    const w = await world();
    await addIntegration(w, { name: 'fw-edge-01', kind: 'remediation_component', source: 'lapi' });
    const prefix = newPrefix();
    // s3rver stamps LastModified with the real clock, in whole seconds.
    const uploadedFrom = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    await upload(`${prefix}${w.orgId}/engine1.bouncers.json`, fixture(SNAPSHOT_FIXTURE));
    const uploadedBy = new Date().toISOString();
    const report = await run(w, addSeconds(uploadedBy, 60), new S3Source(client, BUCKET, prefix));

    expect(report.newest_record_at ?? '').toMatch(/^2026-11-20T/);
    const seen = report.feed_seen_at ?? '';
    expect(seen >= uploadedFrom && seen <= uploadedBy).toBe(true);
    const deployment = await w.store.deployment.get();
    expect(deployment).toMatchObject({
      feed_seen_at: report.feed_seen_at,
      newest_record_at: report.newest_record_at,
    });
  });

  /** s3rver's LastModified is its stored file's mtime: set it, as the cron's print time, instead of waiting. */
  const printedAt = async (key: string, time: Iso) => {
    const stored = join(
      directory,
      BUCKET,
      ...key.split('/').slice(0, -1),
      `${key.split('/').pop()}._S3rver_object`,
    );
    await utimes(stored, new Date(time), new Date(time));
  };

  it('reads a bouncer list again when the engine prints the same bytes later: the feed stays alive', async () => {
    const w = await world();
    await addIntegration(w, { name: 'fw-edge-01', kind: 'remediation_component', source: 'lapi' });
    const prefix = newPrefix();
    const key = `${prefix}${w.orgId}/engine1.bouncers.json`;
    const source = new S3Source(client, BUCKET, prefix);
    await upload(key, fixture(SNAPSHOT_FIXTURE));
    await printedAt(key, at(10));
    expect(await run(w, at(10.1), source)).toMatchObject({ files_processed: 1, feed_seen_at: at(10) });
    // Every bouncer silent: the same bytes, the same ETag, five minutes later.
    await upload(key, fixture(SNAPSHOT_FIXTURE));
    await printedAt(key, addSeconds(at(10), 300));
    expect(await run(w, at(10.2), source)).toMatchObject({
      files_processed: 1,
      feed_seen_at: addSeconds(at(10), 300),
    });
    expect((await w.store.deployment.get()).feed_seen_at).toBe(addSeconds(at(10), 300));
    // Listed again without a new print: read once only.
    expect(await run(w, at(10.3), source)).toMatchObject({ files_processed: 0 });
  });

  it('reads an object again when it is re-uploaded with new content, not when the content is the same', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    const prefix = newPrefix();
    const source = new S3Source(client, BUCKET, prefix);
    const first = lines(pull(fw.id, at(8)));
    await upload(`${prefix}current.jsonl`, first);
    expect(await run(w, at(9), source)).toMatchObject({ files_processed: 1, records: 1 });

    await upload(`${prefix}current.jsonl`, first);
    expect(await run(w, at(10), source)).toMatchObject({ files_processed: 0, files_skipped: 1 });

    await upload(`${prefix}current.jsonl`, lines(pull(fw.id, at(8)), pull(fw.id, at(10))));
    expect(await run(w, at(11), source)).toMatchObject({ files_processed: 1, records: 2 });
    expect((await current(w, fw)).last_pull_at).toBe(at(10));
  });

  it('fails and retries an unreadable object without blocking the others', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    const prefix = newPrefix();
    const source = new S3Source(client, BUCKET, prefix);
    await upload(`${prefix}broken.jsonl.gz`, Buffer.from('not gzip at all'));
    await upload(`${prefix}good.jsonl`, lines(pull(fw.id, at(8))));

    const first = await run(w, at(9), source);
    expect(first.files_failed.map((entry) => entry.name)).toEqual([`${prefix}broken.jsonl.gz`]);
    expect(first.files_processed).toBe(1);
    expect((await current(w, fw)).last_pull_at).toBe(at(8));

    const second = await run(w, at(10), source);
    expect(second.files_failed.map((entry) => entry.name)).toEqual([`${prefix}broken.jsonl.gz`]);
  });
});

// ---- 5. properties ---------------------------------------------------------------------------------------

describe('properties', () => {
  it('parseLine never throws on arbitrary strings', () => {
    const prefixes = fc.constantFrom(
      '',
      '{',
      '{"integration_id":',
      '{"requestTime":',
      '{"requestTimeEpoch":',
      '{"httpMethod":"GET","rawPath":"/integrations/',
      '203.0.113.7 - - [',
      '203.0.113.7 - - [20/Nov/2026:08:00:00 +0000] "GET /v1/integrations/',
    );
    fc.assert(
      fc.property(prefixes, fc.string({ unit: 'binary', maxLength: 300 }), (prefix, rest) => {
        const parsed = parseLine(prefix + rest);
        if (parsed?.ok) expect(parsed.record.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (input) => {
        parseLine(input);
        parseSnapshot(input);
      }),
      { numRuns: 500 },
    );
  });

  it('parseLine never throws on arbitrary bytes decoded as UTF-8', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const text = Buffer.from(bytes).toString('utf8');
        parseLine(text);
        parseSnapshot(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('an ingest of a file of arbitrary bytes never fails the file', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    let runIndex = 0;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (bytes) => {
        runIndex += 1;
        await put(
          w,
          `random-${runIndex}.log`,
          Buffer.concat([Buffer.from(bytes), Buffer.from(`\n${pull(fw.id, at(1))}\n`)]),
        );
        const report = await run(w, addSeconds(NOW, runIndex));
        expect(report).toMatchObject({ files_processed: 1, files_failed: [], files_set_aside: [] });
        expect(report.records).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 15 },
    );
  });

  describe('ingesting the same records in any order, files and runs gives the state of one ordered ingest', () => {
    const FORMATS = ['canonical', 'apigw', 'combined'] as const;
    type Format = (typeof FORMATS)[number];
    interface Generated {
      integration: number;
      offset: number;
      method: string;
      status: number;
      ip: string | null;
      user_agent: string | null;
      format: Format;
    }
    const generatedRecord: fc.Arbitrary<Generated> = fc.record({
      integration: fc.integer({ min: 0, max: 2 }),
      // A window of a few seconds: ties are common, as in one-second-resolution logs.
      offset: fc.integer({ min: 0, max: 5 }),
      method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD'),
      status: fc.constantFrom(200, 304, 401, 403, 429, 503, 404),
      ip: fc.option(fc.constantFrom('203.0.113.7', '198.51.100.1', '2001:db8::1'), { nil: null }),
      user_agent: fc.option(fc.constantFrom('FortiGate/7.4.3', 'PAN-OS/11.1.2', 'curl/8.5.0'), { nil: null }),
      format: fc.constantFrom(...FORMATS),
    });

    const scenario = fc.array(generatedRecord, { minLength: 1, maxLength: 24 }).chain((records) =>
      fc.record({
        records: fc.constant(records),
        order: fc.shuffledSubarray(records, { minLength: records.length, maxLength: records.length }),
        files: fc.integer({ min: 1, max: 4 }),
        fileOf: fc.array(fc.nat(), { minLength: records.length, maxLength: records.length }),
        redelivered: fc.subarray(records),
        mode: fc.constantFrom('one run', 'two runs', 'two concurrent runs'),
        split: fc.nat(),
      }),
    );

    function toLine(generated: Generated, ids: string[]): string {
      const record: PullRecord = {
        time: addSeconds(at(1), generated.offset),
        integration_id: ids[generated.integration] as string,
        method: generated.method,
        status: generated.status,
        ip: generated.ip,
        user_agent: generated.user_agent,
      };
      if (generated.format === 'apigw') return apiGatewayLine(record);
      if (generated.format === 'combined') return combinedLine(record);
      return JSON.stringify({ ...record, bytes: 0 });
    }

    async function storeWithIntegrations() {
      const w = await world();
      const integrations = [
        await addIntegration(w, { name: 'A' }),
        await addIntegration(w, { name: 'B' }),
        await addIntegration(w, { name: 'C', kind: 'remediation_component' }),
      ];
      return { w, integrations, ids: integrations.map((integration) => integration.id) };
    }

    const stateOf = async (w: World, integrations: Integration[]) =>
      Promise.all(integrations.map(async (integration) => pullFacts(await current(w, integration))));

    it('holds for splits over files, re-deliveries, sequential and concurrent runs', async () => {
      const NOW_P = at(2);
      await fc.assert(
        fc.asyncProperty(scenario, async ({ records, order, files, fileOf, redelivered, mode, split }) => {
          // Reference: every record once, in order, in one file, one run.
          const reference = await storeWithIntegrations();
          await put(
            reference.w,
            'all.log',
            lines(...records.map((record) => canonicalLine(record, reference.ids))),
          );
          await run(reference.w, NOW_P);
          const expected = await stateOf(reference.w, reference.integrations);

          const subject = await storeWithIntegrations();
          const contents: string[][] = Array.from({ length: files }, () => []);
          order.forEach((record, index) => {
            contents[(fileOf[index] ?? 0) % files]?.push(toLine(record, subject.ids));
          });
          const all = contents
            .filter((content) => content.length > 0)
            .map((content, index) => ({ name: `part-${index}.log`, text: lines(...content) }));
          if (redelivered.length > 0) {
            all.push({
              name: 'redelivered.log',
              text: lines(...redelivered.map((record) => toLine(record, subject.ids))),
            });
          }

          let processed = 0;
          if (mode === 'one run') {
            for (const file of all) await put(subject.w, file.name, file.text);
            processed += (await run(subject.w, NOW_P)).files_processed;
          } else if (mode === 'two runs') {
            const cut = split % (all.length + 1);
            for (const file of all.slice(0, cut)) await put(subject.w, file.name, file.text);
            processed += (await run(subject.w, NOW_P)).files_processed;
            for (const file of all.slice(cut)) await put(subject.w, file.name, file.text);
            processed += (await run(subject.w, addSeconds(NOW_P, 60))).files_processed;
          } else {
            for (const file of all) await put(subject.w, file.name, file.text);
            // Two invocations, each with its own store client, on the same table and files.
            const twin = openStore(subject.w.store.table.client, subject.w.store.table.name);
            const [a, b] = await Promise.all([
              run(subject.w, NOW_P),
              ingest({ store: twin, source: subject.w.source, now: NOW_P }),
            ]);
            processed += a.files_processed + b.files_processed;
          }

          expect(processed).toBe(all.length);
          expect(await stateOf(subject.w, subject.integrations)).toEqual(expected);
        }),
        { numRuns: 25 },
      );
    });

    function canonicalLine(generated: Generated, ids: string[]): string {
      return toLine({ ...generated, format: 'canonical' }, ids);
    }
  });
});
