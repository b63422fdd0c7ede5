import { describe, expect, it } from 'vitest';
import type { AuthOutcome } from '../shared/auth/verify.ts';
import { credentialLastUsed, type Integration } from '../shared/integration/index.ts';
import { refreshCredentials } from '../shared/integration/ops.ts';
import type { PullRecord } from '../shared/pulls/index.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { TEST_SECRET, useTestDb } from './kit/db.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { albLine, cloudFrontLines, nginxLine, pullRecord } from './kit/lines.ts';
import { at } from './kit/time.ts';
import { addIntegration, current, cycle, issuesOf, only, type World, world } from './kit/world.ts';

/**
 * Issue #23: pull logs with whole-second times (nginx's `$time_local`, CloudFront, ALB lines without a fraction)
 * against a credential refresh stamped in milliseconds. Every line goes through the real ingest and rule pass.
 */

useTestDb();
useTempDirs();

/** The refresh, in milliseconds, and the whole second it falls in, as a one-second log writes it. */
const REFRESH = '2026-11-20T07:42:47.043Z';
const SECOND = '2026-11-20T07:42:47.000Z';

interface Format {
  name: string;
  /** Whether its lines carry the auth outcome. */
  outcome: boolean;
  /** The lines of one file holding these records. */
  file: (records: PullRecord[]) => string[];
}

const FORMATS: Format[] = [
  { name: 'nginx (README format)', outcome: true, file: (records) => records.map((r) => nginxLine(r)) },
  {
    name: 'ALB, whole seconds',
    outcome: false,
    file: (records) => records.map((r) => albLine(r, r.time.replace('.000Z', 'Z'))),
  },
  { name: 'CloudFront', outcome: false, file: cloudFrontLines },
];

/** An integration that pulled with its first password at 07:00, then had its credentials refreshed at REFRESH. */
async function refreshedAtRefresh(): Promise<{ w: World; fw: Integration }> {
  const w = await world({ heartbeat: true });
  const fw = await addIntegration(w, { name: 'Edge FortiGate' });
  await drop(w, [nginxLine(pullRecord(fw.id, at(7), { auth: 'current' }))]);
  await cycle(w, at(7.1));
  await refreshCredentials(w.store, TEST_SECRET, w.orgId, fw.id, 3600, REFRESH);
  return { w, fw };
}

type Request = { time: Iso; status: number; auth: AuthOutcome };

/** Drops the requests in this order, in one file or one file each, and runs a cycle. */
async function pulled(w: World, fw: Integration, format: Format, requests: Request[], split: boolean) {
  const records = requests.map(({ time, status, auth }) => pullRecord(fw.id, time, { status, auth }));
  const files = split ? records.map((record) => [record]) : [records];
  for (const records of files) await drop(w, format.file(records));
  await cycle(w, addSeconds(SECOND, 60));
  return current(w, fw.id);
}

const ORDERS = [
  { name: 'in one file', split: false },
  { name: 'split over files', split: true },
];

describe('credentials.last_used: a pull in the second of the refresh', () => {
  for (const format of FORMATS) {
    it(`${format.name}: the new password's pull logged in the refresh's second is the current password`, async () => {
      const { w, fw } = await refreshedAtRefresh();
      const stored = await pulled(w, fw, format, [{ time: SECOND, status: 200, auth: 'current' }], false);
      expect(stored.last_pull_at).toBe(SECOND);
      // Lines without an outcome say nothing about the credential.
      expect(credentialLastUsed(stored)).toBe(format.outcome ? 'current' : null);
    });
  }

  it('nginx: a pull logged current in the second before the refresh used the password the refresh replaced', async () => {
    const { w, fw } = await refreshedAtRefresh();
    const before = addSeconds(SECOND, -1);
    const stored = await pulled(
      w,
      fw,
      FORMATS[0] as Format,
      [{ time: before, status: 200, auth: 'current' }],
      false,
    );
    expect(stored.last_pull_at).toBe(before);
    expect(credentialLastUsed(stored)).toBe('previous');
  });
});

