import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { WorkersCount } from './queue/index.ts';

/**
 * The whole environment, parsed once. Every process (Lambda, local runner, CLI) reads its settings here,
 * so a bad value fails at start-up with the variable's name instead of misbehaving later.
 */
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** The levels Powertools Logger knows, in its spelling (it does not read lower case from the environment). */
const LogLevel = z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT']);

const EnvSchema = z.object({
  TABLE_NAME: z.string().min(3).default('pullwatch'),
  /** Endpoint of a DynamoDB-compatible server; unset in AWS. */
  DYNAMODB_ENDPOINT: z.url().optional(),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  SNS_TOPIC_ARN: z
    .string()
    .regex(/^arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w-]{1,256}$/, 'must be an SNS topic ARN')
    .optional(),
  /** Endpoint override for SNS (tests point it at a local HTTP endpoint). */
  SNS_ENDPOINT: z.url().optional(),
  /** Secret used to hash API keys and integration passwords (HMAC-SHA256). Locally kept in the data dir. */
  PULLWATCH_KEY_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** In AWS: the Secrets Manager secret holding that value, read once per cold start. */
  PULLWATCH_KEY_SECRET_ARN: z.string().startsWith('arn:').optional(),
  PULLWATCH_DATA_DIR: z.string().min(1).default('.pullwatch'),
  PULLWATCH_LOG_DIR: z.string().min(1).default('pull-logs'),
  /** Where the scheduled ingest reads pull logs in AWS: s3://bucket/prefix. */
  PULLWATCH_LOG_BUCKET: z.string().min(3).optional(),
  PULLWATCH_LOG_PREFIX: z.string().default(''),
  /** The fan-out's rules queue (AWS, `fanOut` on): the tick sends one message per shard to it. */
  PULLWATCH_RULES_QUEUE_URL: z.url().optional(),
  PULLWATCH_CYCLE_SECONDS: positiveInt(60),
  /** Concurrent ingest and rule workers of a cycle (the in-process queue; `pullwatch cycle --workers N`). */
  PULLWATCH_WORKERS: WorkersCount.default(1),
  /** What the local content endpoint serves: one IP or CIDR per line (default: a built-in documentation-range list). */
  PULLWATCH_BLOCKLIST_FILE: z.string().min(1).optional(),
  PULLWATCH_CONSOLE_URL: z.url().optional(),
  /** The pipeline guard: pull logs older than this hold offline alerts (0: guard off). */
  PULLWATCH_STALE_AFTER_SECONDS: z.coerce.number().int().min(0).default(7200),
  /** Reminder interval of an open issue (0: no reminders). */
  PULLWATCH_REMINDER_SECONDS: z.coerce.number().int().min(0).default(86_400),
  /** Comma-separated browser origins allowed to call the API (the console's); none by default. */
  PULLWATCH_CORS_ORIGINS: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.url('each origin must be a URL like https://console.example.com'))),
  /** Name of this deployment (the stack's): the dimension of the cycle's CloudWatch metrics. */
  PULLWATCH_DEPLOYMENT: z.string().min(1).max(255).default('local'),
  /**
   * Log level of the functions and the local runner. Powertools reads these itself (POWERTOOLS_LOG_LEVEL first)
   * and silently ignores a value it does not know, so they are checked here to fail at start instead.
   */
  POWERTOOLS_LOG_LEVEL: LogLevel.optional(),
  LOG_LEVEL: LogLevel.optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  HOST: z.string().min(1).default('127.0.0.1'),
});

export type Config = z.infer<typeof EnvSchema>;

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset" (a common shell habit: `FOO= npm start`).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  return parsed.data;
}

/**
 * Every setting as it is when the environment leaves it out: read off the schema above, which is the one place
 * a default is written (tests and tools that run a cycle without a configuration take theirs from here).
 */
export const defaultConfig: Config = loadConfig({});
