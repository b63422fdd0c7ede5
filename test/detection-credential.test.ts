import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AUTH_OUTCOMES, type AuthOutcome } from '../shared/auth/verify.ts';
import { credentialLastUsed, type Integration } from '../shared/integration/index.ts';
import { refreshCredentials } from '../shared/integration/ops.ts';
import { addRecord, applyPulls, emptySummary, mergeSummary, type PullRecord } from '../shared/pulls/index.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { TEST_SECRET, useTestDb } from './kit/db.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { at, minutes } from './kit/time.ts';
import {
  addIntegration,
  current,
  cycle,
  integrationInMemory,
  issuesOf,
  only,
  sentTo,
  type World,
  world,
} from './kit/world.ts';

/**
 * Detection and diagnosis from the credential a device presented: pull-log lines carrying `auth` go through the
 * real ingest, rule pass and notify pass (scenario world on dynalite, time injected).
 */

useTestDb();
useTempDirs();

/** A canonical pull-log line with its auth outcome (what the content endpoint writes). */
const authPull = (id: string, time: Iso, status: number, auth: AuthOutcome) =>
  JSON.stringify({ ...JSON.parse(pull(id, time, { status })), auth });

async function pulledAtOne() {
  const w = await world({ heartbeat: true });
  const fw = await addIntegration(w, { name: 'Edge FortiGate' });
  await drop(w, [authPull(fw.id, at(1), 200, 'current')]);
  await cycle(w, at(1.5));
  expect(await issuesOf(w)).toEqual([]);
  return { w, fw };
}

const refresh = (w: World, fw: Integration, grace: number, when: Iso) =>
  refreshCredentials(w.store, TEST_SECRET, w.orgId, fw.id, grace, when);

describe('which credential the device used last', () => {
  it('at the same instant, a pull with the current password wins over one with the replaced password, in either order', async () => {
    for (const order of [
      ['previous_in_grace', 'current'],
      ['current', 'previous_in_grace'],
    ] as const) {
      const { w, fw } = await pulledAtOne();
      await refresh(w, fw, 3600, at(2));
      await drop(
        w,
        order.map((auth) => authPull(fw.id, at(2.5), 200, auth)),
        `same-instant-${order[0]}.jsonl`,
      );
      await cycle(w, at(2.6));
      expect(credentialLastUsed(await current(w, fw.id)), order.join(' then ')).toBe('current');
    }
  });
});

