import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusOf } from '../shared/integration/index.ts';
import { parseSnapshot } from '../shared/pulls/lapi.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { crowdsecVersion, type Engine, hasCrowdsec, startEngine } from './kit/crowdsec.ts';
import { useTestDb } from './kit/db.ts';
import { put, useTempDirs } from './kit/files.ts';
import { pullFacts } from './kit/ingest.ts';
import { addIntegration, current, cycle, issuesOf, only, world } from './kit/world.ts';

/**
 * A real security engine end to end: a crowdsec Local API of its own (test/kit/crowdsec.ts), bouncers
 * registered with cscli, pulls made the way bouncers make them, and whatever `cscli bouncers list -o json`
 * prints shipped as a snapshot into pullwatch. Whatever version is installed (Debian 12: 1.4.6, the shape
 * issue 19 is about; CI installs it), a bouncer that never pulled must read as never_pulled and one that
 * pulled as online with the engine's own time of the pull. Without crowdsec on PATH the suite is skipped and
 * its name says so.
 */

useTestDb();
useTempDirs();

const SUITE = hasCrowdsec
  ? `a real crowdsec Local API (${crowdsecVersion()}) seen by pullwatch`
  : 'a real crowdsec Local API seen by pullwatch (skipped: crowdsec not installed)';

/** The engine's clock and ours are the same machine's; this covers the engine's rounding and the request. */
const SLACK_MS = 2000;
const within = (time: Iso | null, from: Iso, to: Iso) => {
  expect(time).not.toBeNull();
  const at = Date.parse(time ?? '');
  expect(at).toBeGreaterThanOrEqual(Date.parse(from) - SLACK_MS);
  expect(at).toBeLessThanOrEqual(Date.parse(to) + SLACK_MS);
};
const clock = () => new Date().toISOString();
/** The README's cron line filters the list with jq; the engine host needs it, and so does that test. */
const hasJq = spawnSync('jq', ['--version']).status === 0;

