import { z } from 'zod';

/**
 * The deployment's settings, read from CDK context (cdk.json, or `-c key=value` on the command line) and
 * checked at synth: a bad value stops `cdk synth` with its name instead of deploying something half-wired.
 * Context given on the command line is always a string, so lists also accept JSON or comma-separated text.
 */

/** A JSON list, a JSON-encoded list, a comma-separated string, or nothing. */
const listOf = <T extends z.ZodType>(item: T) =>
  z.preprocess((value) => {
    if (value === undefined || value === null || value === '') return [];
    if (typeof value !== 'string') return value;
    const text = value.trim();
    if (text.startsWith('[')) {
      try {
        return JSON.parse(text);
      } catch {
        return text; // reported by the schema as "expected array", with the setting's name
      }
    }
    return text
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
  }, z.array(item));

const flag = z.preprocess(
  (value) => (value === 'true' ? true : value === 'false' ? false : value),
  z.boolean().default(false),
);
const optionalText = z.preprocess((value) => (value === '' ? undefined : value), z.string().optional());

const Email = z.email();
/** E.164, as SNS requires for SMS: `+` then 8 to 15 digits. */
const Phone = z.string().regex(/^\+[1-9]\d{7,14}$/, 'must be an E.164 phone number like +15555550100');
/**
 * A webhook URL. No user name or password in it: they would be written into the template (and a resource's
 * logical id), and SNS signs every message, so a receiver checks the signature instead (docs/deploy-aws.md).
 */
const HttpsUrl = z.url({ protocol: /^https$/, error: 'must be an https:// URL' });
const withoutCredentials = (url: string) => {
  const parsed = new URL(url);
  return parsed.username === '' && parsed.password === '';
};
const OrgId = z
  .string()
  .regex(/^org_[0-9a-f]{8,40}$/, 'must be an organization id like org_0123456789abcdef');

/** A subscriber is an address, or an address with the organizations whose alerts it receives. */
const subscriber = (endpoint: z.ZodString | z.ZodEmail | z.ZodURL) =>
  z.union([
    endpoint.transform((address) => ({ endpoint: address, orgIds: [] as string[] })),
    z
      .object({ endpoint, orgIds: z.array(OrgId).default([]) })
      .strict()
      .transform(({ endpoint: address, orgIds }) => ({ endpoint: address, orgIds })),
  ]);

