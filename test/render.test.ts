import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Integration } from '../shared/integration/index.ts';
import { DIAGNOSIS_CODES } from '../shared/issue/diagnosis.ts';
import {
  type IntegrationIssue,
  type Issue,
  issueFor,
  type NotificationEvent,
  pipelineIssue,
} from '../shared/issue/index.ts';
import { criticalityOf, ISSUE_TYPES } from '../shared/issue/types.ts';
import { gsm7Septets, SMS_PREFIX } from '../shared/notify/gsm7.ts';
import { type DigestGroup, renderDigest, renderNotification } from '../shared/notify/render.ts';
import { publishBytes, SNS_PUBLISH_BUDGET_BYTES } from '../shared/notify/sns-size.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { isGsm7Basic, offlineIssueFor } from './kit/checks.ts';
import { pulledFortiGate } from './kit/fortigate.ts';
import { at } from './kit/time.ts';

const EVENTS: NotificationEvent[] = ['issue_opened', 'issue_resolved'];
/** Line breaks (LF, CR, VT, FF, NEL, LS, PS) and C0/C1 control characters, by code point. */
const LINE_BREAKS = new Set([0x0a, 0x0d, 0x0b, 0x0c, 0x85, 0x2028, 0x2029]);
const hasLineBreak = (text: string) => [...text].some((char) => LINE_BREAKS.has(char.codePointAt(0) ?? 0));
const hasControl = (text: string) =>
  [...text].some((char) => {
    const code = char.codePointAt(0) ?? 0;
    return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
  });

const integration = pulledFortiGate;

/** The issue the offline rule opens for this integration at `now` (last pull at(1), 24 h threshold by default). */
function offlineIssue(overrides: Partial<Integration> = {}, now: Iso = at(30)): Issue {
  const issue = offlineIssueFor(integration(overrides), now);
  if (!issue) throw new Error('expected the integration to be offline');
  return issue;
}

const resolve = (issue: Issue, resolvedAt: Iso, resolution: Issue['resolution'] = 'pull_resumed'): Issue => ({
  ...issue,
  state: 'resolved',
  resolved_at: resolvedAt,
  resolution,
});

const render = (issue: Issue, event: NotificationEvent) => renderNotification(issue, event, { now: at(60) });

// ---- arbitraries ---------------------------------------------------------------------------------

/** Characters that tend to break single-line, single-segment texts. */
const NASTY = [
  '\n',
  '\r',
  '\r\n',
  '\t',
  '\u0000',
  '\u0007',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u2028',
  '\u2029',
  '\u200b',
  '\u200e',
  '\ufeff',
  '\ud800',
  '\udfff',
  '🔥',
  '👩‍👩‍👧',
  '🇫🇷',
  'é',
  'è',
  'ç',
  'Ç',
  'ñ',
  'ß',
  'ø',
  'Å',
  'Ω',
  'Ж',
  '中',
  'ﬁ',
  'e\u0301',
  '€',
  '[',
  ']',
  '{',
  '}',
  '~',
  '|',
  '\\',
  '^',
  '`',
  '"',
  '…',
  '—',
  '“',
];

const nameUnit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
);

/** Any integration name: unicode, emoji, control characters, line breaks, 0 to 300 units long. */
const anyName = fc.string({ unit: nameUnit, minLength: 0, maxLength: 300, size: 'max' });

/** Any issue the renderer may be handed: every type, diagnosis, date and outage length. */
const anyIssue = fc
  .record({
    name: anyName,
    type: fc.constantFrom(...ISSUE_TYPES),
    code: fc.constantFrom(...DIAGNOSIS_CODES),
    openedAt: fc.date({
      min: new Date('2020-01-01T00:00:00Z'),
      max: new Date('2099-12-31T00:00:00Z'),
      noInvalidDate: true,
    }),
    downSeconds: fc.integer({ min: 0, max: 400 * 86_400 }),
    resolution: fc.constantFrom<Issue['resolution']>('pull_resumed', 'paused', 'deleted'),
  })
  .map(({ name, type, code, openedAt, downSeconds, resolution }) => {
    const openedIso = openedAt.toISOString();
    // The feed's issue has no integration (and so no name); every other type is one integration's.
    const base: Issue =
      type === 'pipeline_stale'
        ? pipelineIssue(at(1), 7200, 0, at(30))
        : ({ ...offlineIssue({ name }), type } as Issue);
    return {
      name,
      opened: {
        ...base,
        criticality: criticalityOf(type),
        opened_at: openedIso,
        diagnosis: { ...base.diagnosis, code },
      } as Issue,
      resolvedAt: addSeconds(openedIso, downSeconds),
      resolution,
    };
  });

