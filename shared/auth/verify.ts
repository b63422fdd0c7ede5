import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { isIssuedId, keyedHash } from '../crypto.ts';
import type { Iso } from '../time.ts';

/**
 * Verification of a device's pull: which credential it presented for which integration. One module, used by
 * every place a pull is verified (the local content endpoint, `/v1/pull-auth` for nginx, the Lambda
 * authorizer), so they agree on every outcome.
 *
 * Outcomes (stable codes; they are written into pull logs and read back by the ingest):
 *   current              the integration's current password                              (accepted)
 *   previous_in_grace    the password a refresh replaced, within its grace window        (accepted)
 *   previous_expired     the password a refresh replaced, after its grace ended          (refused)
 *   wrong_password       anything else presented, including another integration's user   (refused)
 *   no_credentials       no basic auth, no X-Api-Key, no api_key query parameter         (refused)
 *   unknown_integration  no integration has the id of the URL                            (refused)
 */
export const AUTH_OUTCOMES = [
  'current',
  'previous_in_grace',
  'previous_expired',
  'wrong_password',
  'no_credentials',
  'unknown_integration',
] as const;
export const AuthOutcome = z.enum(AUTH_OUTCOMES);
export type AuthOutcome = z.infer<typeof AuthOutcome>;

export const isAcceptedOutcome = (outcome: AuthOutcome): boolean =>
  outcome === 'current' || outcome === 'previous_in_grace';

/** Reads an outcome written by someone else (a log line): anything that is not one of the codes is null. */
export function authOutcomeOf(value: unknown): AuthOutcome | null {
  return typeof value === 'string' && (AUTH_OUTCOMES as readonly string[]).includes(value)
    ? (value as AuthOutcome)
    : null;
}

/** Where the secret came from: firewalls send basic auth (also what `https://user:pass@host/` sends). */
export type CredentialForm = 'basic' | 'header' | 'query';

/**
 * What a pull log says about the credential of a request (`credential` in canonical and API Gateway lines, the
 * last field of the README's nginx format): `query` whenever the URL carried one, whatever else came with it,
 * since the URL is what proxies, load balancers and CDNs write into their own logs; otherwise the form
 * presented, or `none`.
 */
export const CREDENTIAL_MARKS = ['basic', 'header', 'query', 'none'] as const;
export type CredentialMark = (typeof CREDENTIAL_MARKS)[number];

/** What a request presented. `username` is null for the key forms: the URL's `{id}` names the integration. */
export interface PresentedCredentials {
  form: CredentialForm;
  username: string | null;
  password: string;
}

/** The parts of a request verification looks at, whatever the server (Hono, a Lambda event). */
export interface PullRequestParts {
  authorization?: string | null | undefined;
  apiKeyHeader?: string | null | undefined;
  /** The raw query string, without `?`. */
  query?: string | null | undefined;
}

/** Secrets longer than this are not ours (ours are 32 characters); refusing them bounds the hashing work. */
const MAX_SECRET_LENGTH = 1024;

/** The query parameter a device may carry its password in: the one name `presentedCredentials` reads. */
const QUERY_CREDENTIAL = 'api_key';

function apiKeyOfQuery(query: string): string | null {
  if (!query.includes(`${QUERY_CREDENTIAL}=`)) return null;
  try {
    return new URLSearchParams(query).get(QUERY_CREDENTIAL);
  } catch {
    return null;
  }
}

/** Whether a raw query string (without `?`) carries a password that verification would read. */
export const queryCarriesCredential = (query: string): boolean => Boolean(apiKeyOfQuery(query));

/** The credential mark of a request (see CREDENTIAL_MARKS). */
export function credentialMarkOf(parts: PullRequestParts): CredentialMark {
  if (parts.query && queryCarriesCredential(parts.query)) return 'query';
  return presentedCredentials(parts)?.form ?? 'none';
}

/** Reads a credential mark written by someone else: anything that is not one of the marks is null. */
export function credentialMarkOfValue(value: unknown): CredentialMark | null {
  return typeof value === 'string' && (CREDENTIAL_MARKS as readonly string[]).includes(value)
    ? (value as CredentialMark)
    : null;
}

/**
 * The credentials a request presents, in this order: basic auth, `X-Api-Key`, `?api_key=`. Null when it
 * presents none. A malformed basic header is still a presented credential (it verifies as wrong_password), so
 * a device that sends garbage is told apart from one that sends nothing.
 */
