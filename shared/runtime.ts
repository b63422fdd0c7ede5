import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { join } from 'node:path';
import type { Config } from './config.ts';
import { ConfigError } from './errors.ts';
import { DirectorySource, type LogSource, S3Source } from './ingest/sources.ts';
import { FilePublisher, type Publisher, SnsPublisher } from './notify/publishers.ts';
import { Store } from './store/index.ts';

/** Credentials for a local DynamoDB-protocol server, which checks none. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export function createStore(config: Config, endpoint = config.DYNAMODB_ENDPOINT): Store {
  const client = new DynamoDBClient({
    region: config.AWS_REGION,
    ...(endpoint ? { endpoint, credentials: LOCAL_CREDENTIALS } : {}),
  });
  return new Store(client, config.TABLE_NAME);
}

/** SNS when a topic is configured; otherwise the local outbox file and the console. */
export function createPublisher(config: Config): Publisher {
  if (config.SNS_TOPIC_ARN) {
    const client = new SNSClient({
      region: config.SNS_TOPIC_ARN.split(':')[3] ?? config.AWS_REGION,
      ...(config.SNS_ENDPOINT ? { endpoint: config.SNS_ENDPOINT } : {}),
    });
    return new SnsPublisher(client, config.SNS_TOPIC_ARN);
  }
  return new FilePublisher(join(config.PULLWATCH_DATA_DIR, 'outbox.jsonl'));
}

/** The S3 bucket when one is configured (AWS); otherwise the local log directory. */
export function createSource(config: Config): LogSource {
  if (config.PULLWATCH_LOG_BUCKET) {
    return new S3Source(new S3Client({ region: config.AWS_REGION }), config.PULLWATCH_LOG_BUCKET, config.PULLWATCH_LOG_PREFIX);
  }
  return new DirectorySource(config.PULLWATCH_LOG_DIR);
}

/** In AWS the secret comes from the environment (filled from a secret store by the stack). */
export function requireSecret(config: Config): string {
  if (!config.PULLWATCH_KEY_SECRET) throw new ConfigError('PULLWATCH_KEY_SECRET is not set');
  return config.PULLWATCH_KEY_SECRET;
}
