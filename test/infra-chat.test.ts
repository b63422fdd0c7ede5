import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../infra/app.ts';
import { parseSettings } from '../infra/settings.ts';

/**
 * The alert topic's chat channels (infra/chat-channels.ts) in the synthesized template, with and without the
 * context values. Synthesis runs cdk-nag (any unacknowledged finding fails it); cfn-lint reads the template.
 */

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

function synth(context: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'pullwatch-cdk-chat-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const { stack } = buildApp(app);
  const assembly = app.synth();
  return {
    template: Template.fromStack(stack),
    file: join(outdir, assembly.getStackByName(stack.stackName).templateFile),
  };
}

const SLACK = { slackWorkspaceId: 'T0123ABCD', slackChannelId: 'C0123ABCD' };
const TEAMS = {
  teamsTeamId: '5d0f7a3c-1b6e-4c7a-9c1e-2f3a4b5c6d7e',
  // URL-encoded, as the resource requires: 19:...@thread.tacv2.
  teamsChannelId: '19%3a0123456789abcdef0123456789abcdef%40thread.tacv2',
  teamsTenantId: '0f1e2d3c-4b5a-4968-8776-655443322110',
};

const TOPIC_REF = { Ref: Match.stringLikeRegexp('^Alerts') };

describe('chat channels and webhooks on the alert topic', () => {
  let without: ReturnType<typeof synth>;
  let withBoth: ReturnType<typeof synth>;

  beforeAll(() => {
    without = synth();
    withBoth = synth({ ...SLACK, ...TEAMS, alertWebhooks: ['https://hooks.example.com/sns'] });
  }, 120_000);

  it('adds nothing without the context values', () => {
    without.template.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 0);
    without.template.resourceCountIs('AWS::Chatbot::MicrosoftTeamsChannelConfiguration', 0);
    without.template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    const roles = JSON.stringify(without.template.findResources('AWS::IAM::Role'));
    expect(roles).not.toContain('chatbot.amazonaws.com');
  });

  it('configures the Slack channel and the Teams channel on the alert topic', () => {
    const { template } = withBoth;
    template.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 1);
    template.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
      ConfigurationName: 'Pullwatch-alerts-slack',
      SlackWorkspaceId: SLACK.slackWorkspaceId,
      SlackChannelId: SLACK.slackChannelId,
      SnsTopicArns: [TOPIC_REF],
      UserRoleRequired: false,
    });
    template.resourceCountIs('AWS::Chatbot::MicrosoftTeamsChannelConfiguration', 1);
    template.hasResourceProperties('AWS::Chatbot::MicrosoftTeamsChannelConfiguration', {
      ConfigurationName: 'Pullwatch-alerts-teams',
      TeamId: TEAMS.teamsTeamId,
      TeamsChannelId: TEAMS.teamsChannelId,
      TeamsTenantId: TEAMS.teamsTenantId,
      SnsTopicArns: [TOPIC_REF],
      UserRoleRequired: false,
    });
  });

  it('gives the channels a role with no permission and a guardrail that denies everything', () => {
    const { template } = withBoth;
    const roles = template.findResources('AWS::IAM::Role', {
      Properties: {
        AssumeRolePolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'chatbot.amazonaws.com' } })]),
        },
      },
    });
    const [roleId, ...others] = Object.keys(roles);
    expect(others).toEqual([]);
    const role = roles[roleId as string] as { Properties: Record<string, unknown> };
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.Policies).toBeUndefined();
    // No inline policy names the role either.
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain(`"${roleId}"`);

    const policies = template.findResources('AWS::IAM::ManagedPolicy') as Record<
      string,
      { Properties: { PolicyDocument: { Statement: unknown[] }; Roles?: unknown } }
    >;
    const [guardrailId, ...more] = Object.keys(policies);
    expect(more).toEqual([]);
    const guardrail = policies[guardrailId as string];
    expect(guardrail?.Properties.PolicyDocument.Statement).toEqual([
      { Effect: 'Deny', Action: '*', Resource: '*' },
    ]);
    expect(guardrail?.Properties.Roles).toBeUndefined();

    const roleArn = { 'Fn::GetAtt': [roleId, 'Arn'] };
    for (const type of [
      'AWS::Chatbot::SlackChannelConfiguration',
      'AWS::Chatbot::MicrosoftTeamsChannelConfiguration',
    ]) {
      template.hasResourceProperties(type, {
        IamRoleArn: roleArn,
        GuardrailPolicies: [{ Ref: guardrailId }],
      });
    }
  });

  it('configures only the channel whose values are given', () => {
    const { template } = synth(SLACK);
    template.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 1);
    template.resourceCountIs('AWS::Chatbot::MicrosoftTeamsChannelConfiguration', 0);
  }, 120_000);

  it('refuses half a channel at synth, naming the settings', () => {
    expect(() => parseSettings((key) => ({ slackWorkspaceId: 'T0123ABCD' })[key])).toThrow(
      'slackWorkspaceId, slackChannelId: give all of them or none',
    );
    expect(() =>
      parseSettings((key) => ({ teamsTeamId: TEAMS.teamsTeamId, teamsChannelId: TEAMS.teamsChannelId })[key]),
    ).toThrow('teamsTeamId, teamsChannelId, teamsTenantId: give all of them or none');
    expect(() =>
      parseSettings((key) => ({ ...TEAMS, teamsTenantId: 'not-a-uuid' })[key as keyof typeof TEAMS]),
    ).toThrow('teamsTenantId');
  });

  it('signs alert messages with SignatureVersion 2, for webhook receivers to verify', () => {
    withBoth.template.hasResourceProperties('AWS::SNS::Topic', {
      DisplayName: 'pullwatch',
      SignatureVersion: '2',
    });
  });

  it('subscribes the webhooks from context over HTTPS, signed (not raw), filtered like the others', () => {
    const { template } = synth({
      alertWebhooks: [
        'https://hooks.example.com/sns',
        { endpoint: 'https://acme.example.com/pullwatch', orgIds: ['org_00000000000000aa'] },
      ],
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      Endpoint: 'https://hooks.example.com/sns',
      TopicArn: TOPIC_REF,
      RawMessageDelivery: Match.absent(),
      FilterPolicy: Match.absent(),
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      Endpoint: 'https://acme.example.com/pullwatch',
      FilterPolicy: { org_id: ['org_00000000000000aa', 'deployment'] },
    });
    expect(() => parseSettings((key) => ({ alertWebhooks: 'http://plain.example.com/' })[key])).toThrow(
      'alertWebhooks',
    );
    // A password in the URL would be written into the template: refused, with the reason.
    expect(() =>
      parseSettings((key) => ({ alertWebhooks: 'https://hook:s3cret@hooks.example.com/sns' })[key]),
    ).toThrow(/alertWebhooks.*user name or password/s);
    // The logical ids do not spell the URL (a path can hold a receiver's token).
    const ids = Object.keys(template.toJSON().Resources as Record<string, unknown>);
    expect(ids.filter((id) => /hooks|acme|example/i.test(id))).toEqual([]);
  }, 120_000);

  it('passes cfn-lint, with and without the channels and webhooks', () => {
    for (const { file } of [without, withBoth]) {
      // cfn-lint exits non-zero on any error or warning, and prints them. W3005 (a DependsOn that a GetAtt
      // already implies) is reported on every function of the stack as it was before the channels, by the
      // dependency AppFunction adds on its role; it is harmless and not this file's concern.
      const run = spawnSync('cfn-lint', ['--ignore-checks', 'W3005', '--', file], { encoding: 'utf8' });
      expect(run.error).toBeUndefined();
      expect(`${run.stdout}${run.stderr}`).toBe('');
      expect(run.status).toBe(0);
    }
  });
});
