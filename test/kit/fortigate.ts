import { type Integration, newIntegration } from '../../shared/integration/index.ts';
import { at, T0 } from './time.ts';

/**
 * A FortiGate created at T0 whose last pull, at(1), succeeded: the integration the message tests render issues
 * of. `overrides` change any stored fact.
 */
export function pulledFortiGate(overrides: Partial<Integration> = {}): Integration {
  const base = newIntegration(
    {
      id: 'int_0123456789abcdef',
      org_id: 'org_0123456789abcdef',
      name: 'Edge FortiGate',
      kind: 'firewall',
      vendor: 'fortigate',
      credentials: {
        username: 'pw-0123456789abcdef',
        password_hash: 'hash',
        rotated_at: T0,
        previous_password_hash: null,
        previous_valid_until: null,
      },
    },
    T0,
  );
  return {
    ...base,
    last_pull_at: at(1),
    last_pull_ip: '203.0.113.7',
    last_pull_user_agent: 'FortiGate/7.4',
    last_attempt_at: at(1),
    last_attempt_status: 200,
    last_attempt_ip: '203.0.113.7',
    last_attempt_user_agent: 'FortiGate/7.4',
    ...overrides,
  };
}