const PROPERTY_RUNS = { numRuns: 500 };

// ---- properties ----------------------------------------------------------------------------------

describe('rendered texts, whatever the integration is called', () => {
  it('every SMS fits one GSM-7 segment as delivered: "pullwatch> " + text at most 160 characters, all GSM-7', () => {
    expect(SMS_PREFIX).toBe('pullwatch> ');
    fc.assert(
      fc.property(anyIssue, ({ opened, resolvedAt, resolution }) => {
        for (const [issue, event] of [
          [opened, 'issue_opened'],
          [opened, 'issue_reminder'],
          [resolve(opened, resolvedAt, resolution), 'issue_resolved'],
        ] as const) {
          const { sms } = renderNotification(issue, event, { now: resolvedAt });
          // GSM-7 throughout; a `~` of the fixed words (extension table) counts two septets.
          expect(gsm7Septets(SMS_PREFIX + sms)).not.toBeNull();
          expect(gsm7Septets(SMS_PREFIX + sms)).toBeLessThanOrEqual(160);
        }
      }),
      PROPERTY_RUNS,
    );
  });

  it('every subject is one line without control characters', () => {
    fc.assert(
      fc.property(anyIssue, ({ opened, resolvedAt }) => {
        for (const [issue, event] of [
          [opened, 'issue_opened'],
          [resolve(opened, resolvedAt), 'issue_resolved'],
        ] as const) {
          const { subject } = render(issue, event);
          expect(hasLineBreak(subject)).toBe(false);
          expect(hasControl(subject)).toBe(false);
          expect(subject.length).toBeGreaterThan(0);
        }
      }),
      PROPERTY_RUNS,
    );
  });

  it('every subject is under 100 characters (counted as JavaScript and SNS count them: UTF-16 units)', () => {
    fc.assert(
      fc.property(anyIssue, ({ opened, resolvedAt }) => {
        for (const [issue, event] of [
          [opened, 'issue_opened'],
          [resolve(opened, resolvedAt), 'issue_resolved'],
        ] as const) {
          expect(render(issue, event).subject.length).toBeLessThan(100);
        }
      }),
      PROPERTY_RUNS,
    );
  });

  it('every SMS and subject names the integration when its name is short plain text', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9._-]{1,8}( [A-Za-z0-9._-]{1,8}){0,2}$/),
        fc.constantFrom(...EVENTS),
        (name, event) => {
          const opened = offlineIssue({ name });
          const issue = event === 'issue_opened' ? opened : resolve(opened, at(40));
          const { sms, subject } = render(issue, event);
          expect(sms).toContain(`"${name}"`);
          expect(subject).toContain(name);
        },
      ),
      PROPERTY_RUNS,
    );
  });
});

// ---- pinned examples -----------------------------------------------------------------------------