export const SettingsSchema = z.object({
  /** Minutes between watchdog cycles. */
  cycleMinutes: z.coerce.number().int().min(1).max(60).default(5),
  alertEmails: listOf(subscriber(Email)).default([]),
  alertPhones: listOf(subscriber(Phone)).default([]),
  /**
   * HTTPS endpoints that receive every alert's chat form as JSON, SNS-signed (SignatureVersion 2), same object
   * form as emails. The endpoint must confirm the subscription (docs/deploy-aws.md, "Webhooks").
   */
  alertWebhooks: listOf(
    subscriber(HttpsUrl).refine(
      (webhook) => withoutCredentials(webhook.endpoint),
      'must not carry a user name or password (SNS signs each message: verify the signature instead)',
    ),
  ).default([]),
  /** SMS only for critical issues: `{"criticality":["critical"]}` on every SMS subscription. */
  smsCriticalOnly: flag,
  /**
   * Early warnings (criticality `warning`, a device late against its own rhythm) by SMS too. Off: every SMS
   * subscription filters them out (`{"criticality":["critical","high"]}`); email, chat and webhooks get them.
   */
  smsWarnings: flag,
  /** Who hears about pullwatch itself being broken (the alarms). */
  opsEmails: listOf(Email).default([]),
  /** The account's SMS monthly spend limit (SNS default: 1 USD); the alarm fires at 80 % of it. */
  smsSpendLimitUsd: z.coerce.number().positive().default(1),
  /** Browser origins allowed to call the API; none means no CORS at all. */
  corsOrigins: listOf(z.url()).default([]),
  apiRateLimit: z.coerce.number().int().positive().default(50),
  apiBurstLimit: z.coerce.number().int().positive().default(100),
  /** An existing bucket holding the pull logs (read-only); a new bucket is made when unset. */
  logBucketName: optionalText.pipe(
    z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
      .optional(),
  ),
  logPrefix: z.preprocess((value) => value ?? '', z.string()),
  /** Days the new log bucket keeps objects (ignored for an existing bucket). */
  logRetentionDays: z.coerce.number().int().min(1).default(30),
  consoleUrl: optionalText.pipe(z.url().optional()),
  /**
   * The id of the blocklist's HTTP API (same account and region) whose authorizer invokes the PullAuthorizer:
   * the stack grants that API `lambda:InvokeFunction`. Unset: no grant (docs/deploy-aws.md says how to add one).
   */
  blocklistApiId: optionalText.pipe(
    z
      .string()
      .regex(/^[a-z0-9]{1,32}$/, 'must be an API Gateway API id like a1b2c3d4e5')
      .optional(),
  ),
  /**
   * A Slack channel for the alerts, through Amazon Q Developer in chat applications: the workspace id (from the
   * service's console, after authorizing the workspace once) and the channel id. Both or neither.
   */
  slackWorkspaceId: optionalText.pipe(
    z
      .string()
      .regex(/^[0-9A-Z]{1,255}$/, 'must be a Slack workspace id like T0123ABCD')
      .optional(),
  ),
  slackChannelId: optionalText.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9]{1,255}$/, 'must be a Slack channel id like C0123ABCD')
      .optional(),
  ),
  /**
   * A Microsoft Teams channel for the alerts: team id, channel id (URL-encoded, as in the channel's link) and
   * tenant id. All three or none.
   */
  teamsTeamId: optionalText.pipe(z.uuid('must be a Microsoft Teams team id (a UUID)').optional()),
  teamsChannelId: optionalText.pipe(
    z
      .string()
      // The CloudFormation resource's pattern: the channel id URL-encoded (`:` as %3A, `@` as %40).
      .regex(
        /^[a-zA-Z0-9-_=+/.,]*%3[aA][a-zA-Z0-9-_=+/.,]*%40[a-zA-Z0-9-_=+/.,]*$/,
        'must be a URL-encoded Microsoft Teams channel id like 19%3Aabc...%40thread.tacv2',
      )
      .optional(),
  ),
  teamsTenantId: optionalText.pipe(z.uuid('must be a Microsoft Entra tenant id (a UUID)').optional()),
  /**
   * Fan-out (docs/deploy-aws.md, "Fan-out"): S3 events feed ingest workers through an SQS queue, and the schedule
   * starts a tick that hands each shard of the rule pass to a worker. Off: one cycle function does everything.
   */
  fanOut: flag,
  /** Fan-out only: how many ingest workers may run at once (the event source mapping's maximum concurrency). */
  ingestConcurrency: z.coerce.number().int().min(2).max(1000).default(10),
});

export type Settings = z.infer<typeof SettingsSchema>;
export type Subscriber = Settings['alertEmails'][number];

export const SETTING_NAMES = Object.keys(SettingsSchema.shape) as Array<keyof Settings>;

/** Parses the context values; throws one error naming every bad key. */
export function parseSettings(context: (key: string) => unknown): Settings {
  const raw = Object.fromEntries(SETTING_NAMES.map((name) => [name, context(name)]));
  let parsed: ReturnType<typeof SettingsSchema.safeParse>;
  try {
    parsed = SettingsSchema.safeParse(raw);
  } catch (error) {
    throw new Error(`invalid context: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`invalid context: ${lines.join('; ')}`);
  }
  const { slackWorkspaceId, slackChannelId, teamsTeamId, teamsChannelId, teamsTenantId } = parsed.data;
  const partial = (names: string[], values: Array<string | undefined>) =>
    values.some((value) => value !== undefined) && values.some((value) => value === undefined)
      ? [`${names.join(', ')}: give all of them or none`]
      : [];
  const incomplete = [
    ...partial(['slackWorkspaceId', 'slackChannelId'], [slackWorkspaceId, slackChannelId]),
    ...partial(
      ['teamsTeamId', 'teamsChannelId', 'teamsTenantId'],
      [teamsTeamId, teamsChannelId, teamsTenantId],
    ),
  ];
  if (incomplete.length > 0) throw new Error(`invalid context: ${incomplete.join('; ')}`);
  return parsed.data;
}
