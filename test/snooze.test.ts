import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCycle } from '../shared/cycle.ts';
import { DirectorySource } from '../shared/ingest/sources.ts';
import { createIntegration, patchIntegration } from '../shared/integration/ops.ts';
import type { EmbeddedDb } from '../shared/local/embedded-db.ts';
import type { Publisher } from '../shared/notify/publishers.ts';
import type { Notification } from '../shared/notify/render.ts';
import { createOrg } from '../shared/org/index.ts';
import { at, freshStore, SETTINGS, startTestDb, TEST_SECRET } from './helpers.ts';

/** A maintenance window: `snoozed_until` holds new alerts until then, and detection resumes by itself after. */
describe('snoozed_until', () => {
  let db: EmbeddedDb;
  let dir: string;
  beforeAll(async () => {
    db = await startTestDb();
    dir = await mkdtemp(join(tmpdir(), 'pullwatch-snooze-'));
  });
  afterAll(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('holds the offline issue while snoozed and opens it, with its true opened_at, when the snooze ends', async () => {
    const store = await freshStore(db);
    const sent: Notification[] = [];
    const publisher: Publisher = {
      publish: async (notification) => {
        sent.push(notification);
        return `m-${sent.length}`;
      },
    };
    const org = await createOrg(store, 'Acme', at(0));
    const { integration } = await createIntegration(
      store,
      TEST_SECRET,
      org.id,
      { name: 'Edge', kind: 'firewall' },
      at(0),
    );
    await writeFile(
      join(dir, 'pulls.jsonl'),
      `${JSON.stringify({ time: at(1), integration_id: integration.id, method: 'GET', status: 200 })}\n`,
    );
    const cycle = (hours: number) =>
      runCycle({
        store,
        source: new DirectorySource(dir),
        publisher,
        now: at(hours),
        ...SETTINGS,
        staleAfterSeconds: 0,
      });
    await cycle(2);

    await patchIntegration(store, org.id, integration.id, { snoozed_until: at(30) }, at(3));
    const during = await cycle(26);
    expect(during.rules?.opened).toEqual([]);
    expect(sent).toEqual([]);
    expect((await store.getIntegration(org.id, integration.id))?.snoozed_until).toBe(at(30));

    const after = await cycle(30.1);
    expect(after.rules?.opened).toEqual([
      expect.objectContaining({ integration_id: integration.id, type: 'fw_integration_offline', at: at(25) }),
    ]);
    expect(sent.map((notification) => notification.event)).toEqual(['issue_opened']);
  });

  it('refuses a snooze in the past or more than 30 days ahead, and changes nothing', async () => {
    const store = await freshStore(db);
    const org = await createOrg(store, 'Acme', at(0));
    const { integration } = await createIntegration(
      store,
      TEST_SECRET,
      org.id,
      { name: 'Edge', kind: 'firewall' },
      at(0),
    );
    for (const until of [at(-1), at(24 * 31), 'tomorrow']) {
      await expect(
        patchIntegration(store, org.id, integration.id, { snoozed_until: until }, at(1)),
      ).rejects.toThrow(/snoozed_until/);
    }
    const stored = await store.getIntegration(org.id, integration.id);
    expect(stored?.snoozed_until).toBeNull();
    expect(stored?.version).toBe(integration.version);
  });
});
