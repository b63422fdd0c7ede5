/**
 * Named errors of the domain. The API maps them to HTTP in one place (`api/problem.ts`);
 * everything else either handles them or lets them surface with their cause.
 */
export class PullwatchError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The input is wrong; retrying the same input cannot help. */
export class ValidationError extends PullwatchError {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The object does not exist in the caller's organization (or at all: callers can't tell). */
export class NotFoundError extends PullwatchError {}

/** The caller is not authenticated. */
export class UnauthorizedError extends PullwatchError {}

/** The caller is authenticated but its key's scope does not allow this. */
export class ForbiddenError extends PullwatchError {}

/** Someone else changed the object between our read and our write; re-read and decide again. */
export class ConflictError extends PullwatchError {}

/** A notification could not be handed to its transport. `retryable` says whether a later try can succeed. */
export class TransportError extends PullwatchError {
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Configuration is invalid; raised at start-up so a bad value fails loudly and early. */
export class ConfigError extends PullwatchError {}

/**
 * The one classifier of AWS errors that pass if tried again a moment later. The SDK has already retried by
 * the time one reaches us, so callers decide: the notifier retries longer, the API answers 503.
 */
const THROTTLING = /Throttl|ProvisionedThroughputExceeded|RequestLimitExceeded/;
const SERVER_SIDE = /InternalServerError|InternalError|InternalFailure|ServiceUnavailable/;

const nameOf = (error: unknown) => (error instanceof Error ? error.name : '');

/** DynamoDB (or another AWS service) refused the request for its rate, not for its content. */
export function isThrottling(error: unknown): boolean {
  return THROTTLING.test(nameOf(error));
}

/** Throttling, or a failure on AWS's side (a 5xx): the same request may succeed later. */
export function isTransient(error: unknown): boolean {
  if (isThrottling(error) || SERVER_SIDE.test(nameOf(error))) return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  return status !== undefined && (status >= 500 || status === 429);
}
