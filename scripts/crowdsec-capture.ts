import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  crowdsecVersion,
  type Engine,
  hasCrowdsec,
  type PullMode,
  startEngine,
} from '../test/kit/crowdsec.ts';

/**
 * `node --import tsx scripts/crowdsec-capture.ts [DIR]`: drives a real CrowdSec Local API
 * (test/kit/crowdsec.ts) through a bouncer's life and keeps what `cscli bouncers list -o json` prints at each step, unedited, as
 * `DIR/<step>.bouncers.json` (default test/fixtures/crowdsec-<version>/), with `capture.txt`: the engine
 * version, every command in order and the clock around each request. One step waits 61 s on purpose: the
 * engine moves a live-mode bouncer's `last_pull` at most once a minute.
 *
 * Run as root with `crowdsec-firewall-bouncer` and `nft` installed, it also runs the real firewall bouncer
 * (mode nftables) for two of its pulls; it creates `table ip crowdsec`, which is deleted afterwards (and the
 * step is not run if such a table already exists: it would be someone else's).
 */

if (!hasCrowdsec) {
  console.error('crowdsec and cscli must be on PATH (Debian: apt-get install crowdsec)');
  process.exit(1);
}
const version = crowdsecVersion();
const short = /v?(\d+\.\d+\.\d+)/.exec(version)?.[1] ?? version;
const out = process.argv[2] ?? fileURLToPath(new URL(`../test/fixtures/crowdsec-${short}/`, import.meta.url));
await mkdir(out, { recursive: true });

const engine = await startEngine();
const log: string[] = [`# crowdsec ${version}, captured ${new Date().toISOString()}`];
/** The commands run since the last note, then the note. */
const note = (text: string) => log.push(...engine.commands.splice(0), `# ${text}`);
const snapshot = async (name: string, what: string) => {
  const printed = engine.listBouncers();
  note(`^ ${name}.bouncers.json: ${what}`);
  await writeFile(`${out}/${name}.bouncers.json`, printed);
};
const pull = async (name: string, mode: PullMode, userAgent: string, from?: string) => {
  const before = new Date().toISOString();
  const status = await engine.pull(name, mode, { userAgent, ...(from ? { from } : {}) });
  note(
    `^ ${mode} pull by ${name}: HTTP ${status}, sent after ${before}, answered by ${new Date().toISOString()}`,
  );
  if (status !== 200) throw new Error(`${name}: HTTP ${status}`);
};
const FIREWALL = 'crowdsec-firewall-bouncer/v0.0.25';
const LIVE = 'crowdsec-custom-bouncer/v0.0.15';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const quiet = (command: string, args: string[]) => {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** The real crowdsec-firewall-bouncer against this engine: its startup stream pull and one update. */
async function realFirewallBouncer(on: Engine): Promise<boolean> {
  const canRun =
    process.getuid?.() === 0 &&
    quiet('sh', ['-c', 'command -v crowdsec-firewall-bouncer && command -v nft']) &&
    !quiet('nft', ['list', 'table', 'ip', 'crowdsec']);
  if (!canRun) {
    note(
      '(real firewall bouncer step not run: needs root, crowdsec-firewall-bouncer and nft, and no table ip crowdsec)',
    );
    return false;
  }
  const engineLog = join(on.dir, 'crowdsec.log');
  const logged = (await readFile(engineLog, 'utf8')).length;
  const key = on.addBouncer('nft-fw');
  const config = join(on.dir, 'firewall-bouncer.yaml');
  const settings = [
    'mode: nftables',
    'update_frequency: 10s',
    'daemonize: false',
    'log_mode: stdout',
    'log_level: info',
    `api_url: ${on.url}/`,
    `api_key: ${key}`,
    'disable_ipv6: true',
    'deny_action: DROP',
    'supported_decisions_types: [ban]',
    'nftables:',
    '  ipv4: { enabled: true, set-only: false, table: crowdsec, chain: crowdsec-chain }',
    '  ipv6: { enabled: false, set-only: false, table: crowdsec6, chain: crowdsec6-chain }',
  ];
  await writeFile(config, `${settings.join('\n')}\n`);
  on.commands.push(
    `# ${config}: mode nftables, update_frequency 10s, api_url ${on.url}/, api_key $KEY_nft_fw, IPv6 off`,
    `crowdsec-firewall-bouncer -c ${config} &   # stopped with SIGTERM after 13 s`,
  );
  const bouncer = spawn('crowdsec-firewall-bouncer', ['-c', config], { stdio: 'ignore' });
  try {
    await sleep(13_000);
  } finally {
    if (bouncer.exitCode === null && bouncer.signalCode === null) {
      const exited = new Promise((resolve) => bouncer.once('exit', resolve));
      bouncer.kill('SIGTERM');
      await exited;
    }
    on.commands.push('nft delete table ip crowdsec');
    quiet('nft', ['delete', 'table', 'ip', 'crowdsec']);
  }
  const requests = (await readFile(engineLog, 'utf8'))
    .slice(logged)
    .split('\n')
    .filter((line) => line.includes('/v1/decisions'));
  note(
    `^ the engine's log of the real bouncer's requests:\n${requests.map((line) => `#   ${line}`).join('\n')}`,
  );
  return true;
}

try {
  await snapshot('empty', 'an engine with no bouncer');

  engine.addBouncer('edge-fw');
  await snapshot('registered', 'edge-fw registered, no request made');

  await pull('edge-fw', 'stream', FIREWALL);
  await snapshot('stream-pulled', 'edge-fw after one stream pull');

  engine.addBouncer('spare-fw');
  await snapshot('mixed', 'edge-fw pulled, spare-fw registered and never used');

  engine.addBouncer('web-live');
  await pull('web-live', 'live', LIVE);
  await snapshot('live-first-minute', 'web-live pulled in live mode within a minute of its registration');

  note('(waiting 61 s: live pulls move last_pull at most once a minute)');
  await new Promise((resolve) => setTimeout(resolve, 61_000));
  await pull('web-live', 'live', LIVE);
  await snapshot('live-pulled', 'web-live pulled in live mode again, more than a minute later');

  await pull('edge-fw', 'stream', FIREWALL, '127.0.0.2');
  await snapshot('new-address', 'edge-fw pulled from another address (127.0.0.2)');

  if (await realFirewallBouncer(engine))
    await snapshot(
      'firewall-bouncer',
      'nft-fw: the real crowdsec-firewall-bouncer after its startup pull and one update',
    );
} finally {
  await engine.stop();
  await writeFile(`${out}/capture.txt`, `${[...log, ...engine.commands].join('\n')}\n`);
}
console.log(`captured into ${out}`);
