import { z } from 'zod';
import { AuthOutcome } from '../auth/verify.ts';
import type { Iso } from '../time.ts';
import {
  type Integration,
  IntegrationKind,
  IntegrationStatus,
  idleSeconds,
  Source,
  statusOf,
  Vendor,
} from './index.ts';

const Time = z.iso.datetime();

/**
 * The integration as the API and the CLI show it: derived status, no secrets, no hashes. The API documents this
 * very schema, so what is shown and what is documented cannot drift.
 */
export const IntegrationView = z.object({
  id: z.string(),
  name: z.string(),
  kind: IntegrationKind,
  vendor: Vendor,
  source: Source,
  status: IntegrationStatus,
  last_pull_at: Time.nullable(),
  last_attempt_at: Time.nullable(),
  last_attempt_status: z.number().int().nullable().describe('HTTP status of the last try'),
  last_attempt_auth: AuthOutcome.nullable().describe(
    'which credential the last try presented, where the pull log says so (null otherwise)',
  ),
  idle_seconds: z.number().int().nullable(),
  offline_after_seconds: z.number().int(),
  paused: z.boolean(),
  snoozed_until: Time.nullable(),
  open_issues: z.number().int(),
  username: z.string(),
  credentials_rotated_at: Time,
  created_at: Time,
  updated_at: Time,
});
export type IntegrationView = z.infer<typeof IntegrationView>;

export function integrationView(integration: Integration, now: Iso): IntegrationView {
  return {
    id: integration.id,
    name: integration.name,
    kind: integration.kind,
    vendor: integration.vendor,
    source: integration.source,
    status: statusOf(integration, now),
    last_pull_at: integration.last_pull_at,
    last_attempt_at: integration.last_attempt_at,
    last_attempt_status: integration.last_attempt_status,
    last_attempt_auth: integration.last_attempt_auth,
    idle_seconds: idleSeconds(integration, now),
    offline_after_seconds: integration.offline_after_seconds,
    paused: integration.paused,
    snoozed_until: integration.snoozed_until,
    open_issues: Object.keys(integration.open_issues).length,
    username: integration.credentials.username,
    credentials_rotated_at: integration.credentials.rotated_at,
    created_at: integration.created_at,
    updated_at: integration.updated_at,
  };
}