export function presentedCredentials(parts: PullRequestParts): PresentedCredentials | null {
  const authorization = parts.authorization?.trim();
  if (authorization && /^basic\s/i.test(authorization)) {
    const encoded = authorization.slice(6).trim();
    const decoded =
      encoded.length <= 4 * MAX_SECRET_LENGTH ? Buffer.from(encoded, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    return colon === -1
      ? { form: 'basic', username: decoded, password: '' }
      : { form: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  const header = parts.apiKeyHeader?.trim();
  if (header) return { form: 'header', username: null, password: header };
  const query = parts.query ? apiKeyOfQuery(parts.query) : null;
  if (query) return { form: 'query', username: null, password: query };
  return null;
}

/**
 * What verifying a pull needs of an integration, written here rather than picked from the integration's
 * schema (which itself uses this module's outcomes), so the two modules do not import each other.
 */
export interface VerifiableIntegration {
  id: string;
  org_id: string;
  kind: 'firewall' | 'remediation_component';
  credentials: {
    username: string;
    password_hash: string;
    rotated_at: Iso;
    previous_password_hash: string | null;
    previous_valid_until: Iso | null;
  };
}

const digest = (value: string) => createHash('sha256').update(value).digest();
/** Compared against when there is nothing to compare, so every path does the same work. */
const NOTHING = Buffer.alloc(32);

function same(a: Buffer, b: Buffer): boolean {
  return timingSafeEqual(a, b);
}

/**
 * The outcome of presenting `presented` for `integration` at `now`. Pure and constant-time in the secrets:
 * the password's keyed hash is compared against both stored hashes, and the user name's digest against the
 * integration's, on every path, so neither the outcome nor its timing tells which part was wrong.
 */
export function verifyPresented(
  secret: string,
  integration: VerifiableIntegration | null,
  presented: PresentedCredentials | null,
  now: Iso,
): AuthOutcome {
  const password = presented && presented.password.length <= MAX_SECRET_LENGTH ? presented.password : '';
  const hash = Buffer.from(keyedHash(secret, 'integration-password', password), 'hex');
  const credentials = integration?.credentials;
  const current = credentials ? Buffer.from(credentials.password_hash, 'hex') : NOTHING;
  const previous = credentials?.previous_password_hash
    ? Buffer.from(credentials.previous_password_hash, 'hex')
    : NOTHING;
  const isCurrent = current.length === hash.length && same(current, hash);
  const isPrevious = previous.length === hash.length && same(previous, hash);
  const expected = digest(credentials?.username ?? '');
  // Key forms carry no user name: the integration of the URL is the only one they can be for.
  const userOk = same(expected, digest(presented?.username ?? credentials?.username ?? ''));
  if (integration === null) return 'unknown_integration';
  if (presented === null) return 'no_credentials';
  if (!userOk || password === '') return 'wrong_password';
  if (isCurrent) return 'current';
  if (isPrevious) {
    // A refresh without grace keeps the replaced hash with no window: it is recognised, and refused.
    const until = credentials?.previous_valid_until ?? null;
    return until !== null && now < until ? 'previous_in_grace' : 'previous_expired';
  }
  return 'wrong_password';
}

/** The verdict on one pull request. `integration` is set whenever the id names one, accepted or not. */
export interface PullVerdict {
  outcome: AuthOutcome;
  accepted: boolean;
  integration: Pick<VerifiableIntegration, 'id' | 'org_id' | 'kind'> | null;
}

/** Where the verifier finds an integration by the id in a URL (the store's `integrations.byId`). */
export type IntegrationFinder = (id: string) => Promise<VerifiableIntegration | null>;

/** How long a cached integration is trusted for an accepting outcome (see PullVerifier). */
export const VERIFIER_CACHE_SECONDS = 30;
/** A refusal from a cached entry older than this re-reads the integration once before it is final. */
export const VERIFIER_RECHECK_SECONDS = 1;
/** Entries kept per process; the oldest go first. */
const MAX_CACHED = 10_000;

interface Cached {
  integration: VerifiableIntegration | null;
  read_at: number;
}

/**
 * Verifies pulls with a per-process cache of integrations (their hashes, never a password). Bounds, all from
 * the clock the caller passes as `now`:
 *   - A refresh takes effect at once for the new password: a refusal from a cached entry older than
 *     VERIFIER_RECHECK_SECONDS re-reads the integration before it is final (at most one read per integration
 *     per second, so a device hammering with a wrong password cannot turn into a read per request).
 *   - The replaced password keeps passing for at most VERIFIER_CACHE_SECONDS after a refresh without grace
 *     (an accepting outcome is only served from an entry younger than that).
 *   - A grace end takes effect exactly: the grace's end time is compared with `now` on every request.
 *   - A new integration's id is known within VERIFIER_RECHECK_SECONDS; a deleted one is refused within
 *     VERIFIER_CACHE_SECONDS.
 */
export class PullVerifier {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly secret: string,
    private readonly find: IntegrationFinder,
  ) {}

  async verify(integrationId: string, parts: PullRequestParts, now: Iso): Promise<PullVerdict> {
    const presented = presentedCredentials(parts);
    if (!isIssuedId(integrationId)) return this.verdict(null, presented, now);
    const at = Date.parse(now);
    let entry = this.cache.get(integrationId);
    const age = (cached: Cached) => (at - cached.read_at) / 1000;
    if (!entry || age(entry) < 0 || age(entry) >= VERIFIER_CACHE_SECONDS)
      entry = await this.read(integrationId, at);
    let verdict = this.verdict(entry.integration, presented, now);
    // A refusal may come from a stale entry (a refresh since): read again, at most once a second.
    if (!verdict.accepted && verdict.outcome !== 'no_credentials' && age(entry) >= VERIFIER_RECHECK_SECONDS) {
      entry = await this.read(integrationId, at);
      verdict = this.verdict(entry.integration, presented, now);
    }
    return verdict;
  }

  /** Forgets what the cache holds for an integration (the local runner calls it after a refresh it made). */
  forget(integrationId: string): void {
    this.cache.delete(integrationId);
  }

  private verdict(
    integration: VerifiableIntegration | null,
    presented: PresentedCredentials | null,
    now: Iso,
  ): PullVerdict {
    const outcome = verifyPresented(this.secret, integration, presented, now);
    return {
      outcome,
      accepted: isAcceptedOutcome(outcome),
      integration: integration
        ? { id: integration.id, org_id: integration.org_id, kind: integration.kind }
        : null,
    };
  }

  private async read(integrationId: string, at: number): Promise<Cached> {
    const found = await this.find(integrationId);
    const entry: Cached = {
      integration: found
        ? { id: found.id, org_id: found.org_id, kind: found.kind, credentials: found.credentials }
        : null,
      read_at: at,
    };
    this.cache.delete(integrationId);
    this.cache.set(integrationId, entry);
    if (this.cache.size > MAX_CACHED) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return entry;
  }
}
