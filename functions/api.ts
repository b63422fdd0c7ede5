import { handle } from 'hono/aws-lambda';
import { createApp } from '../shared/api/app.ts';
import { loadSecret } from '../shared/runtime.ts';
import { config, store } from './context.ts';

// Read once per cold start; only the API needs the key-hashing secret.
const secret = await loadSecret(config);

/** The HTTP API behind API Gateway (HTTP API, payload 2.0). */
export const handler = handle(createApp({ store, secret }));
