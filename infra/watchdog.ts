import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CycleMetric, DEPLOYMENT_DIMENSION, METRICS_NAMESPACE } from '../shared/metrics.ts';

export interface WatchdogProps {
  cycle: IFunction;
  cycleMinutes: number;
  /** Dead-letter and on-failure queues: any message in one is something that did not run. */
  queues: Record<string, IQueue>;
  alertTopic: ITopic;
  /** Whether SMS subscriptions exist (the spend alarm is only made then). */
  sendsSms: boolean;
  smsSpendLimitUsd: number;
  opsEmails: string[];
  /** The fan-out's work queues (none in the single-function mode): dead letters and backlog are alarmed. */
  workQueues?: Array<{ name: string; queue: IQueue; deadLetters: IQueue }>;
}

/** Share of the SMS spend limit at which the operator is warned: SNS stops sending SMS at 100 %. */
export const SMS_SPEND_WARNING_RATIO = 0.8;

/**
 * The watchdog watched: alarms on pullwatch's own failures, sent to an ops topic that is separate from the
 * customers' alert topic (an operator's email must not depend on the path that may be broken).
 */
export class Watchdog extends Construct {
  readonly opsTopic: Topic;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: WatchdogProps) {
    super(scope, id);
    // CloudWatch can only publish to an encrypted topic whose key lets it: the AWS managed SNS key does not.
    const key = new Key(this, 'OpsTopicKey', {
      description: 'pullwatch: encrypts the ops alarm topic',
      enableKeyRotation: true,
      // Nothing stays encrypted under it (SNS keeps no messages): on teardown it goes, after AWS's waiting period.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.opsTopic = new Topic(this, 'OpsTopic', {
      displayName: 'pullwatch ops',
      enforceSSL: true,
      masterKey: key,
    });
    for (const email of props.opsEmails) this.opsTopic.addSubscription(new EmailSubscription(email));

    const fiveMinutes = Duration.minutes(5);
    this.alarm('CycleErrors', {
      description:
        'A watchdog cycle failed (a stage threw, or the function crashed or timed out). Logs: the cycle function log group, message "cycle done" with errors.',
      metric: props.cycle.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      missing: TreatMissingData.NOT_BREACHING,
    });

    // Three missed cycles, and never less than 15 minutes. Missing data is breaching: a schedule that stopped,
    // or a function that dies before it can report, sends nothing at all.
    const window = Duration.minutes(Math.max(15, 3 * props.cycleMinutes));
    this.alarm('NoSuccessfulCycle', {
      description: `No watchdog cycle succeeded in ${window.toMinutes()} minutes: pullwatch is not watching.`,
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: CycleMetric.succeeded,
        dimensionsMap: { [DEPLOYMENT_DIMENSION]: Stack.of(this).stackName },
        statistic: 'Sum',
        period: window,
      }),
      threshold: 1,
      comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
      missing: TreatMissingData.BREACHING,
    });

    for (const [name, queue] of Object.entries(props.queues)) {
      this.alarm(`${name}NotEmpty`, {
        description: `Messages in ${name}: a cycle that did not run or did not finish. Read them, then purge the queue.`,
        metric: queue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: 'Maximum' }),
        threshold: 1,
        comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        missing: TreatMissingData.NOT_BREACHING,
      });
    }

    // Fan-out: a message that failed MAX_RECEIVE_COUNT times, and a queue its workers are not keeping up with.
    // The backlog threshold is the no-successful-cycle window: older than that, pullwatch is behind by as much.
    for (const { name, queue, deadLetters } of props.workQueues ?? []) {
      this.alarm(`${name}DeadLetters`, {
        description: `Messages in the ${name.toLowerCase()} dead-letter queue: ${name === 'Ingest' ? 'S3 events whose objects could not be ingested' : 'shards whose rule pass kept failing'} after every retry. Read them (the worker's log says why), fix the cause, then redrive them to the ${name.toLowerCase()} queue.`,
        metric: deadLetters.metricApproximateNumberOfMessagesVisible({
          period: fiveMinutes,
          statistic: 'Maximum',
        }),
        threshold: 0,
        comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
        missing: TreatMissingData.NOT_BREACHING,
      });
      this.alarm(`${name}Backlog`, {
        description: `The oldest message of the ${name.toLowerCase()} queue waited more than ${window.toMinutes()} minutes: its workers fall behind (throttled, failing, or too few: raise their maximum concurrency).`,
        metric: queue.metricApproximateAgeOfOldestMessage({ period: fiveMinutes, statistic: 'Maximum' }),
        threshold: window.toSeconds(),
        comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
        missing: TreatMissingData.NOT_BREACHING,
      });
    }

    this.alarm('NotificationsFailedPermanently', {
      description:
        'SNS refused an alert publish for good (InvalidParameter, no such topic, no permission, KMS key disabled): customers were not told, and the issue is only retried an hour later. Logs: the cycle function log group, "cycle done" with notify.failed; GET /v1/health shows the counts.',
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: CycleMetric.notificationsFailedPermanently,
        dimensionsMap: { [DEPLOYMENT_DIMENSION]: Stack.of(this).stackName },
        statistic: 'Sum',
        period: fiveMinutes,
      }),
      threshold: 1,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      missing: TreatMissingData.NOT_BREACHING,
    });

    this.alarm('AlertDeliveryFailures', {
      description:
        'SNS could not deliver alerts to some email or SMS subscribers (bounced address, blocked number, SMS limit).',
      metric: props.alertTopic.metricNumberOfNotificationsFailed({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      missing: TreatMissingData.NOT_BREACHING,
    });

    if (props.sendsSms) {
      const threshold = Number((props.smsSpendLimitUsd * SMS_SPEND_WARNING_RATIO).toFixed(2));
      this.alarm('SmsSpendNearLimit', {
        description: `SMS spend this month reached ${threshold} USD, ${SMS_SPEND_WARNING_RATIO * 100} % of the ${props.smsSpendLimitUsd} USD limit; at the limit SNS stops sending SMS.`,
        // Account-wide, no dimension: the limit is the account's.
        metric: new Metric({
          namespace: 'AWS/SNS',
          metricName: 'SMSMonthToDateSpentUSD',
          statistic: 'Maximum',
          period: Duration.hours(1),
        }),
        threshold,
        comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        missing: TreatMissingData.NOT_BREACHING,
      });
    }
  }

  private alarm(
    id: string,
    options: {
      description: string;
      metric: IMetric;
      threshold: number;
      comparison: ComparisonOperator;
      missing: TreatMissingData;
    },
  ): void {
    const alarm = new Alarm(this, id, {
      alarmDescription: `pullwatch: ${options.description}`,
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator: options.comparison,
      evaluationPeriods: 1,
      treatMissingData: options.missing,
    });
    const action = new SnsAction(this.opsTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.push(alarm);
  }
}
