import { ConflictError } from './errors.ts';

/**
 * Optimistic writes: read, decide, write "where version = the one read"; on a conflict (another writer won),
 * wait a jittered, growing moment and do it all again from a fresh read. The one retry loop of every writer
 * (ingest, rules, the API's operations), so all of them give up alike: after CONFLICT_ATTEMPTS tries, with the
 * ConflictError, which the caller reports (the integration stays due, the request answers 409).
 */
export const CONFLICT_ATTEMPTS = 12;
const BACKOFF_BASE_MS = 4;
const BACKOFF_CAP_MS = 250;

/** Full jitter (a random wait up to base x 2^attempt, capped): concurrent writers spread out at once. */
const backoff = (attempt: number) =>
  new Promise((resume) =>
    setTimeout(resume, Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt)),
  );

/**
 * Runs `attempt` (numbered from 0) until it does not throw a ConflictError, at most CONFLICT_ATTEMPTS times.
 * Each attempt must read what it decides on itself, since the last attempt's reads are what lost the race.
 */
export async function retryOnConflict<T>(attempt: (number: number) => Promise<T>): Promise<T> {
  for (let number = 0; ; number += 1) {
    try {
      return await attempt(number);
    } catch (error) {
      if (!(error instanceof ConflictError) || number + 1 >= CONFLICT_ATTEMPTS) throw error;
    }
    await backoff(number);
  }
}
