import { newCredentials } from '../auth/index.ts';
import { retryOnConflict } from '../conflict.ts';
import { newId } from '../crypto.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { AuditEvent } from '../history/index.ts';
import type { Store } from '../store.ts';
import { addSeconds, type Iso } from '../time.ts';
import { type Integration, IntegrationPatch, NewIntegration, newIntegration, statusOf } from './index.ts';

/**
 * The time of a change: a fixed instant (tests, the CLI) or a clock. A clock is read once per attempt, after the
 * read the attempt builds on, so the stamp of the write that wins is later than that of the write it replaced,
 * and the audit event carries the stamp that was stored.
 */
export type When = Iso | (() => Iso);
const timeOf = (when: When): Iso => (typeof when === 'function' ? when() : when);

/** Who asked for a change: an API key id (or 'cli'), and the request it came in. */
export interface Actor {
  key_id: string;
  request_id: string | null;
}
const CLI_ACTOR: Actor = { key_id: 'cli', request_id: null };

async function audit(
  store: Store,
  integration: Integration,
  type: AuditEvent['type'],
  actor: Actor,
  at: Iso,
  detail: AuditEvent['detail'] = {},
): Promise<void> {
  await store.history.putEvent(integration.org_id, {
    integration_id: integration.id,
    at,
    type,
    actor: actor.key_id,
    request_id: actor.request_id,
    detail,
  });
}
export const MAX_GRACE_SECONDS = 7 * 86_400;
export const MAX_SNOOZE_SECONDS = 30 * 86_400;

export interface IssuedCredentials {
  username: string;
  password: string;
}

function validationError(error: {
  issues: Array<{ path: PropertyKey[]; message: string }>;
}): ValidationError {
  const first = error.issues[0];
  const field = first?.path.map(String).join('.') || undefined;
  return new ValidationError(`${field ?? 'body'}: ${first?.message ?? 'invalid'}`, field);
}

/** Creates an integration with fresh credentials; the password is in the result and nowhere else. */
export async function createIntegration(
  store: Store,
  secret: string,
  orgId: string,
  input: unknown,
  now: Iso,
  actor: Actor = CLI_ACTOR,
): Promise<{ integration: Integration; credentials: IssuedCredentials }> {
  const parsed = NewIntegration.safeParse(input);
  if (!parsed.success) throw validationError(parsed.error);
  const spec = parsed.data;
  const id = newId('int');
  const credentials = newCredentials(secret, id);
  const integration = newIntegration(
    {
      id,
      org_id: orgId,
      name: spec.name,
      kind: spec.kind,
      vendor: spec.vendor ?? 'other',
      source: spec.source,
      offline_after_seconds: spec.offline_after_seconds,
      paused: spec.paused,
      early_warning: spec.early_warning,
      credentials: {
        username: credentials.username,
        password_hash: credentials.password_hash,
        rotated_at: now,
        previous_password_hash: null,
        previous_valid_until: null,
      },
    },
    now,
  );
  const stored = await store.integrations.create(integration, now);
  await audit(store, stored, 'created', actor, now, { username: credentials.username });
  return {
    integration: stored,
    credentials: { username: credentials.username, password: credentials.password },
  };
}

export async function getIntegration(store: Store, orgId: string, id: string): Promise<Integration> {
  const integration = await store.integrations.get(orgId, id);
  if (!integration) throw new NotFoundError(`integration ${id} not found`);
  return integration;
}

/**
 * Read, change, write "where version = read", again after a jittered wait on a concurrent change. `change` gets
 * the time of this attempt; the result carries the time of the attempt that was written.
 */
async function update(
  store: Store,
  orgId: string,
  id: string,
  when: When,
  change: (integration: Integration, now: Iso) => Integration,
): Promise<{ integration: Integration; before: Integration; now: Iso }> {
  return retryOnConflict(async () => {
    const current = await getIntegration(store, orgId, id);
    const now = timeOf(when);
    const integration = await store.integrations.save(
      { ...change(current, now), updated_at: now },
      current.version,
      now,
    );
    return { integration, before: current, now };
  });
}

