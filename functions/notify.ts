import { runNotify } from '../shared/notify/index.ts';
import { iso } from '../shared/time.ts';
import { config, logJson, publisher, store } from './context.ts';

/** After each rule pass: delivers due notifications through SNS, then records the cycle for /v1/health. */
export const handler = async () => {
  const now = iso(new Date());
  const report = await runNotify({
    store,
    publisher,
    now,
    ...(config.PULLWATCH_CONSOLE_URL ? { consoleUrl: config.PULLWATCH_CONSOLE_URL } : {}),
  });
  await store.recordCycle(now, report.failed.length === 0 ? 'ok' : 'failed');
  logJson('notify done', { report });
  return { sent: report.sent.length, failed: report.failed.length };
};
