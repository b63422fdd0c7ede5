import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createApiKey } from '../auth/index.ts';
import { type Config, loadConfig } from '../config.ts';
import { runCycle } from '../cycle.ts';
import { PullwatchError, ValidationError } from '../errors.ts';
import { ingest } from '../ingest/index.ts';
import type { LogSource } from '../ingest/sources.ts';
import { credentialLastUsed } from '../integration/index.ts';
import { createIntegration } from '../integration/ops.ts';
import { integrationView } from '../integration/view.ts';
import { type LocalContext, openLocal } from '../local/context.ts';
import { serve, summarizeCycle } from '../local/serve.ts';
import { onStopSignal, STOP_GRACE_MS, within } from '../local/stop.ts';
import { previewNotification } from '../notify/preview.ts';
import { createOrg } from '../org/index.ts';
import { parseWorkers } from '../queue/index.ts';
import { createPublisher, createSource, cycleSettings } from '../runtime.ts';
import { humanDuration, type Iso, systemClock } from '../time.ts';

const USAGE = `pullwatch: watch that firewalls keep pulling their blocklist

Usage:
  pullwatch serve                                   run API + cycles (what npm start runs)
  pullwatch cycle [--now ISO] [--workers N]         one ingest + rules + notify pass, on N concurrent
                                                    workers (default 1, or PULLWATCH_WORKERS)
  pullwatch org create NAME
  pullwatch key create --org ID --scope read|write
  pullwatch key list --org ID
  pullwatch key revoke --org ID KEY_ID
  pullwatch integration create --org ID --name NAME --kind firewall|remediation_component
                               [--vendor V] [--source blaas|lapi] [--offline-after SECONDS]
                               [--no-early-warning]  no warning when it is late against its own rhythm
  pullwatch status [--org ID] [--now ISO]
  pullwatch ingest FILE...
  pullwatch notify preview --issue ID [--org ID]    the issue's latest notification: email, SMS and chat

Every command takes --json and then prints exactly one JSON object.
Every command but serve takes --now ISO: it runs as if the clock said that instant (default: the real clock).`;

class UsageError extends PullwatchError {}

interface Output {
  json: boolean;
  print(human: string, data: unknown): void;
}

/** The command's one clock reading: --now when given, else the real clock, read once here. */
function parseNow(value: string | undefined): Iso {
  if (value === undefined) return systemClock();
  const millis = Date.parse(value);
  if (Number.isNaN(millis)) throw new UsageError(`--now: not a date: ${value}`);
  return new Date(millis).toISOString();
}

function required(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** A source made of the files named on the command line. */
async function filesSource(paths: string[]): Promise<LogSource> {
  const files = await Promise.all(
    paths.map(async (path) => {
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) throw new UsageError(`${path}: not a readable file`);
      const full = resolve(path);
      return {
        key: `file:${full}:${info.size}:${Math.floor(info.mtimeMs)}`,
        name: full,
        modified_at: info.mtime.toISOString(),
        open: async () => createReadStream(full),
      };
    }),
  );
  return { describe: () => paths.join(', '), list: async () => files };
}

/**
 * What a signal has to wind down: the open database of the command (null before it is open and after it is
 * closed), the server's stop function under `serve`, and whether a stop began (then nothing more is printed).
 */
const current: {
  context: LocalContext | null;
  stopServer: (() => Promise<void>) | null;
  stopping: boolean;
} = { context: null, stopServer: null, stopping: false };

async function withContext<T>(config: Config, work: (context: LocalContext) => Promise<T>): Promise<T> {
  const context = await openLocal(config, { publish: false });
  current.context = context;
  try {
    return await work(context);
  } finally {
    await context.close();
    current.context = null;
  }
}

/**
 * A signal's stop: no new database work, the command's work in progress given a moment to wind down (it
 * fails fast on its next read), the requests in flight finished, the database closed. With no database
 * open yet, there is nothing to wind down.
 */
async function stopCommand(running: Promise<unknown>): Promise<void> {
  current.stopping = true;
  if (current.stopServer) return current.stopServer();
  const context = current.context;
  if (!context) return;
  context.drain();
  await within(running, STOP_GRACE_MS);
  await context.close();
}