export async function patchIntegration(
  store: Store,
  orgId: string,
  id: string,
  input: unknown,
  when: When,
  actor: Actor = CLI_ACTOR,
): Promise<Integration> {
  const parsed = IntegrationPatch.safeParse(input);
  if (!parsed.success) throw validationError(parsed.error);
  const patch = parsed.data;
  let snoozedUntil: Iso | null | undefined;
  if (patch.snoozed_until !== undefined) {
    // Checked against the time the request arrived; the write below may be stamped a little later.
    const asked = timeOf(when);
    snoozedUntil = patch.snoozed_until === null ? null : new Date(patch.snoozed_until).toISOString();
    if (
      snoozedUntil !== null &&
      (snoozedUntil <= asked || snoozedUntil > addSeconds(asked, MAX_SNOOZE_SECONDS))
    ) {
      throw new ValidationError(
        'snoozed_until: must be in the future and at most 30 days ahead',
        'snoozed_until',
      );
    }
  }
  // Pausing needs no special case: the next rule pass sees a paused integration with open issues and resolves them.
  const {
    integration: updated,
    before: previous,
    now,
  } = await update(store, orgId, id, when, (current) => ({
    ...current,
    ...(patch.name === undefined ? {} : { name: patch.name }),
    ...(patch.vendor === undefined ? {} : { vendor: patch.vendor }),
    ...(patch.offline_after_seconds === undefined
      ? {}
      : { offline_after_seconds: patch.offline_after_seconds }),
    ...(patch.paused === undefined ? {} : { paused: patch.paused }),
    ...(patch.early_warning === undefined ? {} : { early_warning: patch.early_warning }),
    ...(snoozedUntil === undefined ? {} : { snoozed_until: snoozedUntil }),
  }));
  if (patch.paused !== undefined && patch.paused !== previous.paused) {
    await store.history.putTransition(updated, {
      integration_id: updated.id,
      at: now,
      kind: patch.paused ? 'paused' : 'resumed',
      issue_id: null,
      issue_type: null,
      from_status: statusOf(previous, now),
      to_status: statusOf(updated, now),
      reason: 'api',
    });
  }
  const changed = (Object.keys(patch) as Array<keyof typeof patch>).filter(
    (field) => patch[field] !== previous[field],
  );
  if (changed.includes('paused'))
    await audit(store, updated, patch.paused ? 'paused' : 'resumed', actor, now);
  const others = changed.filter((field) => field !== 'paused');
  if (others.length > 0) {
    await audit(
      store,
      updated,
      'updated',
      actor,
      now,
      Object.fromEntries(others.map((field) => [field, patch[field] ?? null])),
    );
  }
  return updated;
}

/**
 * Issues a new password. With `graceSeconds` > 0 the previous one keeps working until then, so a firewall
 * can be updated without a gap. Only the returned password is ever shown; both are stored hashed. The replaced
 * hash is kept after the grace (or with none) only to recognise it: it is refused as `previous_expired`.
 */
export async function refreshCredentials(
  store: Store,
  secret: string,
  orgId: string,
  id: string,
  graceSeconds: number,
  when: When,
  actor: Actor = CLI_ACTOR,
): Promise<{ integration: Integration; credentials: IssuedCredentials }> {
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_GRACE_SECONDS) {
    throw new ValidationError(
      `grace_seconds: must be an integer from 0 to ${MAX_GRACE_SECONDS}`,
      'grace_seconds',
    );
  }
  const fresh = newCredentials(secret, id);
  const { integration, now } = await update(store, orgId, id, when, (current, now) => ({
    ...current,
    credentials: {
      username: current.credentials.username,
      password_hash: fresh.password_hash,
      rotated_at: now,
      // Kept even without grace, so a device still presenting it is told apart from one with a wrong password.
      previous_password_hash: current.credentials.password_hash,
      previous_valid_until: graceSeconds > 0 ? addSeconds(now, graceSeconds) : null,
    },
  }));
  await audit(store, integration, 'credentials_refreshed', actor, now, {
    grace_seconds: graceSeconds,
    previous_valid_until: integration.credentials.previous_valid_until,
  });
  return {
    integration,
    credentials: { username: integration.credentials.username, password: fresh.password },
  };
}

/** Deletes an integration; its open issues are resolved first so nobody waits for a "back online". */
export async function deleteIntegration(
  store: Store,
  orgId: string,
  id: string,
  when: When,
  actor: Actor = CLI_ACTOR,
): Promise<void> {
  await retryOnConflict(async () => {
    const current = await getIntegration(store, orgId, id);
    const now = timeOf(when);
    for (const ref of Object.values(current.open_issues)) {
      if (ref) await store.issues.resolve(orgId, ref.id, now, 'deleted');
    }
    await store.integrations.delete(current);
    await audit(store, current, 'deleted', actor, now);
  });
}
