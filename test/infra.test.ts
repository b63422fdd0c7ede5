import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../infra/app.ts';
import { parseSettings } from '../infra/settings.ts';
import { CYCLE_TIMEOUT } from '../infra/stack.ts';
import { DEPLOYMENT_ORG } from '../shared/issue/index.ts';
import { CycleMetric, DEPLOYMENT_DIMENSION, METRICS_NAMESPACE } from '../shared/metrics.ts';
import { ALERT_TOPIC_DISPLAY_NAME, SMS_PREFIX } from '../shared/notify/gsm7.ts';
import { CLAIM_SECONDS } from '../shared/notify/index.ts';
import { INDEX, TABLE } from '../shared/table/schema.ts';

/**
 * The stack: one assertion group per concern (table, schedule, functions, IAM, alarms...), on the synthesized template. Synthesis runs
 * the cdk-nag AwsSolutions checks, so any unacknowledged finding fails `synth()` itself. Bundling is skipped
 * here (template only); test/bundle.test.ts builds and runs the real bundles.
 */

const outdirs: string[] = [];

function synth(context: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'pullwatch-cdk-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const { stack } = buildApp(app);
  const assembly = app.synth();
  return { template: Template.fromStack(stack), assembly, stack };
}

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** The logical id of the function whose description contains `text`. */
function functionId(template: Template, text: string): string {
  const functions = template.findResources('AWS::Lambda::Function') as Resources;
  const id = Object.keys(functions).find((key) =>
    String(functions[key]?.Properties.Description).includes(text),
  );
  if (!id) throw new Error(`no function described as ${text}`);
  return id;
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** Every statement of the policies attached to a function's role. */
function statementsOf(template: Template, fnId: string): Statement[] {
  const fn = template.findResources('AWS::Lambda::Function')[fnId] as { Properties: { Role: unknown } };
  const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  const policies = template.findResources('AWS::IAM::Policy') as Resources;
  return Object.values(policies)
    .filter((policy) => JSON.stringify(policy.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (statements: Statement[]) =>
  statements.flatMap((statement) => [statement.Action].flat()).sort();

const ALL_CONTEXT = {
  alertEmails: ['ops@example.com', { endpoint: 'acme-noc@example.com', orgIds: ['org_00000000000000aa'] }],
  alertPhones: '+15555550100,+15555550101',
  smsCriticalOnly: 'true',
  opsEmails: ['oncall@example.com'],
  smsSpendLimitUsd: 20,
  corsOrigins: 'https://console.example.com',
  apiRateLimit: 25,
  consoleUrl: 'https://console.example.com',
};

afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

describe('the CDK stack', () => {
  let template: Template;
  let assembly: ReturnType<App['synth']>;
  let stack: ReturnType<typeof buildApp>['stack'];
  let cycle: string;
  let api: string;
  let admin: string;
  let authorizer: string;

  beforeAll(() => {
    ({ template, assembly, stack } = synth(ALL_CONTEXT));
    cycle = functionId(template, 'one watchdog cycle');
    api = functionId(template, 'HTTP status API');
    admin = functionId(template, 'operator commands');
    authorizer = functionId(template, 'pull authorizer');
    // Synth bundles three functions: seconds on an idle machine, more on a busy one.
  }, 120_000);

  describe('DynamoDB', () => {
    it('is one on-demand table with point-in-time recovery, deletion protection, and every index the store queries', () => {
      template.resourceCountIs('AWS::DynamoDB::Table', 1);
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        Properties: {
          BillingMode: 'PAY_PER_REQUEST',
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
          GlobalSecondaryIndexes: TABLE.indexes.map((index) =>
            Match.objectLike({
              IndexName: index.name,
              KeySchema: [
                { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
                ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' }] : []),
              ],
              Projection:
                typeof index.projection === 'string'
                  ? { ProjectionType: index.projection }
                  : { ProjectionType: 'INCLUDE', NonKeyAttributes: index.projection.include },
            }),
          ),
        },
      });
    });
  });

  describe('the cycle', () => {
    it('is scheduled every 5 minutes, with a retry policy and a dead-letter queue', () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(5 minutes)',
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [cycle, 'Arn'] },
            RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 300 },
            DeadLetterConfig: {
              Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ScheduleDeadLetters'), 'Arn'] },
            },
          }),
        ],
      });
    });

    it('takes its interval from context', () => {
      const { template: hourly } = synth({ cycleMinutes: '10' });
      hourly.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(10 minutes)' });
      // Three missed cycles before "not watching" when cycles are further apart than 5 minutes.
      hourly.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: CycleMetric.succeeded,
        Period: 1800,
      });
    });

    it('is one function with an on-failure destination, no Lambda retry, and events dropped after one interval', () => {
      template.resourcePropertiesCountIs(
        'AWS::Lambda::Function',
        { Description: Match.stringLikeRegexp('watchdog cycle') },
        1,
      );
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: cycle },
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 300,
        DestinationConfig: {
          OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^CycleFailures'), 'Arn'] } },
        },
      });
    });

    it('has a timeout below the schedule and below the outbox claim, and does not rely on reserved concurrency', () => {
      const timeout = CYCLE_TIMEOUT.toSeconds();
      expect(timeout).toBeLessThan(CLAIM_SECONDS);
      expect(timeout).toBeLessThan(5 * 60);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('watchdog cycle'),
        Timeout: timeout,
        MemorySize: 1024,
        ReservedConcurrentExecutions: Match.absent(),
      });
    });

    it('dead-letter queues are encrypted, SSL-only and keep messages two weeks', () => {
      template.resourcePropertiesCountIs(
        'AWS::SQS::Queue',
        { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86_400 },
        2,
      );
      template.resourcePropertiesCountIs(
        'AWS::SQS::QueuePolicy',
        {
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        },
        2,
      );
    });
  });

  describe('the API', () => {
    it('is an HTTP API to the api function, with JSON access logs and stage throttling from context', () => {
      template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
      template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
        IntegrationUri: { 'Fn::GetAtt': [api, 'Arn'] },
        PayloadFormatVersion: '2.0',
      });
      const stage = template.findResources('AWS::ApiGatewayV2::Stage') as Resources;
      const properties = Object.values(stage)[0]?.Properties as {
        DefaultRouteSettings: Record<string, number>;
        AccessLogSettings: { DestinationArn: unknown; Format: string };
      };
      expect(properties.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: 25, ThrottlingBurstLimit: 100 });
      const format = JSON.parse(properties.AccessLogSettings.Format) as Record<string, string>;
      expect(format).toMatchObject({
        requestId: '$context.requestId',
        status: '$context.status',
        ip: '$context.identity.sourceIp',
      });
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    });

    it('allows the CORS origins from context, and has no CORS at all when there are none', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
        CorsConfiguration: Match.objectLike({
          AllowOrigins: ['https://console.example.com'],
          AllowHeaders: ['authorization', 'content-type'],
        }),
      });
      const { template: plain } = synth();
      plain.hasResourceProperties('AWS::ApiGatewayV2::Api', { CorsConfiguration: Match.absent() });
    });
  });

  describe('alerts', () => {
    it('go through an SSL-only, encrypted SNS topic', () => {
      template.resourceCountIs('AWS::SNS::Topic', 2);
      template.hasResourceProperties('AWS::SNS::Topic', {
        DisplayName: 'pullwatch',
        KmsMasterKeyId: Match.anyValue(),
      });
      // SNS puts "<display name>> " in front of every SMS: the SMS texts are sized for this very prefix.
      expect(ALERT_TOPIC_DISPLAY_NAME).toBe('pullwatch');
      expect(SMS_PREFIX).toBe(`${ALERT_TOPIC_DISPLAY_NAME}> `);
      template.resourcePropertiesCountIs(
        'AWS::SNS::TopicPolicy',
        {
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        },
        2,
      );
    });

    it('reach the email and SMS subscribers from context, filtered as the README documents', () => {
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: 'ops@example.com',
        FilterPolicy: Match.absent(),
      });
      // One organization's team: its own alerts plus the deployment-wide ones (pipeline_stale).
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: 'acme-noc@example.com',
        FilterPolicy: { org_id: ['org_00000000000000aa', DEPLOYMENT_ORG] },
      });
      // smsCriticalOnly: SMS only for critical issues.
      template.resourcePropertiesCountIs(
        'AWS::SNS::Subscription',
        { Protocol: 'sms', FilterPolicy: { criticality: ['critical'] } },
        2,
      );
    });

    it('refuse bad addresses at synth, naming the setting', () => {
      expect(() => parseSettings((key) => ({ alertPhones: '555-0100' })[key])).toThrow(/alertPhones/);
      expect(() => parseSettings((key) => ({ alertEmails: ['not-an-address'] })[key])).toThrow(/alertEmails/);
      expect(() => parseSettings((key) => ({ cycleMinutes: 0 })[key])).toThrow(/cycleMinutes/);
      expect(() => parseSettings((key) => ({ alertEmails: '[{"endpoint":' })[key])).toThrow(/alertEmails/);
      expect(() => parseSettings((key) => ({ smsCriticalOnly: 'yes' })[key])).toThrow(/smsCriticalOnly/);
    });
  });

  describe('the key-hashing secret', () => {
    it('lives in Secrets Manager, kept on delete, readable by the API, admin and pull-authorizer functions only', () => {
      template.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Retain' });
      const reads = (fn: string) =>
        actionsOf(statementsOf(template, fn)).filter((action) => action.startsWith('secretsmanager:'));
      expect(reads(api)).toEqual(['secretsmanager:GetSecretValue']);
      expect(reads(admin)).toEqual(['secretsmanager:GetSecretValue']);
      expect(reads(authorizer)).toEqual(['secretsmanager:GetSecretValue']);
      expect(reads(cycle)).toEqual([]);
    });
  });

  describe('the pull-log source', () => {
    it('is a new private, encrypted, SSL-only bucket, read-only to the cycle', () => {
      template.hasResourceProperties('AWS::S3::Bucket', {
        BucketEncryption: Match.anyValue(),
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 30 })] },
      });
      const s3 = actionsOf(statementsOf(template, cycle)).filter((action) => action.startsWith('s3:'));
      expect(s3).toEqual(['s3:GetObject', 's3:ListBucket']);
    });

    it('or an existing bucket, read only under the prefix', () => {
      const { template: existing } = synth({ logBucketName: 'corp-edge-logs', logPrefix: 'blaas/' });
      existing.resourceCountIs('AWS::S3::Bucket', 0);
      const statements = statementsOf(existing, functionId(existing, 'one watchdog cycle'));
      const s3 = statements.filter((statement) => String(statement.Action).startsWith('s3:'));
      expect(JSON.stringify(s3)).toContain('corp-edge-logs/blaas/*');
      expect(s3.find((statement) => statement.Action === 's3:ListBucket')?.Condition).toEqual({
        StringLike: { 's3:prefix': ['blaas/*'] },
      });
      expect(actionsOf(s3)).toEqual(['s3:GetObject', 's3:ListBucket']);
    });
  });

  describe('AppFunction', () => {
    it('makes every function arm64 on Node 22+, JSON-logged to its own log group kept a month, with source maps', () => {
      const functions = template.findResources('AWS::Lambda::Function') as Resources;
      expect(Object.keys(functions)).toHaveLength(4);
      for (const fn of Object.values(functions)) {
        expect(fn.Properties).toMatchObject({
          Architectures: ['arm64'],
          Runtime: expect.stringMatching(/^nodejs(2[2-9]|[3-9]\d)\.x$/),
          LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: expect.any(String) } },
          Environment: { Variables: expect.objectContaining({ NODE_OPTIONS: '--enable-source-maps' }) },
        });
      }
      template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 30 }, 4);
    });

    it('binds each resource with its environment variable and its grant together', () => {
      const functions = template.findResources('AWS::Lambda::Function') as Resources;
      const env = (fn: string) =>
        (functions[fn]?.Properties.Environment as { Variables: Record<string, unknown> } | undefined)
          ?.Variables ?? {};
      expect(Object.keys(env(cycle)).sort()).toEqual([
        'NODE_OPTIONS',
        'PULLWATCH_CONSOLE_URL',
        'PULLWATCH_DEPLOYMENT',
        'PULLWATCH_LOG_BUCKET',
        'PULLWATCH_LOG_PREFIX',
        'SNS_TOPIC_ARN',
        'TABLE_NAME',
      ]);
      expect(Object.keys(env(admin)).sort()).toEqual([
        'NODE_OPTIONS',
        'PULLWATCH_KEY_SECRET_ARN',
        'TABLE_NAME',
      ]);
      expect(env(api)).not.toHaveProperty('SNS_TOPIC_ARN');
      expect(env(api)).not.toHaveProperty('PULLWATCH_LOG_BUCKET');
    });
  });

  describe('least privilege', () => {
    it('gives each function only the actions it uses', () => {
      const dynamo = (fn: string) =>
        actionsOf(statementsOf(template, fn)).filter((action) => action.startsWith('dynamodb:'));
      expect(dynamo(cycle)).toEqual([
        'dynamodb:BatchGetItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
      ]);
      // The one Scan: the retired by_lookup index, for the operator's migrate command, never the table.
      const scans = (fn: string) =>
        statementsOf(template, fn).filter((statement) => [statement.Action].flat().includes('dynamodb:Scan'));
      expect(scans(cycle)).toEqual([]);
      expect(scans(admin)).toHaveLength(1);
      expect(JSON.stringify(scans(admin)[0]?.Resource)).toContain(`/index/${INDEX.byLookup}`);
      expect([scans(admin)[0]?.Resource].flat()).toHaveLength(1);
      expect(dynamo(admin)).toEqual([
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Scan',
      ]);
      expect(dynamo(api)).toEqual([
        'dynamodb:BatchGetItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
      ]);
      expect(actionsOf(statementsOf(template, cycle)).filter((a) => a.startsWith('sns:'))).toEqual([
        'sns:Publish',
      ]);
      for (const fn of [api, admin]) {
        const actions = actionsOf(statementsOf(template, fn));
        expect(actions.filter((action) => /^(s3|sns|sqs):/.test(action))).toEqual([]);
      }
    });

    it('names its resources: no action wildcard, no index wildcard, no AWS managed policy', () => {
      const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
      expect(policies).not.toContain('/index/*');
      expect(policies).not.toMatch(/"[a-z0-9]+:\*"/);
      expect(policies).toContain(`/index/${INDEX.byDue}`);
      const roles = template.findResources('AWS::IAM::Role') as Resources;
      for (const role of Object.values(roles)) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      // The publish grant is the alert topic's, not the ops topic's.
      expect(JSON.stringify(statementsOf(template, cycle))).toMatch(
        /"sns:Publish","Effect":"Allow","Resource":\{"Ref":"Alerts/,
      );
    });
  });

  describe('the pull authorizer', () => {
    it('is its own function, reading the table and the key secret only', () => {
      const functions = template.findResources('AWS::Lambda::Function') as Resources;
      const variables =
        (functions[authorizer]?.Properties.Environment as { Variables: Record<string, unknown> } | undefined)
          ?.Variables ?? {};
      expect(Object.keys(variables).sort()).toEqual([
        'NODE_OPTIONS',
        'PULLWATCH_DEPLOYMENT',
        'PULLWATCH_KEY_SECRET_ARN',
        'TABLE_NAME',
      ]);
      const statements = statementsOf(template, authorizer).filter(
        (statement) => !String(statement.Action).startsWith('logs:'),
      );
      // Read-only, each action on its resource: GetItem on the table (an integration is keyed by its id).
      expect(statements).toEqual([
        {
          Action: 'dynamodb:GetItem',
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [expect.any(String), 'Arn'] },
        },
        { Action: 'secretsmanager:GetSecretValue', Effect: 'Allow', Resource: { Ref: expect.any(String) } },
      ]);
      const writes = /^dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem)$|^(s3|sns|sqs):/;
      expect(actionsOf(statementsOf(template, authorizer)).filter((action) => writes.test(action))).toEqual(
        [],
      );
    });

    it('has its ARN as a stack output', () => {
      template.hasOutput('PullAuthorizerArn', { Value: { 'Fn::GetAtt': [authorizer, 'Arn'] } });
    });

    it('may be invoked by no API Gateway unless the blocklist API is named in context', () => {
      const permissions = Object.values(template.findResources('AWS::Lambda::Permission') as Resources);
      expect(
        permissions.filter((permission) =>
          JSON.stringify(permission.Properties.FunctionName).includes(authorizer),
        ),
      ).toEqual([]);
    });

    it('may be invoked by the authorizers of the blocklist API named in context', () => {
      const { template: named } = synth({ blocklistApiId: 'a1b2c3d4e5' });
      named.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [functionId(named, 'pull authorizer'), 'Arn'] },
        Principal: 'apigateway.amazonaws.com',
        SourceArn: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':execute-api:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':a1b2c3d4e5/authorizers/*',
            ],
          ],
        },
      });
      expect(() => parseSettings((key) => ({ blocklistApiId: 'not an id' })[key])).toThrow(/blocklistApiId/);
    });
  });

  describe('the watchdog watched', () => {
    const toOps = {
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^WatchdogOpsTopic') }],
      OKActions: [{ Ref: Match.stringLikeRegexp('^WatchdogOpsTopic') }],
    };

    it('alarms on cycle errors', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...toOps,
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: cycle } }],
        Threshold: 1,
      });
    });

    it('alarms when no cycle succeeded in 15 minutes, on the metric the cycle emits, missing data breaching', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...toOps,
        Namespace: METRICS_NAMESPACE,
        MetricName: CycleMetric.succeeded,
        Dimensions: [{ Name: DEPLOYMENT_DIMENSION, Value: 'Pullwatch' }],
        Period: 900,
        Statistic: 'Sum',
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        TreatMissingData: 'breaching',
      });
      // ... and the cycle reports under that same dimension value.
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('watchdog cycle'),
        Environment: { Variables: Match.objectLike({ PULLWATCH_DEPLOYMENT: 'Pullwatch' }) },
      });
    });

    it('alarms on any message in any dead-letter queue', () => {
      for (const queue of ['CycleFailures', 'ScheduleDeadLetters']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          ...toOps,
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [
            {
              Name: 'QueueName',
              Value: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^${queue}`), 'QueueName'] },
            },
          ],
          Threshold: 1,
        });
      }
    });

    it('alarms on any notification SNS refused for good, on the metric the cycle emits', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...toOps,
        Namespace: METRICS_NAMESPACE,
        MetricName: CycleMetric.notificationsFailedPermanently,
        Dimensions: [{ Name: DEPLOYMENT_DIMENSION, Value: 'Pullwatch' }],
        Period: 300,
        Statistic: 'Sum',
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        TreatMissingData: 'notBreaching',
      });
    });

    it('alarms on SNS delivery failures of the alert topic', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...toOps,
        Namespace: 'AWS/SNS',
        MetricName: 'NumberOfNotificationsFailed',
        Dimensions: [
          { Name: 'TopicName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Alerts'), 'TopicName'] } },
        ],
      });
    });

    it('alarms at 80 % of the SMS spend limit from context, only when SMS is sent', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...toOps,
        Namespace: 'AWS/SNS',
        MetricName: 'SMSMonthToDateSpentUSD',
        Threshold: 16,
        Dimensions: Match.absent(),
      });
      const { template: noSms } = synth({ alertEmails: 'a@example.com' });
      expect(JSON.stringify(noSms.findResources('AWS::CloudWatch::Alarm'))).not.toContain(
        'SMSMonthToDateSpentUSD',
      );
    });

    it('sends alarms to an ops topic of its own, encrypted with a key CloudWatch may use', () => {
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: 'oncall@example.com',
        TopicArn: { Ref: Match.stringLikeRegexp('^WatchdogOpsTopic') },
      });
      template.hasResourceProperties('AWS::KMS::Key', {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            }),
          ]),
        },
      });
      template.resourceCountIs('AWS::CloudWatch::Alarm', 7);
    });
  });

  describe('cdk-nag', () => {
    it('passes AwsSolutions (synth fails on any unacknowledged finding), and names rule and reason in every acknowledgement', () => {
      expect(assembly.getStackByName('Pullwatch').template).toBeDefined();
      const acknowledgements = stack.node
        .findAll()
        .flatMap((construct) => construct.node.metadata)
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) => Object.entries(entry.data as Record<string, string>));
      expect(acknowledgements.length).toBeGreaterThan(0);
      for (const [rule, reason] of acknowledgements) {
        expect(rule).toMatch(/^Annotation::AwsSolutions-[A-Z]+\d+/);
        expect(reason.length).toBeGreaterThan(40);
      }
      // Each kind is acknowledged where it applies, not stack-wide.
      expect(acknowledgements.map(([rule]) => rule.replace(/\[.*$/, '')).sort()).toEqual([
        'Annotation::AwsSolutions-APIG4',
        'Annotation::AwsSolutions-IAM5',
        'Annotation::AwsSolutions-S1',
        'Annotation::AwsSolutions-SMG4',
        'Annotation::AwsSolutions-SQS3',
        'Annotation::AwsSolutions-SQS3',
      ]);
    });
  });
});