describe('diagnosis from the credential presented', () => {
  it('previous_expired after the grace opens integration_auth_failing at the first such refusal, credentials_not_updated naming both times', async () => {
    const { w, fw } = await pulledAtOne();
    await refresh(w, fw, 3600, at(2));
    // In grace the device still pulls with the old password: accepted, no issue.
    await drop(w, [authPull(fw.id, at(2.5), 200, 'previous_in_grace')]);
    await cycle(w, at(2.6));
    expect(await issuesOf(w)).toEqual([]);
    expect(credentialLastUsed(await current(w, fw.id))).toBe('previous');

    // One refusal after the grace ended: enough, no 3-in-15-minutes wait.
    const refusedAt = minutes(at(3), 1);
    await drop(w, [authPull(fw.id, refusedAt, 401, 'previous_expired')]);
    await cycle(w, minutes(at(3), 2));
    const warning = only(await issuesOf(w, 'open'));
    expect(warning).toMatchObject({
      type: 'integration_auth_failing',
      integration_id: fw.id,
      criticality: 'high',
      opened_at: refusedAt,
      diagnosis: { code: 'credentials_not_updated' },
    });
    expect(warning.diagnosis.summary).toContain('replaced on 2026-11-20 02:00 UTC');
    expect(warning.diagnosis.summary).toContain('grace ended on 2026-11-20 03:00 UTC');
    expect(warning.diagnosis.steps[0]).toMatch(/new password/);
    const [opened] = sentTo(w);
    expect(opened).toMatchObject({ event: 'issue_opened', issue_id: warning.id });
    expect(opened?.email).toContain('03:00 UTC');
    expect((await current(w, fw.id)).last_attempt_auth).toBe('previous_expired');

    // The device gets the new password: the next pull resolves it.
    await drop(w, [authPull(fw.id, at(4), 200, 'current')]);
    await cycle(w, at(4.1));
    expect(await issuesOf(w, 'open')).toEqual([]);
    expect(credentialLastUsed(await current(w, fw.id))).toBe('current');
  });

  it('a refresh without grace: the summary says so', async () => {
    const { w, fw } = await pulledAtOne();
    await refresh(w, fw, 0, at(2));
    await drop(w, [authPull(fw.id, at(2.25), 401, 'previous_expired')]);
    await cycle(w, at(2.5));
    const warning = only(await issuesOf(w, 'open'));
    expect(warning.opened_at).toBe(at(2.25));
    expect(warning.diagnosis.code).toBe('credentials_not_updated');
    expect(warning.diagnosis.summary).toContain('without a grace period');
  });

  it('wrong_password → credentials_rejected, even after a refresh (the log says it is not the old password)', async () => {
    const { w, fw } = await pulledAtOne();
    await refresh(w, fw, 0, at(2));
    const t = (count: number) => minutes(at(3), count);
    // One wrong password is not certain: the usual 3 over 15 minutes applies.
    await drop(w, [authPull(fw.id, t(0), 401, 'wrong_password')]);
    await cycle(w, t(1));
    expect(await issuesOf(w)).toEqual([]);
    await drop(w, [
      authPull(fw.id, t(5), 401, 'wrong_password'),
      authPull(fw.id, t(15), 401, 'wrong_password'),
    ]);
    await cycle(w, t(16));
    const warning = only(await issuesOf(w, 'open'));
    expect(warning).toMatchObject({ opened_at: t(15), diagnosis: { code: 'credentials_rejected' } });
    expect(warning.diagnosis.summary).toMatch(/neither the current nor the replaced/);
  });

  it('no_credentials → credentials_missing, naming the username to enter', async () => {
    const { w, fw } = await pulledAtOne();
    const t = (count: number) => minutes(at(3), count);
    await drop(
      w,
      [0, 7, 15].map((count) => authPull(fw.id, t(count), 401, 'no_credentials')),
    );
    await cycle(w, t(16));
    const warning = only(await issuesOf(w, 'open'));
    expect(warning).toMatchObject({ opened_at: t(15), diagnosis: { code: 'credentials_missing' } });
    expect(warning.diagnosis.summary).toMatch(/no credentials/);
    expect(warning.diagnosis.steps[0]).toContain(fw.credentials.username);
  });

  it('records without auth keep today’s inference: refreshed after the last pull, then 401s → credentials_not_updated after 3 in 15 min', async () => {
    const { w, fw } = await pulledAtOne();
    await refresh(w, fw, 0, at(2));
    const t = (count: number) => minutes(at(3), count);
    await drop(w, [pull(fw.id, t(0), { status: 401 })]);
    await cycle(w, t(1));
    // Without the outcome the first refusal is not enough.
    expect(await issuesOf(w)).toEqual([]);
    await drop(w, [pull(fw.id, t(5), { status: 401 }), pull(fw.id, t(15), { status: 401 })]);
    await cycle(w, t(16));
    const warning = only(await issuesOf(w, 'open'));
    expect(warning).toMatchObject({ opened_at: t(15), diagnosis: { code: 'credentials_not_updated' } });
    expect(warning.diagnosis.summary).toMatch(/refreshed after the last good pull/);
    const stored = await current(w, fw.id);
    expect(stored.last_attempt_auth).toBeNull();
    expect(stored.expired_rejections).toEqual([]);
  });
});

