import { execFile } from 'node:child_process';
import { join } from 'node:path';

/** The real CLI (bin/pullwatch.js) run as a process, on a data directory of its own. */
export const CLI = join(import.meta.dirname, '..', '..', 'bin', 'pullwatch.js');

/**
 * Runs `pullwatch ARGS --json` with `env` (no AWS endpoints: the local store) and parses its one JSON object;
 * rejects with stderr if it fails.
 */
// biome-ignore lint/suspicious/noExplicitAny: CLI output is checked field by field
export function cliJson(env: Record<string, string>, args: string[]): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args, '--json'],
      {
        env: { ...process.env, ...env, DYNAMODB_ENDPOINT: '', SNS_TOPIC_ARN: '', TABLE_NAME: '' },
        timeout: 60_000,
      },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${args.join(' ')}: ${stderr}`)) : resolve(JSON.parse(stdout)),
    );
  });
}
