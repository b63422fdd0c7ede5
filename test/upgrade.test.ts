import { join } from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { newId } from '../shared/crypto.ts';
import { ingest } from '../shared/ingest/index.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import type { Integration } from '../shared/integration/index.ts';
import { openLocal } from '../shared/local/context.ts';
import { startDynalite } from '../shared/local/embedded-db.ts';
import { untilActive } from '../shared/table/index.ts';
import { createTableInput, INDEX, TABLE } from '../shared/table/schema.ts';
import { localClient } from './kit/db.ts';
import { drop, tempDir, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { at } from './kit/time.ts';
import { integrationInMemory } from './kit/world.ts';

/**
 * Local data written by the version before id keys and the by_due index: a table without by_due, integrations in
 * their organization's partition carrying by_check and by_lookup keys. Opening it adds the index, moves each
 * integration to its id key (due at its exact next check), and the ingest and the rule pass then find it.
 */

useTempDirs();

const ORG = 'org_00000000000000aa';

/** An integration item exactly as the previous version wrote it. */
function legacyItem(integration: Integration, checkAt: string) {
  return {
    pk: `ORG#${integration.org_id}`,
    sk: `INT#${integration.id}`,
    entity: 'integration',
    lookup_id: integration.id,
    list_pk: `INT#${integration.org_id}`,
    list_sk: ['4', integration.name.toLowerCase(), integration.id].join('\u0001'),
    name_lc: integration.name.toLowerCase(),
    ...integration,
    check_shard: '0',
    check_at: checkAt,
  };
}

describe('opening local data of the previous layout', () => {
  it('adds the by_due index, moves integrations to id keys, and they are ingested and checked as before', async () => {
    const dataDir = await tempDir('upgrade');
    const path = join(dataDir, 'db');
    const old = integrationInMemory({ id: newId('int'), org_id: ORG, name: 'Old FortiGate' });
    const { due_at: _, ...facts } = { ...old, last_pull_at: at(1) };

    // The previous version's table: every index but by_due.
    const raw = await startDynalite(path);
    const client = localClient(raw);
    const indexes = TABLE.indexes.filter((index) => index.name !== INDEX.byDue);
    await client.send(new CreateTableCommand(createTableInput('pullwatch', indexes)));
    await untilActive(client, 'pullwatch');
    await client.send(
      new PutCommand({ TableName: 'pullwatch', Item: legacyItem(facts as Integration, at(25)) }),
    );
    client.destroy();
    await raw.close();

    const local = await openLocal(loadConfig({ PULLWATCH_DATA_DIR: dataDir }), { publish: false });
    try {
      expect(local.db?.repair?.added).toEqual([INDEX.byDue]);
      const moved = await local.store.integrations.get(ORG, old.id);
      expect(moved).toMatchObject({ id: old.id, name: 'Old FortiGate', last_pull_at: at(1), due_at: at(25) });
      const { Items = [] } = await local.store.table.doc.send(new ScanCommand({ TableName: 'pullwatch' }));
      expect(Items.map((item) => item.pk)).toEqual([`INT#${old.id}`]);
      expect(Items[0]).not.toHaveProperty('lookup_id');
      expect(Items[0]).not.toHaveProperty('check_at');
      // Nothing left to move: the next open (or cycle) finds the retired index empty.
      expect(await local.store.integrations.moveToIdKeys()).toBe(0);

      const logs = await tempDir('upgrade-logs');
      await drop({ logs }, [pull(old.id, at(2))]);
      const report = await ingest({ store: local.store, source: new DirectorySource(logs), now: at(2.1) });
      expect(report.integrations_updated).toBe(1);
      expect((await local.store.integrations.due(at(26))).map((due) => due.id)).toEqual([old.id]);
    } finally {
      await local.close();
    }
  }, 60_000);
});