describe('order independence of the auth facts', () => {
  const ID = 'int_00000000000000aa';
  const base = () => integrationInMemory({ id: ID, org_id: 'org_00000000000000aa', name: 'fw' }, at(0));
  const facts = (integration: Integration | null) =>
    integration && {
      last_pull_at: integration.last_pull_at,
      last_pull_auth: integration.last_pull_auth,
      last_attempt_at: integration.last_attempt_at,
      last_attempt_status: integration.last_attempt_status,
      last_attempt_auth: integration.last_attempt_auth,
      rejections: integration.rejections,
      expired_rejections: integration.expired_rejections,
    };

  // Times on a coarse grid so that ties (same second, different outcome) are common.
  const record = fc
    .record({
      second: fc.integer({ min: 0, max: 40 }),
      status: fc.constantFrom(200, 200, 401, 403, 304, 500),
      auth: fc.option(fc.constantFrom(...AUTH_OUTCOMES), { nil: undefined }),
      method: fc.constantFrom('GET', 'GET', 'HEAD'),
    })
    .map(
      ({ second, status, auth, method }): PullRecord => ({
        time: addSeconds(at(1), second * 30),
        integration_id: ID,
        method,
        status,
        ip: '203.0.113.7',
        user_agent: 'FortiGate/7.4.3',
        ...(auth === undefined ? {} : { auth }),
      }),
    );

  const foldAll = (records: PullRecord[]) => {
    const summary = emptySummary(ID);
    for (const r of records) addRecord(summary, r);
    return applyPulls(base(), summary) ?? base();
  };

  it('the same records in any order, split over any files and cycles, give the same facts (fold, 300 runs)', () => {
    fc.assert(
      fc.property(
        fc.array(record, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 6 }),
        (records, seed, cuts) => {
          const expected = facts(foldAll(records));
          const shuffled = fc.sample(fc.shuffledSubarray(records, { minLength: records.length }), {
            seed,
            numRuns: 1,
          })[0] as PullRecord[];
          // Split into files (one summary each, merged) and cycles (applied one after the other).
          const bounds = [...new Set(cuts.map((cut) => cut % shuffled.length))].sort((a, b) => a - b);
          const chunks: PullRecord[][] = [];
          let from = 0;
          for (const bound of [...bounds, shuffled.length]) {
            if (bound > from) chunks.push(shuffled.slice(from, bound));
            from = Math.max(from, bound);
          }
          let integration = base();
          for (const [index, chunk] of chunks.entries()) {
            const summary = emptySummary(ID);
            // Within a cycle, two "files": each half folded on its own, then merged.
            const half = Math.floor(chunk.length / 2);
            const other = emptySummary(ID);
            for (const r of chunk.slice(0, half)) addRecord(summary, r);
            for (const r of chunk.slice(half)) addRecord(other, r);
            if (index % 2 === 0) mergeSummary(summary, other);
            else {
              mergeSummary(other, summary);
              Object.assign(summary, other);
            }
            integration = applyPulls(integration, summary) ?? integration;
          }
          expect(facts(integration)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('records of one second: the last attempt and the last pull follow the one tie rule, in any order (fold, 300 runs)', () => {
    // The rule written out again, independently: accepted before refused, then the credential closest to the
    // current password (no outcome lowest). Whole-second records, as nginx and CloudFront write them.
    const closeness = [
      undefined,
      'unknown_integration',
      'no_credentials',
      'wrong_password',
      'previous_expired',
      'previous_in_grace',
      'current',
    ];
    const accepted = (r: PullRecord) =>
      r.method === 'GET' && ((r.status >= 200 && r.status < 300) || r.status === 304) ? 1 : 0;
    const rank = (r: PullRecord) => [accepted(r), closeness.indexOf(r.auth ?? undefined)] as const;
    const outranks = (a: PullRecord, b: PullRecord) => {
      const [x, y] = [rank(a), rank(b)];
      return x[0] !== y[0] ? x[0] > y[0] : x[1] > y[1];
    };
    const best = (records: PullRecord[]) => records.reduce((a, b) => (outranks(b, a) ? b : a));
    const sameSecond = fc
      .record({
        second: fc.integer({ min: 0, max: 1 }),
        status: fc.constantFrom(200, 304, 401, 403),
        auth: fc.option(fc.constantFrom(...AUTH_OUTCOMES), { nil: undefined }),
      })
      .map(
        ({ second, status, auth }): PullRecord => ({
          time: addSeconds(at(1), second),
          integration_id: ID,
          method: 'GET',
          status,
          ip: '203.0.113.7',
          user_agent: 'FortiGate/7.4.3',
          ...(auth === undefined ? {} : { auth }),
        }),
      );
    fc.assert(
      fc.property(fc.array(sameSecond, { minLength: 1, maxLength: 12 }), fc.integer(), (records, seed) => {
        const shuffled = fc.sample(fc.shuffledSubarray(records, { minLength: records.length }), {
          seed,
          numRuns: 1,
        })[0] as PullRecord[];
        const folded = foldAll(shuffled);
        const newest = records
          .map((r) => r.time)
          .sort()
          .at(-1);
        const last = best(records.filter((r) => r.time === newest));
        expect(folded.last_attempt_auth).toBe(last.auth ?? null);
        expect(rank({ ...last, status: folded.last_attempt_status ?? 0 })[0]).toBe(accepted(last));
        const successes = records.filter((r) => accepted(r) === 1);
        const newestSuccess = successes
          .map((r) => r.time)
          .sort()
          .at(-1);
        const lastPull =
          successes.length > 0 ? best(successes.filter((r) => r.time === newestSuccess)) : null;
        expect(folded.last_pull_auth).toBe(lastPull ? (lastPull.auth ?? null) : null);
      }),
      { numRuns: 300 },
    );
  });

  it('through the real ingest: shuffled lines in split files give the same integration facts and the same issue', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 4 }),
        async (seed, files) => {
          const lines = (id: string) => [
            authPull(id, at(1), 200, 'current'),
            authPull(id, minutes(at(1), 10), 200, 'previous_in_grace'),
            authPull(id, minutes(at(1), 10), 401, 'wrong_password'),
            authPull(id, minutes(at(1), 20), 401, 'previous_expired'),
            authPull(id, minutes(at(1), 25), 401, 'no_credentials'),
            authPull(id, minutes(at(1), 25), 401, 'previous_expired'),
            pull(id, minutes(at(1), 30), { status: 401 }),
            authPull(id, minutes(at(1), 30), 401, 'previous_expired'),
          ];
          const outcomes: unknown[] = [];
          for (const order of ['as written', 'shuffled']) {
            const w = await world();
            const fw = await addIntegration(w);
            let items = lines(fw.id);
            if (order === 'shuffled')
              items =
                fc.sample(fc.shuffledSubarray(items, { minLength: items.length }), { seed, numRuns: 1 })[0] ??
                items;
            const size = Math.ceil(items.length / (order === 'shuffled' ? files : 1));
            for (let from = 0; from < items.length; from += size)
              await drop(w, items.slice(from, from + size));
            await cycle(w, at(2), { staleAfterSeconds: 0 });
            const stored = await current(w, fw.id);
            const [issue] = await issuesOf(w, 'open');
            outcomes.push({
              ...facts(stored),
              issue: issue && { type: issue.type, opened_at: issue.opened_at, code: issue.diagnosis.code },
            });
          }
          expect(outcomes[1]).toEqual(outcomes[0]);
          expect(outcomes[0]).toMatchObject({
            last_pull_at: minutes(at(1), 10),
            last_pull_auth: 'previous_in_grace',
            last_attempt_at: minutes(at(1), 30),
            expired_rejections: [minutes(at(1), 20), minutes(at(1), 25), minutes(at(1), 30)],
            issue: { type: 'integration_auth_failing', opened_at: minutes(at(1), 20) },
          });
        },
      ),
      { numRuns: 4 },
    );
  });
});
