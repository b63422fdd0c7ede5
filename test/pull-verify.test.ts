import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AUTH_OUTCOMES,
  type PullRequestParts,
  PullVerifier,
  presentedCredentials,
  VERIFIER_CACHE_SECONDS,
  VERIFIER_RECHECK_SECONDS,
  verifyPresented,
} from '../shared/auth/verify.ts';
import type { Integration } from '../shared/integration/index.ts';
import { createIntegration, refreshCredentials } from '../shared/integration/ops.ts';
import { createOrg } from '../shared/org/index.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { freshStore, type MeteredStore, TEST_SECRET, useTestDb } from './kit/db.ts';
import { at, T0 } from './kit/time.ts';

/**
 * Credential verification (shared/auth/verify.ts) against integrations stored in a real dynalite through the
 * operations the API uses (create, refresh), with time injected: every outcome, every presented form, the grace
 * boundary to the millisecond, two refreshes in a row, the per-process cache's stated bounds (reads counted by
 * the metering middleware), and a property over arbitrary request parts.
 */

useTestDb();

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

/** The three forms a firewall presents a password in. */
const forms = (username: string, password: string): Record<string, PullRequestParts> => ({
  basic: { authorization: basic(username, password) },
  header: { apiKeyHeader: password },
  query: { query: `format=plain&api_key=${encodeURIComponent(password)}` },
});

interface Fixture {
  store: MeteredStore;
  orgId: string;
  integration: Integration;
  username: string;
  password: string;
}

async function fixture(): Promise<Fixture> {
  const store = await freshStore();
  const org = await createOrg(store, 'Acme', T0);
  const made = await createIntegration(
    store,
    TEST_SECRET,
    org.id,
    { name: 'Edge FortiGate', kind: 'firewall', vendor: 'fortigate' },
    T0,
  );
  return {
    store,
    orgId: org.id,
    integration: made.integration,
    username: made.credentials.username,
    password: made.credentials.password,
  };
}

/** The integration as stored now, read the way the verifier reads it. */
async function stored(f: Fixture): Promise<Integration> {
  const found = await f.store.integrations.byId(f.integration.id, true);
  if (!found) throw new Error('integration is gone');
  return found;
}

async function refresh(f: Fixture, grace: number, now: Iso): Promise<string> {
  const { credentials } = await refreshCredentials(
    f.store,
    TEST_SECRET,
    f.orgId,
    f.integration.id,
    grace,
    now,
  );
  return credentials.password;
}

const outcome = (integration: Integration | null, parts: PullRequestParts, now: Iso) =>
  verifyPresented(TEST_SECRET, integration, presentedCredentials(parts), now);

const reads = (store: MeteredStore) =>
  Object.entries(store.usage.requests)
    .filter(([label]) => label.startsWith('read.'))
    .reduce((sum, [, count]) => sum + count, 0);

