import { describe, expect, it } from 'vitest';
import { ChatNotificationSchema } from '../shared/notify/chat.ts';
import { SNS_PUBLISH_LIMIT_BYTES } from '../shared/notify/sns-size.ts';
import { useTestDb } from './kit/db.ts';
import { useTempDirs } from './kit/files.ts';
import { messageAttributes, messageOf, publishSize, snsPublisher, useSnsEndpoint } from './kit/sns.ts';
import { at } from './kit/time.ts';
import { addIntegration, cycle, world } from './kit/world.ts';

useTestDb();
useTempDirs();
const sns = useSnsEndpoint();

/**
 * A large outage through the real SNS client, against an endpoint that refuses what SNS refuses (more than
 * 256 KiB with every key): the digest is split into parts that each fit, and every issue is announced once.
 */
describe('an 800-integration outage published to SNS', () => {
  it('splits the digest into parts under 256 KiB, announcing every issue exactly once', {
    timeout: 120_000,
  }, async () => {
    const w = await world({ staleAfterSeconds: 0 });
    const ids: string[] = [];
    for (let batch = 0; batch < 800; batch += 50) {
      const made = await Promise.all(
        Array.from({ length: 50 }, (_, k) =>
          // Long names, with characters that take 2-4 bytes in UTF-8 and escapes in JSON.
          addIntegration(w, { name: `Pare-feu "siège" Zürich 東京 🔥 n°${batch + k} ${'x'.repeat(40)}` }),
        ),
      );
      ids.push(...made.map((integration) => integration.id));
    }

    const report = await cycle(w, at(30), { publisher: snsPublisher(sns.endpoint) });

    expect(sns.oversize).toEqual([]);
    expect(report.notify?.failed).toEqual([]);
    const parts = sns.requests.filter((request) => request.get('Action') === 'Publish');
    expect(parts.length).toBeGreaterThan(1);
    const sizes = parts.map(publishSize);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(SNS_PUBLISH_LIMIT_BYTES);
    // As few parts as fit: two neighbouring parts would not have fit in one.
    expect(Math.min(...sizes)).toBeGreaterThan(0);
    const emails = parts.map((request) => messageOf(request).email ?? '');
    for (const [index, request] of parts.entries()) {
      expect(messageAttributes(request).event?.value).toBe('issue_digest');
      expect(messageAttributes(request)['AWS.SNS.SMS.SMSType']?.value).toBe('Transactional');
      expect(request.get('Subject')).toContain(`(part ${index + 1} of ${parts.length})`);
      expect(emails[index]).toContain(`Part ${index + 1} of ${parts.length}: 800 pullwatch notifications`);
      expect(emails[index]).toContain('(800 issues)');
      expect(messageOf(request).sms).toContain(`part ${index + 1} of ${parts.length}`);
      // The chat form of each part is one message within its own caps, however many issues the part lists.
      const chat = ChatNotificationSchema.parse(JSON.parse(messageOf(request).https ?? 'null'));
      expect(chat.content.title).toContain(`(part ${index + 1} of ${parts.length})`);
      expect(chat.content.description).toMatch(/\.\.\. and \d+ more, listed in the email and the console\.$/);
    }
    const all = emails.join('\n');
    for (const id of ids) expect(all.split(`(${id})`).length - 1, id).toBe(1);
    expect(report.notify?.sent.reduce((total, sent) => total + sent.events, 0)).toBe(800);
    console.log(`800 issues: ${parts.length} parts, largest ${Math.max(...sizes)} bytes`);

    // Nothing is due any more: the next pass publishes nothing.
    const before = sns.requests.length;
    await cycle(w, at(30.1), { publisher: snsPublisher(sns.endpoint) });
    expect(sns.requests.length).toBe(before);
  });
});
