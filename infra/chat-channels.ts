import { Stack } from 'aws-cdk-lib';
import { CfnMicrosoftTeamsChannelConfiguration, SlackChannelConfiguration } from 'aws-cdk-lib/aws-chatbot';
import { Effect, ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { Settings } from './settings.ts';

export interface ChatChannelsProps {
  alertTopic: ITopic;
  settings: Pick<
    Settings,
    'slackWorkspaceId' | 'slackChannelId' | 'teamsTeamId' | 'teamsChannelId' | 'teamsTenantId'
  >;
}

/**
 * The alert topic's chat channels: Amazon Q Developer in chat applications (formerly AWS Chatbot) subscribes to
 * the topic and posts each message's chat form (shared/notify/chat.ts) to a Slack or Microsoft Teams channel.
 *
 * Least IAM: the channels only read notifications. The service still requires a role it can assume
 * (CreateSlackChannelConfiguration: IamRoleArn is required); this one has no policy at all. Without guardrails
 * the service applies AdministratorAccess as the channel's guardrail (CreateSlackChannelConfiguration,
 * GuardrailPolicyArns: "The AWS managed AdministratorAccess policy is applied by default if this is not set"),
 * so the guardrail here is a policy that denies everything: whatever someone attaches to the role later, nobody
 * in the channel can run an AWS command through it. No user roles either. Each is created only when its
 * context values are given; with none, this construct adds nothing.
 * (API reference: https://docs.aws.amazon.com/chatbot/latest/APIReference/API_CreateSlackChannelConfiguration.html)
 */
export class ChatChannels extends Construct {
  readonly slack?: SlackChannelConfiguration;
  readonly teams?: CfnMicrosoftTeamsChannelConfiguration;

  constructor(scope: Construct, id: string, props: ChatChannelsProps) {
    super(scope, id);
    const { alertTopic, settings } = props;
    const slack =
      settings.slackWorkspaceId && settings.slackChannelId
        ? { workspace: settings.slackWorkspaceId, channel: settings.slackChannelId }
        : null;
    const teams =
      settings.teamsTeamId && settings.teamsChannelId && settings.teamsTenantId
        ? { team: settings.teamsTeamId, channel: settings.teamsChannelId, tenant: settings.teamsTenantId }
        : null;
    if (!slack && !teams) return;

    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('chatbot.amazonaws.com'),
      description: 'pullwatch: chat channels of the alert topic (posts notifications only; no permissions)',
    });
    const guardrail = new ManagedPolicy(this, 'Guardrail', {
      description: 'pullwatch: chat channel guardrail, nothing may be done from the channel',
      statements: [new PolicyStatement({ effect: Effect.DENY, actions: ['*'], resources: ['*'] })],
    });
    // Configuration names: letters, digits, - and _, at most 128 (CreateSlackChannelConfiguration).
    const name = (suffix: string) => `${Stack.of(this).stackName}-alerts-${suffix}`.slice(0, 128);

    if (slack) {
      this.slack = new SlackChannelConfiguration(this, 'Slack', {
        slackChannelConfigurationName: name('slack'),
        slackWorkspaceId: slack.workspace,
        slackChannelId: slack.channel,
        notificationTopics: [alertTopic],
        role,
        guardrailPolicies: [guardrail],
        userRoleRequired: false,
      });
    }
    if (teams) {
      // No L2 construct exists for Teams (aws-cdk-lib 2.276): the L1 resource, wired the same way.
      this.teams = new CfnMicrosoftTeamsChannelConfiguration(this, 'Teams', {
        configurationName: name('teams'),
        teamId: teams.team,
        teamsChannelId: teams.channel,
        teamsTenantId: teams.tenant,
        iamRoleArn: role.roleArn,
        snsTopicArns: [alertTopic.topicArn],
        guardrailPolicies: [guardrail.managedPolicyArn],
        userRoleRequired: false,
      });
    }
  }
}
