import { createHash } from 'node:crypto';
import {
  ArnFormat,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CorsHttpMethod, HttpApi, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Alias } from 'aws-cdk-lib/aws-kms';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Subscription, SubscriptionFilter, SubscriptionProtocol, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription, SmsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { CRITICALITIES, type Criticality, DEPLOYMENT_ORG } from '../shared/issue/index.ts';
import { ALERT_TOPIC_DISPLAY_NAME } from '../shared/notify/gsm7.ts';
import { INDEX, TABLE, TTL_ATTRIBUTE } from '../shared/table/schema.ts';
import { AppFunction } from './app-function.ts';
import { ChatChannels } from './chat-channels.ts';
import { FanOut } from './fan-out.ts';
import type { Settings, Subscriber } from './settings.ts';
import { Watchdog } from './watchdog.ts';

export interface PullwatchStackProps extends StackProps {
  settings: Settings;
}

/**
 * The cycle's time budget. Below the 5-minute schedule, so a normal cycle ends before the next one is due, and
 * below notify's 300 s outbox claim (CLAIM_SECONDS), so a cycle can never outlive the claims it holds. For
 * scale: bench/cycle-cost.ts runs a cycle in which 10 k integrations all pulled in 29 s (64 s on a cold
 * instance) against dynalite, which is several times slower than DynamoDB (docs/deploy-aws.md).
 */
export const CYCLE_TIMEOUT = Duration.minutes(4);

/**
 * 1 GB: parsing log lines is CPU-bound and Lambda's CPU share grows with memory (1 GB is about 0.6 vCPU); the
 * cycle also holds every integration that pulled in memory (832 bytes stored each, a few KB as objects: a few
 * hundred MB at 100 k). At 5-minute cycles the month's cycle compute stays around 10 USD even at 100 k.
 */
const CYCLE_MEMORY_MB = 1024;

/**
 * The SNS filter policy of one subscriber: its organizations (plus deployment-wide issues) and the
 * criticalities it hears (all when `criticalities` is undefined).
 */
function filterPolicy(subscriber: Subscriber, criticalities?: readonly Criticality[]) {
  const policy: Record<string, SubscriptionFilter> = {};
  if (subscriber.orgIds.length > 0) {
    policy.org_id = SubscriptionFilter.stringFilter({ allowlist: [...subscriber.orgIds, DEPLOYMENT_ORG] });
  }
  if (criticalities) policy.criticality = SubscriptionFilter.stringFilter({ allowlist: [...criticalities] });
  return Object.keys(policy).length > 0 ? policy : undefined;
}

/** What an SMS subscription hears: critical only, or all but early warnings unless the operator opts in. */
function smsCriticalities(settings: Settings): readonly Criticality[] | undefined {
  if (settings.smsCriticalOnly) return ['critical'];
  return settings.smsWarnings ? undefined : CRITICALITIES.filter((criticality) => criticality !== 'warning');
}

export class PullwatchStack extends Stack {
  readonly cycle: AppFunction;
  readonly api: AppFunction;
  readonly admin: AppFunction;
  readonly authorizer: AppFunction;

  constructor(scope: Construct, id: string, props: PullwatchStackProps) {
    super(scope, id, props);
    const { settings } = props;

    // ---- state -------------------------------------------------------------------------------------
    const attribute = (key: { name: string }) => ({ name: key.name, type: AttributeType.STRING });
    const table = new Table(this, 'Table', {
      partitionKey: attribute(TABLE.partitionKey),
      sortKey: attribute(TABLE.sortKey),
      billingMode: BillingMode.PAY_PER_REQUEST,
      // Pull-history day items carry it; nothing else does.
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of TABLE.indexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: attribute(index.partitionKey),
        ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
        ...(index.projection === 'ALL'
          ? { projectionType: ProjectionType.ALL }
          : index.projection === 'KEYS_ONLY'
            ? { projectionType: ProjectionType.KEYS_ONLY }
            : { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: index.projection.include }),
      });
    }

