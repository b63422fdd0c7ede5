import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ingest } from '../shared/ingest/index.ts';
import { isSecretName, REDACTED, redact } from '../shared/ingest/redact.ts';
import { useTestDb } from './kit/db.ts';
import { put, useTempDirs } from './kit/files.ts';
import { clf, lines } from './kit/lines.ts';
import { at } from './kit/time.ts';
import { addIntegration, world } from './kit/world.ts';

/**
 * Samples never carry secrets: fixed lines pin what redaction looks like, and properties plant a random
 * secret in every position a credential takes in a log line and check that no piece of it survives.
 */

useTestDb();
useTempDirs();

describe('redact: what it looks like', () => {
  const cases: Array<[string, string]> = [
    [
      '203.0.113.7 - - [20/Nov/2026:08:00:00 +0000] "GET /v1/integrations/int_1/content?api_key=abc123&format=plain HTTP/1.1" 200',
      '203.0.113.7 - - [20/Nov/2026:08:00:00 +0000] "GET /v1/integrations/int_1/content?api_key=[redacted]&format=plain HTTP/1.1" 200',
    ],
    [
      'GET /x?X-Amz-Credential=AKIAEXAMPLE%2F20261120%2Fus-east-1&X-Amz-Signature=deadbeef&X-Amz-Expires=300',
      'GET /x?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&X-Amz-Expires=300',
    ],
    ['"https://admin:hunter2@logs.example.com/in"', '"https://[redacted]@logs.example.com/in"'],
    ['Authorization: Basic dXNlcjpwYXNz', 'Authorization: [redacted]'],
    [
      'curl -H "Authorization: Bearer eyJhbGciOi.x.y" https://h',
      'curl -H "Authorization: [redacted]" https://h',
    ],
    ['{"user":"bob","password":"p\\"w","n":1}', '{"user":"bob","password":"[redacted]","n":1}'],
    ['{"apiKey": 12345, "status": 200}', '{"apiKey": [redacted], "status": 200}'],
    ['{"msg":"{\\"token\\":\\"abc\\"}"}', '{"msg":"{\\"token\\":\\"[redacted]\\"}"}'],
    [
      '{"routeKey":"GET /v1/integrations/{id}/content","status":"200"}',
      '{"routeKey":"GET /v1/integrations/{id}/content","status":"200"}',
    ],
    [
      '{"integration_id":"int_5f1c0a9e3b7d2c41","user_agent":"FortiGate/7.4"}',
      '{"integration_id":"int_5f1c0a9e3b7d2c41","user_agent":"FortiGate/7.4"}',
    ],
  ];
  it.each(cases)('%s', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  it('knows secret names in any case and spelling, and leaves plain ones', () => {
    for (const name of [
      'api_key',
      'APIKEY',
      'apiKey',
      'key',
      'Token',
      'access_token',
      'password',
      'pass',
      'pwd',
      'secret',
      'client_secret',
      'sig',
      'Signature',
      'X-Amz-Signature',
      'x-amz-credential',
      'X-Amz-Security-Token',
      'AWSAccessKeyId',
      'Authorization',
      'cookie',
      'session_id',
    ]) {
      expect(isSecretName(name), name).toBe(true);
    }
    for (const name of [
      'integration_id',
      'status',
      'user_agent',
      'ip',
      'path',
      'routeKey',
      'requestTimeEpoch',
      'format',
      'bytes',
      'monkey',
    ]) {
      expect(isSecretName(name), name).toBe(false);
    }
  });
});

const SECRET_NAMES = [
  'api_key',
  'apikey',
  'key',
  'token',
  'access_token',
  'password',
  'pass',
  'secret',
  'sig',
  'signature',
  'X-Amz-Signature',
  'X-Amz-Credential',
  'client_secret',
  'apiKey',
  'refreshToken',
];

/** A name in any letter case. */
const secretName = fc
  .tuple(fc.constantFrom(...SECRET_NAMES), fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }))
  .map(([name, upper]) =>
    [...name].map((char, index) => (upper[index] ? char.toUpperCase() : char.toLowerCase())).join(''),
  );
