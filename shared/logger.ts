import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';

/**
 * The one logger of the Lambda functions and the local runner: one JSON object per line on stdout (warnings and
 * errors on stderr), with `level`, `message`, `timestamp`, `service` and the caller's fields at the top level;
 * an `Error` among them is written out with its name, message and stack. Powertools reads the level itself
 * (AWS_LAMBDA_LOG_LEVEL, then POWERTOOLS_LOG_LEVEL or LOG_LEVEL; INFO otherwise); shared/config.ts only checks
 * that a value set there is one it knows, so a typo fails at start instead of being ignored.
 *
 * Powertools writes through its own `Console`, not the global one, so the Lambda runtime's JSON log format does
 * not wrap these lines in a second envelope. The CLI's output and the runner's banner are for people, not logs:
 * they never go through here.
 */
export const logger = new Logger({ serviceName: 'pullwatch' });

/**
 * A Lambda handler whose log lines carry the invocation (request id, function, cold start): what Powertools'
 * `injectLambdaContext` middleware does, without a middleware library.
 */
export function withLambdaContext<E, R>(
  handler: (event: E, context: Context) => Promise<R>,
): (event: E, context: Context) => Promise<R> {
  return (event, context) => {
    logger.addContext(context);
    return handler(event, context);
  };
}