describe('issue types read from one table', () => {
  it('the pull-log feed issue names no integration: its own subject, SMS and email', () => {
    const feed = pipelineIssue(at(1), 7200, 0, at(4));
    const opened = render(feed, 'issue_opened');
    expect(opened.subject).toBe('[pullwatch] CRITICAL: Pull Logs Stopped Arriving');
    expect(opened.sms).toBe(
      'CRITICAL: no pull-log record since 2026-11-20 01:00 UTC; offline alerts on hold.',
    );
    expect(opened.email).toContain(`Newest log record:    ${at(1)}`);
    expect(opened.email).not.toMatch(/firewall|"/);
    const resolved = render(resolve(feed, at(5)), 'issue_resolved');
    expect(resolved.subject).toBe('[pullwatch] RESOLVED: Pull Logs Stopped Arriving');
    expect(resolved.sms).toBe('RESOLVED: pull logs flow again after 2 h; offline detection resumed.');
  });

  it('a remediation component whose credentials are rejected is called a remediation component', () => {
    const bouncer = issueFor(
      integration({
        kind: 'remediation_component',
        name: 'nginx-bouncer',
        rejections: [at(2), at(2.1), at(2.3)],
      }),
      'integration_auth_failing',
      at(3),
    );
    if (!bouncer) throw new Error('expected the early warning');
    const { sms, subject } = render(bouncer, 'issue_opened');
    expect(subject).toBe('[pullwatch] HIGH: Integration Credentials Rejected: nginx-bouncer');
    expect(sms).toContain(
      'remediation component "nginx-bouncer" credentials rejected since 2026-11-20 02:18 UTC',
    );
  });
});

describe('rendered texts, pinned examples', () => {
  it.each([
    { name: 'Pare-feu Siège Café', sms: 'Pare-feu Siège Café' },
    { name: 'Müller Straße Ñandú', sms: 'Müller Straße Ñandu' },
    { name: 'Façade Øresund Å', sms: 'Facade Øresund Å' },
    { name: 'FW [DMZ] {core} ~1 | €', sms: 'FW (DMZ) (core) -1 / EUR' },
    { name: 'edge\nfw\r\n02', sms: 'edge fw 02' },
    { name: 'Zürich 🔥', sms: 'Zürich ?' },
  ])('keeps what GSM-7 has and replaces the rest: $name', ({ name, sms }) => {
    for (const event of EVENTS) {
      const opened = offlineIssue({ name });
      const text = render(event === 'issue_opened' ? opened : resolve(opened, at(40)), event).sms;
      expect(text).toContain(`"${sms}"`);
      expect(isGsm7Basic(text)).toBe(true);
    }
  });

  it.each([
    { name: "a$'b", sms: "a$'b" },
    { name: 'fw $` x', sms: 'fw $? x' },
    { name: '$&', sms: '$&' },
    { name: 'cost $$5', sms: 'cost $$5' },
  ])('puts a name with dollar signs in the texts as written: $name', ({ name, sms }) => {
    for (const event of EVENTS) {
      const opened = offlineIssue({ name });
      const notification = render(event === 'issue_opened' ? opened : resolve(opened, at(40)), event);
      expect(notification.sms).toContain(`"${sms}"`);
      expect(notification.sms.length).toBeLessThanOrEqual(160);
      expect(isGsm7Basic(notification.sms)).toBe(true);
      expect(notification.subject.endsWith(`: ${name}`)).toBe(true);
      expect(notification.subject.length).toBeLessThan(100);
    }
  });

  it('keeps the original accents and emoji in the subject and the email, on one line', () => {
    const notification = render(offlineIssue({ name: 'Siège 🔥\nDMZ' }), 'issue_opened');
    expect(notification.subject).toBe('[pullwatch] CRITICAL: Firewall Integration Offline: Siège 🔥 DMZ');
    expect(notification.email).toContain('"Siège 🔥 DMZ"');
  });

  it('keeps at least 20 characters of a long name in every SMS, even the longest reminder', () => {
    const name = 'Remediation bouncer on the Frankfurt edge cluster number 7';
    for (const kind of ['firewall', 'remediation_component'] as const)
      for (const code of DIAGNOSIS_CODES) {
        const base = offlineIssue({ kind, name, last_pull_at: '2026-11-20T00:00:00.000Z' });
        for (const type of ISSUE_TYPES.filter((t) => t !== 'pipeline_stale')) {
          const issue = { ...base, type, diagnosis: { ...base.diagnosis, code } } as Issue;
          for (const event of ['issue_opened', 'issue_reminder', 'issue_resolved'] as const) {
            const target = event === 'issue_resolved' ? resolve(issue, at(9000), 'paused') : issue;
            const { sms } = renderNotification(target, event, { now: at(9000) });
            expect(sms, sms).toContain(`"${name.slice(0, 20)}`);
            expect((SMS_PREFIX + sms).length).toBeLessThanOrEqual(160);
          }
        }
      }
  });

  it('clips a 300-character name so the SMS is exactly one segment and the subject stays under 100', () => {
    const opened = offlineIssue({ name: 'x'.repeat(300) });
    for (const event of EVENTS) {
      const { sms, subject } = render(event === 'issue_opened' ? opened : resolve(opened, at(40)), event);
      expect(sms.length).toBeLessThanOrEqual(160);
      expect(sms).toContain('x...');
      expect(subject.length).toBeLessThan(100);
      expect(subject.endsWith('x...')).toBe(true);
    }
  });

  it('gives a subject under 100 characters for a name made of emoji', () => {
    const opened = offlineIssue({ name: '🔥'.repeat(60) });
    for (const event of EVENTS) {
      const { subject } = render(event === 'issue_opened' ? opened : resolve(opened, at(40)), event);
      expect(subject.length).toBeLessThan(100);
    }
  });

  it('tells in the opened SMS the probable cause and never a wrong "not pulled since" time', () => {
    // Last good pull at 01:00 on the 20th; with a 24 h threshold it is offline from 01:00 on the 21st.
    const opened = offlineIssue({ last_pull_at: at(1), last_attempt_at: at(3), last_attempt_status: 401 });
    const { sms } = render(opened, 'issue_opened');

    expect(sms).toMatch(/credentials rejected/);
    const since = /not pulled since (\d{4}-\d\d-\d\d \d\d:\d\d) UTC/.exec(sms)?.[1];
    if (since !== undefined) expect(since).toBe('2026-11-20 01:00');
  });

  it('tells in the resolved SMS and email how long it was down', () => {
    const opened = offlineIssue({ last_pull_at: at(1) });
    const notification = render(resolve(opened, at(27.5)), 'issue_resolved');

    expect(opened.opened_at).toBe(at(25));
    expect(notification.sms).toContain('2 h 30 min');
    expect(notification.email).toContain('Offline for:   2 h 30 min');
    expect(notification.subject).toBe('[pullwatch] RESOLVED: Firewall Integration Offline: Edge FortiGate');
  });

  it.each(['paused', 'deleted'] as const)(
    'does not claim in the SMS that an integration %s by its owner "pulls again"',
    (resolution) => {
      const opened = offlineIssue({ last_pull_at: at(1) });
      const { sms, email } = render(resolve(opened, at(27), resolution), 'issue_resolved');

      expect(email).not.toContain('pulled its blocklist again');
      expect(sms).not.toContain('pulls again');
    },
  );

  it('names a remediation component as such, and carries the filter attributes', () => {
    const opened = offlineIssue({ kind: 'remediation_component', name: 'bouncer-01', last_pull_at: null });
    const notification = render(opened, 'issue_opened');

    expect(notification.sms).toMatch(/^CRITICAL: remediation component "bouncer-01"/);
    expect(notification.subject).toBe(
      '[pullwatch] CRITICAL: Remediation Component Integration Offline: bouncer-01',
    );
    expect(notification.attributes).toEqual({
      org_id: 'org_0123456789abcdef',
      issue_type: 'rc_integration_offline',
      criticality: 'critical',
      event: 'issue_opened',
    });
  });

  it('puts the full diagnosis in the opened email', () => {
    const opened = offlineIssue({ vendor: 'paloalto', last_attempt_at: at(5), last_attempt_status: 429 });
    const { email } = render(opened, 'issue_opened');

    expect(opened.diagnosis.code).toBe('rate_limited');
    expect(email).toContain(opened.diagnosis.summary);
    for (const step of opened.diagnosis.steps) expect(email).toContain(step);
    expect(email).toContain('Objects > External Dynamic Lists');
  });
});

// ---- sizes against SNS's publish limit ----------------------------------------------------------------

describe('every publish fits SNS: 256 KiB with every key', () => {
  const groups = (count: number) =>
    Array.from({ length: count }, (_, n) => [
      {
        issue: offlineIssue({ id: `int_${String(n).padStart(16, '0')}`, name: `Zürich 東京 🔥 "fw" ${n}` }),
        event: 'issue_opened' as const,
      },
    ]);

  it('splits a digest into as few parts as fit a budget, each naming its part and the totals', () => {
    const budget = 8000;
    const all = groups(120);
    const parts = renderDigest('org_0123456789abcdef', all, { now: at(30) }, budget);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.flatMap((part) => part.groups)).toEqual(all.map((_, index) => index));
    for (const [index, { notification }] of parts.entries()) {
      expect(publishBytes(notification)).toBeLessThanOrEqual(budget);
      expect(notification.subject).toContain(`(part ${index + 1} of ${parts.length})`);
      expect(notification.email).toContain(
        `Part ${index + 1} of ${parts.length}: 120 pullwatch notifications`,
      );
      expect(notification.email).toContain('(120 issues)');
      expect((SMS_PREFIX + notification.sms).length).toBeLessThanOrEqual(160);
    }
    // As few as fit: the next part's first group would not have fit in the part before it.
    for (let k = 0; k + 1 < parts.length; k += 1) {
      const [before, after] = [parts[k], parts[k + 1]];
      if (!before || !after) throw new Error('parts');
      const merged = renderDigest(
        'org_0123456789abcdef',
        [...before.groups, after.groups[0] as number].map((index) => all[index] as DigestGroup),
        { now: at(30) },
        budget,
      );
      expect(merged.length).toBeGreaterThan(1);
    }
  });

  it('keeps a small digest in one message, worded as before', () => {
    const [only, ...rest] = renderDigest('org_0123456789abcdef', groups(11), { now: at(30) });
    expect(rest).toEqual([]);
    expect(only?.notification.subject).not.toContain('part');
    expect(only?.notification.email).toContain('They are listed here in one message');
  });

  it('cuts an email that would not fit, and says so', () => {
    const huge = offlineIssue();
    const steps = Array.from({ length: 200 }, () => 'é'.repeat(1000));
    const notification = renderNotification(
      { ...huge, diagnosis: { ...huge.diagnosis, steps } },
      'issue_opened',
      { now: at(30) },
    );
    expect(publishBytes(notification)).toBeLessThanOrEqual(SNS_PUBLISH_BUDGET_BYTES);
    expect(notification.email).toContain('too long for SNS');
  });
});

