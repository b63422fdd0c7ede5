import type {
  APIGatewayRequestAuthorizerEventV2,
  APIGatewaySimpleAuthorizerWithContextResult,
} from 'aws-lambda';
import { integrationIdOfPath } from '../pulls/parse.ts';
import type { AuthOutcome, CredentialMark, PullRequestParts, PullVerdict } from './verify.ts';

/**
 * The edges of the PullAuthorizer (functions/authorizer.ts): an API Gateway HTTP API Lambda authorizer, REQUEST
 * type, payload format 2.0, simple responses. Both shapes are AWS's, from "Control access to HTTP APIs with AWS
 * Lambda authorizers" (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html,
 * sections "Payload format version" and "Lambda function response for format 2.0"):
 *   in:  {version:"2.0", type:"REQUEST", routeArn, identitySource, routeKey, rawPath, rawQueryString, cookies,
 *         headers, queryStringParameters, requestContext, pathParameters, stageVariables}
 *   out: {isAuthorized: true|false, context: {...}}, each context key readable in the access log as
 *        `$context.authorizer.<key>` ("Customizing HTTP API access logs").
 * Decisions and their sources are in docs/deploy-aws.md, "Verifying pulls with the PullAuthorizer".
 */

/** What the authorizer hands API Gateway, for the access log (`$context.authorizer.outcome` ...). */
export interface PullAuthorizerContext {
  outcome: AuthOutcome;
  /** The id of the URL, whether or not an integration has it ('' when the URL names none). */
  integration_id: string;
  /** Only when the id names an integration. */
  org_id?: string;
  /**
   * `query` when the URL carried the password (API Gateway's access log has no query string, so this is how
   * pullwatch learns it there), else `basic`, `header` or `none`.
   */
  credential?: CredentialMark;
}

export type PullAuthorizerResult = APIGatewaySimpleAuthorizerWithContextResult<PullAuthorizerContext>;

/** The `{id}` charset of the content route, as the pull-log parser reads it. */
const INTEGRATION_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * HTTP API lowercases header names in its 2.0 events, but the guide's own example shows `Header1`: look both up
 * without case, so neither spelling turns a presented credential into `no_credentials`.
 */
function header(headers: APIGatewayRequestAuthorizerEventV2['headers'], name: string): string | undefined {
  if (!headers) return undefined;
  const direct = headers[name];
  if (direct !== undefined) return direct;
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

/**
 * The integration and the credential-bearing parts of one request. The id is the route's `{id}` path parameter
 * when the route has one, else the `{id}` of `.../integrations/{id}/content` in the raw path, whatever comes
 * before it (a stage, `/v1`, a custom domain's base path) — the same rule the API Gateway log parser applies.
 */
export function pullRequestOf(event: APIGatewayRequestAuthorizerEventV2): {
  integrationId: string;
  parts: PullRequestParts;
} {
  const fromRoute = event.pathParameters?.id;
  const candidate =
    typeof fromRoute === 'string' && fromRoute !== '' ? fromRoute : integrationIdOfPath(event.rawPath ?? '');
  return {
    integrationId: candidate !== null && INTEGRATION_ID.test(candidate) ? candidate : '',
    parts: {
      authorization: header(event.headers, 'authorization'),
      apiKeyHeader: header(event.headers, 'x-api-key'),
      query: event.rawQueryString,
    },
  };
}

/**
 * The simple response. Denials carry their outcome in the context too: API Gateway answers them 403 itself, and
 * the access log gets the outcome wherever API Gateway fills `$context.authorizer.*` for a denied request; where
 * it writes `-` instead, the parser reads "no outcome" and the diagnosis falls back to the status (see the guide).
 */
export function authorizerResult(
  integrationId: string,
  verdict: PullVerdict,
  credential?: CredentialMark,
): PullAuthorizerResult {
  return {
    isAuthorized: verdict.accepted,
    context: {
      outcome: verdict.outcome,
      integration_id: verdict.integration?.id ?? integrationId,
      ...(verdict.integration ? { org_id: verdict.integration.org_id } : {}),
      ...(credential ? { credential } : {}),
    },
  };
}
