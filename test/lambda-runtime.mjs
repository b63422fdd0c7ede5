/**
 * Runs a bundled Lambda entry the way the Lambda Node.js runtime does: imports the asset's `index.mjs` once
 * (the cold start, top-level await included), then calls `handler(event, context)` for each event in turn, as
 * one warm instance would, with a context whose getRemainingTimeInMillis counts down from the function's
 * timeout. Results go to a file, so stdout stays exactly what the function logs, as CloudWatch would see it.
 *
 * Usage: node test/lambda-runtime.mjs <asset dir> <timeout seconds> <events.json> <results.json>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, timeoutSeconds, eventsPath, resultsPath] = process.argv.slice(2);
const describe = (error) => ({ name: error?.name ?? 'Error', message: error?.message ?? String(error) });
const results = [];
const finish = (code) => {
  writeFileSync(resultsPath, JSON.stringify(results));
  // Like the runtime freezing the instance: open sockets of the SDK's keep-alive agent do not hold us.
  process.exit(code);
};

let entry;
try {
  entry = await import(pathToFileURL(join(dir, 'index.mjs')).href);
} catch (error) {
  results.push({ ok: false, phase: 'init', error: describe(error) });
  finish(1);
}
const events = JSON.parse(readFileSync(eventsPath, 'utf8'));
for (const [index, event] of events.entries()) {
  const deadline = Date.now() + Number(timeoutSeconds) * 1000;
  const context = {
    awsRequestId: `local-${index}`,
    functionName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    results.push({ ok: true, value: await entry.handler(event, context) });
  } catch (error) {
    results.push({ ok: false, phase: 'invoke', error: describe(error) });
  }
}
finish(0);