describe('a shared outage in one message', () => {
  const groupIssue = (index: number, group: NonNullable<Issue['diagnosis']['group']>): Issue => {
    const issue = offlineIssueFor(integration({ id: `int_${String(index).padStart(16, '0')}` }), at(30));
    if (!issue) throw new Error('no offline issue');
    return { ...issue, diagnosis: { ...issue.diagnosis, code: 'shared_outage', group } };
  };

  it('keeps the SMS in one GSM-7 segment with what to check, whatever the engine is called and however many', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('engine' as const, 'organization' as const),
        fc.string({ maxLength: 120 }),
        fc.integer({ min: 2, max: 99_999 }),
        fc.integer({ min: 0, max: 99_999 }),
        (scope, engine, silent, extra) => {
          const group = {
            key: `k#${at(5)}`,
            scope,
            engine: scope === 'engine' ? engine : null,
            silent,
            of: silent + extra,
            since: at(5),
          };
          const [part] = renderDigest(
            'org_0123456789abcdef',
            [0, 1].map((n) => [{ issue: groupIssue(n, group), event: 'issue_opened' as const }]),
            { now: at(30) },
          );
          const sms = part?.notification.sms ?? '';
          expect((SMS_PREFIX + sms).length).toBeLessThanOrEqual(160);
          expect(isGsm7Basic(SMS_PREFIX + sms)).toBe(true);
          expect(sms).toContain(
            scope === 'engine'
              ? 'check the engine host, its network and the Local API.'
              : 'check the blocklist endpoint (DNS, certificate, availability).',
          );
        },
      ),
    );
  });
});

