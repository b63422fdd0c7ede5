import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Integration } from '../shared/integration/index.ts';
import { DIAGNOSIS_CODES } from '../shared/issue/diagnosis.ts';
import { type Issue, pipelineIssue } from '../shared/issue/index.ts';
import { CRITICALITIES, criticalityOf, ISSUE_TYPES } from '../shared/issue/types.ts';
import {
  CHAT_LIMITS,
  CHAT_MARK,
  type ChatNotification,
  ChatNotificationSchema,
} from '../shared/notify/chat.ts';
import { renderDigest, renderNotification } from '../shared/notify/render.ts';
import {
  CHAT_DESCRIPTION_MAX_BYTES,
  publishBytes,
  SNS_PUBLISH_BUDGET_BYTES,
} from '../shared/notify/sns-size.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { offlineIssueFor } from './kit/checks.ts';
import { pulledFortiGate } from './kit/fortigate.ts';
import { at } from './kit/time.ts';

const integration = pulledFortiGate;

function offlineIssue(overrides: Partial<Integration> = {}): Issue {
  const issue = offlineIssueFor(integration(overrides), at(30));
  if (!issue) throw new Error('expected the integration to be offline');
  return issue;
}

const resolved = (issue: Issue, at: Iso): Issue => ({
  ...issue,
  state: 'resolved',
  resolved_at: at,
  resolution: 'pull_resumed',
});

/** Every string a chat client shows of a chat form. */
const shown = (chat: ChatNotification) => [
  chat.content.title,
  chat.content.description,
  ...(chat.content.nextSteps ?? []),
  ...(chat.content.keywords ?? []),
  chat.metadata?.summary ?? '',
];

/** Names that try to break out: chat mentions and links, markdown, line breaks, long text, emoji. */
const anyName = fc.oneof(
  fc.string({ unit: 'binary', minLength: 0, maxLength: 400 }),
  fc.string({
    unit: fc.constantFrom('"', '\\', '\n', '\u0001', '\ud800', '\udfff', '中', '🔥'),
    maxLength: 400,
  }),
  fc.constantFrom(
    '<!channel> core-fw',
    '<@U012AB3CD> *bold* _it_ ~gone~',
    '`rm -rf` ```block```',
    '<at>Everyone</at>',
    '[click](https://evil.example)',
    'line\nbreak\r\n and\ttab',
    'Zürich 東京 🔥 "fw"',
    'x'.repeat(5000),
  ),
);

const anyIssue = fc
  .record({
    name: anyName,
    type: fc.constantFrom(...ISSUE_TYPES),
    code: fc.constantFrom(...DIAGNOSIS_CODES),
    downSeconds: fc.integer({ min: 0, max: 400 * 86_400 }),
  })
  .map(({ name, type, code, downSeconds }) => {
    const base: Issue =
      type === 'pipeline_stale'
        ? pipelineIssue(at(1), 7200, 0, at(30))
        : ({ ...offlineIssue({ name }), type } as Issue);
    const issue = {
      ...base,
      criticality: criticalityOf(type),
      diagnosis: { ...base.diagnosis, code },
    } as Issue;
    return { issue, resolvedAt: addSeconds(issue.opened_at, downSeconds) };
  });

