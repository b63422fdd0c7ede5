import { describe, expect, it } from 'vitest';
import { ingest } from '../shared/ingest/index.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import type { Integration } from '../shared/integration/index.ts';
import { createIntegration } from '../shared/integration/ops.ts';
import { createOrg } from '../shared/org/index.ts';
import { runRules } from '../shared/rules/index.ts';
import { freshStore, TEST_SECRET, useTestDb } from './kit/db.ts';
import { drop, tempDir, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { at, T0 } from './kit/time.ts';
import { SETTINGS } from './kit/world.ts';

/**
 * What the rule pass reads: the integrations that are due, not the whole table.
 * Pull-log files go through the real ingest, rule pass and notify pass on a real (in-memory) dynalite,
 * with time injected, never waited for.
 */

useTestDb();
useTempDirs();

describe('cost of the rule pass', () => {
  async function rulePass(healthyCount: number) {
    const store = await freshStore();
    const org = await createOrg(store, 'Big', T0);
    const make = (name: string) =>
      createIntegration(store, TEST_SECRET, org.id, { name, kind: 'firewall' }, T0).then(
        (r) => r.integration,
      );
    const fleet: Integration[] = [];
    for (let start = 0; start < healthyCount; start += 50) {
      const size = Math.min(50, healthyCount - start);
      fleet.push(...(await Promise.all(Array.from({ length: size }, (_, n) => make(`ok-${start + n}`)))));
    }
    const idle = [await make('idle-1'), await make('idle-2')];
    const logs = await tempDir('cost');
    await drop({ logs }, [
      ...fleet.map((fw) => pull(fw.id, at(25.5))),
      ...idle.map((fw) => pull(fw.id, at(1))),
    ]);
    await ingest({ store, source: new DirectorySource(logs), now: at(25.6) });

    const requests = { ...store.usage.requests };
    const readUnits = store.usage.readUnits;
    const report = await runRules({ store, now: at(26), ...SETTINGS });
    const reads: Record<string, number> = {};
    for (const [label, count] of Object.entries(store.usage.requests)) {
      const delta = count - (requests[label] ?? 0);
      if (label.startsWith('read.') && delta > 0) reads[label] = delta;
    }
    return { report, reads, readUnits: store.usage.readUnits - readUnits, idle };
  }

  it('with 200 healthy integrations and 2 newly idle, the pass reads the 2 candidates, not the 200', async () => {
    const small = await rulePass(20);
    const large = await rulePass(200);

    expect(large.report.candidates).toBe(2);
    expect(large.report.opened.map((change) => change.integration_id).sort()).toEqual(
      large.idle.map((fw) => fw.id).sort(),
    );
    expect(large.report.pipeline).toBe('fresh');
    // The same requests, and about the same capacity, whether the table holds 22 or 202 integrations.
    expect(large.reads).toEqual(small.reads);
    // read.OUTAGE: the organization's stored shared outage, read once because offline issues open in this pass
    // (two silent together are too few to be a group, so the organization is not listed).
    expect(Object.keys(large.reads).sort()).toEqual(['read.CYCLE', 'read.INT', 'read.OUTAGE', 'read.by_due']);
    expect(large.reads['read.OUTAGE']).toBe(1);
    expect(large.readUnits).toBeLessThanOrEqual(small.readUnits + 1);
    // Two units per candidate, plus half a unit for the organization's stored outage (an eventually consistent
    // GetItem) and half for the look at every shard's due integrations that opening offline issues makes (so a
    // worker on one shard sees the members of a shared outage due in another).
    expect((large.readUnits - 1) / large.report.candidates).toBeLessThanOrEqual(2);
  });
});
