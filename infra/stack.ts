import {
  type CfnElement,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import { HttpApi, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Alias } from 'aws-cdk-lib/aws-kms';
import { LambdaDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription, SmsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { INDEX, TABLE } from '../shared/store/schema.ts';
import { AppFunction } from './app-function.ts';

export interface PullwatchStackProps extends StackProps {
  alertEmails: string[];
  alertPhones: string[];
  /** An existing bucket holding the pull logs; a new one is made when empty. */
  logBucketName?: string;
  logPrefix?: string;
  consoleUrl?: string;
  /** Minutes between cycles. */
  cycleMinutes?: number;
}

const attributeType = (type: 'S') => (type === 'S' ? AttributeType.STRING : AttributeType.STRING);

export class PullwatchStack extends Stack {
  constructor(scope: Construct, id: string, props: PullwatchStackProps) {
    super(scope, id, props);

    const table = new Table(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey.name, type: attributeType(TABLE.partitionKey.type) },
      sortKey: { name: TABLE.sortKey.name, type: attributeType(TABLE.sortKey.type) },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of TABLE.indexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey.name, type: attributeType(index.partitionKey.type) },
        ...(index.sortKey
          ? { sortKey: { name: index.sortKey.name, type: attributeType(index.sortKey.type) } }
          : {}),
        projectionType: index.projection === 'ALL' ? ProjectionType.ALL : ProjectionType.KEYS_ONLY,
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
        'Every stored API key and integration password is an HMAC under this secret; rotating it would lock out every firewall at once. It is read only by the API function.',
    });

    const logBucket: IBucket = props.logBucketName
      ? Bucket.fromBucketName(this, 'PullLogs', props.logBucketName)
      : new Bucket(this, 'PullLogs', {
          encryption: BucketEncryption.S3_MANAGED,
          blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
          enforceSSL: true,
          lifecycleRules: [{ expiration: Duration.days(30) }],
          removalPolicy: RemovalPolicy.RETAIN,
        });
    if (!props.logBucketName) {
      Validations.of(logBucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          'The bucket holds access logs written by the blocklist endpoint pipeline; logging access to access logs adds cost without a reader.',
      });
    }

    const topic = new Topic(this, 'Alerts', {
      displayName: 'pullwatch',
      enforceSSL: true,
      masterKey: Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
    });
    for (const email of props.alertEmails) topic.addSubscription(new EmailSubscription(email));
    for (const phone of props.alertPhones) topic.addSubscription(new SmsSubscription(phone));

    const common = {
      PULLWATCH_LOG_BUCKET: logBucket.bucketName,
      PULLWATCH_LOG_PREFIX: props.logPrefix ?? '',
      SNS_TOPIC_ARN: topic.topicArn,
      ...(props.consoleUrl ? { PULLWATCH_CONSOLE_URL: props.consoleUrl } : {}),
    };

    const notify = new AppFunction(this, 'Notify', {
      entry: 'notify',
      description: 'pullwatch: delivers due notifications to SNS',
      environment: common,
      timeout: Duration.minutes(2),
    }).bindTable(table, ['Query', 'GetItem', 'UpdateItem'], [INDEX.byOutbox]);
    topic.grantPublish(notify.fn);

    const rules = new AppFunction(this, 'Rules', {
      entry: 'rules',
      description: 'pullwatch: opens and resolves issues',
      environment: common,
      timeout: Duration.minutes(2),
    }).bindTable(table, ['Query', 'GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'], [INDEX.byCheck]);
    // The chain goes on whatever the outcome: a failed rule pass must not hold back earlier alerts.
    rules.fn.configureAsyncInvoke({
      retryAttempts: 1,
      onSuccess: new LambdaDestination(notify.fn),
      onFailure: new LambdaDestination(notify.fn),
    });

    const ingest = new AppFunction(this, 'Ingest', {
      entry: 'ingest',
      description: 'pullwatch: reads pull logs into last-pull state',
      environment: common,
      memorySize: 1024,
      timeout: Duration.minutes(4),
    }).bindTable(table, ['Query', 'GetItem', 'BatchGetItem', 'PutItem', 'UpdateItem'], [INDEX.byLookup]);
    const prefix = props.logPrefix ?? '';
    ingest.fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [logBucket.bucketArn],
        ...(prefix ? { conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } } } : {}),
      }),
    );
    ingest.fn.addToRolePolicy(
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [logBucket.arnForObjects(`${prefix}*`)] }),
    );
    const objects = props.logBucketName
      ? `arn:<AWS::Partition>:s3:::${props.logBucketName}/${prefix}*`
      : `<${this.getLogicalId(logBucket.node.defaultChild as CfnElement)}.Arn>/${prefix}*`;
    Validations.of(ingest).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${objects}]`,
      reason:
        'The ingest reads every pull-log object under the configured prefix; object ARNs need a wildcard for that.',
    });
    ingest.fn.configureAsyncInvoke({
      retryAttempts: 1,
      onSuccess: new LambdaDestination(rules.fn),
      onFailure: new LambdaDestination(rules.fn),
    });

    // A Lambda destination may invoke any version of the next function (`arn:*`); it is still that one function.
    for (const [caller, callee] of [
      [rules, notify],
      [ingest, rules],
    ] as const) {
      Validations.of(caller).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(callee.fn.node.defaultChild as CfnElement)}.Arn>:*]`,
        reason:
          'The async-invoke destination grant covers the versions of the next function in the cycle, and nothing else.',
      });
    }

    const minutes = props.cycleMinutes ?? 5;
    new Rule(this, 'Cycle', {
      description: `pullwatch: one ingest, rules, notify cycle every ${minutes} minutes`,
      schedule: Schedule.rate(Duration.minutes(minutes)),
      targets: [new LambdaFunction(ingest.fn, { retryAttempts: 2 })],
    });

    const api = new AppFunction(this, 'Api', {
      entry: 'api',
      description: 'pullwatch: HTTP status API',
      environment: { ...common, PULLWATCH_KEY_SECRET_ARN: keySecret.secretArn },
      timeout: Duration.seconds(10),
    }).bindTable(table, ['Query', 'GetItem', 'PutItem', 'UpdateItem', 'DeleteItem']);
    keySecret.grantRead(api.fn);

    const accessLogs = new LogGroup(this, 'ApiAccessLogs', {
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const httpApi = new HttpApi(this, 'HttpApi', {
      description: 'pullwatch status API',
      defaultIntegration: new HttpLambdaIntegration('ApiIntegration', api.fn),
      createDefaultStage: false,
    });
    httpApi.addStage('Stage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: { destination: new LogGroupLogDestination(accessLogs) },
    });
    Validations.of(httpApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Every route except /v1/health checks an organization-scoped bearer API key in the function itself (HMAC lookup); a gateway authorizer would duplicate that lookup.',
    });

    new CfnOutput(this, 'ApiUrl', { value: httpApi.apiEndpoint });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'AlertTopicArn', { value: topic.topicArn });
    new CfnOutput(this, 'PullLogBucket', { value: logBucket.bucketName });
  }
}
