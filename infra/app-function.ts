import { fileURLToPath } from 'node:url';
import { type CfnElement, type Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
} from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket, type IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface AppFunctionProps {
  /** File under functions/, e.g. 'cycle'. */
  entry: string;
  description: string;
  /** Required, not defaulted: each function says next to these numbers why they fit its work. */
  memorySize: number;
  timeout: Duration;
  environment?: Record<string, string>;
}

/** The DynamoDB actions pullwatch's store issues; nothing here can scan, batch-write or drop anything. */
export type DynamoAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'Query'
  | 'Scan'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem';

/** The runtime, shared with the bundle test so it builds for the same target. */
export const NODE_RUNTIME = Runtime.NODEJS_24_X;
export const BUNDLE_TARGET = 'node24';

/**
 * A Lambda with the project's defaults: arm64 (cheaper per GB-second than x86 for the same work), the newest
 * Node runtime, an ESM bundle with source maps, Lambda's JSON log format, logs kept a month in its own log
 * group, and its own role. Every resource it uses is bound through one method that sets the environment
 * variable the code reads and grants exactly the actions the code performs, so the two cannot drift apart.
 */
export class AppFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: AppFunctionProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role, with only its own log group: no AWS managed policy, nothing shared between functions.
    this.role = new Role(this, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    logGroup.grantWrite(this.role);
    this.fn = new NodejsFunction(this, 'Function', {
      role: this.role,
      entry: fileURLToPath(new URL(`../functions/${props.entry}.ts`, import.meta.url)),
      handler: 'handler',
      description: props.description,
      runtime: NODE_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.INFO,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: {
        format: OutputFormat.ESM,
        target: BUNDLE_TARGET,
        sourceMap: true,
        minify: true,
        // Error classes are named by `new.target.name`: without this, minified names reach logs and errorType.
        keepNames: true,
        // The runtime ships an AWS SDK v3 too; bundling ours pins the version the tests ran.
        externalModules: [],
        mainFields: ['module', 'main'],
        banner:
          "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
    });
  }

  /**
   * Sets TABLE_NAME and grants exactly these DynamoDB actions, on the table and on the named indexes only
   * (no `index/*` wildcard); `on: 'indexes'` leaves the table itself out (a Scan of one sparse index).
   */
  bindTable(
    table: ITable,
    actions: DynamoAction[],
    indexes: string[] = [],
    on: 'table and indexes' | 'indexes' = 'table and indexes',
  ): this {
    this.fn.addEnvironment('TABLE_NAME', table.tableName);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: actions.map((action) => `dynamodb:${action}`),
        resources: [
          ...(on === 'indexes' ? [] : [table.tableArn]),
          ...indexes.map((index) => `${table.tableArn}/index/${index}`),
        ],
      }),
    );
    return this;
  }

  /** Sets where the ingest reads pull logs and grants read-only access under that prefix, nothing else. */
  bindLogSource(bucket: IBucket, prefix: string): this {
    this.fn.addEnvironment('PULLWATCH_LOG_BUCKET', bucket.bucketName);
    this.fn.addEnvironment('PULLWATCH_LOG_PREFIX', prefix);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        ...(prefix ? { conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } } } : {}),
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects(`${prefix}*`)] }),
    );
    // cdk-nag names the finding by the resource as written in the template.
    const stack = Stack.of(this);
    const objects =
      bucket instanceof Bucket
        ? `<${stack.getLogicalId(bucket.node.defaultChild as CfnElement)}.Arn>/${prefix}*`
        : `arn:<AWS::Partition>:s3:::${bucket.bucketName}/${prefix}*`;
    Validations.of(this).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${objects}]`,
      reason:
        'The ingest reads every pull-log object under the configured prefix (read-only); object ARNs need a wildcard for that.',
    });
    return this;
  }

  /** Sets SNS_TOPIC_ARN and grants sns:Publish on that topic only. */
  bindTopic(topic: ITopic): this {
    this.fn.addEnvironment('SNS_TOPIC_ARN', topic.topicArn);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }),
    );
    return this;
  }

  /** Sets PULLWATCH_RULES_QUEUE_URL and grants sqs:SendMessage (SendMessageBatch too) on that queue only. */
  bindRulesQueue(queue: IQueue): this {
    this.fn.addEnvironment('PULLWATCH_RULES_QUEUE_URL', queue.queueUrl);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }),
    );
    return this;
  }

  /** Sets PULLWATCH_KEY_SECRET_ARN and grants reading that one secret's value. */
  bindKeySecret(secret: ISecret): this {
    this.fn.addEnvironment('PULLWATCH_KEY_SECRET_ARN', secret.secretArn);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }),
    );
    return this;
  }
}
