import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { statusOf } from '../shared/integration/index.ts';
import { parseSnapshot } from '../shared/pulls/lapi.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { useTestDb } from './kit/db.ts';
import { put, useTempDirs } from './kit/files.ts';
import { FIXTURES, pullFacts, run } from './kit/ingest.ts';
import { addIntegration, current, cycle, issuesOf, only, sentTo, type World, world } from './kit/world.ts';

/**
 * What real engines print, read for what it means. The snapshots under test/fixtures/crowdsec-1.4.6/ are
 * crowdsec 1.4.6's own output, unedited (how they were made: that folder's README and capture.txt). In 1.4 a
 * bouncer that never made a request prints its registration time as `last_pull`, with `ip_address`, `type`
 * and `version` empty (crowdsecurity/crowdsec pkg/database/ent/schema/bouncer.go: `last_pull` defaults to
 * the insert time; pkg/apiserver/middlewares/v1/api_key.go: the first authenticated request fills the
 * address, type and version). Newer engines print `last_pull: null`; see shared/pulls/lapi.ts.
 */

useTestDb();
useTempDirs();

const CAPTURED = join(FIXTURES, 'crowdsec-1.4.6');
const captured = (step: string) => readFileSync(join(CAPTURED, `${step}.bouncers.json`), 'utf8');

/** The capture ran at 02:15 UTC; the integrations were made a few minutes before, as an operator would. */
const CREATED = '2026-12-06T02:10:00.000Z';
const minutesAfter = (count: number) => addSeconds(CREATED, count * 60);

/** One engine's snapshot, delivered the way the README's cron line delivers it: same path, overwritten. */
const ship = (w: World, snapshot: string, at: Iso) =>
  put(w, `${w.orgId}/engine1.bouncers.json`, snapshot, at);

const bouncer = (w: World, name: string) =>
  addIntegration(w, { name, kind: 'remediation_component', source: 'lapi' }, { now: CREATED });

describe('cscli bouncers list -o json of crowdsec 1.4.6, parsed', () => {
  const entry = (
    name: string,
    last_pull_at: string | null,
    ip: string | null,
    user_agent: string | null,
  ) => ({
    name,
    last_pull_at,
    revoked: false,
    auto_created: false,
    ip,
    user_agent,
  });
  const FIREWALL = 'crowdsec-firewall-bouncer/v0.0.25';
  const LIVE = 'crowdsec-custom-bouncer/v0.0.15';
  const edgePulled = entry('edge-fw', '2026-12-06T02:15:20.378Z', '127.0.0.1', FIREWALL);
  const spareNever = entry('spare-fw', null, null, null);
  const PINNED: Record<string, ReturnType<typeof entry>[]> = {
    empty: [],
    // last_pull 02:15:20.29098513Z is the registration; nothing ever pulled.
    registered: [entry('edge-fw', null, null, null)],
    'stream-pulled': [edgePulled],
    mixed: [edgePulled, spareNever],
    // web-live's only query came within the minute after its registration: last_pull is still that moment.
    'live-first-minute': [
      edgePulled,
      spareNever,
      entry('web-live', '2026-12-06T02:15:20.544Z', '127.0.0.1', LIVE),
    ],
    'live-pulled': [edgePulled, spareNever, entry('web-live', '2026-12-06T02:16:21.652Z', '127.0.0.1', LIVE)],
    // 1.4 rewrites the address of the same entry; there is no edge-fw@127.0.0.2.
    'new-address': [
      entry('edge-fw', '2026-12-06T02:16:21.743Z', '127.0.0.2', FIREWALL),
      spareNever,
      entry('web-live', '2026-12-06T02:16:21.652Z', '127.0.0.1', LIVE),
    ],
    // The real Debian crowdsec-firewall-bouncer 0.0.25 sends `crowdsec-firewall-bouncer/-` (no version built in).
    'firewall-bouncer': [
      entry('edge-fw', '2026-12-06T02:16:21.743Z', '127.0.0.2', FIREWALL),
      spareNever,
      entry('web-live', '2026-12-06T02:16:21.652Z', '127.0.0.1', LIVE),
      entry('nft-fw', '2026-12-06T02:16:32.007Z', '127.0.0.1', 'crowdsec-firewall-bouncer/-'),
    ],
  };
  for (const [step, bouncers] of Object.entries(PINNED)) {
    it(`reads ${step}.bouncers.json`, () => {
      expect(parseSnapshot(captured(step))).toEqual({ ok: true, skipped: 0, bouncers });
    });
  }

  it('still reads the newer shapes: last_pull null, and the Go zero time, as never', () => {
    const newer = (last_pull: string | null) =>
      JSON.stringify([
        {
          created_at: '2026-11-19T12:00:00Z',
          updated_at: '2026-11-19T12:00:00Z',
          name: 'fresh',
          revoked: false,
          ip_address: '',
          type: '',
          version: '',
          last_pull,
          auth_type: 'api-key',
          auto_created: false,
        },
      ]);
    for (const lastPull of [null, '0001-01-01T00:00:00Z']) {
      const parsed = parseSnapshot(newer(lastPull));
      expect(parsed.ok && parsed.bouncers[0]?.last_pull_at).toBeNull();
    }
  });
});

