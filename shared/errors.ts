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
