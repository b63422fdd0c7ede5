import { handle } from 'hono/aws-lambda';
import { createApp } from '../shared/api/app.ts';
import { apiSettings, loadSecret } from '../shared/runtime.ts';
import { iso } from '../shared/time.ts';
import { config, store } from './context.ts';

// Read once per cold start; only the API and the admin function need the key-hashing secret.
const secret = await loadSecret(config);

// One JSON line per request with its request id (the id every response carries), written as-is so CloudWatch
// Logs keeps it as JSON; never a header or a body.
const log = (message: string, fields: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ message, ...fields })}\n`);

/** The HTTP API behind API Gateway (HTTP API, payload 2.0). */
export const handler = handle(
  createApp({ store, secret, now: () => iso(new Date()), ...apiSettings(config), log }),
);
