import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ingest } from '../../shared/ingest/index.ts';
import type { LogSource } from '../../shared/ingest/sources.ts';
import type { Integration } from '../../shared/integration/index.ts';
import type { Iso } from '../../shared/time.ts';
import { at } from './time.ts';
import { addIntegration, type World } from './world.ts';

/** The pull-log fixtures (test/fixtures/) and the helpers the ingest test files share. */
export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
export const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

/** The integration ids written in the fixture files; ingest tests swap in the ids of real integrations. */
export const FIXTURE_IDS = {
  fw1: 'int_5f1c0a9e3b7d2c41',
  fw2: 'int_a83e6b0d94c2f517',
  rc1: 'int_0c7d19e4b6a25f38',
} as const;
export type FixtureKey = keyof typeof FIXTURE_IDS;
export const UNKNOWN_ID = 'int_ffff0000ffff0000';
export const FIXTURE_ORG = 'org_0123456789abcdef';
/**
 * `cscli bouncers list -o json` as crowdsec >= 1.6.3 prints it: the fields of `bouncerInfo` in
 * crowdsecurity/crowdsec cmd/crowdsec-cli/clibouncer/bouncers.go (no `valid`, `last_pull` null before the first
 * pull, `auto_created`). `fw-edge-01@198.51.100.7` is the entry the local API auto-creates when the key of
 * `fw-edge-01` is used from a new address, and `old-pfsense@2001:db8::12` a TLS bouncer registered as
 * `<CN>@<ip>` (pkg/apiserver/middlewares/v1/api_key.go, `authPlain` and `authTLS`); `ops@lab` is a bouncer
 * whose own name holds an `@`.
 */
export const SNAPSHOT_FIXTURE = `${FIXTURE_ORG}/engine1.bouncers.json`;

/**
 * One entry of `cscli bouncers list -o json` as crowdsec 1.5+ prints it (`bouncerInfo`, crowdsec
 * cmd/crowdsec-cli/clibouncer/bouncers.go; the 1.4 shape is in fixtures/crowdsec-1.4.6/).
 */
export const bouncerEntry = (name: string, lastPull: Iso | null, more: Record<string, unknown> = {}) => ({
  created_at: '2026-10-02T09:14:22Z',
  updated_at: lastPull ?? '2026-10-02T09:14:22Z',
  name,
  revoked: false,
  ip_address: '192.0.2.10',
  type: 'crowdsec-firewall-bouncer',
  version: 'v0.0.31',
  last_pull: lastPull,
  auth_type: 'api-key',
  auto_created: false,
  ...more,
});

export function withIds(text: string, ids: Record<FixtureKey, string>): string {
  let out = text;
  for (const key of Object.keys(FIXTURE_IDS) as FixtureKey[])
    out = out.replaceAll(FIXTURE_IDS[key], ids[key]);
  return out;
}

/** The three integrations the fixture files talk about, created for real. */
export async function fixtureIntegrations(w: World): Promise<Record<FixtureKey, Integration>> {
  return {
    fw1: await addIntegration(w, { name: 'Edge FortiGate' }),
    fw2: await addIntegration(w, { name: 'DC Palo Alto' }),
    rc1: await addIntegration(w, { name: 'Web bouncer', kind: 'remediation_component' }),
  };
}

export const idsOf = (integrations: Record<FixtureKey, Integration>) =>
  ({
    fw1: integrations.fw1.id,
    fw2: integrations.fw2.id,
    rc1: integrations.rc1.id,
  }) as Record<FixtureKey, string>;

export const run = (w: World, now: Iso, source: LogSource = w.source) =>
  ingest({ store: w.store, source, now });

/** The pull facts a user sees about an integration. */
export const pullFacts = (integration: Integration) => ({
  last_pull_at: integration.last_pull_at,
  last_pull_ip: integration.last_pull_ip,
  last_pull_user_agent: integration.last_pull_user_agent,
  last_attempt_at: integration.last_attempt_at,
  last_attempt_status: integration.last_attempt_status,
  last_attempt_ip: integration.last_attempt_ip,
  last_attempt_user_agent: integration.last_attempt_user_agent,
  rejections: integration.rejections,
});

export const NOW = at(12); // 2026-11-20T12:00:00.000Z, after every fixture line

/** The V8 garbage collector, exposed at run time (vitest workers do not start with --expose-gc). */
export function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
