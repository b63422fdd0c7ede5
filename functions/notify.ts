import { runNotify } from '../shared/notify/index.ts';
import { cycleSettings } from '../shared/runtime.ts';
import { iso } from '../shared/time.ts';
import { config, logJson, publisher, store } from './context.ts';

/** After each rule pass: delivers due notifications through SNS, then records the cycle for /v1/health. */
export const handler = async () => {
  const now = iso(new Date());
  const report = await runNotify({
    store,
    publisher,
    now,
    ...cycleSettings(config),
  });
  await store.recordCycle(now, report.failed.length === 0 ? 'ok' : 'failed');
  logJson('notify done', { report });
  return { sent: report.sent.length, failed: report.failed.length };
};
