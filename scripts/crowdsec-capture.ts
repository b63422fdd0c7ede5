import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { crowdsecVersion, hasCrowdsec, type PullMode, startEngine } from '../test/kit/crowdsec.ts';

/**
 * `node --import tsx scripts/crowdsec-capture.ts [DIR]`: drives a real CrowdSec Local API (test/kit/crowdsec.ts)
 * through a bouncer's life and keeps what `cscli bouncers list -o json` prints at each step, unedited, as
 * `DIR/<step>.bouncers.json` (default test/fixtures/crowdsec-<version>/), with `capture.txt`: the engine
 * version, every command in order and the clock around each request. One step waits 61 s on purpose: the
 * engine moves a live-mode bouncer's `last_pull` at most once a minute.
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
} finally {
  await engine.stop();
  await writeFile(`${out}/capture.txt`, `${[...log, ...engine.commands].join('\n')}\n`);
}
console.log(`captured into ${out}`);
