import { describe, expect, it } from 'vitest';
import { ChatNotificationSchema } from '../shared/notify/chat.ts';
import { previewNotification, previewOf } from '../shared/notify/preview.ts';
import { useTestDb } from './kit/db.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { readOutbox } from './kit/publishers.ts';
import { at } from './kit/time.ts';
import { addIntegration, cycle, world } from './kit/world.ts';

useTestDb();
useTempDirs();

/** `pullwatch notify preview`: an issue's latest notification in its three forms, exactly as it went out. */
describe('notify preview', () => {
  it("shows the issue's opening, then its latest reminder, then its resolution, each as the outbox got it", async () => {
    const w = await world({ staleAfterSeconds: 0, reminderSeconds: 6 * 3600 });
    const fw = await addIntegration(w, { name: 'HQ FortiGate', kind: 'firewall', vendor: 'fortigate' });
    await drop(w, [pull(fw.id, at(1))]);
    await cycle(w, at(2));
    await cycle(w, at(26));
    const [issue] = (await w.store.issues.list(w.orgId, { limit: 10 })).items;
    if (!issue) throw new Error('expected an issue');

    const asSent = async (index: number) => {
      const line = (await readOutbox(w.outbox))[index];
      if (!line) throw new Error(`no outbox line ${index}`);
      return { event: line.event, subject: line.subject, email: line.email, sms: line.sms, chat: line.chat };
    };
    const preview = async (now: string) => {
      const shown = await previewNotification(w.store, w.orgId, issue.id, now);
      if (!shown) throw new Error('expected a preview');
      ChatNotificationSchema.parse(shown.chat);
      const { event, subject, email, sms, chat } = shown;
      return { sentAt: shown.sent_at, form: { event, subject, email, sms, chat } };
    };

    expect(await preview(at(27))).toEqual({ sentAt: at(26), form: await asSent(0) });

    await cycle(w, at(32.5));
    expect((await readOutbox(w.outbox)).map((line) => line.event)).toEqual([
      'issue_opened',
      'issue_reminder',
    ]);
    // Asked later, it is still the reminder as sent ("N ago" counted to when it went out).
    expect(await preview(at(35))).toEqual({ sentAt: at(32.5), form: await asSent(1) });

    await drop(w, [pull(fw.id, at(36))]);
    await cycle(w, at(36.5));
    const resolved = await preview(at(40));
    expect(resolved).toEqual({ sentAt: at(36.5), form: await asSent(2) });
    expect(resolved.form.chat).toMatchObject({ metadata: { threadId: `pullwatch-${issue.id}` } });
  });

  it('renders an opening not sent yet as it would go out now, and finds no issue of another organization', async () => {
    const w = await world({ staleAfterSeconds: 0 });
    const fw = await addIntegration(w, { name: 'edge', kind: 'firewall' });
    await drop(w, [pull(fw.id, at(1))]);
    await cycle(w, at(2));
    await cycle(w, at(26));
    const [issue] = (await w.store.issues.list(w.orgId, { limit: 10 })).items;
    if (!issue) throw new Error('expected an issue');
    // The same issue as it was before its opening went out.
    const unsent = { ...issue, notified: {} };
    const shown = previewOf(unsent, at(27), 'https://console.example');
    expect(shown).toMatchObject({ event: 'issue_opened', sent_at: null });
    expect(shown.email).toContain(`https://console.example/issues/${issue.id}`);

    expect(await previewNotification(w.store, 'org_00000000000000ff', issue.id, at(27))).toBeNull();
  });
});
