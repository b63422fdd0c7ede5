import { handle } from 'hono/aws-lambda';
import { createApp } from '../shared/api/app.ts';
import { withLambdaContext } from '../shared/logger.ts';
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
  }),
);

/** The HTTP API behind API Gateway (HTTP API, payload 2.0). */
export const handler = withLambdaContext((event: Parameters<typeof app>[0], context) => app(event, context));
