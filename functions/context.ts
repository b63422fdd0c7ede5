import { loadConfig } from '../shared/config.ts';
import { type Metric, toEmf } from '../shared/metrics.ts';
import { createStore } from '../shared/runtime.ts';

/**
 * What every Lambda shares, built once per cold start: a bad setting fails here, loudly, before any event.
 */
export const config = loadConfig();
export const store = createStore(config);

/**
 * One JSON object per line, straight to stdout. Not `console.log`: with the functions' JSON log format the
 * Lambda runtime wraps console output in its own envelope, which would turn this object into a quoted string,
 * and CloudWatch only extracts Embedded Metric Format documents that are the log event itself.
 */
function writeLine(object: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(object)}\n`);
}

/** One structured log line (CloudWatch Logs Insights reads the JSON fields). */
export function logJson(message: string, fields: Record<string, unknown>, level = 'INFO'): void {
  writeLine({ timestamp: new Date().toISOString(), level, message, ...fields });
}

/** Metrics as one EMF line; `properties` become searchable log fields next to them. */
export function emitMetrics(metrics: Metric[], properties: Record<string, unknown> = {}): void {
  writeLine(toEmf(metrics, { deployment: config.PULLWATCH_DEPLOYMENT, at: new Date(), properties }));
}
