import { loadConfig } from '../shared/config.ts';
import { type Metric, toEmf } from '../shared/metrics.ts';
import { createStore } from '../shared/runtime.ts';
import type { Iso } from '../shared/time.ts';

/**
 * What every Lambda shares, built once per cold start: a bad setting fails here, loudly, before any event.
 * Log lines go through shared/logger.ts.
 */
export const config = loadConfig();
export const store = createStore(config);

/**
 * Metrics as one EMF line; `properties` become searchable log fields next to them. Written straight to stdout,
 * not through the logger, whose level filter would drop them (at LOG_LEVEL=WARN the "no successful cycle" alarm
 * would fire for want of data). Why not Powertools Metrics: see shared/metrics.ts.
 */
export function emitMetrics(metrics: Metric[], at: Iso, properties: Record<string, unknown> = {}): void {
  const document = toEmf(metrics, { deployment: config.PULLWATCH_DEPLOYMENT, at: new Date(at), properties });
  process.stdout.write(`${JSON.stringify(document)}\n`);
}
