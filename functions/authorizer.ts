import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import {
  authorizerResult,
  type PullAuthorizerResult,
  pullRequestOf,
} from '../shared/auth/http-authorizer.ts';
import { credentialMarkOf, PullVerifier } from '../shared/auth/verify.ts';
import { logger, withLambdaContext } from '../shared/logger.ts';
import { loadSecret } from '../shared/runtime.ts';
import { systemClock } from '../shared/time.ts';
import { config, store } from './context.ts';

// Read once per cold start, like the API's. One verifier per process: its cache of integrations (hashes, never a
// password) lives as long as the warm instance, with the bounds shared/auth/verify.ts states.
const secret = await loadSecret(config);
const verifier = new PullVerifier(secret, (id) => store.integrations.byId(id));

/**
 * The PullAuthorizer: API Gateway HTTP API Lambda authorizer (REQUEST, payload 2.0, simple responses) for the
 * blocklist's `GET /v1/integrations/{id}/content`. Answers whether the pull's credentials pass and, for the
 * access log, which credential they were (docs/deploy-aws.md, "Verifying pulls with the PullAuthorizer").
 * Logs the outcome and the integration id, never a header or the query string.
 */
export const handler = withLambdaContext(
  async (event: APIGatewayRequestAuthorizerEventV2): Promise<PullAuthorizerResult> => {
    const { integrationId, parts } = pullRequestOf(event);
    const verdict = await verifier.verify(integrationId, parts, systemClock());
    const credential = credentialMarkOf(parts);
    logger.info('pull verified', { outcome: verdict.outcome, credential, integration_id: integrationId });
    return authorizerResult(integrationId, verdict, credential);
  },
);
