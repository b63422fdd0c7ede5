/**
 * Benchmarks: `npm run bench [-- --json] [-- --lines N --integrations M]`.
 * Every figure is reported next to a baseline measured in the same run on the same data, as a ratio;
 * nothing here is asserted by the test suite.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ingest } from '../shared/ingest/index.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { startDynalite } from '../shared/local/embedded-db.ts';
import { parseLine } from '../shared/pulls/parse.ts';
import { Store } from '../shared/store/index.ts';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    lines: { type: 'string', default: '1000000' },
    integrations: { type: 'string', default: '10000' },
  },
});
const LINES = Number(values.lines);
const INTEGRATIONS = Number(values.integrations);
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

async function main() {
  const db = await startDynalite();
  const client = new DynamoDBClient({
    endpoint: db.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const store = new Store(client, 'bench');
  await store.ensureTable();
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-bench-'));
  try {
    log(`creating ${INTEGRATIONS} integrations...`);
    const ids: string[] = [];
    const createStart = process.hrtime.bigint();
    for (let batch = 0; batch < INTEGRATIONS; batch += 50) {
      const created = await Promise.all(
        Array.from({ length: Math.min(50, INTEGRATIONS - batch) }, (_, index) =>
          createIntegration(
            store,
            SECRET,
            'org_00000000000000be',
            { name: `fw-${batch + index}`, kind: 'firewall' },
            '2026-11-20T00:00:00.000Z',
          ),
        ),
      );
      ids.push(...created.map((result) => result.integration.id));
    }
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
    const before = { ...store.usage.requests };
    const wcuBefore = store.usage.writeUnits;
    const ingestStart = process.hrtime.bigint();
    const report = await ingest({ store, source: new DirectorySource(dir), now: NOW });
    const ingestSeconds = seconds(ingestStart);
    const writes = (store.usage.requests['write.integration'] ?? 0) - (before['write.integration'] ?? 0);
    log(
      `ingest: ${report.lines} lines in ${files} files, ${round(ingestSeconds)} s end to end against dynalite`,
    );
    log(`        ${writes} integration writes for ${distinct} integrations with new data`);

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
      ingest_consumed_wcu: round(store.usage.writeUnits - wcuBefore, 1),
      ingest_seconds: round(ingestSeconds),
      ingest_lines_per_s: Math.round(report.lines / ingestSeconds),
    };
    console.log(values.json ? JSON.stringify(result) : `\n${JSON.stringify(result, null, 2)}`);
  } finally {
    client.destroy();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
