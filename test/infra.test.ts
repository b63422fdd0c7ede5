import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../infra/app.ts';
import { INDEX } from '../shared/store/schema.ts';

function synth(context: Record<string, unknown> = {}) {
  const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'pullwatch-cdk-')), context });
  const { stack } = buildApp(app);
  // Runs the cdk-nag AwsSolutions checks; an unacknowledged finding fails the synth.
  const assembly = app.synth();
  return { template: Template.fromStack(stack), assembly };
}

describe('the CDK stack', () => {
  let template: Template;
  beforeAll(() => {
    ({ template } = synth({ alertEmails: ['ops@example.com'], alertPhones: '+15555550100,+15555550101' }));
  });

  it('keeps state in one on-demand table with the indexes the store queries', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
      GlobalSecondaryIndexes: Match.arrayWith([
        Match.objectLike({ IndexName: INDEX.byCheck }),
        Match.objectLike({ IndexName: INDEX.byOutbox }),
        Match.objectLike({ IndexName: INDEX.byLookup }),
      ]),
    });
  });

  it('runs a cycle every 5 minutes: schedule -> ingest -> rules -> notify', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
    const functions = template.findResources('AWS::Lambda::Function');
    const byDescription = (text: string) =>
      Object.keys(functions).find((id) => String(functions[id]?.Properties?.Description).includes(text));
    const ingest = byDescription('reads pull logs');
    const rules = byDescription('opens and resolves');
    const notify = byDescription('delivers due notifications');
    expect(ingest && rules && notify).toBeTruthy();
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: ingest },
      DestinationConfig: {
        OnSuccess: { Destination: { 'Fn::GetAtt': [rules, 'Arn'] } },
        OnFailure: { Destination: { 'Fn::GetAtt': [rules, 'Arn'] } },
      },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: rules },
      DestinationConfig: { OnSuccess: { Destination: { 'Fn::GetAtt': [notify, 'Arn'] } } },
    });
  });

  it('runs four arm64 functions on a current Node runtime', () => {
    template.resourcePropertiesCountIs(
      'AWS::Lambda::Function',
      { Architectures: ['arm64'], Runtime: Match.stringLikeRegexp('^nodejs2[2-9]') },
      4,
    );
  });

  it('alerts through an SSL-only SNS topic with the email and SMS subscribers from context', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    template.resourcePropertiesCountIs('AWS::SNS::Subscription', { Protocol: 'sms' }, 2);
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('serves the API through an HTTP API with access logs and throttling', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 50 }),
    });
  });

  it('grants no DynamoDB index wildcard and no AWS managed policy', () => {
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).not.toContain('/index/*');
    expect(policies).toContain(`/index/${INDEX.byCheck}`);
    const roles = template.findResources('AWS::IAM::Role');
    for (const role of Object.values(roles)) expect(role.Properties?.ManagedPolicyArns).toBeUndefined();
  });

  it('reads an existing bucket, only under the prefix, when one is given', () => {
    const { template: existing } = synth({ logBucketName: 'corp-edge-logs', logPrefix: 'blaas/' });
    existing.resourceCountIs('AWS::S3::Bucket', 0);
    const policies = JSON.stringify(existing.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('corp-edge-logs/blaas/*');
    expect(policies).toContain('"s3:prefix":["blaas/*"]');
  });
});
