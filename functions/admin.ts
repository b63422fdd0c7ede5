import { z } from 'zod';
import { createApiKey } from '../shared/auth/index.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import { logger, withLambdaContext } from '../shared/logger.ts';
import { createOrgWithKey, OrgName } from '../shared/org/index.ts';
import { loadSecret } from '../shared/runtime.ts';
import { systemClock } from '../shared/time.ts';
import { config, store } from './context.ts';

/**
 * Operator commands for a deployment in AWS: an organization with its first API key, another key for an
 * organization (both need the key-hashing secret), and `migrate`, the one-off move of integrations written by
 * versions before the id keys (run once after such an upgrade; a second run finds nothing and moves nothing). No trigger reaches this function; it runs only when someone
 * allowed to call `lambda:InvokeFunction` on it does (`aws lambda invoke`, see docs/deploy-aws.md). Keys are
 * returned once and never logged.
 */
const Scope = z.enum(['read', 'write']);
const Command = z.discriminatedUnion('command', [
  z.object({ command: z.literal('create-org'), name: OrgName, scope: Scope.default('write') }).strict(),
  z.object({ command: z.literal('create-key'), org_id: z.string().min(1), scope: Scope }).strict(),
  z.object({ command: z.literal('migrate') }).strict(),
]);
export type AdminCommand = z.input<typeof Command>;

const secret = await loadSecret(config);

export const handler = withLambdaContext(async (event: unknown) => {
  const parsed = Command.safeParse(event);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new ValidationError(`${first?.path.join('.') || 'command'}: ${first?.message ?? 'invalid'}`);
  }
  const command = parsed.data;
  if (command.command === 'migrate') {
    const moved = await store.integrations.moveToIdKeys();
    logger.info('integrations moved to id keys', { moved });
    return { moved };
  }
  const now = systemClock();
  if (command.command === 'create-org') {
    const { org, key } = await createOrgWithKey(store, secret, command.name, command.scope, now);
    logger.info('organization created', { org_id: org.id, scope: command.scope });
    return { org_id: org.id, name: org.name, scope: command.scope, key };
  }
  const org = await store.orgs.get(command.org_id);
  if (!org) throw new NotFoundError(`organization ${command.org_id} does not exist`);
  const { key, record } = await createApiKey(store, secret, org.id, command.scope, now);
  logger.info('API key created', { org_id: org.id, key_id: record.key_id, scope: record.scope });
  return { org_id: org.id, key_id: record.key_id, scope: record.scope, key };
});
