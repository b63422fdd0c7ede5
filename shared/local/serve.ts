import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createApp } from '../api/app.ts';
import type { Config } from '../config.ts';
import { type CycleReport, runCycle } from '../cycle.ts';
import { logger } from '../logger.ts';
import { createOrgWithKey } from '../org/index.ts';
import { apiSettings, createPublisher, createSource, cycleSettings } from '../runtime.ts';
import { systemClock } from '../time.ts';
import { LocalBlocklist } from './blocklist.ts';
import { openLocal, outboxPath } from './context.ts';
import { listenLocal } from './http.ts';
import { ContentPullLog } from './pull-log.ts';
import { STOP_GRACE_MS, within } from './stop.ts';

/** One line about a cycle, for the console. */
export function summarizeCycle(report: CycleReport): string {
  const parts = [
    `files ${report.ingest?.files_processed ?? 0}`,
    `records ${report.ingest?.records ?? 0}`,
    `updated ${report.ingest?.integrations_updated ?? 0}`,
    `opened ${report.rules?.opened.length ?? 0}`,
    `resolved ${report.rules?.resolved.length ?? 0}`,
    `sent ${report.notify?.sent.length ?? 0}`,
  ];
  const errors = report.errors.map((error) => ` ${error.stage} failed: ${error.error}`).join(';');
  return `[cycle ${report.at}] ${report.outcome}: ${parts.join(', ')}${errors}`;
}

/** The counts of a cycle, as the fields of its log line. */
function cycleFields(report: CycleReport) {
  return {
    at: report.at,
    outcome: report.outcome,
    files_processed: report.ingest?.files_processed ?? 0,
    records: report.ingest?.records ?? 0,
    integrations_updated: report.ingest?.integrations_updated ?? 0,
    opened: report.rules?.opened.length ?? 0,
    resolved: report.rules?.resolved.length ?? 0,
    sent: report.notify?.sent.length ?? 0,
    errors: report.errors,
  };
}

/**
 * `npm start`: the embedded database, the API on HOST:PORT and a cycle every PULLWATCH_CYCLE_SECONDS, all in
 * this process. Returns a function that stops everything. `print` shows the banner (and the first API key,
 * once) to the person who started it; requests and cycles are logged as JSON lines through the logger.
 */
export async function serve(
  config: Config,
  print: (text: string) => void = console.log,
): Promise<() => Promise<void>> {
  await mkdir(config.PULLWATCH_LOG_DIR, { recursive: true });
  // Checked before anything starts: a bad list stops the runner with the line at fault.
  const blocklist = await LocalBlocklist.open(config.PULLWATCH_BLOCKLIST_FILE, (error) =>
    logger.error('blocklist file not reloaded; the last good list is served', { error }),
  );
  const pullLog = new ContentPullLog(config.PULLWATCH_LOG_DIR);
  const recovered = await pullLog.recover();
  if (recovered > 0) logger.info('sealed pull logs left open by a stopped runner', { files: recovered });
  const context = await openLocal(config, { publish: true });
  const { store, secret } = context;

  let firstKey: { orgId: string; orgName: string; key: string } | null = null;
  if ((await store.orgs.defaultOrg()) === null) {
    const { org, key } = await createOrgWithKey(
      store,
      secret,
      'Default organization',
      'write',
      systemClock(),
    );
    if (await store.orgs.setDefaultOrg(org.id, org.created_at))
      firstKey = { orgId: org.id, orgName: org.name, key };
  }

  const app = createApp({
    store,
    secret,
    ...apiSettings(config),
    now: systemClock,
    content: {
      log: pullLog,
      blocklist: () => blocklist.text(),
      onLogError: (error) => logger.error('pull-log line not written', { error }),
    },
  });
  const server = await listenLocal(app.fetch, { port: config.PORT, hostname: config.HOST });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const base = `http://${config.HOST}:${port}`;

  print(
    [
      'pullwatch is running',
      `  API        ${base}/v1   (no-auth health check: ${base}/v1/health)`,
      `  blocklist  ${base}/v1/integrations/{id}/content   (${config.PULLWATCH_BLOCKLIST_FILE ? resolve(config.PULLWATCH_BLOCKLIST_FILE) : 'built-in documentation-range list'})`,
      `  database   ${resolve(config.PULLWATCH_DATA_DIR, 'db')}${context.db ? ` (embedded, ${context.db.endpoint})` : ''}`,
      `  pull logs  ${resolve(config.PULLWATCH_LOG_DIR)}   (read every ${config.PULLWATCH_CYCLE_SECONDS} s)`,
      `  alerts     ${config.SNS_TOPIC_ARN ? `SNS ${config.SNS_TOPIC_ARN}` : `${resolve(outboxPath(config))} and this console`}`,
    ].join('\n'),
  );
  if (firstKey) {
    print(
      [
        '',
        `First start: created organization "${firstKey.orgName}" (${firstKey.orgId}) and a write API key.`,
        'Copy it now; it is shown only once and stored only as a hash:',
        '',
        `  ${firstKey.key}`,
        '',
        'Try it:',
        `  curl -H "Authorization: Bearer ${firstKey.key}" ${base}/v1/integrations`,
        '',
      ].join('\n'),
    );
  }

  const source = createSource(config);
  const publisher = createPublisher(config);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = (async () => {
      try {
        // What devices pulled until now becomes readable by this cycle.
        await pullLog.seal().catch((error) => logger.error('pull log not sealed', { error }));
        const report = await runCycle({
          store,
          source,
          publisher,
          now: systemClock(),
          ...cycleSettings(config),
        });
        // A failed stage is an error line, as in the Lambda cycle; the next cycle retries what it left.
        const fields = cycleFields(report);
        if (report.outcome === 'ok') logger.info('cycle done', fields);
        else logger.error('cycle done', fields);
      } catch (error) {
        logger.error('cycle failed', { error });
      }
      // The next cycle is planned after this one ends, so two never overlap within this process.
      if (!stopped) timer = setTimeout(tick, config.PULLWATCH_CYCLE_SECONDS * 1000);
    })();
  };
  tick();

  return async () => {
    stopped = true;
    clearTimeout(timer);
    // No new cycle step and no new API read from here; what is in flight finishes, then the database closes.
    context.drain();
    const closed = new Promise<void>((done) => server.close(() => done()));
    await within(running, STOP_GRACE_MS);
    await within(closed, STOP_GRACE_MS);
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    await within(
      pullLog.seal().then(() => undefined),
      STOP_GRACE_MS,
    );
    await context.close();
  };
}