describe.skipIf(!hasCrowdsec)(SUITE, () => {
  let engine: Engine | null = null;
  beforeAll(async () => {
    engine = await startEngine();
  });
  afterAll(async () => {
    await engine?.stop();
  });

  it('a registered bouncer that never pulled is never_pulled; stream and live bouncers are online with their pull', async () => {
    if (!engine) throw new Error('the engine did not start');
    const w = await world({ heartbeat: true });
    const created = clock();
    const lapi = (name: string) =>
      addIntegration(w, { name, kind: 'remediation_component', source: 'lapi' }, { now: created });
    const never = await lapi('never-fw');
    const stream = await lapi('stream-fw');
    const live = await lapi('live-web');

    for (const name of ['never-fw', 'stream-fw', 'live-web']) engine.addBouncer(name);
    const streamFrom = clock();
    expect(await engine.pull('stream-fw', 'stream', { userAgent: 'crowdsec-firewall-bouncer/v0.0.25' })).toBe(
      200,
    );
    const streamTo = clock();
    const liveFrom = clock();
    expect(await engine.pull('live-web', 'live', { userAgent: 'crowdsec-custom-bouncer/v0.0.15' })).toBe(200);
    const liveTo = clock();

    const listed = engine.listBouncers();
    const seen = clock();
    await put(w, `${w.orgId}/lapi-engine.bouncers.json`, listed, seen);
    await cycle(w, seen);

    const neverNow = await current(w, never);
    expect(neverNow.last_pull_at).toBeNull();
    expect(neverNow.lapi).toMatchObject({ revoked: false, entry: null });
    expect(statusOf(neverNow, seen)).toBe('never_pulled');

    const streamNow = await current(w, stream);
    expect(statusOf(streamNow, seen)).toBe('online');
    within(streamNow.last_pull_at, streamFrom, streamTo);
    expect(pullFacts(streamNow)).toMatchObject({
      last_pull_ip: '127.0.0.1',
      last_pull_user_agent: 'crowdsec-firewall-bouncer/v0.0.25',
    });

    // A live query within a minute of registration leaves 1.4's last_pull at the registration time: still a
    // pull, at most a minute early (here: the moment just before the query).
    const liveNow = await current(w, live);
    expect(statusOf(liveNow, seen)).toBe('online');
    within(liveNow.last_pull_at, created, liveTo);
    expect(Date.parse(liveNow.last_pull_at ?? '')).toBeLessThanOrEqual(Date.parse(liveFrom) + SLACK_MS);
    expect(liveNow.last_pull_user_agent).toBe('crowdsec-custom-bouncer/v0.0.15');

    // A day later, the engine printing the same rows: only the one that never pulled is flagged so.
    const later = addSeconds(created, never.offline_after_seconds + 60);
    await put(w, `${w.orgId}/lapi-engine.bouncers.json`, listed, addSeconds(later, -30));
    await cycle(w, later);
    const open = await issuesOf(w, 'open');
    const neverIssue = only(open.filter((issue) => issue.integration_id === never.id));
    expect(neverIssue.opened_at).toBe(addSeconds(created, never.offline_after_seconds));
    expect(neverIssue.diagnosis.code).toBe('never_pulled');
    // The two that did pull went quiet together while the engine's list kept arriving: both bouncers of that
    // engine, a shared outage (the never-pulled one was never pulling, so it is not counted).
    for (const pulled of [stream, live]) {
      expect(only(open.filter((issue) => issue.integration_id === pulled.id)).diagnosis).toMatchObject({
        code: 'shared_outage',
        group: { scope: 'engine', engine: 'lapi-engine', silent: 2, of: 2 },
      });
    }
  });

  it('a bouncer pulling from a new address keeps feeding its integration', async () => {
    if (!engine) throw new Error('the engine did not start');
    const w = await world();
    const moved = await addIntegration(w, {
      name: 'moved-fw',
      kind: 'remediation_component',
      source: 'lapi',
    });
    engine.addBouncer('moved-fw');
    const userAgent = 'crowdsec-firewall-bouncer/v0.0.25';
    expect(await engine.pull('moved-fw', 'stream', { userAgent })).toBe(200);
    const from = clock();
    expect(await engine.pull('moved-fw', 'stream', { userAgent, from: '127.0.0.2' })).toBe(200);
    const to = clock();

    // 1.4 rewrites the address of the same entry; newer engines add an auto-created `moved-fw@127.0.0.2`.
    const listed = engine.listBouncers();
    const names = (JSON.parse(listed) as Array<{ name: string }>).map((entry) => entry.name);
    expect(names.filter((name) => name.startsWith('moved-fw'))).toContain('moved-fw');
    await put(w, `${w.orgId}/lapi-engine.bouncers.json`, listed, to);
    await cycle(w, to);

    const now = await current(w, moved);
    within(now.last_pull_at, from, to);
    expect(now.last_pull_ip).toBe('127.0.0.2');
  });

  it.skipIf(!hasJq)(
    `the README's cron line drops 1.4's api_key (the key's hash) before the list leaves the host, and reads the same${hasJq ? '' : ' (skipped: jq not installed)'}`,
    async () => {
      if (!engine) throw new Error('the engine did not start');
      engine.addBouncer('cron-fw');
      const raw = engine.listBouncers();
      const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
      // The cron block: `cscli bouncers list -o json | <filter> | aws s3 cp - s3://...`.
      const cron = /```cron\n\*\/5 \* \* \* \* cscli bouncers list -o json \| (.+?) \| aws s3 cp - /.exec(
        readme,
      );
      const filter = cron?.[1];
      expect(filter, 'the README cron line pipes the list through a filter').toBeDefined();
      const shipped = execFileSync('sh', ['-c', filter ?? 'false'], { input: raw, encoding: 'utf8' });
      expect(shipped).not.toContain('api_key');
      expect(parseSnapshot(shipped)).toEqual(parseSnapshot(raw));
      if (crowdsecVersion().includes('1.4')) expect(raw).toContain('"api_key"');
    },
  );
});