describe('verifyPresented against stored integrations', () => {
  it('accepts the current password in each form: basic auth, X-Api-Key, ?api_key=', async () => {
    const f = await fixture();
    const integration = await stored(f);
    for (const [form, parts] of Object.entries(forms(f.username, f.password))) {
      expect(presentedCredentials(parts)?.form, form).toBe(form);
      expect(outcome(integration, parts, at(1)), form).toBe('current');
    }
    // A URL with user:pass sends exactly this header; case and extra blanks of the scheme do not matter.
    const encoded = Buffer.from(`${f.username}:${f.password}`).toString('base64');
    expect(outcome(integration, { authorization: `basic   ${encoded}` }, at(1))).toBe('current');
    expect(outcome(integration, { query: `api_key=${f.password}&x=1` }, at(1))).toBe('current');
  });

  it('refuses a wrong password in each form, and tells no credentials apart from wrong ones', async () => {
    const f = await fixture();
    const integration = await stored(f);
    for (const [form, parts] of Object.entries(forms(f.username, `${f.password}x`)))
      expect(outcome(integration, parts, at(1)), form).toBe('wrong_password');
    expect(outcome(integration, {}, at(1))).toBe('no_credentials');
    expect(outcome(integration, { authorization: null, apiKeyHeader: '', query: 'api_key=' }, at(1))).toBe(
      'no_credentials',
    );
    expect(outcome(integration, { query: 'format=plain' }, at(1))).toBe('no_credentials');
    // A Bearer token is not a pull credential.
    expect(outcome(integration, { authorization: `Bearer ${f.password}` }, at(1))).toBe('no_credentials');
    // Garbage in a basic header is a credential presented, and wrong.
    expect(outcome(integration, { authorization: 'Basic %%%not-base64' }, at(1))).toBe('wrong_password');
    expect(outcome(integration, { authorization: basic(f.username, '') }, at(1))).toBe('wrong_password');
  });

  it('a user name that is not the integration’s never passes, even with the right password', async () => {
    const f = await fixture();
    const other = await createIntegration(
      f.store,
      TEST_SECRET,
      f.orgId,
      { name: 'Other', kind: 'firewall' },
      T0,
    );
    const integration = await stored(f);
    for (const username of [
      other.credentials.username,
      f.username.toUpperCase(),
      `${f.username} `,
      '',
      'admin',
      f.username.slice(0, -1),
    ]) {
      expect(outcome(integration, { authorization: basic(username, f.password) }, at(1)), username).toBe(
        'wrong_password',
      );
    }
    // Another integration's own, valid credentials do not open this one.
    expect(
      outcome(
        integration,
        { authorization: basic(other.credentials.username, other.credentials.password) },
        at(1),
      ),
    ).toBe('wrong_password');
    expect(outcome(integration, { apiKeyHeader: other.credentials.password }, at(1))).toBe('wrong_password');
    // Basic auth wins over the key forms: a wrong user is not rescued by a right X-Api-Key.
    expect(
      outcome(integration, { authorization: basic('admin', f.password), apiKeyHeader: f.password }, at(1)),
    ).toBe('wrong_password');
  });

  it('unknown_integration when no integration has the id, whatever is presented', async () => {
    const f = await fixture();
    for (const parts of [{}, ...Object.values(forms(f.username, f.password))])
      expect(outcome(null, parts, at(1))).toBe('unknown_integration');
    const verifier = new PullVerifier(TEST_SECRET, (id) => f.store.integrations.byId(id));
    for (const id of ['int_00000000000000ff', 'not-an-id', '', `${f.integration.id}0`]) {
      const verdict = await verifier.verify(id, { authorization: basic(f.username, f.password) }, at(1));
      expect(verdict, id).toEqual({ outcome: 'unknown_integration', accepted: false, integration: null });
    }
  });

  it('the grace boundary is exact: previous_in_grace until the millisecond before previous_valid_until, previous_expired at it', async () => {
    const f = await fixture();
    const old = f.password;
    const fresh = await refresh(f, 3600, at(1));
    const integration = await stored(f);
    const end = integration.credentials.previous_valid_until as Iso;
    expect(end).toBe(at(2));
    for (const parts of Object.values(forms(f.username, old))) {
      expect(outcome(integration, parts, at(1))).toBe('previous_in_grace');
      expect(outcome(integration, parts, addSeconds(end, -0.001))).toBe('previous_in_grace');
      expect(outcome(integration, parts, end)).toBe('previous_expired');
      expect(outcome(integration, parts, at(48))).toBe('previous_expired');
    }
    for (const parts of Object.values(forms(f.username, fresh))) {
      expect(outcome(integration, parts, at(1))).toBe('current');
      expect(outcome(integration, parts, at(48))).toBe('current');
    }
  });

  it('a refresh with grace 0: the old password is previous_expired at once, the new one current', async () => {
    const f = await fixture();
    const fresh = await refresh(f, 0, at(1));
    const integration = await stored(f);
    expect(integration.credentials.previous_valid_until).toBeNull();
    for (const parts of Object.values(forms(f.username, f.password)))
      expect(outcome(integration, parts, at(1))).toBe('previous_expired');
    expect(outcome(integration, { apiKeyHeader: fresh }, at(1))).toBe('current');
  });

  it('two refreshes in a row: the oldest password becomes wrong_password, the middle one previous_*', async () => {
    const f = await fixture();
    const first = f.password;
    const second = await refresh(f, 3600, at(1));
    const third = await refresh(f, 3600, at(1.5));
    const integration = await stored(f);
    expect(integration.credentials.previous_valid_until).toBe(at(2.5));
    for (const parts of Object.values(forms(f.username, first)))
      expect(outcome(integration, parts, at(1.5))).toBe('wrong_password');
    for (const parts of Object.values(forms(f.username, second))) {
      expect(outcome(integration, parts, at(1.5))).toBe('previous_in_grace');
      expect(outcome(integration, parts, at(2.5))).toBe('previous_expired');
    }
    for (const parts of Object.values(forms(f.username, third)))
      expect(outcome(integration, parts, at(3))).toBe('current');
  });
});