describe('any JSON in a snapshot', () => {
  it('never throws, and a row with empty address, type and version never yields a pull', () => {
    const text = fc.oneof(
      fc.constant(''),
      fc.string({ maxLength: 12 }),
      fc.constant('crowdsec-firewall-bouncer'),
    );
    const time = fc.oneof(
      fc.constant(null),
      fc.constant('0001-01-01T00:00:00Z'),
      fc
        .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
        .map((date) => date.toISOString()),
      fc.string({ maxLength: 30 }),
    );
    const row = fc.record(
      {
        name: fc.oneof(fc.string({ maxLength: 20 }), fc.constant('edge-fw@192.0.2.7')),
        ip_address: fc.oneof(text, fc.constant('192.0.2.7')),
        type: text,
        version: text,
        last_pull: time,
        revoked: fc.boolean(),
        auto_created: fc.boolean(),
        extra: fc.jsonValue({ maxDepth: 2 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.array(row, { maxLength: 6 }), fc.jsonValue({ maxDepth: 3 })), (value) => {
        const parsed = parseSnapshot(JSON.stringify(value));
        if (!parsed.ok || !Array.isArray(value)) return;
        const rows = (value as unknown[]).filter(
          (item): item is Record<string, unknown> =>
            typeof item === 'object' &&
            item !== null &&
            typeof (item as { name?: unknown }).name === 'string',
        );
        expect(parsed.bouncers).toHaveLength(rows.length);
        rows.forEach((item, index) => {
          const read = parsed.bouncers[index];
          if (item.ip_address === '' && item.type === '' && item.version === '') {
            expect(read?.last_pull_at).toBeNull();
          }
          if (read?.last_pull_at)
            expect(read.last_pull_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        });
      }),
      { numRuns: 500 },
    );
  });
});

describe('a crowdsec 1.4.6 bouncer through ingest, rules and notify', () => {
  it('never pulled: stays never_pulled, opens at creation + threshold with diagnosis never_pulled, and no message claims a pull', async () => {
    const w = await world({ heartbeat: true });
    const spare = await bouncer(w, 'spare-fw');
    const edge = await bouncer(w, 'edge-fw');

    await ship(w, captured('mixed'), minutesAfter(10));
    await cycle(w, minutesAfter(10));
    let stored = await current(w, spare);
    expect(stored.last_pull_at).toBeNull();
    expect(pullFacts(stored)).toMatchObject({ last_pull_ip: null, last_pull_user_agent: null });
    expect(stored.lapi).toMatchObject({ revoked: false, entry: null, entry_pull_at: null });
    expect(statusOf(stored, minutesAfter(10))).toBe('never_pulled');
    expect(statusOf(await current(w, edge), minutesAfter(10))).toBe('online');

    // The engine keeps printing the same rows (1.4 prints the registration time every time).
    const threshold = spare.offline_after_seconds;
    const past = addSeconds(CREATED, threshold + 1800);
    await ship(w, captured('mixed'), addSeconds(past, -60));
    await cycle(w, past);

    stored = await current(w, spare);
    expect(stored.last_pull_at).toBeNull();
    expect(statusOf(stored, past)).toBe('offline');
    const issue = only((await issuesOf(w, 'open')).filter((open) => open.integration_id === spare.id));
    expect(issue).toMatchObject({
      type: 'rc_integration_offline',
      opened_at: addSeconds(CREATED, threshold),
      last_pull_at: null,
    });
    expect(issue.diagnosis.code).toBe('never_pulled');
    // edge-fw pulled at 02:15:20 and has been silent since: its issue is the other one, `no_requests`.
    const edgeIssue = only((await issuesOf(w, 'open')).filter((open) => open.integration_id === edge.id));
    expect(edgeIssue).toMatchObject({ opened_at: addSeconds('2026-12-06T02:15:20.378Z', threshold) });
    expect(edgeIssue.diagnosis.code).toBe('no_requests');

    const sent = only(sentTo(w).filter((message) => message.issue_id === issue.id));
    expect(sent.event).toBe('issue_opened');
    expect(sent.email).toContain('Last successful pull: never');
    expect(sent.sms).toContain('never pulled');
    for (const text of [sent.subject, sent.email, sent.sms]) {
      expect(text).not.toMatch(/last pulled/i);
      // The registration time a 1.4 engine prints (02:15:20 on the 6th) is no pull.
      expect(text).not.toContain('2026-12-06');
    }
  });

  it('pulled: online with the pull the engine recorded (stream, live within its first minute, live later, from a new address, the real firewall bouncer)', async () => {
    const w = await world({ heartbeat: true });
    const edge = await bouncer(w, 'edge-fw');
    const live = await bouncer(w, 'web-live');
    const nft = await bouncer(w, 'nft-fw');

    await ship(w, captured('live-first-minute'), minutesAfter(10));
    await cycle(w, minutesAfter(10));
    expect(pullFacts(await current(w, edge))).toMatchObject({
      last_pull_at: '2026-12-06T02:15:20.378Z',
      last_pull_ip: '127.0.0.1',
      last_pull_user_agent: 'crowdsec-firewall-bouncer/v0.0.25',
    });
    let stored = await current(w, live);
    expect(stored.last_pull_at).toBe('2026-12-06T02:15:20.544Z');
    expect(statusOf(stored, minutesAfter(10))).toBe('online');

    await ship(w, captured('firewall-bouncer'), minutesAfter(15));
    await cycle(w, minutesAfter(15));
    stored = await current(w, live);
    expect(stored.last_pull_at).toBe('2026-12-06T02:16:21.652Z');
    expect(stored.lapi).toMatchObject({ entry: 'web-live', entry_pull_at: '2026-12-06T02:16:21.652Z' });
    const moved = await current(w, edge);
    expect(pullFacts(moved)).toMatchObject({
      last_pull_at: '2026-12-06T02:16:21.743Z',
      last_pull_ip: '127.0.0.2',
    });
    expect(statusOf(moved, minutesAfter(15))).toBe('online');
    const real = await current(w, nft);
    expect(pullFacts(real)).toMatchObject({
      last_pull_at: '2026-12-06T02:16:32.007Z',
      last_pull_user_agent: 'crowdsec-firewall-bouncer/-',
    });
    expect(statusOf(real, minutesAfter(15))).toBe('online');
    expect(await issuesOf(w, 'open')).toEqual([]);
  });

  it('a never-used 1.4 row does not hide the pull of another entry of the same bouncer (name@ip)', async () => {
    const w = await world();
    const edge = await bouncer(w, 'edge-fw');
    const [row] = JSON.parse(captured('registered')) as [Record<string, unknown>];
    // A TLS bouncer of the same name is registered as `<CN>@<ip>` and pulled.
    const tls = {
      ...row,
      id: 2,
      name: 'edge-fw@192.0.2.7',
      ip_address: '192.0.2.7',
      type: 'crowdsec-firewall-bouncer',
      version: 'v0.0.25',
      last_pull: '2026-12-06T02:08:00.5Z',
      auth_type: 'tls',
    };
    await ship(w, JSON.stringify([row, tls]), minutesAfter(10));

    await run(w, minutesAfter(10));

    const stored = await current(w, edge);
    expect(pullFacts(stored)).toMatchObject({
      last_pull_at: '2026-12-06T02:08:00.500Z',
      last_pull_ip: '192.0.2.7',
    });
    expect(stored.lapi).toMatchObject({
      entry: 'edge-fw@192.0.2.7',
      entry_pull_at: '2026-12-06T02:08:00.500Z',
    });
  });
});
