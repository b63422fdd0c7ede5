import { keyedHash, newId, randomToken, sameDigest } from '../crypto.ts';
import type { Iso } from '../time.ts';
import type { ApiKeyRecord, ApiKeys, KeyScope } from './data.ts';

export type { ApiKeyRecord, KeyScope } from './data.ts';

/** Prefixes tell read keys from write keys at a glance (and let secret scanners find leaked ones). */
const KEY_PREFIX: Record<KeyScope, string> = { read: 'pwr_', write: 'pww_' };
const KEY_PATTERN = /^pw[rw]_[A-Za-z0-9_-]{43}$/;

export interface Caller {
  org_id: string;
  key_id: string;
  scope: KeyScope;
}

/** Creates an API key for an organization. The key is returned once; only its keyed hash is stored. */
export async function createApiKey(
  store: { keys: ApiKeys },
  secret: string,
  orgId: string,
  scope: KeyScope,
  now: Iso,
): Promise<{ key: string; record: ApiKeyRecord }> {
  const key = `${KEY_PREFIX[scope]}${randomToken(32)}`;
  const record: ApiKeyRecord = {
    key_id: newId('key'),
    org_id: orgId,
    scope,
    hash: keyedHash(secret, 'api-key', key),
    created_at: now,
  };
  await store.keys.put(record);
  return { key, record };
}

/** The caller a presented key belongs to, or null. Malformed keys are refused before any lookup. */
const KEY_TOUCH_SECONDS = 300;

export async function authenticate(
  store: { keys: ApiKeys },
  secret: string,
  presented: string,
  now: Iso,
): Promise<Caller | null> {
  if (!KEY_PATTERN.test(presented)) return null;
  const hash = keyedHash(secret, 'api-key', presented);
  // Answered from memory for up to KEY_CACHE_SECONDS (the bound on a revocation made by another process).
  const record = await store.keys.byHash(hash, now);
  // The lookup is by hash already; comparing again in constant time guards against a store that matched loosely.
  if (!record || !sameDigest(record.hash, hash)) return null;
  const lastUsed = record.last_used_at;
  // Last use is kept to the minute or so; writing it on every request would double the API's write cost.
  if (!lastUsed || Date.parse(now) - Date.parse(lastUsed) > KEY_TOUCH_SECONDS * 1000) {
    await store.keys.touch(hash, now, KEY_TOUCH_SECONDS);
  }
  return { org_id: record.org_id, key_id: record.key_id, scope: record.scope };
}

/** New basic-auth credentials for an integration: the password is URL-safe so it can sit in a URL. */
export function newCredentials(secret: string, integrationId: string) {
  const password = randomToken(24);
  return {
    username: `pw-${integrationId.replace(/^int_/, '')}`,
    password,
    password_hash: keyedHash(secret, 'integration-password', password),
  };
}