    const keySecret = new Secret(this, 'KeyHashingSecret', {
      description: 'pullwatch: HMAC key for API keys and integration passwords',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(keySecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Every stored API key and integration password is an HMAC under this secret; rotating it would lock out every firewall at once. Only the API, admin and pull-authorizer functions can read it.',
    });

    const logBucket: IBucket = settings.logBucketName
      ? Bucket.fromBucketName(this, 'PullLogs', settings.logBucketName)
      : new Bucket(this, 'PullLogs', {
          encryption: BucketEncryption.S3_MANAGED,
          blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
          enforceSSL: true,
          lifecycleRules: [{ expiration: Duration.days(settings.logRetentionDays) }],
          removalPolicy: RemovalPolicy.RETAIN,
        });
    if (!settings.logBucketName) {
      Validations.of(logBucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          'The bucket holds access logs written by the blocklist endpoint pipeline; logging access to access logs adds cost without a reader.',
      });
    }

    // ---- alerts to customers --------------------------------------------------------------------------
    const alertTopic = new Topic(this, 'Alerts', {
      // SNS prefixes every SMS with `<display name>> `; the SMS texts are sized for this very name.
      displayName: ALERT_TOPIC_DISPLAY_NAME,
      enforceSSL: true,
      masterKey: Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
      // HTTPS subscribers (webhooks) verify each message's signature: SHA256withRSA rather than the default SHA1.
      signatureVersion: '2',
    });
    for (const subscriber of settings.alertEmails) {
      const policy = filterPolicy(subscriber);
      alertTopic.addSubscription(
        new EmailSubscription(subscriber.endpoint, policy ? { filterPolicy: policy } : {}),
      );
    }
    for (const subscriber of settings.alertPhones) {
      const policy = filterPolicy(subscriber, smsCriticalities(settings));
      alertTopic.addSubscription(
        new SmsSubscription(subscriber.endpoint, policy ? { filterPolicy: policy } : {}),
      );
    }

    // Webhooks: the chat form as JSON, signed by SNS (docs/deploy-aws.md, "Webhooks"); not raw, so the
    // receiver gets the signature with it.
    // Named by a hash of the URL, not the URL itself: a path may hold a receiver's token, and a logical id is
    // shown in every stack event and diff.
    for (const subscriber of settings.alertWebhooks) {
      const policy = filterPolicy(subscriber);
      const id = createHash('sha256').update(subscriber.endpoint).digest('hex').slice(0, 12);
      new Subscription(this, `Webhook${id}`, {
        topic: alertTopic,
        endpoint: subscriber.endpoint,
        protocol: SubscriptionProtocol.HTTPS,
        ...(policy ? { filterPolicy: policy } : {}),
      });
    }

    // Slack and Microsoft Teams channels, when their context values are given (README, "Detection and alerts").
    new ChatChannels(this, 'ChatChannels', { alertTopic, settings });

    // ---- the cycle --------------------------------------------------------------------------------------
    // Fan-out: the schedule starts a tick instead (guard, notify, one rules message per shard); workers fed by
    // SQS do the ingest and the rule pass (infra/fan-out.ts).
    const fanOut = settings.fanOut
      ? new FanOut(this, 'FanOut', {
          table,
          logBucket,
          logPrefix: settings.logPrefix,
          ingestConcurrency: settings.ingestConcurrency,
          deployment: this.stackName,
        })
      : null;
    this.cycle = new AppFunction(this, 'Cycle', {
      entry: fanOut ? 'tick' : 'cycle',
      description: fanOut
        ? 'pullwatch: fan-out tick (pipeline guard, notify, one rules message per shard)'
        : 'pullwatch: one watchdog cycle (ingest pull logs, open and resolve issues, notify)',
      memorySize: CYCLE_MEMORY_MB,
      timeout: CYCLE_TIMEOUT,
      environment: {
        PULLWATCH_DEPLOYMENT: this.stackName,
        ...(settings.consoleUrl ? { PULLWATCH_CONSOLE_URL: settings.consoleUrl } : {}),
      },
    });
    if (fanOut) {
      // The guard and notify: the deployment record, issues, the outbox; the lock.
      this.cycle
        .bindTable(
          table,
          ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'],
          [INDEX.byOutbox],
        )
        .bindRulesQueue(fanOut.rules.queue);
    } else {
      // Ingest: the ledger and integrations, by id or bouncer name (lapi), an organization's bouncers (removals);
      // rules: due integrations, issues, transitions, an organization's integrations (shared outages); notify:
      // the outbox; the cycle: its lock and the deployment record.
      this.cycle
        .bindTable(
          table,
          ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'],
          [INDEX.byDue, INDEX.byOutbox, INDEX.byLapiName, INDEX.byList],
        )
        .bindLogSource(logBucket, settings.logPrefix);
    }
    this.cycle.bindTopic(alertTopic);

