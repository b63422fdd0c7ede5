import { runRules } from '../shared/rules/index.ts';
import { iso } from '../shared/time.ts';
import { config, logJson, store } from './context.ts';

/** After each ingest: opens and resolves issues for the integrations whose check time has come. */
export const handler = async () => {
  const report = await runRules({
    store,
    now: iso(new Date()),
    staleAfterSeconds: config.PULLWATCH_STALE_AFTER_SECONDS,
  });
  logJson('rules done', { report });
  return { candidates: report.candidates, opened: report.opened.length, resolved: report.resolved.length };
};