describe('the chat form against the documented custom-notification schema', () => {
  it('every event of every issue type is a valid custom notification within the limits', () => {
    fc.assert(
      fc.property(anyIssue, ({ issue, resolvedAt }) => {
        for (const [subject, event] of [
          [issue, 'issue_opened'],
          [issue, 'issue_reminder'],
          [resolved(issue, resolvedAt), 'issue_resolved'],
        ] as const) {
          const { chat } = renderNotification(subject, event, {
            now: resolvedAt,
            consoleUrl: 'https://c.example',
          });
          expect(ChatNotificationSchema.parse(chat)).toEqual(chat);
          expect(chat.content.title).not.toMatch(/[\n\r]/);
          for (const text of shown(chat)) expect(text).not.toContain('<');
          expect(chat.metadata?.threadId).toBe(`pullwatch-${issue.id}`);
          expect(chat.metadata?.eventType).toBe(event);
        }
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['a version other than 1.0', (c: ChatNotification) => ({ ...c, version: '2.0' })],
    ['a source other than custom', (c: ChatNotification) => ({ ...c, source: 'aws.health' })],
    [
      'a text type other than client-markdown',
      (c: ChatNotification) => ({ ...c, content: { ...c.content, textType: 'plain' } }),
    ],
    ['no description', (c: ChatNotification) => ({ ...c, content: { ...c.content, description: '' } })],
    [
      'a title over the cap',
      (c: ChatNotification) => ({ ...c, content: { ...c.content, title: 't'.repeat(251) } }),
    ],
    [
      'a description over the cap',
      (c: ChatNotification) => ({ ...c, content: { ...c.content, description: 'd'.repeat(3001) } }),
    ],
    [
      'a field the schema does not have',
      (c: ChatNotification) => ({ ...c, content: { ...c.content, body: 'x' } }),
    ],
    [
      'a thread id with spaces',
      (c: ChatNotification) => ({ ...c, metadata: { ...c.metadata, threadId: 'a b' } }),
    ],
    [
      'a non-string context value',
      (c: ChatNotification) => ({ ...c, metadata: { ...c.metadata, additionalContext: { n: 1 } } }),
    ],
  ])('the schema refuses %s', (_, spoil) => {
    const { chat } = renderNotification(offlineIssue(), 'issue_opened', { now: at(30) });
    expect(ChatNotificationSchema.safeParse(chat).success).toBe(true);
    expect(ChatNotificationSchema.safeParse(spoil(chat)).success).toBe(false);
  });

  it('has a title mark for every criticality', () => {
    expect(Object.keys(CHAT_MARK).sort()).toEqual([...CRITICALITIES].sort());
  });
});

describe('what the chat form says', () => {
  it('an opening: criticality and who in the title, diagnosis and last pull in the description, the steps next', () => {
    const issue = offlineIssue({ name: 'HQ FortiGate' });
    const { chat, subject } = renderNotification(issue, 'issue_opened', {
      now: at(30),
      consoleUrl: 'https://console.example/',
    });

    expect(chat.content.title).toBe('🔴 CRITICAL: Firewall Integration Offline: firewall `HQ FortiGate`');
    expect(chat.content.description).toContain(issue.diagnosis.summary);
    expect(chat.content.description).toContain('Last successful pull: 2026-11-20 01:00 UTC');
    expect(chat.content.nextSteps).toEqual([
      ...issue.diagnosis.steps,
      `Details: https://console.example/issues/${issue.id}`,
    ]);
    expect(chat.content.keywords).toEqual(['critical', 'fw_integration_offline', issue.diagnosis.code]);
    expect(chat.metadata?.summary).toBe(subject.replace('[pullwatch] ', ''));
    expect(chat.metadata?.additionalContext).toMatchObject({
      org_id: issue.org_id,
      issue_id: issue.id,
      criticality: 'critical',
      integration_id: 'int_0123456789abcdef',
    });
  });

  it("puts an issue's opening, reminders and resolution in one thread, each with its own id", () => {
    const issue = offlineIssue();
    const other = { ...offlineIssue(), id: `${offlineIssue().id}x` };
    const forms = [
      renderNotification(issue, 'issue_opened', { now: at(30) }).chat,
      renderNotification(issue, 'issue_reminder', { now: at(54) }).chat,
      renderNotification(issue, 'issue_reminder', { now: at(78) }).chat,
      renderNotification(resolved(issue, at(80)), 'issue_resolved', { now: at(80) }).chat,
    ];
    expect(new Set(forms.map((chat) => chat.metadata?.threadId)).size).toBe(1);
    expect(new Set(forms.map((chat) => chat.id)).size).toBe(4);
    expect(renderNotification(other, 'issue_opened', { now: at(30) }).chat.metadata?.threadId).not.toBe(
      forms[0]?.metadata?.threadId,
    );
    expect(forms[3]?.content.title).toBe(
      '✅ RESOLVED: Firewall Integration Offline: firewall `Edge FortiGate`',
    );
    expect(forms[3]?.content.description).toContain('Offline for: 2 d 7 h');
    expect(forms[1]?.content.title).toContain('STILL OPEN (critical)');
  });

  it('keeps a name from becoming chat markup: no mention, no link, no formatting', () => {
    const issue = offlineIssue({ name: '<!channel> `x` *b*' });
    const { chat } = renderNotification(issue, 'issue_opened', { now: at(30) });
    expect(chat.content.title).toContain("firewall `‹!channel> 'x' *b*`");
    expect(JSON.stringify(chat)).not.toContain('<!channel>');
  });
});

describe('the chat form in the SNS message', () => {
  it('adds at most CHAT_DESCRIPTION_MAX_BYTES for its description, whatever the names hold', () => {
    const inMessage = (description: string) =>
      Buffer.byteLength(JSON.stringify(JSON.stringify({ description })), 'utf8') -
      Buffer.byteLength(JSON.stringify(JSON.stringify({ description: '' })), 'utf8');
    fc.assert(
      fc.property(fc.array(anyName, { minLength: 1, maxLength: 40 }), (names) => {
        const groups = names.map((name, n) => [
          { issue: { ...offlineIssue({ name }), id: `iss_${n}` }, event: 'issue_opened' as const },
        ]);
        for (const { notification } of renderDigest('org_0123456789abcdef', groups, { now: at(30) })) {
          expect(inMessage(notification.chat.content.description)).toBeLessThanOrEqual(
            CHAT_DESCRIPTION_MAX_BYTES,
          );
        }
        const single = renderNotification(groups[0]?.[0]?.issue as Issue, 'issue_opened', { now: at(30) });
        expect(inMessage(single.chat.content.description)).toBeLessThanOrEqual(CHAT_DESCRIPTION_MAX_BYTES);
      }),
      { numRuns: 100 },
    );
    // The costliest names: lone surrogates (7 bytes each if they got through), quotes, backslashes.
    for (const unit of ['\ud800', '\udfff', '"', '\\', '\u0001']) {
      const groups = Array.from({ length: 40 }, (_, n) => [
        {
          issue: { ...offlineIssue({ name: unit.repeat(400) }), id: `iss_${n}` },
          event: 'issue_opened' as const,
        },
      ]);
      const [part] = renderDigest('org_0123456789abcdef', groups, { now: at(30) });
      expect(inMessage(part?.notification.chat.content.description ?? '')).toBeLessThanOrEqual(
        CHAT_DESCRIPTION_MAX_BYTES,
      );
    }
    // The bound is reached: a description of quotes only.
    expect(inMessage('"'.repeat(CHAT_LIMITS.description))).toBe(CHAT_DESCRIPTION_MAX_BYTES);
  });
});

describe('a storm digest in chat', () => {
  const groups = (count: number) =>
    Array.from({ length: count }, (_, n) => [
      {
        issue: offlineIssue({ id: `int_${String(n).padStart(16, '0')}`, name: `Zürich "fw" <${n}>` }),
        event: 'issue_opened' as const,
      },
    ]);

  it('is one message listing its issues, with no thread', () => {
    const [only, ...rest] = renderDigest('org_0123456789abcdef', groups(12), { now: at(30) });
    expect(rest).toEqual([]);
    const chat = only?.notification.chat as ChatNotification;
    expect(ChatNotificationSchema.parse(chat)).toEqual(chat);
    expect(chat.metadata?.threadId).toBeUndefined();
    expect(chat.content.title).toBe('🔴 12 notifications: 12 opened (12 critical), 0 resolved, 0 still open');
    for (let n = 0; n < 12; n += 1)
      expect(chat.content.description).toContain(`int_${String(n).padStart(16, '0')}`);
  });

  it('stays within the chat limits and SNS budget however many issues, counting those it cannot list', () => {
    const parts = renderDigest('org_0123456789abcdef', groups(3000), { now: at(30) });
    for (const { notification, groups: listed } of parts) {
      const chat = ChatNotificationSchema.parse(notification.chat);
      expect(publishBytes(notification)).toBeLessThanOrEqual(SNS_PUBLISH_BUDGET_BYTES);
      expect(chat.content.description.length).toBeLessThanOrEqual(CHAT_LIMITS.description);
      const [, more] = chat.content.description.match(/\.\.\. and (\d+) more/) ?? [];
      const shownLines = chat.content.description.split('\n').filter((line) => line.startsWith('🔴')).length;
      expect(shownLines + Number(more)).toBe(listed.length);
    }
  });
});
