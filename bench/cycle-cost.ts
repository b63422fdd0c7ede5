/**
 * What one deployed watchdog cycle costs, measured: `node --import tsx bench/cycle-cost.ts [--json]
 * [--integrations N] [--retained-files F]`.
 *
 * It runs the cycle the way functions/cycle.ts does (lock, runCycle, deployment read) against dynalite and
 * counts every DynamoDB request and the capacity units DynamoDB reports for the base table. dynalite does not
 * report index writes, so those are derived from the stored item before and after the cycle, by DynamoDB's
 * rules: an index write per changed item in an ALL-projected index, two when the index key changed.
 *
 * Scenarios, each a separate cycle, after a first cycle in which every integration pulled for the first time:
 *   cold    every integration pulled since the last cycle (one log object for the interval), on a fresh process
 *   steady  the same, on the same process
 *   idle    no new log object
 *   rearm   the cycle in which the check times stored at creation come due (once per threshold, 24 h by
 *           default): the rule pass re-arms every pulling integration at its real crossing
 * Per scenario, `wcu_per_pulling_integration` is every write unit of the cycle, table and indexes, fixed costs
 * included, over the integrations that pulled; `amortized_wcu_per_pulling_integration` spreads the re-arm over
 * the cycles of one threshold. `queries` counts Query and Scan requests (the index reads), `read_requests` every
 * read request.
 * F log objects are already in the ledger (what the bucket retains), because each cycle lists them again.
 * docs/deploy-aws.md turns these figures into the monthly cost table.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { defaultConfig } from '../shared/config.ts';
import { runCycle } from '../shared/cycle.ts';
import { withCycleLock } from '../shared/deployment/cycle-lock.ts';
import { DirectorySource, type LogSource } from '../shared/ingest/sources.ts';
import { DEFAULT_OFFLINE_AFTER_SECONDS } from '../shared/integration/index.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { localDynamoClient, startDynalite } from '../shared/local/embedded-db.ts';
import type { Notification } from '../shared/notify/render.ts';
import { createOrg } from '../shared/org/index.ts';
import { cycleSettings } from '../shared/runtime.ts';
import { openStore, type Store } from '../shared/store.ts';
import { itemSize, meterUsage, type Usage } from '../shared/table/metering.ts';
import { TABLE } from '../shared/table/schema.ts';
import { addSeconds, type Iso } from '../shared/time.ts';

/** The cycle's settings as shipped (the configuration's defaults). */
const SETTINGS = cycleSettings(defaultConfig);

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    integrations: { type: 'string', default: '1000' },
    'retained-files': { type: 'string', default: '1000' },
  },
});
const INTEGRATIONS = Number(values.integrations);
const RETAINED = Number(values['retained-files']);
const SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';
const T0 = '2026-11-21T00:00:00.000Z';
const log = (line: string) => {
  if (!values.json) console.error(line);
};

/** What a cycle cost: the requests and capacity metered between two snapshots of the same usage. */
function since(usage: Usage, before: Usage) {
  const requests: Record<string, number> = {};
  for (const [label, count] of Object.entries(usage.requests)) {
    const delta = count - (before.requests[label] ?? 0);
    if (delta > 0) requests[label] = delta;
  }
  return { requests, rcu: usage.readUnits - before.readUnits, wcu: usage.writeUnits - before.writeUnits };
}

const kb = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

/** Index write units one base-table write from `before` to `after` costs, per index, by DynamoDB's rules. */
function indexWriteUnits(before: Record<string, unknown>, after: Record<string, unknown>) {
  const result: Record<string, number> = {};
  for (const index of TABLE.indexes) {
    const keys = [index.partitionKey.name, index.sortKey?.name].filter((name): name is string => !!name);
    const inIndex = (item: Record<string, unknown>) => keys.every((key) => item[key] !== undefined);
    const projected = (item: Record<string, unknown>) =>
      index.projection === 'ALL'
        ? item
        : Object.fromEntries(
            [
              TABLE.partitionKey.name,
              TABLE.sortKey.name,
              ...keys,
              ...(typeof index.projection === 'object' ? index.projection.include : []),
            ].map((key) => [key, item[key]]),
          );
    const [was, is] = [inIndex(before), inIndex(after)];
    const keyChanged = keys.some((key) => before[key] !== after[key]);
    const changed = JSON.stringify(projected(before)) !== JSON.stringify(projected(after));
    let units = 0;
    if (was && is && keyChanged) units = kb(itemSize(projected(before))) + kb(itemSize(projected(after)));
    else if (was && is && changed) units = kb(itemSize(projected(after)));
    else if (!was && is) units = kb(itemSize(projected(after)));
    else if (was && !is) units = kb(itemSize(projected(before)));
    result[index.name] = units;
  }
  return result;
}

/** Never publishes anywhere: counts what would go to SNS. */
class CountingPublisher {
  published = 0;
  async publish(_notification: Notification): Promise<string> {
    this.published += 1;
    return `bench-${this.published}`;
  }
}

/** A directory source that also counts the S3 requests the same listing would cost. */
function s3Counted(source: LogSource) {
  const counts = { list: 0, get: 0 };
  const counted: LogSource = {
    describe: () => source.describe(),
    list: async () => {
      const files = await source.list();
      counts.list += Math.max(1, Math.ceil(files.length / 1000));
      return files.map((file) => ({
        ...file,
        open: async () => {
          counts.get += 1;
          return file.open();
        },
      }));
    },
  };
  return { source: counted, counts };
}

