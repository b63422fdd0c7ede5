import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../shared/api/app.ts';
import { createApiKey } from '../../shared/auth/index.ts';
import { runCycle } from '../../shared/cycle.ts';
import { DirectorySource } from '../../shared/ingest/sources.ts';
import type { Integration, NewIntegration } from '../../shared/integration/index.ts';
import { createIntegration } from '../../shared/integration/ops.ts';
import { BUILT_IN_BLOCKLIST } from '../../shared/local/blocklist.ts';
import { type EmbeddedDb, startDynalite } from '../../shared/local/embedded-db.ts';
import { listenLocal } from '../../shared/local/http.ts';
import { ContentPullLog } from '../../shared/local/pull-log.ts';
import { createOrg } from '../../shared/org/index.ts';
import { openStore, type Store } from '../../shared/store.ts';
import { addSeconds, type Iso } from '../../shared/time.ts';
import { localClient } from './db.ts';
import { lines, pull } from './lines.ts';

/**
 * The console's test deployment: the local server (the app behind `listenLocal`, as `npm start` runs it) on a
 * free port, against dynalite, with an organization whose integrations tell the console's stories: online,
 * offline with a diagnosis, refused pulls, never pulled, paused, a resolved outage, and enough of them to page.
 * The clock is pinned and moved by the test. No vitest import: `npm run screenshots` uses it too.
 */

export const SECRET = 'console-test-secret-that-is-long-enough-0123456789';
/** The console's "now": every seeded time is relative to it. */
export const NOW = '2026-11-28T12:00:00.000Z';
const hoursBefore = (hours: number, from: Iso = NOW) => addSeconds(from, -hours * 3600);

/** How many filler integrations: with the stories, more than one page of 50. */
export const FILLERS = 52;

export interface ConsoleWorld {
  base: string;
  store: Store;
  orgId: string;
  readKey: string;
  writeKey: string;
  /** The seeded integrations by their name, and the password each was created with. */
  named: Record<string, Integration>;
  passwords: Record<string, string>;
  /** A watchdog cycle at `now`, after sealing what the content endpoint logged (as the runner does). */
  cycle: (now: Iso) => Promise<void>;
  /** Moves the server's clock (the page reads its "now" from /v1/health). */
  setNow: (at: Iso) => void;
  logs: string;
  close: () => Promise<void>;
}

export async function startConsoleWorld(): Promise<ConsoleWorld> {
  const db: EmbeddedDb = await startDynalite();
  const client = localClient(db);
  const store = openStore(client, 'console');
  await store.table.ensure();
  const logs = await mkdtemp(join(tmpdir(), 'pullwatch-console-'));
  await mkdir(logs, { recursive: true });

  const start = hoursBefore(24 * 8);
  const org = await createOrg(store, 'Acme', start);
  const readKey = (await createApiKey(store, SECRET, org.id, 'read', start)).key;
  const writeKey = (await createApiKey(store, SECRET, org.id, 'write', start)).key;
  const named: Record<string, Integration> = {};
  const passwords: Record<string, string> = {};
  const add = async (input: NewIntegration, at: Iso = start) => {
    const { integration, credentials } = await createIntegration(store, SECRET, org.id, input, at);
    named[integration.name] = integration;
    passwords[integration.name] = credentials.password;
    return integration;
  };
  const edge = await add({ name: 'Edge FortiGate', kind: 'firewall', vendor: 'fortigate' });
  const branch = await add({ name: 'Branch Palo Alto', kind: 'firewall', vendor: 'paloalto' });
  const hq = await add({ name: 'HQ pfSense', kind: 'firewall', vendor: 'pfsense' });
  await add({ name: 'Lab OPNsense', kind: 'firewall', vendor: 'opnsense' });
  const bouncer = await add({ name: 'nginx bouncer', kind: 'remediation_component' });
  await add({ name: 'DMZ Sophos', kind: 'firewall', vendor: 'sophos', paused: true });

  // Hourly pulls over `(to, from]` hours before now, each five minutes past the hour.
  const hourly = (id: string, from: number, to: number, extra: Parameters<typeof pull>[2] = {}) => {
    const out: string[] = [];
    for (let hour = from; hour > to; hour -= 1)
      out.push(pull(id, addSeconds(hoursBefore(hour), 5 * 60), extra));
    return out;
  };
  const cycle = (now: Iso) =>
    runCycle({
      store,
      source: new DirectorySource(logs),
      publisher: { publish: async () => 'console-test' },
      now,
      staleAfterSeconds: 7200,
      reminderSeconds: 86_400,
    });

  // Edge FortiGate went quiet 72 h ago and came back 45 h ago: an outage of about a day, resolved since. The
  // logs arrive in two batches, each read by the cycle of its time.
  const firstCycle = hoursBefore(47.5);
  const history = [
    ...hourly(edge.id, 24 * 7, 72),
    ...hourly(edge.id, 45, 0),
    ...hourly(branch.id, 24 * 7, 30),
    ...hourly(hq.id, 24 * 7, 26),
    // HQ pfSense keeps trying with a password it no longer has.
    ...hourly(hq.id, 26, 0, { status: 401 }),
    // The bouncer sends its key as ?api_key=: the content endpoint's lines say so (`"credential":"query"`).
    ...hourly(bouncer.id, 24 * 7, 0).map((line) => line.replace('"bytes":', '"credential":"query","bytes":')),
  ];
  const before = (line: string) => (JSON.parse(line) as { time: string }).time <= firstCycle;
  await writeFile(join(logs, 'first.jsonl'), lines(...history.filter(before)));
  await cycle(firstCycle);

  // Installed this morning, and pulling since.
  const fillers: Integration[] = [];
  for (let index = 1; index <= FILLERS; index += 1) {
    const name = `Store ${String(index).padStart(3, '0')} MikroTik`;
    fillers.push(await add({ name, kind: 'firewall', vendor: 'mikrotik' }, hoursBefore(4)));
  }
  await writeFile(
    join(logs, 'second.jsonl'),
    lines(
      ...history.filter((line) => !before(line)),
      ...fillers.flatMap((filler) => hourly(filler.id, 3, 0)),
    ),
  );
  await cycle(NOW);

  // The local runner's content endpoint, logging each pull where the cycle reads it.
  const pullLog = new ContentPullLog(logs);
  let clock = NOW;
  const app = createApp({
    store,
    secret: SECRET,
    now: () => clock,
    staleAfterSeconds: 7200,
    log: quiet,
    content: { log: pullLog, blocklist: async () => `${BUILT_IN_BLOCKLIST}\n` },
  });
  const server: Server = await listenLocal(app.fetch, { port: 0, hostname: '127.0.0.1', log: quiet });
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    store,
    orgId: org.id,
    readKey,
    writeKey,
    named,
    passwords,
    cycle: async (now) => {
      await pullLog.seal();
      const report = await cycle(now);
      if (report.errors.length > 0) throw new Error(`cycle failed: ${JSON.stringify(report.errors)}`);
    },
    setNow: (at) => {
      clock = at;
    },
    logs,
    close: async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
      client.destroy();
      await db.close();
      await rm(logs, { recursive: true, force: true });
    },
  };
}

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
