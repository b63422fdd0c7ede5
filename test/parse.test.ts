import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { credentialInUrl, type Integration, newIntegration } from '../shared/integration/index.ts';
import { addRecord, applyPulls, classify, emptySummary, type PullRecord } from '../shared/pulls/index.ts';
import { parseIsoTime } from '../shared/pulls/log-time.ts';
import { MAX_LINE_LENGTH, parseLine } from '../shared/pulls/parse.ts';
import { at, T0 } from './kit/time.ts';

// Pure functions only: nothing here touches a database.

const ID = 'int_abc';
/** The canonical example line of the README (format 1). */
const README_LINE =
  '{"time":"2026-11-21T10:00:00.000Z","integration_id":"int_abc","method":"GET","status":200,"ip":"203.0.113.7","user_agent":"FortiGate/7.4","bytes":5123}';
const CANONICAL_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const line = (fields: Record<string, unknown>) => JSON.stringify(fields);
const base = { time: '2026-11-21T10:00:00.000Z', integration_id: ID, status: 200 };

/** A FortiGate created at T0 that never pulled. */
function integration(overrides: Partial<Integration> = {}): Integration {
  const base = newIntegration(
    {
      id: ID,
      org_id: 'org_1',
      name: 'Edge FW',
      kind: 'firewall',
      vendor: 'fortigate',
      credentials: {
        username: 'pw-abc',
        password_hash: 'ab'.repeat(32),
        rotated_at: T0,
        previous_password_hash: null,
        previous_valid_until: null,
      },
    },
    T0,
  );
  return { ...base, ...overrides };
}

const record = (overrides: Partial<PullRecord> = {}): PullRecord => ({
  time: at(1),
  integration_id: ID,
  method: 'GET',
  status: 200,
  ip: '203.0.113.7',
  user_agent: 'FortiGate/7.4',
  ...overrides,
});

function fold(records: PullRecord[]) {
  const summary = emptySummary(ID);
  for (const item of records) addRecord(summary, item);
  return summary;
}

/** The integration after one ingest of `records` (unchanged when they teach nothing). */
function ingestState(start: Integration, records: PullRecord[]): Integration {
  return applyPulls(start, fold(records)) ?? start;
}

