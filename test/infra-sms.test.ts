import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../infra/app.ts';
import { parseSettings } from '../infra/settings.ts';

/**
 * Who hears an early warning (criticality `warning`): the SMS subscriptions the stack makes filter it out unless
 * the operator opts in with `smsWarnings`; email subscriptions hear everything. The filters are SNS message
 * attribute policies on `criticality`, the attribute every publish carries (notify/render.ts).
 */

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

function synth(context: Record<string, unknown>): Template {
  const outdir = mkdtempSync(join(tmpdir(), 'pullwatch-cdk-sms-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const { stack } = buildApp(app);
  app.synth();
  return Template.fromStack(stack);
}

const PEOPLE = { alertPhones: '+15555550100', alertEmails: 'ops@example.com' };

describe('SMS and early warnings', () => {
  it('by default an SMS subscription hears critical and high, not warnings; email hears all', () => {
    const template = synth(PEOPLE);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sms',
      FilterPolicy: { criticality: ['critical', 'high'] },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      FilterPolicy: Match.absent(),
    });
  });

  it('smsWarnings: the SMS subscription hears warnings too (no criticality filter)', () => {
    const template = synth({ ...PEOPLE, smsWarnings: 'true' });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sms',
      FilterPolicy: Match.absent(),
    });
  });

  it('smsCriticalOnly wins over smsWarnings; a bad value names the setting', () => {
    const template = synth({ ...PEOPLE, smsWarnings: 'true', smsCriticalOnly: 'true' });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sms',
      FilterPolicy: { criticality: ['critical'] },
    });
    expect(() => parseSettings((key) => ({ smsWarnings: 'maybe' })[key])).toThrow(/smsWarnings/);
  });
});