describe('PullVerifier: the per-process cache and its stated bounds', () => {
  const verifierOf = (f: Fixture) => new PullVerifier(TEST_SECRET, (id) => f.store.integrations.byId(id));
  const secondsAfter = (from: Iso, seconds: number) => addSeconds(from, seconds);

  it('returns the integration with accepting and refusing verdicts, never its hashes', async () => {
    const f = await fixture();
    const verifier = verifierOf(f);
    const ok = await verifier.verify(f.integration.id, { apiKeyHeader: f.password }, at(1));
    expect(ok).toEqual({
      outcome: 'current',
      accepted: true,
      integration: { id: f.integration.id, org_id: f.orgId, kind: 'firewall' },
    });
    const refused = await verifier.verify(f.integration.id, { apiKeyHeader: 'nope' }, at(1));
    expect(refused).toMatchObject({ outcome: 'wrong_password', accepted: false });
    expect(refused.integration?.id).toBe(f.integration.id);
    expect(JSON.stringify([ok, refused])).not.toContain(f.integration.credentials.password_hash);
  });

  it(`a new password is accepted within ${VERIFIER_RECHECK_SECONDS} s of a refresh made elsewhere, even with a warm cache`, async () => {
    const f = await fixture();
    const verifier = verifierOf(f);
    const t0 = at(1);
    expect((await verifier.verify(f.integration.id, { apiKeyHeader: f.password }, t0)).outcome).toBe(
      'current',
    );
    const fresh = await refresh(f, 0, secondsAfter(t0, 0.2));
    // The cache entry is VERIFIER_RECHECK_SECONDS old: the refusal it would give is re-read, and the new password passes.
    const verdict = await verifier.verify(
      f.integration.id,
      { authorization: basic(f.username, fresh) },
      secondsAfter(t0, VERIFIER_RECHECK_SECONDS),
    );
    expect(verdict.outcome).toBe('current');
  });

  it('a new password is accepted at once after forget() (what the process that refreshed does)', async () => {
    const f = await fixture();
    const verifier = verifierOf(f);
    const t0 = at(1);
    await verifier.verify(f.integration.id, { apiKeyHeader: f.password }, t0);
    const fresh = await refresh(f, 0, t0);
    verifier.forget(f.integration.id);
    expect((await verifier.verify(f.integration.id, { apiKeyHeader: fresh }, t0)).outcome).toBe('current');
    expect((await verifier.verify(f.integration.id, { apiKeyHeader: f.password }, t0)).outcome).toBe(
      'previous_expired',
    );
  });

  it(`a password replaced without grace passes from the cache for at most ${VERIFIER_CACHE_SECONDS} s, then is refused`, async () => {
    const f = await fixture();
    const verifier = verifierOf(f);
    const t0 = at(1);
    const old = { apiKeyHeader: f.password };
    expect((await verifier.verify(f.integration.id, old, t0)).outcome).toBe('current');
    await refresh(f, 0, secondsAfter(t0, 1));
    // Within the bound the warm entry may still accept it ...
    for (const seconds of [1, 10, VERIFIER_CACHE_SECONDS - 0.001]) {
      const verdict = await verifier.verify(f.integration.id, old, secondsAfter(t0, seconds));
      expect(verdict.accepted, `${seconds} s`).toBe(true);
    }
    // ... and from the bound on it never does, whoever asks.
    for (const seconds of [VERIFIER_CACHE_SECONDS, VERIFIER_CACHE_SECONDS + 0.5, 3600]) {
      const verdict = await verifier.verify(f.integration.id, old, secondsAfter(t0, seconds));
      expect(verdict.outcome, `${seconds} s`).toBe('previous_expired');
    }
  });

  it('a grace end takes effect exactly, from a warm cache too', async () => {
    const f = await fixture();
    const verifier = verifierOf(f);
    await refresh(f, 60, at(1));
    const end = addSeconds(at(1), 60);
    const old = { authorization: basic(f.username, f.password) };
    expect((await verifier.verify(f.integration.id, old, at(1))).outcome).toBe('previous_in_grace');
    expect((await verifier.verify(f.integration.id, old, addSeconds(end, -0.001))).outcome).toBe(
      'previous_in_grace',
    );
    const before = reads(f.store);
    const expired = await verifier.verify(f.integration.id, old, end);
    expect(expired).toMatchObject({ outcome: 'previous_expired', accepted: false });
    // The refusal was re-read once (the entry is older than the recheck bound) and stayed a refusal.
    expect(reads(f.store) - before).toBeLessThanOrEqual(2);
  });

  it('a device hammering a wrong password causes at most one read per second', async () => {
    const f = await fixture();
    const verifier = verifierOf(f);
    const t0 = at(1);
    await verifier.verify(f.integration.id, { apiKeyHeader: f.password }, t0);
    const before = f.store.usage.requests['read.INT'] ?? 0;
    const wrong = { authorization: basic(f.username, 'hammer-hammer-hammer') };
    // 20 requests a second for 10 seconds.
    let refused = 0;
    for (let tick = 0; tick < 200; tick += 1) {
      const verdict = await verifier.verify(f.integration.id, wrong, secondsAfter(t0, tick * 0.05));
      if (verdict.outcome === 'wrong_password') refused += 1;
    }
    expect(refused).toBe(200);
    const itemReads = (f.store.usage.requests['read.INT'] ?? 0) - before;
    expect(itemReads).toBeGreaterThan(0);
    expect(itemReads).toBeLessThanOrEqual(10);
    // Nothing else was read either (the id's organization is remembered by the store).
    const all = reads(f.store);
    const again = await verifier.verify(f.integration.id, wrong, secondsAfter(t0, 9.99));
    expect(again.outcome).toBe('wrong_password');
    expect(reads(f.store)).toBe(all);
  });

  it('no credentials and an unknown id are not re-read on every request either', async () => {
    const f = await fixture();
    const verifier = verifierOf(f);
    const t0 = at(1);
    const before = reads(f.store);
    for (let tick = 0; tick < 100; tick += 1) {
      expect((await verifier.verify(f.integration.id, {}, secondsAfter(t0, tick * 0.1))).outcome).toBe(
        'no_credentials',
      );
      expect(
        (await verifier.verify('int_00000000deadbeef', { apiKeyHeader: 'x' }, secondsAfter(t0, tick * 0.1)))
          .outcome,
      ).toBe('unknown_integration');
    }
    // 10 seconds: one read to warm each id, then at most one re-read per second for the unknown one.
    expect(reads(f.store) - before).toBeLessThanOrEqual(2 * (1 + 10) + 2);
  });
});

