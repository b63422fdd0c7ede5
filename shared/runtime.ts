import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import type { Config } from './config.ts';
import { ConfigError } from './errors.ts';
import { DirectorySource, type LogSource, S3Source } from './ingest/sources.ts';
import { FilePublisher, type Publisher, SnsPublisher } from './notify/publishers.ts';
import { openStore, type Store } from './store.ts';

/** Credentials for a local DynamoDB-protocol server, which checks none. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export function createStore(config: Config, endpoint = config.DYNAMODB_ENDPOINT): Store {
  const client = new DynamoDBClient({
    region: config.AWS_REGION,
    ...(endpoint ? { endpoint, credentials: LOCAL_CREDENTIALS } : {}),
  });
  return openStore(client, config.TABLE_NAME);
}

/** SNS when a topic is configured; otherwise the local outbox file and the console. */
export function createPublisher(config: Config, print?: (line: string) => void): Publisher {
  if (config.SNS_TOPIC_ARN) {
    const client = new SNSClient({
      region: config.SNS_TOPIC_ARN.split(':')[3] ?? config.AWS_REGION,
      ...(config.SNS_ENDPOINT ? { endpoint: config.SNS_ENDPOINT } : {}),
    });
    return new SnsPublisher(client, config.SNS_TOPIC_ARN);
  }
  return new FilePublisher(join(config.PULLWATCH_DATA_DIR, 'outbox.jsonl'), print);
}

/** The S3 bucket when one is configured (AWS); otherwise the local log directory. */
export function createSource(config: Config): LogSource {
  if (config.PULLWATCH_LOG_BUCKET) {
    return new S3Source(
      new S3Client({ region: config.AWS_REGION }),
      config.PULLWATCH_LOG_BUCKET,
      config.PULLWATCH_LOG_PREFIX,
    );
  }
  return new DirectorySource(config.PULLWATCH_LOG_DIR);
}

/** The cycle's settings from the configuration, for runCycle / runRules / runNotify. */
export function cycleSettings(config: Config): {
  consoleUrl?: string;
  staleAfterSeconds: number;
  reminderSeconds: number;
  workers: number;
} {
  return {
    ...(config.PULLWATCH_CONSOLE_URL ? { consoleUrl: config.PULLWATCH_CONSOLE_URL } : {}),
    staleAfterSeconds: config.PULLWATCH_STALE_AFTER_SECONDS,
    reminderSeconds: config.PULLWATCH_REMINDER_SECONDS,
    workers: config.PULLWATCH_WORKERS,
  };
}

/** The API's settings from the configuration. */
export function apiSettings(config: Config): {
  corsOrigins: string[];
  staleAfterSeconds: number;
  consoleUrl?: string;
} {
  return {
    ...(config.PULLWATCH_CONSOLE_URL ? { consoleUrl: config.PULLWATCH_CONSOLE_URL } : {}),
    corsOrigins: config.PULLWATCH_CORS_ORIGINS,
    staleAfterSeconds: config.PULLWATCH_STALE_AFTER_SECONDS,
  };
}

/** The key-hashing secret in AWS: from the environment, or from Secrets Manager (the stack's choice). */
export async function loadSecret(config: Config): Promise<string> {
  if (config.PULLWATCH_KEY_SECRET) return config.PULLWATCH_KEY_SECRET;
  if (!config.PULLWATCH_KEY_SECRET_ARN) {
    throw new ConfigError('set PULLWATCH_KEY_SECRET or PULLWATCH_KEY_SECRET_ARN');
  }
  const client = new SecretsManagerClient({ region: config.AWS_REGION });
  const { SecretString } = await client.send(
    new GetSecretValueCommand({ SecretId: config.PULLWATCH_KEY_SECRET_ARN }),
  );
  if (!SecretString || SecretString.length < 32) {
    throw new ConfigError('the key-hashing secret is missing or shorter than 32 characters');
  }
  return SecretString;
}
