/**
 * Benchmarks: `npm run bench [-- --json] [-- --lines N --integrations M --rule-sizes A,B --api-requests K --cadence-devices D]`.
 * Every figure is reported next to a baseline measured in the same run on the same data, as a ratio;
 * nothing here is asserted by the test suite.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createApp } from '../shared/api/app.ts';
import { createApiKey } from '../shared/auth/index.ts';
import { defaultConfig } from '../shared/config.ts';
import { keyedHash } from '../shared/crypto.ts';
import { ingest } from '../shared/ingest/index.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { localDynamoClient, startDynalite } from '../shared/local/embedded-db.ts';
import { parseLine } from '../shared/pulls/parse.ts';
import { runRules } from '../shared/rules/index.ts';
import { cycleSettings } from '../shared/runtime.ts';
import { openStore, type Store } from '../shared/store.ts';
import { meterUsage, type Usage } from '../shared/table/metering.ts';
import { cadenceBench } from './cadence.ts';
import { verificationBench } from './verify.ts';
import { workersBench } from './workers.ts';

/** The cycle's settings as shipped (the configuration's defaults). */
const SETTINGS = cycleSettings(defaultConfig);

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    lines: { type: 'string', default: '1000000' },
    integrations: { type: 'string', default: '10000' },
    'rule-sizes': { type: 'string', default: '1000,10000' },
    'api-requests': { type: 'string', default: '300' },
    // About 20 s on one core: the replay has no database, so its time is all CPU.
    'cadence-devices': { type: 'string', default: '3000' },
    // Per worker count (1, 2, 4, 8), a fresh table of this many integrations.
    'worker-integrations': { type: 'string', default: '1000' },
  },
});
const API_REQUESTS = Math.max(1, Number(values['api-requests']));
const API_WARMUP = 20;
const RULE_SIZES = String(values['rule-sizes'])
  .split(',')
  .map(Number)
  .filter((size) => size > 0);
const LINES = Number(values.lines);
const INTEGRATIONS = Number(values.integrations);
/** A log that keeps nothing. */
const QUIET = { info() {}, warn() {}, error() {} };
const SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';
const NOW = '2026-11-21T12:00:00.000Z';
const log = (line: string) => {
  if (!values.json) console.log(line);
};

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const round = (value: number, digits = 2) => Number(value.toFixed(digits));

/** Same records in two formats: canonical JSON lines and nginx combined log lines. */
function makeLines(ids: string[]) {
  const canonical: string[] = new Array(LINES);
  const combined: string[] = new Array(LINES);
  const base = Date.parse('2026-11-21T00:00:00.000Z');
  for (let index = 0; index < LINES; index += 1) {
    const id = ids[index % ids.length] as string;
    const at = new Date(base + index * 37);
    const status = index % 50 === 0 ? 401 : index % 97 === 0 ? 304 : 200;
    const ip = `203.0.${(index >> 8) & 255}.${index & 255}`;
    canonical[index] = JSON.stringify({
      time: at.toISOString(),
      integration_id: id,
      method: 'GET',
      status,
      ip,
      user_agent: 'FortiGate/7.4.3',
      bytes: 5123,
    });
    const clf = at.toUTCString().replace(/^\w+, (\d+) (\w+) (\d+) ([\d:]+) GMT$/, '$1/$2/$3:$4 +0000');
    combined[index] =
      `${ip} - - [${clf}] "GET /v1/integrations/${id}/content?format=plain HTTP/1.1" ${status} 5123 "-" "FortiGate/7.4.3"`;
  }
  return { canonical, combined };
}

/** Best of three passes: the figure least disturbed by the machine's other work. */
function linesPerSecond(lines: string[], work: (line: string) => unknown): number {
  let best = 0;
  for (let pass = 0; pass < 3; pass += 1) {
    const start = process.hrtime.bigint();
    let sink = 0;
    for (const line of lines) if (work(line)) sink += 1;
    const rate = lines.length / seconds(start);
    if (sink < 0) console.log(sink);
    best = Math.max(best, rate);
  }
  return best;
}

/** `size` firewalls of one organization created at `created`, 50 at a time; their ids. */
async function fleet(store: Store, orgId: string, size: number, created: string): Promise<string[]> {
  const ids: string[] = [];
  for (let batch = 0; batch < size; batch += 50) {
    const made = await Promise.all(
      Array.from({ length: Math.min(50, size - batch) }, (_, index) =>
        createIntegration(store, SECRET, orgId, { name: `fw-${batch + index}`, kind: 'firewall' }, created),
      ),
    );
    ids.push(...made.map((result) => result.integration.id));
  }
  return ids;
}

