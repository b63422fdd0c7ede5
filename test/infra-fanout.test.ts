import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../infra/app.ts';
import { parseSettings } from '../infra/settings.ts';
import { MAX_RECEIVES } from '../shared/queue/index.ts';
import { INDEX, SHARDS } from '../shared/table/schema.ts';

/**
 * The fan-out's wiring (the `fanOut` setting), on the synthesized template. Synthesis runs the cdk-nag
 * AwsSolutions checks (an unacknowledged finding fails it) and cfn-lint reads the template. Bundling is skipped.
 */

const outdirs: string[] = [];

function synth(context: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'pullwatch-fanout-cdk-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const { stack } = buildApp(app);
  const assembly = app.synth();
  return {
    template: Template.fromStack(stack),
    file: join(outdir, assembly.getStackByName(stack.stackName).templateFile),
  };
}

afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
interface Statement {
  Action: string | string[];
  Resource: unknown;
}

function functionId(template: Template, text: string): string {
  const functions = template.findResources('AWS::Lambda::Function') as Resources;
  const id = Object.keys(functions).find((key) =>
    String(functions[key]?.Properties.Description).includes(text),
  );
  if (!id) throw new Error(`no function described as ${text}`);
  return id;
}

function statementsOf(template: Template, fnId: string): Statement[] {
  const fn = template.findResources('AWS::Lambda::Function')[fnId] as { Properties: { Role: unknown } };
  const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  const policies = template.findResources('AWS::IAM::Policy') as Resources;
  return Object.values(policies)
    .filter((policy) => JSON.stringify(policy.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (template: Template, fnId: string) =>
  statementsOf(template, fnId)
    .flatMap((statement) => [statement.Action].flat())
    .sort();

/** The logical id of the queue whose id starts with `prefix` (CDK adds a hash). */
function queueId(template: Template, prefix: string): string {
  const id = Object.keys(template.findResources('AWS::SQS::Queue')).find((key) => key.startsWith(prefix));
  if (!id) throw new Error(`no queue ${prefix}`);
  return id;
}

describe('fanOut off (the default)', () => {
  it('leaves the template exactly as without the setting: no queue workers, no bucket notification', () => {
    const without = synth().template.toJSON();
    const off = synth({ fanOut: 'false' }).template.toJSON();
    expect(off).toEqual(without);
    const json = JSON.stringify(without);
    expect(json).not.toContain('AWS::Lambda::EventSourceMapping');
    expect(json).not.toContain('Custom::S3BucketNotifications');
    expect(json).not.toContain('FanOut');
  });

  it('parses the setting as a flag, and the ingest concurrency within what SQS event sources accept', () => {
    expect(parseSettings(() => undefined)).toMatchObject({ fanOut: false, ingestConcurrency: 10 });
    expect(parseSettings((key) => ({ fanOut: 'true' })[key])).toMatchObject({ fanOut: true });
    expect(() => parseSettings((key) => ({ fanOut: 'on' })[key])).toThrow(/fanOut/);
    expect(() => parseSettings((key) => ({ ingestConcurrency: 1 })[key])).toThrow(/ingestConcurrency/);
  });
});

describe('fanOut on', () => {
  let template: Template;
  let file: string;
  let tick: string;
  let ingestWorker: string;
  let rulesWorker: string;

  beforeAll(() => {
    ({ template, file } = synth({
      fanOut: 'true',
      logPrefix: 'pullwatch/',
      ingestConcurrency: 20,
      opsEmails: ['oncall@example.com'],
    }));
    tick = functionId(template, 'fan-out tick');
    ingestWorker = functionId(template, 'fan-out ingest worker');
    rulesWorker = functionId(template, 'fan-out rules worker');
  });

  it('starts the tick on the schedule, in place of the cycle', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [tick, 'Arn'] } })],
    });
    expect(() => functionId(template, 'one watchdog cycle')).toThrow();
  });

  it('sends the log bucket ObjectCreated events under the prefix to the ingest queue, and only S3 of that bucket may', () => {
    const ingestQueue = queueId(template, 'FanOutIngestQueue');
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'pullwatch/' }] } },
            QueueArn: { 'Fn::GetAtt': [ingestQueue, 'Arn'] },
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: ingestQueue }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 's3.amazonaws.com' },
            Action: Match.arrayWith(['sqs:SendMessage']),
            Condition: {
              ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [Match.stringLikeRegexp('^PullLogs'), 'Arn'] } },
            },
          }),
        ]),
      },
    });
  });

  it('gives each work queue a dead-letter queue after 5 receives, a visibility of 6x its consumer timeout, and SSE', () => {
    const functions = template.findResources('AWS::Lambda::Function') as Resources;
    const queues = template.findResources('AWS::SQS::Queue') as Resources;
    for (const [name, consumer] of [
      ['FanOutIngest', ingestWorker],
      ['FanOutRules', rulesWorker],
    ] as const) {
      const queue = queues[queueId(template, `${name}Queue`)]?.Properties ?? {};
      const timeout = Number(functions[consumer]?.Properties.Timeout);
      expect(Number(queue.VisibilityTimeout)).toBeGreaterThanOrEqual(6 * timeout);
      expect(queue.SqsManagedSseEnabled).toBe(true);
      expect(queue.RedrivePolicy).toEqual({
        deadLetterTargetArn: { 'Fn::GetAtt': [queueId(template, `${name}DeadLetters`), 'Arn'] },
        maxReceiveCount: MAX_RECEIVES,
      });
      expect(queues[queueId(template, `${name}DeadLetters`)]?.Properties.SqsManagedSseEnabled).toBe(true);
    }
    expect(MAX_RECEIVES).toBe(5);
  });

  it('feeds each worker through an event source mapping with partial batch responses and a maximum concurrency', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: ingestWorker },
      EventSourceArn: { 'Fn::GetAtt': [queueId(template, 'FanOutIngestQueue'), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 20 },
      BatchSize: 10,
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: rulesWorker },
      EventSourceArn: { 'Fn::GetAtt': [queueId(template, 'FanOutRulesQueue'), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: Math.max(2, SHARDS) },
      BatchSize: 1,
    });
  });

  it('gives each function only what it uses', () => {
    const rulesQueue = queueId(template, 'FanOutRulesQueue');
    // The tick: the table (no Scan), the alert topic, and sending to the rules queue; no S3. (Its other SQS
    // grant is the on-failure destination it keeps from the cycle.)
    expect(actionsOf(template, tick).filter((action) => /^(dynamodb|s3|sns):/.test(action))).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'sns:Publish',
    ]);
    const toRules = statementsOf(template, tick).filter(
      (statement) =>
        JSON.stringify(statement.Resource) === JSON.stringify({ 'Fn::GetAtt': [rulesQueue, 'Arn'] }),
    );
    expect(toRules.map((statement) => statement.Action)).toEqual(['sqs:SendMessage']);
    // The ingest worker: read-only S3 under the prefix, no delete, no publish, no send.
    const ingest = actionsOf(template, ingestWorker);
    expect(ingest.filter((action) => /^(s3|sns):/.test(action))).toEqual(['s3:GetObject', 's3:ListBucket']);
    expect(ingest).not.toContain('dynamodb:DeleteItem');
    expect(ingest).not.toContain('sqs:SendMessage');
    expect(ingest).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage']));
    // The rules worker: its table and its queue only.
    const rules = actionsOf(template, rulesWorker);
    expect(rules.filter((action) => /^(s3|sns):/.test(action))).toEqual([]);
    expect(rules).not.toContain('sqs:SendMessage');
    expect(JSON.stringify(statementsOf(template, rulesWorker))).toContain(`/index/${INDEX.byDue}`);
  });

  it('alarms on each dead-letter queue holding a message and each queue oldest message, to the ops topic', () => {
    const alarms = template.findResources('AWS::CloudWatch::Alarm') as Resources;
    const opsTopic = Object.keys(template.findResources('AWS::SNS::Topic')).find((id) =>
      id.includes('OpsTopic'),
    );
    const byMetric = (metric: string, queue: string) =>
      Object.values(alarms).find(
        (alarm) =>
          alarm.Properties.MetricName === metric &&
          JSON.stringify(alarm.Properties.Dimensions).includes(queueId(template, queue)),
      )?.Properties;
    for (const name of ['FanOutIngest', 'FanOutRules']) {
      const dead = byMetric('ApproximateNumberOfMessagesVisible', `${name}DeadLetters`);
      expect(dead).toMatchObject({
        Namespace: 'AWS/SQS',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [{ Ref: opsTopic }],
      });
      const backlog = byMetric('ApproximateAgeOfOldestMessage', `${name}Queue`);
      expect(backlog).toMatchObject({
        Namespace: 'AWS/SQS',
        Threshold: 15 * 60,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [{ Ref: opsTopic }],
      });
      expect(String(dead?.AlarmDescription)).toMatch(/redrive/);
    }
  });

  it('passes cfn-lint, and synthesizes with a bucket the operator already has', () => {
    const runs = [file, synth({ fanOut: 'true', logBucketName: 'acme-pull-logs' }).file];
    for (const path of runs) {
      const run = spawnSync('cfn-lint', ['--ignore-checks', 'W3005', '--', path], { encoding: 'utf8' });
      expect(run.error).toBeUndefined();
      expect(`${run.stdout}${run.stderr}`).toBe('');
      expect(run.status).toBe(0);
    }
  });
});
