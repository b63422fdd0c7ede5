import { describe, expect, it } from 'vitest';
import { patchIntegration } from '../shared/integration/ops.ts';
import { useTestDb } from './kit/db.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { at } from './kit/time.ts';
import { addIntegration, cycle, world } from './kit/world.ts';

useTestDb();
useTempDirs();

/** A maintenance window: `snoozed_until` holds new alerts until then, and detection resumes by itself after. */
describe('snoozed_until', () => {
  it('holds the offline issue while snoozed and opens it, with its true opened_at, when the snooze ends', async () => {
    const w = await world({ staleAfterSeconds: 0 });
    const integration = await addIntegration(w, { name: 'Edge', kind: 'firewall' }, { now: at(0) });
    await drop(w, [pull(integration.id, at(1))]);
    await cycle(w, at(2));

    await patchIntegration(w.store, w.orgId, integration.id, { snoozed_until: at(30) }, at(3));
    const during = await cycle(w, at(26));
    expect(during.rules?.opened).toEqual([]);
    expect(w.sent).toEqual([]);
    expect((await w.store.integrations.get(w.orgId, integration.id))?.snoozed_until).toBe(at(30));

    const after = await cycle(w, at(30.1));
    expect(after.rules?.opened).toEqual([
      expect.objectContaining({ integration_id: integration.id, type: 'fw_integration_offline', at: at(25) }),
    ]);
    expect(w.sent.map((notification) => notification.event)).toEqual(['issue_opened']);
  });

  it('refuses a snooze in the past or more than 30 days ahead, and changes nothing', async () => {
    const w = await world();
    const integration = await addIntegration(w, { name: 'Edge', kind: 'firewall' }, { now: at(0) });
    for (const until of [at(-1), at(24 * 31), 'tomorrow']) {
      await expect(
        patchIntegration(w.store, w.orgId, integration.id, { snoozed_until: until }, at(1)),
      ).rejects.toThrow(/snoozed_until/);
    }
    const stored = await w.store.integrations.get(w.orgId, integration.id);
    expect(stored?.snoozed_until).toBeNull();
    expect(stored?.version).toBe(integration.version);
  });
});