/**
 * Cost of one rule pass: `size` integrations, of which 1 % never pulled and just crossed their threshold,
 * the rest pulled a minute ago. Read units should follow the candidates, not the table.
 */
async function ruleCost(client: DynamoDBClient, usage: Usage, size: number) {
  const store = openStore(client, `bench_rules_${size}`);
  await store.table.ensure();
  const created = '2026-11-20T00:00:00.000Z';
  const pulled = '2026-11-20T23:59:00.000Z';
  const now = '2026-11-21T00:05:00.000Z';
  const ids = await fleet(store, 'org_00000000000000bf', size, created);
  const idle = Math.max(1, Math.round(size / 100));
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-rules-'));
  const stream = createWriteStream(join(dir, 'pulls.jsonl'));
  for (const id of ids.slice(idle)) {
    stream.write(`${JSON.stringify({ time: pulled, integration_id: id, method: 'GET', status: 200 })}\n`);
  }
  await new Promise<void>((resolve, reject) =>
    stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  // The cycle after the check times stored at creation (created + 24 h) came due, as in a deployment: its ingest
  // moves each pulling integration's check time to its real crossing, so the rule pass sees only the idle ones.
  await ingest({ store, source: new DirectorySource(dir), now: '2026-11-21T00:04:00.000Z' });
  await rm(dir, { recursive: true, force: true });
  const readsBefore = usage.readUnits;
  const start = process.hrtime.bigint();
  const report = await runRules({ store, now, ...SETTINGS });
  const elapsed = seconds(start);
  const readUnits = usage.readUnits - readsBefore;
  log(
    `rules: ${size} integrations, ${report.candidates} candidates, ${report.opened.length} opened, ${round(readUnits, 1)} read units (${round(readUnits / Math.max(1, report.candidates))} per candidate), ${round(elapsed)} s`,
  );
  return {
    integrations_total: size,
    rule_candidates: report.candidates,
    rule_opened: report.opened.length,
    rule_read_units: round(readUnits, 1),
    rule_read_units_per_candidate: round(readUnits / Math.max(1, report.candidates)),
    rule_seconds: round(elapsed),
  };
}

/**
 * What the shared-outage check costs a rule pass: `size` firewalls of one organization, of which `silent` went
 * quiet. Baseline: they stopped hours apart (each alone: one stored-group read per pass, nothing more). Measured:
 * they stopped in the same minute, so the pass lists the organization to decide whether they make a group
 * (in five waves an hour apart, each wave still large enough to be looked at, the baseline lists it too)
 * (`share` of the population silent decides it; 1 % of the fleet is not a group, half of it is).
 */
async function outageCost(
  client: DynamoDBClient,
  usage: Usage,
  size: number,
  silent: number,
  together: boolean,
) {
  const store = openStore(client, `bench_outage_${size}_${silent}_${together ? 't' : 's'}`);
  await store.table.ensure();
  const org = 'org_00000000000000c0';
  const ids = await fleet(store, org, size, '2026-11-19T00:00:00.000Z');
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-outage-'));
  const stream = createWriteStream(join(dir, 'pulls.jsonl'));
  const line = (id: string, time: string) =>
    `${JSON.stringify({ time, integration_id: id, method: 'GET', status: 200 })}\n`;
  // The silent ones last pulled on the 20th (in the same minute, or an hour apart); the rest a minute ago.
  ids.forEach((id, index) => {
    if (index >= silent) stream.write(line(id, '2026-11-21T04:59:00.000Z'));
    else
      stream.write(line(id, together ? '2026-11-20T04:00:00.000Z' : `2026-11-20T0${index % 5}:00:00.000Z`));
  });
  await new Promise<void>((resolve, reject) =>
    stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  await ingest({ store, source: new DirectorySource(dir), now: '2026-11-21T05:00:00.000Z' });
  await rm(dir, { recursive: true, force: true });
  const readsBefore = usage.readUnits;
  const report = await runRules({ store, now: '2026-11-21T05:01:00.000Z', ...SETTINGS });
  return { opened: report.opened.length, readUnits: usage.readUnits - readsBefore };
}

/** Serves `fetch` on 127.0.0.1 on a free port, as `npm start` serves the API. */
function listen(fetch: (request: Request) => Response | Promise<Response>) {
  return new Promise<{ url: string; close: () => Promise<void> }>((resolve) => {
    const server = serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () =>
          new Promise<void>((done, fail) => {
            (server as Server).closeAllConnections();
            server.close((error) => (error ? fail(error) : done()));
          }),
      });
    });
  });
}

/** Nearest-rank percentile of ascending `sorted`. */
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;

