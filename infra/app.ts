import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PullwatchStack } from './stack.ts';

/** A context value given as a JSON list, a comma-separated string, or absent. */
function list(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String).filter(Boolean);
  if (typeof value === 'string')
    return value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  return [];
}

const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);

export function buildApp(app = new App()): { app: App; stack: PullwatchStack } {
  const context = (key: string) => app.node.tryGetContext(key) as unknown;
  const stack = new PullwatchStack(app, 'Pullwatch', {
    alertEmails: list(context('alertEmails')),
    alertPhones: list(context('alertPhones')),
    logBucketName: text(context('logBucketName')),
    logPrefix: text(context('logPrefix')),
    consoleUrl: text(context('consoleUrl')),
    description: 'pullwatch: watchdog for blocklist pulls',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  buildApp().app.synth();
}