describe('digests of shared outages and of good news', () => {
  const ORG = 'org_0123456789abcdef';
  const member = (index: number, key: string, engine: string): Issue => {
    const issue = offlineIssueFor(integration({ id: `int_${String(index).padStart(16, '0')}` }), at(30));
    if (!issue) throw new Error('no offline issue');
    const group = { key, scope: 'engine' as const, engine, silent: 2, of: 2, since: at(5) };
    return { ...issue, id: `iss_${index}`, diagnosis: { ...issue.diagnosis, code: 'shared_outage', group } };
  };

  it('gives two outages of one pass two chat ids', () => {
    const digest = (from: number, key: string, engine: string) =>
      renderDigest(
        ORG,
        [from, from + 1].map((n) => [{ issue: member(n, key, engine), event: 'issue_opened' as const }]),
        { now: at(30) },
      )[0]?.notification.chat.id;
    expect(digest(0, 'a', 'eng-a')).not.toBe(digest(2, 'b', 'eng-b'));
  });

  it("speaks of one outage only when it lists nothing but that outage's openings", () => {
    const openings = Array.from({ length: 11 }, (_, n) => [
      { issue: member(n, 'a', 'eng-a'), event: 'issue_opened' as const },
    ]);
    const reminders = [20, 21].map((n) => [
      { issue: member(n, 'b', 'eng-b'), event: 'issue_reminder' as const },
    ]);
    const [part] = renderDigest(ORG, [...openings, ...reminders], { now: at(50) });
    expect(part?.notification.sms).toContain('all 2 bouncers of eng-a');
    expect(part?.notification.sms).toContain('13 notifications');
  });

  it('marks a digest of resolutions only as good news, as critical as what it closes', () => {
    const groups = Array.from({ length: 11 }, (_, n) => {
      const issue = offlineIssueFor(integration({ id: `int_${String(n).padStart(16, '0')}` }), at(30));
      if (!issue) throw new Error('no offline issue');
      const resolved: Issue = {
        ...issue,
        id: `iss_${n}`,
        state: 'resolved',
        resolved_at: at(40),
        resolution: 'pull_resumed',
      };
      return [{ issue: resolved, event: 'issue_resolved' as const }];
    });
    const [part] = renderDigest(ORG, groups, { now: at(50) });
    expect(part?.notification.chat.content.title.startsWith('✅')).toBe(true);
    expect(part?.notification.chat.content.keywords).toContain('resolved');
    expect(part?.notification.criticality).toBe('critical');
  });
});