describe('the replaced password, then the new one, in one second: one test per field', () => {
  const requests: Request[] = [
    { time: SECOND, status: 200, auth: 'previous_in_grace' },
    { time: SECOND, status: 200, auth: 'current' },
  ];
  /** The stored integration after each order of the two requests, in one file and split over files. */
  async function everyOrder(format: Format, check: (stored: Integration, named: string) => void) {
    for (const order of ORDERS)
      for (const sequence of [requests, [...requests].reverse()]) {
        const { w, fw } = await refreshedAtRefresh();
        const stored = await pulled(w, fw, format, sequence, order.split);
        const named = `${sequence.map((request) => request.auth).join(' then ')}, ${order.name}`;
        expect(stored.last_attempt_at, named).toBe(SECOND);
        expect(stored.last_pull_at, named).toBe(SECOND);
        check(stored, named);
      }
  }
  for (const format of FORMATS) {
    const expected = format.outcome ? 'current' : null;
    it(`last_attempt_auth, ${format.name}: ${expected}`, async () => {
      await everyOrder(format, (stored, named) => expect(stored.last_attempt_auth, named).toBe(expected));
    });
    it(`last_pull_auth, ${format.name}: ${expected}`, async () => {
      await everyOrder(format, (stored, named) => expect(stored.last_pull_auth, named).toBe(expected));
    });
    it(`credentials.last_used, ${format.name}: ${expected}`, async () => {
      await everyOrder(format, (stored, named) => expect(credentialLastUsed(stored), named).toBe(expected));
    });
  }
});

describe('last_attempt: a refusal and an accepted pull in one second', () => {
  // A client is challenged first (no credentials, 401) and then sends them: the accepted pull is the last attempt.
  const requests: Request[] = [
    { time: SECOND, status: 401, auth: 'no_credentials' },
    { time: SECOND, status: 200, auth: 'current' },
  ];
  for (const format of FORMATS)
    for (const order of ORDERS)
      for (const sequence of [requests, [...requests].reverse()]) {
        const named = sequence.map((request) => request.status).join(' then ');
        it(`${format.name}, ${named}, ${order.name}`, async () => {
          const { w, fw } = await refreshedAtRefresh();
          const stored = await pulled(w, fw, format, sequence, order.split);
          expect(stored).toMatchObject({
            last_attempt_at: SECOND,
            last_attempt_status: 200,
            last_attempt_auth: format.outcome ? 'current' : null,
            rejections: [],
          });
        });
      }

  it('ALB with microseconds: the order the times give is kept, a refusal after the pull stays the last attempt', async () => {
    const { w, fw } = await refreshedAtRefresh();
    const records = [
      albLine(pullRecord(fw.id, SECOND, { status: 200 }), '2026-11-20T07:42:47.100000Z'),
      albLine(pullRecord(fw.id, SECOND, { status: 401 }), '2026-11-20T07:42:47.900000Z'),
    ];
    await drop(w, [...records].reverse());
    await cycle(w, addSeconds(SECOND, 60));
    expect(await current(w, fw.id)).toMatchObject({
      last_pull_at: '2026-11-20T07:42:47.100Z',
      last_attempt_at: '2026-11-20T07:42:47.900Z',
      last_attempt_status: 401,
      rejections: ['2026-11-20T07:42:47.900Z'],
    });
  });
});

describe('the diagnosis of a device silent since a pull in the second of the refresh', () => {
  /** The device pulls once with `written` as the log writes it, then nothing for 25 h: the offline issue's cause. */
  async function silentAfter(line: (fw: Integration) => string): Promise<string> {
    const { w, fw } = await refreshedAtRefresh();
    await drop(w, [line(fw)]);
    await cycle(w, addSeconds(SECOND, 60));
    await cycle(w, addSeconds(SECOND, 25 * 3600));
    return only(await issuesOf(w, 'open')).diagnosis.code;
  }
  const record = (fw: Integration, time = SECOND, auth: AuthOutcome = 'current') =>
    pullRecord(fw.id, time, { auth });

  it('whole-second lines (nginx current, ALB, CloudFront): no claim that the refresh came after the pull', async () => {
    expect(await silentAfter((fw) => nginxLine(record(fw)))).toBe('no_requests');
    expect(await silentAfter((fw) => albLine(record(fw), '2026-11-20T07:42:47Z'))).toBe('no_requests');
    expect(await silentAfter((fw) => cloudFrontLines([record(fw)]).join('\n'))).toBe('no_requests');
  });

  it('ALB with microseconds: after the refresh is after it, before it is before it', async () => {
    expect(await silentAfter((fw) => albLine(record(fw), '2026-11-20T07:42:47.512345Z'))).toBe('no_requests');
    expect(await silentAfter((fw) => albLine(record(fw), '2026-11-20T07:42:47.010000Z'))).toBe(
      'credentials_not_updated',
    );
  });

  it('a whole second that ended before the refresh is before it', async () => {
    const before = addSeconds(SECOND, -1);
    expect(await silentAfter((fw) => nginxLine(record(fw, before)))).toBe('credentials_not_updated');
    expect(await silentAfter((fw) => cloudFrontLines([record(fw, before)]).join('\n'))).toBe(
      'credentials_not_updated',
    );
  });
});