/**
 * Latency of `GET /v1/integrations?limit=50` (one organization holding every integration of the ingest
 * part) against two baselines measured in the same run, requests interleaved so all see the same machine:
 *   data   the same page read straight from the data layer, in process: the key lookup, the index page and
 *          the item reads, with the same store and client (what the API cannot do without) — the ratio that
 *          says what the API itself adds (HTTP, routing, validation, status and JSON);
 *   bare   a bare Hono route served the same way (what any HTTP answer costs here).
 * Sequential over keep-alive connections, after a warm-up: the figures are per-request latency, not load.
 */
async function apiLatency(store: Store, orgId: string) {
  const { key } = await createApiKey(store, SECRET, orgId, 'read', NOW);
  const api = await listen(
    // Request lines are dropped: the figure is the API's, not the console's write speed.
    createApp({ store, secret: SECRET, now: () => NOW, staleAfterSeconds: 7200, log: QUIET }).fetch,
  );
  const bare = await listen(new Hono().get('/x', (c) => c.json({ ok: true })).fetch);
  const listUrl = `${api.url}/v1/integrations?limit=50`;
  const headers = { authorization: `Bearer ${key}` };
  const timed = async (url: string, init: RequestInit = {}) => {
    const start = performance.now();
    const response = await fetch(url, init);
    const body = await response.text();
    const ms = performance.now() - start;
    if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${body.slice(0, 200)}`);
    return { ms, body };
  };
  try {
    const first = JSON.parse((await timed(listUrl, { headers })).body) as { items: unknown[] };
    if (first.items.length !== Math.min(50, INTEGRATIONS)) {
      throw new Error(`expected a page of 50, got ${first.items.length}`);
    }
    const hash = keyedHash(SECRET, 'api-key', key);
    const fromData = async () => {
      const start = performance.now();
      const record = await store.keys.byHash(hash);
      if (!record) throw new Error('the key is not stored');
      const page = await store.integrations.list(record.org_id, { limit: 50 });
      const ms = performance.now() - start;
      if (page.items.length !== Math.min(50, INTEGRATIONS)) throw new Error('the data layer page is short');
      return { ms };
    };
    const list: number[] = [];
    const baseline: number[] = [];
    const data: number[] = [];
    const kinds = [
      { run: () => timed(listUrl, { headers }), into: list },
      { run: () => timed(`${bare.url}/x`), into: baseline },
      { run: fromData, into: data },
    ];
    for (let index = 0; index < API_WARMUP + API_REQUESTS; index += 1) {
      // Rotate which goes first so none always runs right after another.
      for (let turn = 0; turn < kinds.length; turn += 1) {
        const kind = kinds[(index + turn) % kinds.length] as (typeof kinds)[number];
        const { ms } = await kind.run();
        if (index >= API_WARMUP) kind.into.push(ms);
      }
    }
    for (const series of [list, baseline, data]) series.sort((x, y) => x - y);
    const figures = {
      api_list_p50_ms: round(percentile(list, 0.5)),
      api_list_p99_ms: round(percentile(list, 0.99)),
      api_baseline_p50_ms: round(percentile(baseline, 0.5)),
      api_baseline_p99_ms: round(percentile(baseline, 0.99)),
      api_p99_ratio: round(percentile(list, 0.99) / percentile(baseline, 0.99)),
      api_data_p50_ms: round(percentile(data, 0.5)),
      api_data_p99_ms: round(percentile(data, 0.99)),
      api_list_p50_ratio_vs_data: round(percentile(list, 0.5) / percentile(data, 0.5)),
      api_list_p99_ratio_vs_data: round(percentile(list, 0.99) / percentile(data, 0.99)),
      api_requests: API_REQUESTS,
    };
    log(
      `api: GET /v1/integrations?limit=50 of ${INTEGRATIONS}: p50 ${figures.api_list_p50_ms} ms, p99 ${figures.api_list_p99_ms} ms`,
    );
    log(
      `     same page from the data layer: p50 ${figures.api_data_p50_ms} ms, p99 ${figures.api_data_p99_ms} ms (p99 ratio ${figures.api_list_p99_ratio_vs_data})`,
    );
    log(
      `     bare Hono route: p50 ${figures.api_baseline_p50_ms} ms, p99 ${figures.api_baseline_p99_ms} ms (p99 ratio ${figures.api_p99_ratio}, ${API_REQUESTS} requests each)`,
    );
    return figures;
  } finally {
    await api.close();
    await bare.close();
  }
}

async function main() {
  const db = await startDynalite();
  const client = localDynamoClient(db.endpoint);
  const usage = meterUsage(client);
  const store = openStore(client, 'bench');
  await store.table.ensure();
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-bench-'));
  try {
    log(`creating ${INTEGRATIONS} integrations...`);
    const createStart = process.hrtime.bigint();
    const ids = await fleet(store, 'org_00000000000000be', INTEGRATIONS, '2026-11-20T00:00:00.000Z');
    log(`  ${round(seconds(createStart))} s`);

    const { canonical, combined } = makeLines(ids);
    const baseline = linesPerSecond(canonical, (line) => JSON.parse(line));
    const canonicalRate = linesPerSecond(canonical, parseLine);
    const combinedRate = linesPerSecond(combined, parseLine);
    log(`parse: JSON.parse baseline ${Math.round(baseline)} lines/s`);
    log(`       canonical ${Math.round(canonicalRate)} lines/s (ratio ${round(canonicalRate / baseline)})`);
    log(`       combined  ${Math.round(combinedRate)} lines/s (ratio ${round(combinedRate / baseline)})`);

    // Ten files, as an hour of 6-minute log objects would arrive.
    const files = 10;
    for (let file = 0; file < files; file += 1) {
      const stream = createWriteStream(join(dir, `pulls-${file}.jsonl`));
      for (let index = file; index < LINES; index += files) stream.write(`${canonical[index]}\n`);
      await new Promise<void>((resolve, reject) =>
        stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
    }
    const distinct = new Set(ids.slice(0, Math.min(ids.length, LINES))).size;
    const before = { ...usage.requests };
    const wcuBefore = usage.writeUnits;
    const ingestStart = process.hrtime.bigint();
    const report = await ingest({ store, source: new DirectorySource(dir), now: NOW });
    const ingestSeconds = seconds(ingestStart);
    const writes = (usage.requests['write.INT'] ?? 0) - (before['write.INT'] ?? 0);
    // Read now: the rule and API runs below share the client, and so its meter.
    const ingestWcu = usage.writeUnits - wcuBefore;
    log(
      `ingest: ${report.lines} lines in ${files} files, ${round(ingestSeconds)} s end to end against dynalite`,
    );
    log(`        ${writes} integration writes for ${distinct} integrations with new data`);

    const rules = [];
    for (const size of RULE_SIZES) rules.push(await ruleCost(client, usage, size));
    const outages: Record<string, number> = {};
    for (const size of RULE_SIZES) {
      for (const share of [0.01, 0.5]) {
        const silent = Math.max(3, Math.round(size * share));
        const apart = await outageCost(client, usage, size, silent, false);
        const together = await outageCost(client, usage, size, silent, true);
        const ratio = round(together.readUnits / Math.max(0.5, apart.readUnits));
        log(
          `shared outage check: ${silent} of ${size} silent, ${round(together.readUnits, 1)} read units together vs ${round(apart.readUnits, 1)} apart (ratio ${ratio}; ${together.opened} opened)`,
        );
        outages[`outage_check_read_ratio_${size}_${silent}`] = ratio;
      }
    }

    // The ingest's integrations, all in one organization, pulled by now.
    const api = await apiLatency(store, 'org_00000000000000be');
    const verify = await verificationBench(store, usage, SECRET, log);
    log('cadence replay (time to warn after the last pull, against the fixed 24-hour threshold):');
    const cadence = await cadenceBench(log, { devices: Number(values['cadence-devices']) });
    log('workers (in-process queue; ratios to 1 worker):');
    const workers = await workersBench(log, {
      integrations: Number(values['worker-integrations']),
    });

    const result = {
      lines: LINES,
      integrations: INTEGRATIONS,
      parse_lines_per_s: Math.round(canonicalRate),
      json_parse_baseline_lines_per_s: Math.round(baseline),
      parse_ratio: round(canonicalRate / baseline),
      combined_parse_lines_per_s: Math.round(combinedRate),
      combined_parse_ratio: round(combinedRate / baseline),
      ingest_write_requests: writes,
      distinct_integrations_with_new_data: distinct,
      ingest_consumed_wcu: round(ingestWcu, 1),
      ingest_seconds: round(ingestSeconds),
      ingest_lines_per_s: Math.round(report.lines / ingestSeconds),
      rules,
      ...Object.fromEntries(
        rules.flatMap((rule) => [
          [`rule_read_units_${rule.integrations_total}`, rule.rule_read_units],
          [`rule_read_units_per_candidate_${rule.integrations_total}`, rule.rule_read_units_per_candidate],
        ]),
      ),
      ...outages,
      ...api,
      ...verify,
      cadence,
      ...workers,
    };
    console.log(values.json ? JSON.stringify(result) : `\n${JSON.stringify(result, null, 2)}`);
  } finally {
    client.destroy();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
