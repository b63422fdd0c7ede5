import { z } from 'zod';
import type { ApiKeys } from '../auth/data.ts';
import type { KeyScope } from '../auth/index.ts';
import { createApiKey } from '../auth/index.ts';
import { newId } from '../crypto.ts';
import type { Iso } from '../time.ts';
import type { Organization, Organizations } from './data.ts';

export type { Organization } from './data.ts';

export const OrgName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters');

export async function createOrg(
  store: { orgs: Organizations },
  name: string,
  now: Iso,
): Promise<Organization> {
  const org: Organization = { id: newId('org'), name: OrgName.parse(name), created_at: now };
  await store.orgs.create(org);
  return org;
}

/** An organization with one write key: what a first start or a new tenant needs. */
export async function createOrgWithKey(
  store: { orgs: Organizations; keys: ApiKeys },
  secret: string,
  name: string,
  scope: KeyScope,
  now: Iso,
) {
  const org = await createOrg(store, name, now);
  const { key } = await createApiKey(store, secret, org.id, scope, now);
  return { org, key };
}
