import { describe, expect, it } from 'vitest';
import type { Integration } from '../shared/integration/index.ts';
import { sharedOutageParts } from '../shared/issue/diagnosis.ts';
import { decideGroup, engineName, GROUP_WINDOW_SECONDS, scopeOf } from '../shared/outage/index.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { at, minutes } from './kit/time.ts';
import { integrationInMemory } from './kit/world.ts';

/** How a shared outage is decided, on integrations built in memory: scope, window, minimum size and share. */

const NOW = at(30);
let made = 0;
/** A firewall (or, with `engine`, a bouncer listed by that engine) whose last pull was `lastPull`. */
function device(lastPull: Iso | null, more: Partial<Integration> & { engine?: string } = {}): Integration {
  made += 1;
  const { engine, ...fields } = more;
  const base = integrationInMemory({ id: `int_${String(made).padStart(16, '0')}`, name: `d${made}` }, at(0));
  return {
    ...base,
    last_pull_at: lastPull,
    ...(engine
      ? {
          source: 'lapi',
          kind: 'remediation_component',
          lapi: {
            revoked: false,
            seen_at: NOW,
            entry: null,
            entry_pull_at: lastPull,
            engines: { [`org_1/${engine}.bouncers.json`]: { listed_at: NOW, checked_at: NOW } },
          },
        }
      : {}),
    ...fields,
  } as Integration;
}
const silentAt = (count: number, from: Iso, more: Partial<Integration> & { engine?: string } = {}) =>
  Array.from({ length: count }, (_, n) => device(minutes(from, n), more));
const pulling = (count: number, more: Partial<Integration> & { engine?: string } = {}) =>
  Array.from({ length: count }, () => device(minutes(NOW, -1), more));

describe('decideGroup', () => {
  it('an organization: 3 of 6 silent together is a group, 2 of 6 or 3 of 7 is not', () => {
    const three = silentAt(3, at(5));
    const group = decideGroup(three[0] as Integration, [...three, ...pulling(3)], NOW);
    expect(group).toMatchObject({ scope: 'organization', engine: null, silent: 3, of: 6, since: at(5) });
    expect(group?.member_ids).toEqual(three.map((d) => d.id).sort());
    const two = silentAt(2, at(5));
    expect(decideGroup(two[0] as Integration, [...two, ...pulling(4)], NOW)).toBeNull();
    expect(decideGroup(three[0] as Integration, [...three, ...pulling(4)], NOW)).toBeNull();
  });

  it('2 of 40 is never a group', () => {
    const two = silentAt(2, at(5));
    expect(decideGroup(two[0] as Integration, [...two, ...pulling(38)], NOW)).toBeNull();
  });

  it('an engine: 2 of 2 bouncers is a group, 2 of 3 is not; other engines and firewalls are another scope', () => {
    const pair = silentAt(2, at(5), { engine: 'engine-1' });
    const others = [...pulling(5, { engine: 'engine-2' }), ...pulling(5)];
    const group = decideGroup(pair[0] as Integration, [...pair, ...others], NOW);
    expect(group).toMatchObject({ scope: 'engine', engine: 'engine-1', silent: 2, of: 2 });
    expect(scopeOf(pair[0] as Integration).key).toBe('engine:org_1/engine-1.bouncers.json');
    const third = pulling(1, { engine: 'engine-1' });
    expect(decideGroup(pair[0] as Integration, [...pair, ...third, ...others], NOW)).toBeNull();
  });

  it('last pulls further apart than the window are separate silences', () => {
    const spread = [0, 1, 2].map((n) => device(addSeconds(at(5), n * (GROUP_WINDOW_SECONDS + 60))));
    expect(decideGroup(spread[1] as Integration, spread, NOW)).toBeNull();
  });

  it('counts only silent devices: one still trying (rejected after its last pull), paused, or idle for minutes is not a member', () => {
    const three = silentAt(3, at(5));
    const trying = { ...(three[1] as Integration), last_attempt_at: at(6), last_attempt_status: 401 };
    expect(
      decideGroup(three[0] as Integration, [three[0] as Integration, trying, three[2] as Integration], NOW),
    ).toBeNull();
    const paused = { ...(three[2] as Integration), paused: true };
    expect(
      decideGroup(three[0] as Integration, [three[0] as Integration, three[1] as Integration, paused], NOW),
    ).toBeNull();
    const justNow = silentAt(3, minutes(NOW, -5));
    expect(decideGroup(justNow[0] as Integration, justNow, NOW)).toBeNull();
  });

  it('leaves out of the population what was already offline before the silence began', () => {
    const three = silentAt(3, at(28));
    const longDead = Array.from({ length: 5 }, () => device(at(1)));
    expect(decideGroup(three[0] as Integration, [...three, ...longDead], NOW)).toMatchObject({
      silent: 3,
      of: 3,
    });
  });

  it('names an engine by its snapshot file', () => {
    expect(engineName('lapi/org_0123456789abcdef/engine-1.bouncers.json.gz')).toBe('engine-1');
  });
});

describe('engine names in messages', () => {
  it('turns control characters into spaces and never splits a character when shortened', () => {
    expect(engineName('org_1/host\nname.bouncers.json')).toBe('host name');
    const long = `${'a'.repeat(16)}\u{1F525}-host`;
    const { what } = sharedOutageParts({ scope: 'engine', engine: long, silent: 2, of: 2, since: at(5) });
    expect(what).toContain(`${'a'.repeat(16)}\u{1F525}...`);
    expect(() => encodeURIComponent(what)).not.toThrow();
  });
});
