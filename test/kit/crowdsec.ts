import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real CrowdSec Local API, alone, in a temp dir: the engine the LAPI fixtures were captured from
 * (scripts/crowdsec-capture.ts) and the one test/crowdsec-live.test.ts drives. No Central API, no
 * Prometheus, no acquisition (`-no-cs`), an sqlite database of its own, a loopback port of its own: it
 * touches nothing of an installed engine. Every step is kept in `commands` as the shell command it stands for,
 * so a capture can say exactly what was run.
 */

const onPath = (command: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Both the engine and its CLI are installed (Debian: `apt-get install crowdsec`). */
export const hasCrowdsec = onPath('crowdsec') && onPath('cscli');

/** How long the engine may take to answer /health; it starts in well under a second on a laptop. */
const START_TIMEOUT_MS = 15_000;

/** `crowdsec -version`'s first line, e.g. `version: v1.4.6-6~deb12u1+b1-debian`. */
export function crowdsecVersion(): string {
  // It prints its version to stderr (as log lines).
  const run = spawnSync('crowdsec', ['-version'], { encoding: 'utf8' });
  const out = `${run.stdout}${run.stderr}`;
  const line = out.split('\n').find((text) => text.includes('version:')) ?? out;
  return line.replace(/^.*version:\s*/, '').trim();
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** How a bouncer asks for decisions: `stream` (firewall bouncers) or `live` (one query per request). */
export type PullMode = 'stream' | 'live';

export interface PullOptions {
  /** The bouncer's User-Agent: `<type>/<version>` is what the engine records as type and version. */
  userAgent: string;
  /** A loopback source address other than 127.0.0.1, to look like a bouncer that moved. */
  from?: string;
}

export interface Engine {
  dir: string;
  config: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The shell commands this engine was driven with, in order (a key as the shell variable it was put in). */
  commands: string[];
  /** `cscli bouncers add NAME -o raw`: the new bouncer's API key. */
  addBouncer(name: string): string;
  /** One request as a bouncer makes it; the HTTP status. */
  pull(name: string, mode: PullMode, options: PullOptions): Promise<number>;
  /** `cscli bouncers list -o json`, exactly as printed. */
  listBouncers(): string;
  /** Stops the engine and removes its directory. */
  stop(): Promise<void>;
}

function configYaml(dir: string, port: number): string {
  return `common:
  daemonize: false
  log_media: stdout
  log_level: info
  working_dir: ${dir}
config_paths:
  config_dir: ${dir}/config/
  data_dir: ${dir}/data/
  simulation_path: ${dir}/config/simulation.yaml
  hub_dir: ${dir}/hub/
  index_path: ${dir}/hub/.index.json
  notification_dir: ${dir}/config/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
db_config:
  log_level: info
  type: sqlite
  db_path: ${dir}/data/crowdsec.db
  use_wal: false
api:
  server:
    log_level: info
    listen_uri: 127.0.0.1:${port}
    profiles_path: ${dir}/config/profiles.yaml
prometheus:
  enabled: false
`;
}

/** A profile that turns an alert into a 4 h ban: the engine refuses to start its API without one. */
const PROFILES = `name: default_ip_remediation
filters:
  - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
  - type: ban
    duration: 4h
on_success: break
`;

function get(url: string, headers: Record<string, string>, localAddress?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, ...(localAddress ? { localAddress } : {}) }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.end();
  });
}

async function waitForHealth(url: string, engine: ChildProcess, logPath: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (engine.exitCode !== null) {
      throw new Error(`crowdsec exited with ${engine.exitCode}: ${await readFile(logPath, 'utf8')}`);
    }
    try {
      if ((await get(`${url}/health`, {})) === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`crowdsec did not answer ${url}/health in ${START_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startEngine(): Promise<Engine> {
  const dir = await mkdtemp(join(tmpdir(), 'pullwatch-crowdsec-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await mkdir(join(dir, 'config'), { recursive: true });
  await mkdir(join(dir, 'data'));
  await mkdir(join(dir, 'hub'));
  const config = join(dir, 'config.yaml');
  await writeFile(config, configYaml(dir, port));
  await writeFile(join(dir, 'config', 'profiles.yaml'), PROFILES);
  await writeFile(join(dir, 'config', 'simulation.yaml'), 'simulation: off\n');
  const commands = [`crowdsec -c ${config} -no-cs &   # listen_uri 127.0.0.1:${port}`];
  const logPath = join(dir, 'crowdsec.log');
  const log = createWriteStream(logPath);
  const engine = spawn('crowdsec', ['-c', config, '-no-cs'], { stdio: ['ignore', 'pipe', 'pipe'] });
  engine.stdout?.pipe(log);
  engine.stderr?.pipe(log);
  const stop = async () => {
    if (engine.exitCode === null && engine.signalCode === null) {
      const exited = new Promise((resolve) => engine.once('exit', resolve));
      engine.kill('SIGTERM');
      const timer = setTimeout(() => engine.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    log.end();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForHealth(url, engine, logPath);
  } catch (error) {
    await stop();
    throw error;
  }

  const keys = new Map<string, string>();
  const keyVariable = (name: string) => `KEY_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const cscli = (...args: string[]) =>
    execFileSync('cscli', ['-c', config, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    dir,
    config,
    url,
    commands,
    addBouncer(name) {
      commands.push(`${keyVariable(name)}=$(cscli -c ${config} bouncers add ${name} -o raw)`);
      const key = cscli('bouncers', 'add', name, '-o', 'raw').trim();
      keys.set(name, key);
      return key;
    },
    async pull(name, mode, options) {
      const key = keys.get(name);
      if (!key) throw new Error(`no bouncer ${name} was added`);
      const path = mode === 'stream' ? '/v1/decisions/stream?startup=true' : '/v1/decisions';
      commands.push(
        `curl -s ${options.from ? `--interface ${options.from} ` : ''}-A '${options.userAgent}' -H "X-Api-Key: $${keyVariable(name)}" '${url}${path}'`,
      );
      return get(`${url}${path}`, { 'user-agent': options.userAgent, 'x-api-key': key }, options.from);
    },
    listBouncers() {
      commands.push(`cscli -c ${config} bouncers list -o json`);
      return cscli('bouncers', 'list', '-o', 'json');
    },
    stop,
  };
}
