import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { defaultConfig } from '../shared/config.ts';
import { ingest } from '../shared/ingest/index.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { localDynamoClient } from '../shared/local/embedded-db.ts';
import { runRules } from '../shared/rules/index.ts';
import { cycleSettings } from '../shared/runtime.ts';
import { openStore } from '../shared/store.ts';
import { meterUsage, type Usage } from '../shared/table/metering.ts';

/**
 * Ingest and rule throughput on 1, 2, 4 and 8 workers of the in-process queue (the fan-out's handlers, run
 * locally), each against a fresh table of the same fleet, as ratios to 1 worker in the same run.
 *
 * The logs are 16 objects, each holding the pulls of its own share of the fleet, as the nodes of a load balancer
 * write them (a device keeps its connection to one node). The workers read them concurrently and each
 * integration is written once per cycle whatever their number, which the writes per pulling integration check. The rule pass then finds every
 * integration past its threshold (none pulled since creation but the ones in the logs, a day ago), the heaviest
 * pass there is: one issue opened per candidate.
 *
 * One caveat for reading the ratios: the workers share one Node.js event loop (and dynalite, in a process of its
 * own, one more core), so they measure how much of the work is waiting on the database (which workers overlap),
 * not what N Lambda instances with their own CPUs and DynamoDB's parallel partitions do; docs/scale.md projects
 * that from per-item costs.
 */
const SETTINGS = cycleSettings(defaultConfig);
const SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';
const CREATED = '2026-11-20T00:00:00.000Z';
const PULLED = '2026-11-20T00:30:00.000Z';
const INGEST_AT = '2026-11-20T00:35:00.000Z';
const RULES_AT = '2026-11-21T06:00:00.000Z';
const OBJECTS = 16;

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const round = (value: number, digits = 2) => Number(value.toFixed(digits));

async function oneRun(client: DynamoDBClient, usage: Usage, size: number, workers: number) {
  const store = openStore(client, `bench_workers_${size}_${workers}`);
  await store.table.ensure();
  const ids: string[] = [];
  for (let batch = 0; batch < size; batch += 50) {
    const made = await Promise.all(
      Array.from({ length: Math.min(50, size - batch) }, (_, index) =>
        createIntegration(
          store,
          SECRET,
          'org_00000000000000c1',
          { name: `fw-${batch + index}`, kind: 'firewall' },
          CREATED,
        ),
      ),
    );
    ids.push(...made.map((result) => result.integration.id));
  }
  // Half the fleet pulls (so half of it crosses its threshold unseen): the rule pass has both kinds of work.
  const pulling = ids.filter((_, index) => index % 2 === 0);
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-workers-'));
  for (let object = 0; object < OBJECTS; object += 1) {
    const stream = createWriteStream(join(dir, `node-${object}.jsonl`));
    for (let index = object; index < pulling.length; index += OBJECTS) {
      for (let minute = 0; minute < 5; minute += 1) {
        const time = new Date(Date.parse(PULLED) + minute * 60_000).toISOString();
        stream.write(
          `${JSON.stringify({ time, integration_id: pulling[index], method: 'GET', status: 200 })}\n`,
        );
      }
    }
    await new Promise<void>((resolve, reject) =>
      stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
  }
  const wcuBefore = usage.writeUnits;
  const writesBefore = usage.requests['write.INT'] ?? 0;
  const ingestStart = process.hrtime.bigint();
  const ingested = await ingest({
    store,
    source: new DirectorySource(dir),
    now: INGEST_AT,
    workers,
  });
  const ingestSeconds = seconds(ingestStart);
  const integrationWrites = (usage.requests['write.INT'] ?? 0) - writesBefore;
  const ingestWcu = usage.writeUnits - wcuBefore;
  await rm(dir, { recursive: true, force: true });
  const rulesStart = process.hrtime.bigint();
  // The feed went quiet after the one ingest: the guard is off, or it would hold every flip.
  const rules = await runRules({ store, now: RULES_AT, ...SETTINGS, staleAfterSeconds: 0, workers });
  const rulesSeconds = seconds(rulesStart);
  return {
    workers,
    lines: ingested.lines,
    ingest_seconds: ingestSeconds,
    ingest_lines_per_s: ingested.lines / ingestSeconds,
    integration_writes_per_pulling_integration: integrationWrites / pulling.length,
    ingest_wcu: ingestWcu,
    rule_candidates: rules.candidates,
    rule_opened: rules.opened.length,
    rules_seconds: rulesSeconds,
    rule_candidates_per_s: rules.candidates / rulesSeconds,
  };
}

/**
 * dynalite in a process of its own, so the database does not share the workers' event loop (it is CPU-bound
 * JavaScript: in-process, every request it serves is time the workers cannot use, and no overlap could show).
 */
async function separateDynalite(): Promise<{ endpoint: string; stop: () => void }> {
  const code =
    "import dynalite from 'dynalite'; const server = dynalite({ createTableMs: 0 }); " +
    "server.listen(0, '127.0.0.1', () => console.log(server.address().port));";
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    cwd: join(import.meta.dirname, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once('exit', (code) => reject(new Error(`dynalite exited with ${code}`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

export async function workersBench(log: (line: string) => void, options: { integrations: number }) {
  const db = await separateDynalite();
  const client = localDynamoClient(db.endpoint);
  const usage = meterUsage(client);
  const runs = [];
  try {
    for (const workers of [1, 2, 4, 8]) runs.push(await oneRun(client, usage, options.integrations, workers));
  } finally {
    client.destroy();
    db.stop();
  }
  const base = runs[0] as (typeof runs)[number];
  const result: Record<string, number> = { workers_integrations: options.integrations };
  for (const run of runs) {
    const ingestRatio = round(run.ingest_lines_per_s / base.ingest_lines_per_s);
    const rulesRatio = round(run.rule_candidates_per_s / base.rule_candidates_per_s);
    log(
      `workers ${run.workers}: ingest ${Math.round(run.ingest_lines_per_s)} lines/s (x${ingestRatio}), ${round(run.integration_writes_per_pulling_integration, 3)} integration writes per pulling integration; rules ${Math.round(run.rule_candidates_per_s)} candidates/s (x${rulesRatio}, ${run.rule_opened} opened)`,
    );
    result[`workers_${run.workers}_ingest_ratio`] = ingestRatio;
    result[`workers_${run.workers}_rules_ratio`] = rulesRatio;
    result[`workers_${run.workers}_ingest_lines_per_s`] = Math.round(run.ingest_lines_per_s);
    result[`workers_${run.workers}_rule_candidates_per_s`] = Math.round(run.rule_candidates_per_s);
    result[`workers_${run.workers}_writes_per_pulling_integration`] = round(
      run.integration_writes_per_pulling_integration,
      3,
    );
  }
  return result;
}
