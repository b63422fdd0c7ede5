import { describe, expect, it } from 'vitest';
import { ChatNotificationSchema } from '../shared/notify/chat.ts';
import { runNotify } from '../shared/notify/index.ts';
import { renderNotification } from '../shared/notify/render.ts';
import { runRules } from '../shared/rules/index.ts';
import { create, expectProblem, newTenant, recordPull, useApiFile } from './api-kit.ts';
import { recorder } from './kit/publishers.ts';
import { at } from './kit/time.ts';
import { SETTINGS } from './kit/world.ts';

const api = useApiFile();

/** GET /v1/issues/{id}/notification: what the console's issue view shows of the messages. */
describe('GET /v1/issues/{id}/notification', () => {
  async function openIssue(consoleUrl?: string) {
    const w = await api.world(consoleUrl ? { consoleUrl } : {});
    const fw = await create(w, { name: 'HQ <PA-440>', offline_after_seconds: 3600 });
    await recordPull(w.store, w.tenant.orgId, fw.id, at(0.5));
    await runRules({ store: w.store, now: at(2), ...SETTINGS, staleAfterSeconds: 0 });
    const [issue] = (await w.store.issues.list(w.tenant.orgId, { limit: 10 })).items;
    if (!issue) throw new Error('expected an issue');
    return { w, issue };
  }

  it('shows a due opening as it would go out now, in its three forms', async () => {
    const { w, issue } = await openIssue('https://console.example');
    w.clock = at(2.5);
    const reply = await w.call('GET', `/v1/issues/${issue.id}/notification`, { key: w.tenant.readKey });
    expect(reply.status, reply.text).toBe(200);
    const expected = renderNotification(issue, 'issue_opened', {
      now: at(2.5),
      consoleUrl: 'https://console.example',
    });
    expect(reply.body).toEqual({
      issue_id: issue.id,
      event: 'issue_opened',
      sent_at: null,
      subject: expected.subject,
      email: expected.email,
      sms: expected.sms,
      chat: expected.chat,
    });
    expect(reply.body.email).toContain(`https://console.example/issues/${issue.id}`);
    expect(ChatNotificationSchema.parse(reply.body.chat).content.title).toContain('`HQ ‹PA-440>`');
  });

  it('shows the message as sent once it went out', async () => {
    const { w, issue } = await openIssue();
    const { publisher, sent } = recorder();
    await runNotify({ store: w.store, publisher, now: at(2.2), reminderSeconds: 0 });
    expect(sent).toHaveLength(1);
    w.clock = at(9);
    const reply = await w.call('GET', `/v1/issues/${issue.id}/notification`, { key: w.tenant.readKey });
    expect(reply.body).toMatchObject({ event: 'issue_opened', sent_at: at(2.2), email: sent[0]?.email });
    expect(reply.body.chat).toEqual(sent[0]?.chat);
  });

  it("answers 404 for another organization's issue, as for a missing one", async () => {
    const { w, issue } = await openIssue();
    const other = await newTenant(w.store);
    expectProblem(await w.call('GET', `/v1/issues/${issue.id}/notification`, { key: other.readKey }), 404);
    expectProblem(await w.call('GET', '/v1/issues/iss_missing/notification', { key: w.tenant.readKey }), 404);
  });
});
