import { handle } from 'hono/aws-lambda';
import { createApp } from '../shared/api/app.ts';
import { logger, withLambdaContext } from '../shared/logger.ts';
import { apiSettings, loadSecret } from '../shared/runtime.ts';
import { systemClock } from '../shared/time.ts';
import { config, store } from './context.ts';

// Read once per cold start; only the API and the admin function need the key-hashing secret.
const secret = await loadSecret(config);

const app = handle(
  createApp({
    store,
    secret,
    ...apiSettings(config),
    now: systemClock,
    // One line per request with its request id (the id every response carries); never a header or a body.
    log: (message, fields) => logger.info(message, fields),
  }),
);

/** The HTTP API behind API Gateway (HTTP API, payload 2.0). */
export const handler = withLambdaContext((event: Parameters<typeof app>[0], context) => app(event, context));