describe('a late warning in every form', () => {
  const late = (name: string): Issue => ({
    ...(offlineIssue({ name }) as IntegrationIssue),
    id: 'iss_0000000000000000late',
    type: 'integration_pull_late',
    criticality: 'warning',
    opened_at: '2026-11-20T09:42:00.000Z',
    detected_at: '2026-11-20T09:45:00.000Z',
    last_pull_at: '2026-11-20T09:12:00.000Z',
    cadence: { state: 'steady', usual_interval_seconds: 60, pulled_days: 7 },
  });

  it('names the rhythm and the silence in the SMS, in one GSM-7 segment even with a long name', () => {
    const sms = (name: string) =>
      renderNotification(late(name), 'issue_opened', { now: '2026-11-20T09:46:00.000Z' }).sms;
    expect(sms('fw-paris')).toBe(
      'WARNING: firewall "fw-paris" usually pulls every ~1 min; silent 34 min since 09:12 UTC.',
    );
    const long = sms('A'.repeat(150));
    // The `~` is GSM-7's extension table: two septets, so the name gets one character less.
    expect(gsm7Septets(SMS_PREFIX + long)).toBe(160);
    expect(long).toMatch(
      /^WARNING: firewall "A+\.\.\." usually pulls every ~1 min; silent 34 min since 09:12 UTC\.$/,
    );
  });

  it('tells the email reader the rhythm and the days it was learned from; the SNS criticality is warning', () => {
    const notification = renderNotification(late('fw-paris'), 'issue_opened', {
      now: '2026-11-20T09:46:00.000Z',
    });
    expect(notification.subject).toBe('[pullwatch] WARNING: Integration Pull Late: fw-paris');
    expect(notification.email).toContain('Usual rhythm:         a pull every ~1 min');
    expect(notification.email).toContain('Learned from:         the 7 days before, 7 of them with pulls');
    expect(notification.attributes.criticality).toBe('warning');
    expect(notification.chat.content.title.startsWith('🟡 WARNING')).toBe(true);
  });

  it('a digest of warnings only is a warning; with a critical in it, critical', () => {
    const one = late('fw-a');
    const two = { ...late('fw-b'), id: 'iss_0000000000000001late' };
    const digest = (issues: Issue[]) =>
      renderDigest(
        'org_0123456789abcdef',
        issues.map((issue) => [{ issue, event: 'issue_opened' as const }]),
        {
          now: at(30),
        },
      )[0]?.notification.criticality;
    expect(digest([one, two])).toBe('warning');
    expect(digest([one, offlineIssue()])).toBe('critical');
  });
});
