import { loadConfig } from '../shared/config.ts';
import { createPublisher, createSource, createStore } from '../shared/runtime.ts';

/**
 * What every Lambda shares, built once per cold start: a bad setting fails here, loudly, before any event.
 */
export const config = loadConfig();
export const store = createStore(config);
export const source = createSource(config);
export const publisher = createPublisher(config);

/** One structured log line (CloudWatch Logs Insights reads the JSON fields). */
export function logJson(message: string, fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ level: 'info', message, ...fields }));
}