describe('property: verification of any request', () => {
  it('never throws and always returns one of the codes (pure function and verifier)', async () => {
    const f = await fixture();
    const integration = await stored(f);
    const verifier = new PullVerifier(TEST_SECRET, (id) => f.store.integrations.byId(id));
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom(f.password, f.username, `Basic ${Buffer.from(`${f.username}:`).toString('base64')}`),
      fc.string().map((s) => `Basic ${Buffer.from(s, 'latin1').toString('base64')}`),
      fc.string().map((s) => `api_key=${s}`),
      fc.string({ minLength: 1025, maxLength: 5000 }),
    );
    const maybe = fc.option(text, { nil: undefined });
    const parts = fc.record(
      { authorization: maybe, apiKeyHeader: maybe, query: fc.option(text, { nil: null }) },
      { requiredKeys: [] },
    );
    const time = fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true });
    await fc.assert(
      fc.asyncProperty(
        parts,
        time,
        fc.constantFrom(f.integration.id, 'int_0000000000000001', 'x/../y'),
        async (p, when, id) => {
          const now = when.toISOString();
          const pure = verifyPresented(TEST_SECRET, integration, presentedCredentials(p), now);
          expect(AUTH_OUTCOMES).toContain(pure);
          expect(verifyPresented(TEST_SECRET, null, presentedCredentials(p), now)).toBe(
            'unknown_integration',
          );
          const verdict = await verifier.verify(id, p, now);
          expect(AUTH_OUTCOMES).toContain(verdict.outcome);
          expect(verdict.accepted).toBe(
            verdict.outcome === 'current' || verdict.outcome === 'previous_in_grace',
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});