async function main() {
  const db = await startDynalite();
  const client = () => localDynamoClient(db.endpoint);
  const setup = openStore(client(), 'cost');
  await setup.table.ensure();
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-cost-'));
  try {
    log(`creating ${INTEGRATIONS} integrations...`);
    const org = await createOrg(setup, 'Bench', T0);
    const ids: string[] = [];
    for (let batch = 0; batch < INTEGRATIONS; batch += 50) {
      const made = await Promise.all(
        Array.from({ length: Math.min(50, INTEGRATIONS - batch) }, (_, index) =>
          createIntegration(setup, SECRET, org.id, { name: `fw-${batch + index}`, kind: 'firewall' }, T0),
        ),
      );
      ids.push(...made.map((result) => result.integration.id));
    }

    log(`filling the ledger with ${RETAINED} retained log objects...`);
    for (let file = 0; file < RETAINED; file += 1) {
      await writeFile(join(dir, `old-${String(file).padStart(6, '0')}.log`), 'x\n');
    }
    let clock: Iso = addSeconds(T0, 60);
    await runCycle({
      store: setup,
      source: new DirectorySource(dir),
      publisher: new CountingPublisher(),
      now: clock,
      ...SETTINGS,
    });

    let interval = 0;
    /** One log object for the interval: one successful pull per integration. */
    const writeInterval = async () => {
      interval += 1;
      const at = addSeconds(clock, 240);
      const lines = ids.map((id) =>
        JSON.stringify({ time: at, integration_id: id, method: 'GET', status: 200 }),
      );
      await writeFile(join(dir, `interval-${interval}.jsonl`), `${lines.join('\n')}\n`);
    };

    const measure = async (name: string, store: Store, usage: Usage, withNewFile: boolean) => {
      if (withNewFile) await writeInterval();
      clock = addSeconds(clock, 300);
      const now = clock;
      const sample = ids[0] as string;
      const key = { pk: `INT#${sample}`, sk: `INT#${sample}` };
      const before = (await setup.table.doc.send(new GetCommand({ TableName: 'cost', Key: key }))).Item ?? {};
      const usageBefore = { ...usage, requests: { ...usage.requests } };
      const { source, counts: s3 } = s3Counted(new DirectorySource(dir));
      const publisher = new CountingPublisher();
      const started = process.hrtime.bigint();
      const run = await withCycleLock(store.table, { now, leaseUntil: addSeconds(now, 270) }, () =>
        runCycle({ store, source, publisher, now, ...SETTINGS }),
      );
      await store.deployment.get();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (!run.ran) throw new Error('lock held');
      const after = (await setup.table.doc.send(new GetCommand({ TableName: 'cost', Key: key }))).Item ?? {};
      const cost = since(usage, usageBefore);
      const perIntegrationIndexWcu = indexWriteUnits(before, after);
      const updated = run.result.ingest?.integrations_updated ?? 0;
      const indexWcu = Object.values(perIntegrationIndexWcu).reduce((sum, units) => sum + units, 0) * updated;
      const count = (test: (label: string) => boolean) =>
        Object.entries(cost.requests)
          .filter(([label]) => test(label))
          .reduce((sum, [, n]) => sum + n, 0);
      const result = {
        scenario: name,
        outcome: run.result.outcome,
        integrations_updated: updated,
        rule_candidates: run.result.rules?.candidates ?? 0,
        rule_rearmed: run.result.rules?.rearmed ?? 0,
        wcu_per_pulling_integration:
          updated > 0 ? Number(((cost.wcu + indexWcu) / updated).toFixed(3)) : null,
        queries: count((label) => label.startsWith('read.by_')),
        read_requests: count((label) => label.startsWith('read.')),
        requests: cost.requests,
        read_units: Number(cost.rcu.toFixed(1)),
        write_units_table: Number(cost.wcu.toFixed(1)),
        integration_item_bytes: itemSize(after),
        index_write_units_per_integration_write: perIntegrationIndexWcu,
        write_units_indexes: indexWcu,
        s3_list_requests: s3.list,
        s3_get_requests: s3.get,
        sns_publishes: publisher.published,
        seconds: Number(seconds.toFixed(2)),
      };
      log(`${name}: ${JSON.stringify(result)}`);
      return result;
    };

    // Every integration's first pull (it leaves `never_pulled`, which moves its place in the console list).
    await measure('first', setup, meterUsage(setup.table.client), true);
    // A fresh Store is a fresh Lambda instance: nothing cached.
    const instanceClient = client();
    const usage = meterUsage(instanceClient);
    const instance = openStore(instanceClient, 'cost');
    const cold = await measure('cold', instance, usage, true);
    const steady = await measure('steady', instance, usage, true);
    const idle = await measure('idle', instance, usage, false);
    // Skip to the cycle in which the check times stored at creation (T0 + threshold) come due.
    clock = addSeconds(T0, DEFAULT_OFFLINE_AFTER_SECONDS - 300);
    const rearm = await measure('rearm', instance, usage, true);
    const cyclesPerThreshold = DEFAULT_OFFLINE_AFTER_SECONDS / 300;
    const amortized =
      steady.wcu_per_pulling_integration === null || rearm.wcu_per_pulling_integration === null
        ? null
        : Number(
            (
              steady.wcu_per_pulling_integration +
              (rearm.wcu_per_pulling_integration - steady.wcu_per_pulling_integration) / cyclesPerThreshold
            ).toFixed(3),
          );
    const output = {
      integrations: INTEGRATIONS,
      retained_files: RETAINED,
      amortized_wcu_per_pulling_integration: amortized,
      steady,
      cold,
      idle,
      rearm,
    };
    console.log(values.json ? JSON.stringify(output) : JSON.stringify(output, null, 2));
  } finally {
    await rm(dir, { recursive: true, force: true });
    await db.close();
  }
}

await main();