/** A credential-looking value, long and random enough that no 8 characters of it appear by chance. */
const secret = fc.stringMatching(/^[A-Za-z0-9_~+/=%-]{16,40}$/).map((value) => `Zq${value}`);
/** Userinfo may hold anything but the characters that end it. */
const password = fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:%@-]{16,40}$/).map((value) => `Zq${value}`);
const noise = fc.string({ maxLength: 60 });
const after = fc.constantFrom('', ' ', '&x=1', ' HTTP/1.1" 200', '"', '#frag', ',', '}', '\n');

/** True when some 8 characters of `planted` are still in `text`, and not because the rest of `line` has them. */
function survives(text: string, planted: string, line: string): boolean {
  const elsewhere = line.split(planted).join(' ');
  for (let index = 0; index + 8 <= planted.length; index += 1) {
    const piece = planted.slice(index, index + 8);
    if (text.includes(piece) && !elsewhere.includes(piece)) return true;
  }
  return false;
}

function neverSurvives(planting: fc.Arbitrary<{ text: string; planted: string }>): void {
  fc.assert(
    fc.property(planting, noise, noise, ({ text, planted }, before, rest) => {
      const line = `${before} ${text}${rest}`;
      const out = redact(line);
      if (survives(out, planted, line))
        throw new Error(`${JSON.stringify(planted)} survived in ${JSON.stringify(out)}`);
    }),
    { numRuns: 500 },
  );
}

describe('redact: properties', () => {
  it('a query parameter named like a key, token, password or signature never keeps its value', () => {
    neverSurvives(
      fc
        .tuple(fc.constantFrom('?', '&', ';', '/x?a=1&'), secretName, secret, after)
        .map(([sep, name, value, end]) => ({ text: `GET /c${sep}${name}=${value}${end}`, planted: value })),
    );
  });

  it('a percent-encoded parameter name is read as URL parsers read it (`api%5Fkey=` is `api_key=`)', () => {
    const encode = (name: string) =>
      name.replace(/[_a-z]/g, (char, at: number) =>
        at % 2 === 0 ? `%${char.charCodeAt(0).toString(16).toUpperCase()}` : char,
      );
    neverSurvives(
      fc.tuple(fc.constantFrom('?', '&'), secretName, secret, after).map(([sep, name, value, end]) => ({
        text: `GET /c${sep}${encode(name)}=${value}${end}`,
        planted: value,
      })),
    );
    expect(redact('GET /c?api%5Fkey=hunter2 HTTP/1.1')).toBe('GET /c?api%5Fkey=[redacted] HTTP/1.1');
    expect(redact('GET /c?format%3Dplain HTTP/1.1')).toBe('GET /c?format%3Dplain HTTP/1.1');
  });

  it('userinfo in a URL never survives', () => {
    neverSurvives(
      fc
        .tuple(
          fc.constantFrom('http', 'https', 'ftp', 's3', 'git+ssh'),
          fc.stringMatching(/^[a-z]{1,8}$/),
          password,
          fc.boolean(),
        )
        .map(([scheme, user, pass, withUser]) => ({
          text: `${scheme}://${withUser ? `${user}:` : ''}${pass}@host.example/p?q=1`,
          planted: pass,
        })),
    );
  });

  it('an Authorization value (basic, bearer, or any scheme) never survives', () => {
    neverSurvives(
      fc
        .tuple(
          fc.constantFrom('Basic ', 'Bearer ', 'bearer ', 'Digest ', 'SharedKey acct:', ''),
          secret,
          fc.constantFrom('header', 'json', 'bare'),
        )
        .map(([scheme, value, form]) => ({
          text:
            form === 'header'
              ? `Authorization: ${scheme}${value}`
              : form === 'json'
                ? JSON.stringify({ Authorization: `${scheme}${value}` })
                : `${scheme || 'Bearer '}${value}`,
          planted: value,
        })),
    );
  });

  it('a JSON field with a secret name never keeps its value, however it is escaped or nested', () => {
    neverSurvives(
      fc
        .tuple(
          secretName,
          fc.oneof(
            secret,
            fc.string({ minLength: 16, maxLength: 40 }).map((s) => `Zq${s}`),
          ),
          fc.boolean(),
          fc.dictionary(fc.constantFrom('a', 'status', 'path'), fc.string({ maxLength: 10 })),
        )
        .filter(([, value]) => [...value].some((char) => /[A-Za-z0-9]/.test(char)))
        .map(([name, value, nested, others]) => {
          const json = JSON.stringify({ ...others, [name]: value });
          const text = nested ? JSON.stringify({ msg: json }) : json;
          // What must not survive is the value as it is written in the line.
          const written = JSON.stringify(nested ? JSON.stringify(value).slice(1, -1) : value).slice(1, -1);
          return { text, planted: written };
        })
        .filter(({ planted }) => planted.length >= 8),
    );
  });

  it('never throws, and leaves a line with no secret-sounding name or URL alone', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 500 }), (input) => {
        expect(typeof redact(input)).toBe('string');
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9 /.,_-]{0,200}$/), (input) => {
        fc.pre(!/key|token|pass|pw|secret|sig|auth|cookie|session|jwt|bearer|otp|cred/.test(input));
        expect(redact(input)).toBe(input);
      }),
    );
  });

  it('runs in linear time on a long line built to make patterns backtrack', () => {
    for (const piece of ['a', 'a-', 'token', 'https://a', '"a":', 'Basic ', '\\"']) {
      const line = piece.repeat(Math.ceil(16_384 / piece.length));
      const started = performance.now();
      redact(line);
      expect(performance.now() - started, piece).toBeLessThan(500);
    }
  });
});

