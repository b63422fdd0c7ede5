import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { randomToken } from '../crypto.ts';
import { isTransient, TransportError } from '../errors.ts';
import type { Notification } from './render.ts';

/** Hands a notification to whoever delivers it; returns the transport's message id. */
export interface Publisher {
  publish(notification: Notification): Promise<string>;
}

/** Publishes to an SNS topic: one message per event, with the email and SMS texts side by side. */
export class SnsPublisher implements Publisher {
  constructor(
    readonly client: SNSClient,
    readonly topicArn: string,
  ) {}

  async publish(notification: Notification): Promise<string> {
    const attribute = (value: string) => ({ DataType: 'String', StringValue: value });
    try {
      const output = await this.client.send(
        new PublishCommand({
          TopicArn: this.topicArn,
          Subject: notification.subject,
          MessageStructure: 'json',
          Message: JSON.stringify({
            default: notification.email,
            email: notification.email,
            sms: notification.sms,
          }),
          MessageAttributes: {
            org_id: attribute(notification.attributes.org_id),
            issue_type: attribute(notification.attributes.issue_type),
            criticality: attribute(notification.attributes.criticality),
            event: attribute(notification.attributes.event),
          },
        }),
      );
      return output.MessageId ?? 'unknown';
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // No HTTP answer at all (network, DNS, timeout) may also pass later; a 4xx about the message never does.
      const retryable = isTransient(error) || status === undefined;
      throw new TransportError(`SNS publish failed: ${name}`, retryable, { cause: error });
    }
  }
}

/** The local transport: one JSON object per line in the outbox file, and a readable line on the console. */
export class FilePublisher implements Publisher {
  constructor(
    readonly path: string,
    readonly print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {}

  async publish(notification: Notification): Promise<string> {
    const { event, org_id, issue_id, issue_type, subject, email, sms, attributes } = notification;
    const line = JSON.stringify({ event, org_id, issue_id, issue_type, subject, email, sms, attributes });
    try {
      await mkdir(dirname(this.path), { recursive: true });
      await appendFile(this.path, `${line}\n`, 'utf8');
    } catch (error) {
      throw new TransportError(`cannot append to ${this.path}`, true, { cause: error });
    }
    this.print(`[notify] ${subject}\n         sms: ${sms}`);
    return `local-${randomToken(6)}`;
  }
}
