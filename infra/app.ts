import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseSettings } from './settings.ts';
import { PullwatchStack } from './stack.ts';

/** The CDK app: one stack, its settings from context, and the cdk-nag AwsSolutions checks on everything. */
export function buildApp(app = new App()): { app: App; stack: PullwatchStack } {
  const settings = parseSettings((key) => app.node.tryGetContext(key));
  const stack = new PullwatchStack(app, 'Pullwatch', {
    settings,
    description: 'pullwatch: watchdog for blocklist pulls',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  buildApp().app.synth();
}