describe('parseLine: canonical JSON lines (format 1)', () => {
  it('reads the example line of the brief', () => {
    expect(parseLine(README_LINE)).toEqual({
      ok: true,
      record: {
        time: '2026-11-21T10:00:00.000Z',
        integration_id: 'int_abc',
        method: 'GET',
        status: 200,
        ip: '203.0.113.7',
        user_agent: 'FortiGate/7.4',
      },
    });
  });

  it('normalises the time to UTC ISO with milliseconds', () => {
    const cases: Array<[string, string]> = [
      ['2026-11-21T10:00:00Z', '2026-11-21T10:00:00.000Z'],
      ['2026-11-21T10:00:00.5Z', '2026-11-21T10:00:00.500Z'],
      ['2026-11-21T12:30:00+02:00', '2026-11-21T10:30:00.000Z'],
      ['2026-11-21T05:00:00.123-05:00', '2026-11-21T10:00:00.123Z'],
    ];
    for (const [time, expected] of cases) {
      const parsed = parseLine(line({ ...base, time }));
      expect(parsed).toMatchObject({ ok: true, record: { time: expected } });
    }
  });

  it('defaults the method to GET, upper-cases it and fills absent ip and user agent with null', () => {
    expect(parseLine(line(base))).toEqual({
      ok: true,
      record: { time: base.time, integration_id: ID, method: 'GET', status: 200, ip: null, user_agent: null },
    });
    expect(parseLine(line({ ...base, method: 'head' }))).toMatchObject({
      ok: true,
      record: { method: 'HEAD' },
    });
    expect(parseLine(line({ ...base, method: 'Get' }))).toMatchObject({
      ok: true,
      record: { method: 'GET' },
    });
    expect(parseLine(line({ ...base, ip: null, user_agent: null }))).toMatchObject({
      ok: true,
      record: { ip: null, user_agent: null },
    });
  });

  it('tolerates surrounding whitespace, CR line ends and extra fields', () => {
    expect(parseLine(`  ${README_LINE}\r`)).toMatchObject({
      ok: true,
      record: { integration_id: 'int_abc' },
    });
    expect(
      parseLine(line({ ...base, path: '/v1/integrations/int_abc/content', extra: { a: [1] } })),
    ).toMatchObject({
      ok: true,
      record: { status: 200 },
    });
  });

  it('returns null for blank lines', () => {
    for (const blank of ['', ' ', '\t', '\r', '   \t  ']) expect(parseLine(blank)).toBeNull();
  });

  it('names the reason of each malformed line', () => {
    const cases: Array<[string, string]> = [
      // Not JSON and no other format either: nothing matched.
      ['hello world', 'unrecognized'],
      // Starts like a JSON object but is not one.
      ['{"time": "2026-11-21T10:00:00Z", "integration_id": ', 'not_json'],
      ['{broken}', 'not_json'],
      // Only a line starting with `{` is tried as JSON; other JSON values match no format.
      ['[1, 2, 3]', 'unrecognized'],
      ['"a string"', 'unrecognized'],
      ['42', 'unrecognized'],
      // A well-formed access-log line for another path is not a pull.
      [line({ integration_id: ID, status: 200 }), 'missing_field'],
      [line({ time: base.time, status: 200 }), 'missing_field'],
      [line({ time: base.time, integration_id: ID }), 'missing_field'],
      [line({}), 'missing_field'],
      [line({ ...base, time: 'yesterday' }), 'bad_time'],
      [line({ ...base, time: '' }), 'bad_time'],
      [line({ ...base, time: 1_795_000_000_000 }), 'bad_time'],
      [line({ ...base, time: null }), 'bad_time'],
      [line({ ...base, time: '2026-13-01T00:00:00Z' }), 'bad_time'],
      [line({ ...base, status: '200' }), 'bad_status'],
      [line({ ...base, status: 200.5 }), 'bad_status'],
      [line({ ...base, status: 99 }), 'bad_status'],
      [line({ ...base, status: 600 }), 'bad_status'],
      [line({ ...base, status: null }), 'bad_status'],
      [line({ ...base, integration_id: 42 }), 'bad_type'],
      [line({ ...base, integration_id: '' }), 'bad_type'],
      [line({ ...base, integration_id: 'x'.repeat(129) }), 'bad_type'],
      [line({ ...base, method: 1 }), 'bad_type'],
      [line({ ...base, ip: 203 }), 'bad_type'],
      [line({ ...base, user_agent: { name: 'FortiGate' } }), 'bad_type'],
      [line({ ...base, user_agent: 'x'.repeat(MAX_LINE_LENGTH) }), 'too_long'],
      ['x'.repeat(MAX_LINE_LENGTH + 1), 'too_long'],
    ];
    for (const [input, reason] of cases) {
      expect({ input: input.slice(0, 80), parsed: parseLine(input) }).toEqual({
        input: input.slice(0, 80),
        parsed: { ok: false, reason },
      });
    }
  });

  it('skips a line of another path (a health check) as other_path, keeping its time as a sign the feed is alive', () => {
    expect(parseLine('203.0.113.7 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5')).toEqual({
      ok: false,
      reason: 'other_path',
      time: '2026-11-21T10:00:00.000Z',
    });
    expect(
      parseLine(
        '203.0.113.7 - - [21/Nov/2026:10:00:00 +0000] "GET /healthz?probe=1 HTTP/1.1" 204 0 "-" "kube-probe/1.29"',
      ),
    ).toEqual({ ok: false, reason: 'other_path', time: '2026-11-21T10:00:00.000Z' });
    // A time that cannot be read is no sign of anything.
    expect(parseLine('203.0.113.7 - - [99/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5')).toEqual({
      ok: false,
      reason: 'other_path',
    });
  });

  it('refuses a canonical-looking time with a non-digit in it (the fast path too), so the file goes on', () => {
    for (const time of ['2026-11-20T0x:00:00.000Z', '!!26-11-20T00:00:00.000Z', '2026-11-20T00:0 :00.000Z']) {
      expect(parseIsoTime(time), time).toBeNull();
      expect(parseLine(JSON.stringify({ time, integration_id: ID, status: 200 })), time).toEqual({
        ok: false,
        reason: 'bad_time',
      });
    }
  });

  it('counts a time that is not an ISO 8601 date as bad_time instead of guessing one', () => {
    // Date.parse accepts these ("1" is 2001-01-01, "Feb 30" is March 2); a pull log must not.
    for (const time of ['1', '12', 'Saturday 5', 'build 2026', '2026-02-30T00:00:00Z']) {
      expect({ time, parsed: parseLine(line({ ...base, time })) }).toEqual({
        time,
        parsed: { ok: false, reason: 'bad_time' },
      });
    }
  });

  it('never yields a time outside the ISO form the rest of pullwatch compares as text', () => {
    // Extended years (+275760-..., -000001-...) do not sort as text with 20xx times, and adding the offline
    // threshold to +275760-09-13 throws, so they must be refused here.
    for (const time of [
      '+275760-09-13T00:00:00.000Z',
      '-000001-01-01T00:00:00.000Z',
      '+010000-01-01T00:00:00Z',
    ]) {
      const parsed = parseLine(line({ ...base, time }));
      if (parsed?.ok) expect(parsed.record.time).toMatch(CANONICAL_ISO);
      else expect(parsed).toEqual({ ok: false, reason: 'bad_time' });
    }
  });
});