async function run(argv: string[], out: Output, config: Config): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      now: { type: 'string' },
      org: { type: 'string' },
      scope: { type: 'string' },
      name: { type: 'string' },
      kind: { type: 'string' },
      vendor: { type: 'string' },
      source: { type: 'string' },
      'offline-after': { type: 'string' },
      'no-early-warning': { type: 'boolean', default: false },
      workers: { type: 'string' },
      issue: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, sub, ...rest] = positionals;
  const commandLine = [command, sub].filter(Boolean).join(' ');

  if (values.help || command === undefined || command === 'help') {
    out.print(USAGE, { usage: USAGE });
    return;
  }

  const serving = commandLine.split(' ')[0] === 'serve';
  // The runner reads the real clock at every cycle and request; a pinned instant has no meaning there.
  if (serving && values.now !== undefined)
    throw new UsageError('serve runs on the real clock; --now is not for it');
  const now = parseNow(values.now);

  switch (serving ? 'serve' : commandLine) {
    case 'serve': {
      current.stopServer = await serve(config);
      // Runs until a signal: main's handler stops the server, then exits with 130 or 143.
      return new Promise(() => {});
    }
    case 'org create': {
      const name = rest.join(' ') || (typeof values.name === 'string' ? values.name : '');
      if (!name) throw new UsageError('org create needs a NAME');
      const org = await withContext(config, ({ store }) => createOrg(store, name, now));
      out.print(`created organization ${org.name} (${org.id})`, { id: org.id, name: org.name });
      return;
    }
    case 'key create': {
      const orgId = required(values, 'org');
      const scope = required(values, 'scope');
      if (scope !== 'read' && scope !== 'write') throw new UsageError('--scope must be read or write');
      const { key, record } = await withContext(config, async ({ store, secret }) => {
        if (!(await store.orgs.get(orgId)))
          throw new ValidationError(`organization ${orgId} does not exist`, 'org');
        return createApiKey(store, secret, orgId, scope, now);
      });
      out.print(`${scope} key for ${orgId} (shown once, stored hashed):\n${key}`, {
        key,
        scope,
        org_id: orgId,
        key_id: record.key_id,
      });
      return;
    }
    case 'key list': {
      const orgId = required(values, 'org');
      const keys = await withContext(config, async ({ store }) => {
        if (!(await store.orgs.get(orgId)))
          throw new ValidationError(`organization ${orgId} does not exist`, 'org');
        return store.keys.list(orgId);
      });
      out.print(
        keys
          .map(
            (key) =>
              `${key.key_id}  ${key.scope.padEnd(5)}  created ${key.created_at}  last used ${key.last_used_at ?? 'never'}`,
          )
          .join('\n') || 'no keys',
        { org_id: orgId, items: keys },
      );
      return;
    }
    case 'key revoke': {
      const orgId = required(values, 'org');
      const keyId = rest[0];
      if (!keyId) throw new UsageError('key revoke needs a KEY_ID (see key list)');
      const revoked = await withContext(config, ({ store }) => store.keys.revoke(orgId, keyId));
      if (!revoked) throw new ValidationError(`organization ${orgId} has no key ${keyId}`, 'key_id');
      out.print(`revoked ${keyId}`, { key_id: keyId, org_id: orgId, revoked: true });
      return;
    }
    case 'integration create': {
      const orgId = required(values, 'org');
      const offlineAfter = values['offline-after'];
      const input = {
        name: required(values, 'name'),
        kind: required(values, 'kind'),
        ...(values.vendor ? { vendor: values.vendor } : {}),
        ...(values.source ? { source: values.source } : {}),
        ...(offlineAfter ? { offline_after_seconds: Number(offlineAfter) } : {}),
        ...(values['no-early-warning'] ? { early_warning: false } : {}),
      };
      const created = await withContext(config, async ({ store, secret }) => {
        if (!(await store.orgs.get(orgId)))
          throw new ValidationError(`organization ${orgId} does not exist`, 'org');
        return createIntegration(store, secret, orgId, input, now);
      });
      const view = { ...integrationView(created.integration, now), ...created.credentials };
      out.print(
        [
          `created integration ${view.name} (${view.id})`,
          'Basic-auth credentials, shown once:',
          `  username: ${view.username}`,
          `  password: ${view.password}`,
        ].join('\n'),
        view,
      );
      return;
    }
    case 'status': {
      const result = await withContext(config, async ({ store }) => {
        const orgId = typeof values.org === 'string' ? values.org : await store.orgs.defaultOrg();
        const deployment = await store.deployment.get();
        if (!orgId) return { org_id: null, deployment, integrations: [], open_issues: [] };
        if (!(await store.orgs.get(orgId)))
          throw new ValidationError(`organization ${orgId} does not exist`, 'org');
        const integrations = [];
        let cursor: string | undefined;
        do {
          const page = await store.integrations.list(orgId, { limit: 100, ...(cursor ? { cursor } : {}) });
          integrations.push(...page.items);
          cursor = page.next_cursor ?? undefined;
        } while (cursor);
        const issues = await store.issues.list(orgId, { limit: 100, state: 'open' });
        return {
          org_id: orgId,
          deployment,
          integrations: integrations.map((integration) => ({
            ...integrationView(integration, now),
            // As in GET /v1/integrations/{id}: the credential the device presented for its last pull.
            credentials: { last_used: credentialLastUsed(integration) },
          })),
          open_issues: issues.items.map((issue) => ({
            id: issue.id,
            type: issue.type,
            criticality: issue.criticality,
            integration_id: issue.integration_id,
            opened_at: issue.opened_at,
            diagnosis: issue.diagnosis.code,
          })),
        };
      });
      const lines = [
        `last cycle: ${result.deployment.last_cycle_at ?? 'never'} (${result.deployment.last_cycle_outcome ?? '-'}); newest pull record: ${result.deployment.newest_record_at ?? 'none'}; feed last seen: ${result.deployment.feed_seen_at ?? 'never'}`,
        ...result.integrations.map(
          (view) =>
            `  ${view.status.padEnd(12)} ${view.name} (${view.id}) last pull ${view.last_pull_at ?? 'never'}` +
            (view.cadence.usual_interval_seconds && view.cadence.state !== 'irregular'
              ? `\n               usually pulls every ~${humanDuration(view.cadence.usual_interval_seconds)} (${view.cadence.state})` +
                (view.cadence.late_after ? `; late after ${view.cadence.late_after}` : '')
              : '') +
            (view.credential_in_url
              ? '\n               password sent in the URL (?api_key=): use basic auth or X-Api-Key, then refresh'
              : ''),
        ),
        ...result.open_issues.map(
          (issue) =>
            `  OPEN ${issue.criticality} ${issue.type} on ${issue.integration_id} since ${issue.opened_at} (${issue.diagnosis})`,
        ),
      ];
      out.print(lines.join('\n'), result);
      return;
    }
    case 'notify preview': {
      const issueId = required(values, 'issue');
      const preview = await withContext(config, async ({ store }) => {
        const orgId = typeof values.org === 'string' ? values.org : await store.orgs.defaultOrg();
        return previewNotification(store, orgId, issueId, now, config.PULLWATCH_CONSOLE_URL);
      });
      if (!preview)
        throw new ValidationError(
          // Issues are stored under their organization; the runner's first organization is the default.
          `no issue ${issueId} in ${typeof values.org === 'string' ? values.org : "the default organization (give --org ID for another one's)"}`,
          'issue',
        );
      out.print(
        [
          `${preview.event} of ${preview.issue_id}, ${preview.sent_at ? `sent ${preview.sent_at}` : 'not sent yet'}`,
          '',
          `== email ==`,
          `Subject: ${preview.subject}`,
          '',
          preview.email.trimEnd(),
          '',
          '== sms ==',
          preview.sms,
          '',
          '== chat (Amazon Q Developer in chat applications custom notification; also what webhooks receive) ==',
          JSON.stringify(preview.chat, null, 2),
        ].join('\n'),
        preview,
      );
      return;
    }
    case 'cycle': {
      // Refused before anything is opened: a bad count changes nothing.
      const workers =
        values.workers === undefined ? {} : { workers: parseWorkers(values.workers, '--workers') };
      const report = await withContext(config, ({ store }) =>
        runCycle({
          store,
          source: createSource(config),
          // With --json, stdout carries exactly one JSON object; the human notice goes to stderr.
          publisher: createPublisher(
            config,
            out.json ? (line) => process.stderr.write(`${line}\n`) : undefined,
          ),
          now,
          ...cycleSettings(config),
          ...workers,
        }),
      );
      out.print(summarizeCycle(report), report);
      if (report.outcome === 'failed') process.exitCode = 1;
      return;
    }
    default: {
      if (command === 'ingest') {
        const paths = [sub, ...rest].filter((path): path is string => Boolean(path));
        if (paths.length === 0) throw new UsageError('ingest needs at least one FILE');
        const source = await filesSource(paths);
        const report = await withContext(config, ({ store }) => ingest({ store, source, now }));
        out.print(
          `files ${report.files_processed} (skipped ${report.files_skipped}), records ${report.records}, integrations updated ${report.integrations_updated}`,
          report,
        );
        return;
      }
      throw new UsageError(`unknown command: ${commandLine}\n\n${USAGE}`);
    }
  }
}

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const out: Output = {
    json,
    // A command cut short by a signal prints nothing: its one line on stderr says what happened.
    print: (human, data) => {
      if (!current.stopping) process.stdout.write(`${json ? JSON.stringify(data) : human}\n`);
    },
  };
  let running: Promise<void> = Promise.resolve();
  // Kept to the end: a signal while the process winds down still exits with 130/143, not the default death.
  onStopSignal(() => stopCommand(running));
  try {
    running = run(argv, out, loadConfig());
    await running;
  } catch (error) {
    if (current.stopping) return;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`pullwatch: ${message}\n`);
    const usage = error instanceof UsageError || (error instanceof TypeError && 'code' in error);
    process.exitCode = usage ? 2 : 1;
  }
}
