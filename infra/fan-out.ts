import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { EventType, type IBucket } from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MAX_RECEIVES } from '../shared/queue/index.ts';
import { INDEX, SHARDS } from '../shared/table/schema.ts';
import { AppFunction } from './app-function.ts';

/** The construct id aws-cdk-lib gives the custom resource that writes bucket notifications. */
const NOTIFICATIONS_HANDLER = 'BucketNotificationsHandler050a0587b7544547bf325f094a3db834';

/**
 * 3 minutes: one batch is at most ten objects of a few MB each. It also makes the visibility timeout (6x, 18
 * minutes) longer than the ingest's 15-minute file lease, so a message redelivered after a worker died finds
 * that worker's claim run out and reads the object itself.
 */
export const INGEST_WORKER_TIMEOUT = Duration.minutes(3);
/** The cycle's budget, for one shard of the rule pass (a quarter of what the single function settles). */
export const RULES_WORKER_TIMEOUT = Duration.minutes(4);

/** AWS's advice for a queue feeding Lambda: at least six times the function's timeout. */
const visibilityFor = (timeout: Duration) => Duration.seconds(6 * timeout.toSeconds());

export interface FanOutProps {
  table: ITable;
  logBucket: IBucket;
  logPrefix: string;
  ingestConcurrency: number;
  deployment: string;
}

/** A work queue, its dead-letter queue, and what the Watchdog alarms on. */
export interface WorkQueue {
  name: string;
  queue: Queue;
  deadLetters: Queue;
}

/**
 * The fan-out (docs/deploy-aws.md, "Fan-out"): the log bucket's ObjectCreated events go through the `ingest`
 * queue to ingest workers, and the tick's shard messages through the `rules` queue to rule workers. Both queues
 * have a dead-letter queue, SQS-managed encryption and TLS only; both consumers report partial batch failures,
 * so only the failed records come back.
 */
export class FanOut extends Construct {
  readonly ingestWorker: AppFunction;
  readonly rulesWorker: AppFunction;
  readonly ingest: WorkQueue;
  readonly rules: WorkQueue;

  constructor(scope: Construct, id: string, props: FanOutProps) {
    super(scope, id);
    this.ingest = this.workQueue('Ingest', INGEST_WORKER_TIMEOUT);
    this.rules = this.workQueue('Rules', RULES_WORKER_TIMEOUT);

    // 1 GB, as the cycle: parsing is CPU-bound, and Lambda's CPU share grows with memory.
    this.ingestWorker = new AppFunction(this, 'IngestWorker', {
      entry: 'ingest-worker',
      description:
        'pullwatch: fan-out ingest worker (the pull-log objects of S3 events, from the ingest queue)',
      memorySize: 1024,
      timeout: INGEST_WORKER_TIMEOUT,
      environment: { PULLWATCH_DEPLOYMENT: props.deployment },
    })
      // The ledger, integrations by id or bouncer name, an organization's lapi integrations (by_list), day items
      // and the deployment record: what `ingest` reads and writes.
      .bindTable(
        props.table,
        ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem'],
        [INDEX.byLapiName, INDEX.byList],
      )
      // Read-only under the prefix; the listing right lets a HeadObject of a deleted object say 404, not 403.
      .bindLogSource(props.logBucket, props.logPrefix);
    this.ingestWorker.fn.addEventSource(
      new SqsEventSource(this.ingest.queue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: props.ingestConcurrency,
      }),
    );

    this.rulesWorker = new AppFunction(this, 'RulesWorker', {
      entry: 'rules-worker',
      description: 'pullwatch: fan-out rules worker (settles one shard of the due-time index per message)',
      memorySize: 1024,
      timeout: RULES_WORKER_TIMEOUT,
      environment: { PULLWATCH_DEPLOYMENT: props.deployment },
    })
      // Due integrations of its shard, their issues, transitions and outbox entries, the deployment record, and
      // an organization's integrations (by_list: the shared-outage finder lists them).
      .bindTable(
        props.table,
        ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'],
        [INDEX.byDue, INDEX.byList],
      );
    this.rulesWorker.fn.addEventSource(
      new SqsEventSource(this.rules.queue, {
        // One shard per invocation, so the shards are settled side by side.
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: Math.max(2, SHARDS),
      }),
    );

    props.logBucket.addEventNotification(
      EventType.OBJECT_CREATED,
      new SqsDestination(this.ingest.queue),
      ...(props.logPrefix ? [{ prefix: props.logPrefix }] : []),
    );
    // CDK writes a bucket's notification configuration through its own custom resource, one per stack.
    const notifications = Stack.of(this).node.tryFindChild(NOTIFICATIONS_HANDLER);
    if (notifications) {
      Validations.of(notifications).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "CDK's own handler that sets the log bucket's notification configuration at deploy time (it runs only then); its role and policy are made by aws-cdk-lib, not by this stack's code.",
      });
    }
  }

  private workQueue(name: string, consumerTimeout: Duration): WorkQueue {
    const deadLetters = new Queue(this, `${name}DeadLetters`, {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(deadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: `This is the ${name.toLowerCase()} queue's dead-letter queue; it has no consumer, only an alarm.`,
    });
    const queue = new Queue(this, `${name}Queue`, {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: visibilityFor(consumerTimeout),
      retentionPeriod: Duration.days(4),
      // A few tries for a throttled or unreadable moment; the in-process queue that runs the same handlers
      // locally redelivers as many times.
      deadLetterQueue: { queue: deadLetters, maxReceiveCount: MAX_RECEIVES },
    });
    return { name, queue, deadLetters };
  }
}