describe('parseLine properties', () => {
  const wellFormed = (parsed: ReturnType<typeof parseLine>) => {
    if (parsed === null) return;
    if (parsed.ok) {
      expect(typeof parsed.record.integration_id).toBe('string');
      expect(Number.isInteger(parsed.record.status)).toBe(true);
      expect(parsed.record.method).toBe(parsed.record.method.toUpperCase());
    } else {
      expect([
        'not_json',
        'not_an_object',
        'unrecognized',
        'other_path',
        'missing_field',
        'bad_time',
        'bad_status',
        'bad_type',
        'too_long',
        'aborted',
        'no_request_path',
        'route_template_only',
      ]).toContain(parsed.reason);
    }
  };

  it('never throws on any string', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (input) => {
        wellFormed(parseLine(input));
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on any full-unicode string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (input) => {
        wellFormed(parseLine(input));
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on random JSON values, nor on objects that look almost canonical', () => {
    fc.assert(
      fc.property(fc.json(), (input) => {
        wellFormed(parseLine(input));
      }),
      { numRuns: 500 },
    );
    const anything = fc.jsonValue();
    fc.assert(
      fc.property(
        fc.record(
          {
            time: anything,
            integration_id: anything,
            status: anything,
            method: anything,
            ip: anything,
            user_agent: anything,
          },
          { requiredKeys: [] },
        ),
        (fields) => {
          wellFormed(parseLine(JSON.stringify(fields)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reads back any valid record it is given, with the time in canonical ISO form', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('2000-01-01T00:00:00Z'),
          max: new Date('2099-12-31T23:59:59Z'),
          noInvalidDate: true,
        }),
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.integer({ min: 100, max: 599 }),
        fc.constantFrom('get', 'GET', 'head', 'post'),
        (date, integrationId, status, method) => {
          const parsed = parseLine(
            line({ time: date.toISOString(), integration_id: integrationId, status, method }),
          );
          expect(parsed).toEqual({
            ok: true,
            record: {
              time: date.toISOString(),
              integration_id: integrationId,
              method: method.toUpperCase(),
              status,
              ip: null,
              user_agent: null,
            },
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('classify', () => {
  it('counts a GET answered 2xx or 304 as a successful pull', () => {
    for (const status of [200, 204, 206, 304]) expect(classify({ method: 'GET', status })).toBe('success');
  });

  it('does not count HEAD, other methods, redirects or client errors as successful', () => {
    expect(classify({ method: 'HEAD', status: 200 })).toBe('other');
    expect(classify({ method: 'HEAD', status: 304 })).toBe('other');
    expect(classify({ method: 'POST', status: 200 })).toBe('other');
    expect(classify({ method: 'GET', status: 301 })).toBe('other');
    expect(classify({ method: 'GET', status: 404 })).toBe('other');
  });

  it('names auth failures, rate limiting and server errors', () => {
    expect(classify({ method: 'GET', status: 401 })).toBe('auth_failure');
    expect(classify({ method: 'GET', status: 403 })).toBe('auth_failure');
    expect(classify({ method: 'HEAD', status: 401 })).toBe('auth_failure');
    expect(classify({ method: 'GET', status: 429 })).toBe('rate_limited');
    for (const status of [500, 502, 503, 504, 599])
      expect(classify({ method: 'GET', status })).toBe('server_error');
  });
});

describe('addRecord and applyPulls', () => {
  it('moves last_pull_at to the newest successful GET only, and keeps the newest attempt', () => {
    const records = [
      record({ time: at(1), status: 200, ip: '198.51.100.1' }),
      record({ time: at(3), status: 401 }),
      record({ time: at(2), method: 'HEAD', status: 200 }),
      record({ time: at(2.5), status: 304, ip: '198.51.100.2', user_agent: 'PAN-OS' }),
    ];
    const next = ingestState(integration(), records);
    expect(next).toMatchObject({
      last_pull_at: at(2.5),
      last_pull_ip: '198.51.100.2',
      last_pull_user_agent: 'PAN-OS',
      last_attempt_at: at(3),
      last_attempt_status: 401,
    });
  });

  it('gives the same result whatever the order of the records', () => {
    const records = [
      record({ time: at(1), status: 200, ip: '198.51.100.1' }),
      record({ time: at(3), status: 503 }),
      record({ time: at(2), status: 204, ip: '198.51.100.2' }),
      record({ time: at(0.5), status: 429 }),
    ];
    const expected = ingestState(integration(), records);
    expect(ingestState(integration(), [...records].reverse())).toEqual(expected);
    expect(
      ingestState(integration(), [records[2], records[0], records[3], records[1]] as PullRecord[]),
    ).toEqual(expected);
  });

  it('never moves last_pull_at or last_attempt_at backwards, and teaches nothing from old records', () => {
    const current = integration({
      last_pull_at: at(10),
      last_pull_ip: '198.51.100.9',
      last_attempt_at: at(11),
      last_attempt_status: 200,
    });
    const old = fold([record({ time: at(5) }), record({ time: at(6), status: 500 })]);
    // An old success still marks its minute in the pull history, once; the pull facts stay where they were.
    const historyOnly = applyPulls(current, old) as Integration;
    expect({ ...historyOnly, recent_pulls: null }).toEqual(current);
    expect(applyPulls(historyOnly, old)).toBeNull();
    expect(applyPulls(current, fold([]))).toBeNull();
    const failing = applyPulls(current, fold([record({ time: at(12), status: 403 })]));
    expect(failing).toMatchObject({
      last_pull_at: at(10),
      last_attempt_at: at(12),
      last_attempt_status: 403,
    });
  });

  it('is idempotent: applying the same records twice changes nothing the second time', () => {
    const summary = fold([record({ time: at(1) }), record({ time: at(2), status: 401 })]);
    const once = applyPulls(integration(), summary);
    expect(once).not.toBeNull();
    expect(applyPulls(once as Integration, summary)).toBeNull();
  });
});

describe('credential_in_url: the password rode in the URL since the last successful pull, or in it', () => {
  const url = { credential_in_url: true } as const;
  it('is set by a pull, or a refusal of one of its own passwords, in the URL; cleared only by a later successful pull', () => {
    const flagged = ingestState(integration(), [record({ time: at(1), ...url })]);
    expect(flagged.credential_in_url_at).toBe(at(1));
    expect(credentialInUrl(flagged)).toBe(true);
    // A scanner without credentials, or a refused basic-auth try, does not say the device stopped.
    const refused = ingestState(flagged, [record({ time: at(2), status: 401 })]);
    expect(credentialInUrl(refused)).toBe(true);
    // A successful pull in a safer form clears it; the time of the last URL request stays.
    const cleared = ingestState(refused, [record({ time: at(3) })]);
    expect(credentialInUrl(cleared)).toBe(false);
    // Forgotten then: the item is back to its size.
    expect(cleared.credential_in_url_at).toBeNull();
    // An old URL request delivered late changes nothing; a new one, even refused, flags again.
    const expired = { status: 401, auth: 'previous_expired', ...url } as const;
    const late = ingestState(cleared, [record({ time: at(0.5), ...expired })]);
    expect([credentialInUrl(late), late.credential_in_url_at]).toEqual([false, null]);
    expect(credentialInUrl(ingestState(cleared, [record({ time: at(4), ...expired })]))).toBe(true);
    // Never pulled, only refused URL tries with its own (replaced) password: flagged.
    expect(credentialInUrl(ingestState(integration(), [record(expired)]))).toBe(true);
    // A refused URL try with a wrong password, or one the log cannot name, leaks nothing of the device's.
    for (const refused of [{ auth: 'wrong_password' as const }, {}]) {
      const guessed = ingestState(integration(), [record({ status: 401, ...refused, ...url })]);
      expect([credentialInUrl(guessed), guessed.credential_in_url_at]).toEqual([false, null]);
    }
    expect(credentialInUrl(integration())).toBe(false);
  });
});

describe('order independence (property)', () => {
  const OFFSET_RANGE = 7 * 86_400;
  const methods = fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST');
  const statuses = fc.constantFrom(200, 204, 304, 301, 401, 403, 404, 429, 500, 503);
  const ips = fc.option(fc.constantFrom('203.0.113.7', '198.51.100.1', '2001:db8::1'), { nil: null });
  const agents = fc.option(fc.constantFrom('FortiGate/7.4', 'PAN-OS', 'curl/8'), { nil: null });
  const toRecord = (
    offset: number,
    method: string,
    status: number,
    ip: string | null,
    userAgent: string | null,
    inUrl: boolean,
  ) =>
    record({
      time: at(offset / 3600),
      method,
      status,
      ip,
      user_agent: userAgent,
      ...(inUrl ? { credential_in_url: true as const } : {}),
    });
  const recordAt = (offset: fc.Arbitrary<number>) =>
    fc.tuple(offset, methods, statuses, ips, agents, fc.boolean()).map((fields) => toRecord(...fields));

  /** Records with distinct times, and a permutation of them. */
  const distinctAndPermuted = fc
    .uniqueArray(fc.integer({ min: 0, max: OFFSET_RANGE }), { minLength: 0, maxLength: 25 })
    .chain((offsets) => fc.tuple(...offsets.map((offset) => recordAt(fc.constant(offset)))))
    .chain((records) =>
      fc.tuple(
        fc.constant(records),
        fc.shuffledSubarray(records, { minLength: records.length, maxLength: records.length }),
      ),
    );

  const startStates = fc.constantFrom(
    integration(),
    integration({
      last_pull_at: at(48),
      last_pull_ip: '192.0.2.1',
      last_attempt_at: at(50),
      last_attempt_status: 401,
    }),
    integration({ last_pull_at: at(500), last_attempt_at: at(500), last_attempt_status: 200 }),
  );

  it('folding any permutation of records with distinct times gives the same integration', () => {
    fc.assert(
      fc.property(distinctAndPermuted, startStates, ([records, permuted], start) => {
        expect(ingestState(start, permuted)).toEqual(ingestState(start, records));
      }),
      { numRuns: 300 },
    );
  });

  it('splitting the records over two ingests, in either order, gives the same integration as one', () => {
    fc.assert(
      fc.property(distinctAndPermuted, fc.nat(), startStates, ([records], cut, start) => {
        const split = records.length === 0 ? 0 : cut % (records.length + 1);
        const first = records.slice(0, split);
        const second = records.slice(split);
        const together = ingestState(start, records);
        expect(ingestState(ingestState(start, first), second)).toEqual(together);
        expect(ingestState(ingestState(start, second), first)).toEqual(together);
      }),
      { numRuns: 300 },
    );
  });

  it('folding any permutation of records gives the same integration, even when times are equal', () => {
    // Logs with one-second resolution often hold several requests of one firewall in the same second
    // (a retry after a 401, a HEAD then a GET); which one is "the last attempt" must not depend on file order.
    const sameSecondish = fc
      .array(recordAt(fc.integer({ min: 0, max: 3 })), { minLength: 0, maxLength: 8 })
      .chain((records) =>
        fc.tuple(
          fc.constant(records),
          fc.shuffledSubarray(records, { minLength: records.length, maxLength: records.length }),
        ),
      );
    fc.assert(
      fc.property(sameSecondish, ([records, permuted]) => {
        expect(ingestState(integration(), permuted)).toEqual(ingestState(integration(), records));
      }),
      { numRuns: 300 },
    );
  });
});
