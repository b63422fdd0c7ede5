import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A random URL-safe token with `bytes` bytes of entropy (base64url, no padding). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** A short random identifier with a readable prefix, e.g. `int_4f9c2a7b1e0d5c3a`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}

/**
 * Keyed hash of a secret. API keys and integration passwords are 256-bit random tokens, so a fast keyed
 * hash is enough: there is nothing to brute-force, and a leaked table is useless without the key.
 * `purpose` separates domains so a key hash can never verify as a password hash.
 */
export function keyedHash(secret: string, purpose: string, value: string): string {
  return createHmac('sha256', secret).update(`${purpose}\u0000${value}`).digest('hex');
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}

/** Deterministic short id: the same inputs always give the same id (used to make writes idempotent). */
export function stableId(prefix: string, ...parts: Array<string | number>): string {
  const digest = createHmac('sha256', 'pullwatch-stable-id').update(parts.join('\u0000')).digest('hex');
  return `${prefix}_${digest.slice(0, 20)}`;
}

/** Small stable hash of a string into [0, buckets). */
export function bucketOf(value: string, buckets: number): number {
  let hash = 2166136261;
  for (let index = 0; index < value.length; index += 1) {
    hash ^= value.charCodeAt(index);
    hash = Math.imul(hash, 16777619);
  }
  return (hash >>> 0) % buckets;
}

/** Ids we issue look like `int_0f3a...`; anything else cannot exist, so it is never looked up. */
export function isIssuedId(id: string): boolean {
  return /^[a-z]{2,5}_[0-9a-f]{8,40}$/.test(id);
}
