/**
 * What the pull history adds to the ingest's DynamoDB writes, measured: `node --import tsx bench/history-cost.ts
 * [--json] [--integrations N] [--hours H]`. `historyCost` is the scenario; bench/cycle-cost.ts can import it.
 *
 * H hours of 5-minute cycles against dynalite: each cycle drops one log file in which every integration pulled
 * twice in the interval (a tenth of them also refused once), plus a straggler from the interval before (logs
 * are late; across an hour boundary that is the case the open pair of hours exists for). Each cycle is the real
 * ingest. The metering middleware counts every request and the capacity units dynalite reports (by DynamoDB's
 * rule: 1 WCU per started KB of the item, the larger of before and after for an update).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ingest } from '../shared/ingest/index.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { localDynamoClient, startDynalite } from '../shared/local/embedded-db.ts';
import { createOrg } from '../shared/org/index.ts';
import { openStore, type Store } from '../shared/store.ts';
import { meterUsage, type Usage } from '../shared/table/metering.ts';
import { addSeconds, type Iso } from '../shared/time.ts';

const SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';
const CYCLE_SECONDS = 300;

export interface HistoryCost {
  integrations: number;
  hours: number;
  cycles: number;
  /** Integration item writes: one per pulling integration per cycle, with or without history. */
  integration_writes: number;
  /** Write units of those writes divided by their count: 1 while the item stays under 1 KB. */
  wcu_per_integration_write: number;
  /** Day-item writes (`write.PULLS`): the only writes the history adds. */
  history_writes: number;
  history_write_units: number;
  history_writes_per_integration_hour: number;
  /** The figure of the cost budget (< 0.1). */
  extra_wcu_per_pulling_integration_cycle: number;
}

/**
 * Runs the scenario on `store` (whose client `usage` meters), from `start`, for `hours` hours, for `count` new
 * integrations of a new organization. Only the ingest runs: the rule pass writes no history.
 */
export async function historyCost(options: {
  store: Store;
  usage: Usage;
  count: number;
  hours: number;
  start: Iso;
}): Promise<HistoryCost> {
  const { store, usage, count, hours, start } = options;
  const org = await createOrg(store, 'History bench', start);
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const made = await createIntegration(
      store,
      SECRET,
      org.id,
      { name: `fw-${index}`, kind: 'firewall' },
      start,
    );
    ids.push(made.integration.id);
  }
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-history-cost-'));
  const before = { requests: { ...usage.requests }, units: { ...usage.units } };
  const cycles = (hours * 3600) / CYCLE_SECONDS;
  try {
    for (let cycle = 1; cycle <= cycles; cycle += 1) {
      const now = addSeconds(start, cycle * CYCLE_SECONDS);
      const from = addSeconds(now, -CYCLE_SECONDS);
      const lines: string[] = [];
      ids.forEach((id, index) => {
        // Spread over the interval, differently per integration; a straggler 1 to 4 minutes before it.
        const offset = (index * 37) % 120;
        const times = [addSeconds(from, offset + 30), addSeconds(from, offset + 160)];
        const straggler = addSeconds(from, -60 - ((index * 53) % 180));
        for (const time of [...times, straggler]) {
          lines.push(JSON.stringify({ time, integration_id: id, method: 'GET', status: 200 }));
        }
        if (index % 10 === 0) {
          lines.push(
            JSON.stringify({ time: addSeconds(from, offset + 100), integration_id: id, status: 401 }),
          );
        }
      });
      const file = join(dir, `cycle-${String(cycle).padStart(5, '0')}.jsonl`);
      await writeFile(file, `${lines.join('\n')}\n`);
      await ingest({ store, source: new DirectorySource(dir), now });
      // Processed objects leave the listing (an S3 lifecycle rule would), so the ledger read stays small.
      await rm(file);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const delta = (table: Record<string, number>, was: Record<string, number>, label: string) =>
    (table[label] ?? 0) - (was[label] ?? 0);
  const integrationWrites = delta(usage.requests, before.requests, 'write.INT');
  const historyWrites = delta(usage.requests, before.requests, 'write.PULLS');
  const historyUnits = delta(usage.units, before.units, 'write.PULLS');
  return {
    integrations: count,
    hours,
    cycles,
    integration_writes: integrationWrites,
    wcu_per_integration_write: delta(usage.units, before.units, 'write.INT') / Math.max(1, integrationWrites),
    history_writes: historyWrites,
    history_write_units: historyUnits,
    history_writes_per_integration_hour: historyWrites / (count * hours),
    extra_wcu_per_pulling_integration_cycle: historyUnits / (count * cycles),
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      integrations: { type: 'string', default: '50' },
      hours: { type: 'string', default: '24' },
    },
  });
  const db = await startDynalite();
  try {
    const client = localDynamoClient(db.endpoint);
    const usage = meterUsage(client);
    const store = openStore(client, 'history_cost');
    await store.table.ensure();
    const result = await historyCost({
      store,
      usage,
      count: Number(values.integrations),
      hours: Number(values.hours),
      start: '2026-11-20T22:00:00.000Z',
    });
    console.log(values.json ? JSON.stringify(result) : JSON.stringify(result, null, 2));
  } finally {
    await db.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