    const queue = (id: string, description: string) => {
      const created = new Queue(this, id, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      Validations.of(created).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: `This queue is itself a dead-letter queue (${description}); it has no consumer, only an alarm.`,
      });
      return created;
    };
    const cycleFailures = queue('CycleFailures', 'cycle invocations that failed');
    const scheduleDeadLetters = queue('ScheduleDeadLetters', 'schedule events that could not be delivered');

    // No Lambda retry: the next scheduled cycle, at most one interval later, is the retry, and it resumes
    // whatever the failed one left (unclaimed files, due outbox entries). An event older than one interval is
    // superseded by the next one, so it is dropped to the failure queue instead of running late.
    const interval = Duration.minutes(settings.cycleMinutes);
    this.cycle.fn.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: interval,
      onFailure: new SqsDestination(cycleFailures),
    });
    new Rule(this, 'Schedule', {
      description: `pullwatch: one watchdog cycle every ${settings.cycleMinutes} minutes`,
      schedule: Schedule.rate(interval),
      targets: [
        new LambdaFunction(this.cycle.fn, {
          // Retries cover a failure to hand the event to Lambda (throttling, service errors), not the cycle.
          retryAttempts: 3,
          maxEventAge: interval,
          deadLetterQueue: scheduleDeadLetters,
        }),
      ],
    });

    // ---- the API --------------------------------------------------------------------------------------
    // 512 MB: an HMAC and one or two single-item reads per request; the memory buys CPU for the cold start
    // (parsing a 1 MB bundle). 10 s: far beyond any request's two or three DynamoDB calls, and well inside API
    // Gateway's 30 s, so a stuck call answers 503 from the function rather than a gateway timeout.
    this.api = new AppFunction(this, 'Api', {
      entry: 'api',
      description: 'pullwatch: HTTP status API',
      memorySize: 512,
      timeout: Duration.seconds(10),
      environment: {
        PULLWATCH_DEPLOYMENT: this.stackName,
        // The notification preview (GET /v1/issues/{id}/notification) links where the sent messages did.
        ...(settings.consoleUrl ? { PULLWATCH_CONSOLE_URL: settings.consoleUrl } : {}),
      },
    })
      .bindTable(
        table,
        ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'],
        [INDEX.byList],
      )
      .bindKeySecret(keySecret);

    const accessLogs = new LogGroup(this, 'ApiAccessLogs', {
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const httpApi = new HttpApi(this, 'HttpApi', {
      description: 'pullwatch status API',
      defaultIntegration: new HttpLambdaIntegration('ApiIntegration', this.api.fn),
      createDefaultStage: false,
      // Preflights are answered by API Gateway itself: no function invocation, no key needed.
      ...(settings.corsOrigins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: settings.corsOrigins,
              allowMethods: [
                CorsHttpMethod.GET,
                CorsHttpMethod.POST,
                CorsHttpMethod.PATCH,
                CorsHttpMethod.DELETE,
              ],
              allowHeaders: ['authorization', 'content-type'],
              exposeHeaders: ['x-request-id'],
              maxAge: Duration.minutes(10),
            },
          }
        : {}),
    });
    httpApi.addStage('Stage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: settings.apiRateLimit, burstLimit: settings.apiBurstLimit },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // The fields pullwatch's own API Gateway log format reads, plus what an operator needs.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            httpMethod: '$context.httpMethod',
            rawPath: '$context.path',
            routeKey: '$context.routeKey',
            status: '$context.status',
            ip: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    Validations.of(httpApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Every tenant route checks an organization-scoped bearer API key in the function itself (HMAC lookup); a gateway authorizer would duplicate that lookup. The public ones hold no tenant data: /v1/health, the API description, /v1/pull-auth (device credentials) and the console page with its static assets (it asks for a key in the browser).',
    });

    // ---- operator commands -------------------------------------------------------------------------------
    // No trigger: run with `aws lambda invoke` by someone allowed to. Two writes at most per invocation, except
    // `migrate` (two per integration of an older version; it resumes where it stopped if the 30 s run out).
    this.admin = new AppFunction(this, 'Admin', {
      entry: 'admin',
      description: 'pullwatch: operator commands (create an organization or an API key, migrate older items)',
      memorySize: 256,
      timeout: Duration.seconds(30),
    })
      .bindTable(table, ['GetItem', 'PutItem', 'DeleteItem'])
      // `migrate` finds integrations of older versions through the retired index, which only they populate.
      .bindTable(table, ['Scan'], [INDEX.byLookup], 'indexes')
      .bindKeySecret(keySecret);

    // ---- pull verification for the blocklist's own API Gateway ------------------------------------------
    // Attached by the operator to the blocklist API's content route (docs/deploy-aws.md, "Verifying pulls with
    // the PullAuthorizer"). On the hot path of every pull: 512 MB buys CPU for the cold start (the bundle's parse)
    // and the HMAC; 5 s is far beyond one HMAC and at most four small reads (index query and item, twice when a
    // refusal is re-checked), so a stuck read fails the request (API Gateway answers 500) instead of holding the
    // firewall's connection.
    this.authorizer = new AppFunction(this, 'PullAuthorizer', {
      entry: 'authorizer',
      description: 'pullwatch: pull authorizer (API Gateway HTTP API Lambda authorizer for blocklist pulls)',
      memorySize: 512,
      timeout: Duration.seconds(5),
      environment: { PULLWATCH_DEPLOYMENT: this.stackName },
    })
      // Read-only: an integration is one item keyed by its id.
      .bindTable(table, ['GetItem'])
      .bindKeySecret(keySecret);
    if (settings.blocklistApiId) {
      // Any authorizer of that API may invoke it (the authorizer's id exists only once the operator creates it).
      this.authorizer.fn.addPermission('BlocklistApiInvoke', {
        principal: new ServicePrincipal('apigateway.amazonaws.com'),
        action: 'lambda:InvokeFunction',
        sourceArn: this.formatArn({
          service: 'execute-api',
          resource: settings.blocklistApiId,
          resourceName: 'authorizers/*',
          arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        }),
      });
    }

    // ---- the watchdog watched --------------------------------------------------------------------------
    const watchdog = new Watchdog(this, 'Watchdog', {
      cycle: this.cycle.fn,
      cycleMinutes: settings.cycleMinutes,
      queues: { CycleFailures: cycleFailures, ScheduleDeadLetters: scheduleDeadLetters },
      alertTopic,
      sendsSms: settings.alertPhones.length > 0,
      smsSpendLimitUsd: settings.smsSpendLimitUsd,
      opsEmails: settings.opsEmails,
      ...(fanOut ? { workQueues: [fanOut.ingest, fanOut.rules] } : {}),
    });

    new CfnOutput(this, 'ApiUrl', { value: httpApi.apiEndpoint });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'AlertTopicArn', { value: alertTopic.topicArn });
    new CfnOutput(this, 'OpsTopicArn', { value: watchdog.opsTopic.topicArn });
    new CfnOutput(this, 'PullLogBucket', { value: logBucket.bucketName });
    new CfnOutput(this, 'CycleFunctionName', { value: this.cycle.fn.functionName });
    new CfnOutput(this, 'AdminFunctionName', { value: this.admin.fn.functionName });
    new CfnOutput(this, 'PullAuthorizerArn', { value: this.authorizer.fn.functionArn });
    if (fanOut) {
      new CfnOutput(this, 'IngestDeadLetterQueueUrl', { value: fanOut.ingest.deadLetters.queueUrl });
      new CfnOutput(this, 'RulesDeadLetterQueueUrl', { value: fanOut.rules.deadLetters.queueUrl });
    }
  }
}