it('keeps REDACTED recognisable', () => {
  expect(redact('token=x')).toBe(`token=${REDACTED}`);
});

describe('samples of an ingest', () => {
  it('carry no secret of a skipped line, in the report or the ledger, and show unknown ids and bouncer names', async () => {
    const w = await world();
    const bouncer = await addIntegration(w, {
      name: 'known-bouncer',
      kind: 'remediation_component',
      source: 'lapi',
    });
    const secrets = [
      'Zq1-token-value',
      'Zq2-userinfo-pw',
      'Zq3-bearer-value',
      'Zq4-api-key-val',
      'Zq5-json-passwd',
    ];
    const when = clf(at(8));
    await put(
      w,
      'hostile.log',
      lines(
        `203.0.113.7 - - [${when}] "GET /admin?token=${secrets[0]} HTTP/1.1" 200 0 "https://bob:${secrets[1]}@ref.example/" "curl"`,
        `Authorization: Bearer ${secrets[2]}`,
        `203.0.113.7 - - [${when}] "GET /v1/integrations/int_ffff0000ffff0000/content?api_key=${secrets[3]} HTTP/1.1" 200 0 "-" "FortiGate"`,
        JSON.stringify({ time: 'soon', integration_id: 'int_x', status: 200, password: secrets[4] }),
      ),
    );
    await put(
      w,
      `${w.orgId}/engine.bouncers.json`,
      JSON.stringify([
        { name: 'known-bouncer', last_pull: at(8), revoked: false },
        { name: 'stranger-bouncer', last_pull: at(8), revoked: false },
      ]),
      at(9),
    );

    const report = await ingest({ store: w.store, source: w.source, now: at(10) });

    expect(report.skipped).toMatchObject({
      other_path: 1,
      unrecognized: 1,
      bad_time: 1,
      unknown_integration: 2,
    });
    expect(report.samples.map((sample) => [sample.line, sample.reason])).toEqual([
      [1, 'other_path'],
      [2, 'unrecognized'],
      [4, 'bad_time'],
      [3, 'unknown_integration'],
      [1, 'unknown_integration'],
    ]);
    expect(report.samples.find((sample) => sample.line === 3)?.text).toContain(
      '/v1/integrations/int_ffff0000ffff0000/content?api_key=[redacted] HTTP/1.1',
    );
    expect(report.samples.find((sample) => sample.file.endsWith('.bouncers.json'))?.text).toBe(
      'stranger-bouncer',
    );
    const { Items = [] } = await w.store.table.doc.send(new ScanCommand({ TableName: w.store.table.name }));
    for (const shown of [JSON.stringify(report), JSON.stringify(Items)]) {
      for (const secret of secrets) expect(shown).not.toContain(secret);
    }
    expect(JSON.stringify(Items)).toContain('[redacted]');
    expect(bouncer.id).toBeTruthy();
  });
});
