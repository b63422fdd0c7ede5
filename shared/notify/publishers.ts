import { createHash } from 'node:crypto';
import { appendFile, type FileHandle, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { isTransient, TransportError } from '../errors.ts';
import type { Notification } from './render.ts';
import { snsAttributesOf, snsMessageOf } from './sns-size.ts';

/** Hands a notification to whoever delivers it; returns the transport's message id. */
export interface Publisher {
  publish(notification: Notification): Promise<string>;
}

/** Publishes to an SNS topic: one message per event, with the email and SMS texts and the chat form side by side. */
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
          // Sized by the renderers to fit SNS's 256 KiB with every key (see sns-size.ts).
          Message: snsMessageOf(notification),
          MessageAttributes: Object.fromEntries(
            Object.entries(snsAttributesOf(notification)).map(([name, value]) => [name, attribute(value)]),
          ),
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

/**
 * The local transport: one JSON object per line in the outbox file, and a readable line on the console.
 *
 * Unlike SNS, a file can be asked what it already holds, so this publisher delivers exactly once where the
 * notify pass alone cannot: a process killed between a publish and its record re-sends the message once the
 * claim runs out, and here the re-send is recognised and not appended again. A message is known by its issue
 * and event (an opening or a resolution happens once per issue), or, for a digest or a reminder, by its whole
 * text (a digest of the same entries reads the same; a reminder's text carries the time, so reminders and a
 * digest re-sent with other entries are not recognised). Lines written by other processes are read too,
 * only what was appended since the last look.
 */
export class FilePublisher implements Publisher {
  private readonly delivered = new Set<string>();
  private readUpTo = 0;

  constructor(
    readonly path: string,
    readonly print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {}

  async publish(notification: Notification): Promise<string> {
    const { event, org_id, issue_id, issue_type, subject, email, sms, chat, attributes } = notification;
    const line = JSON.stringify({
      event,
      org_id,
      issue_id,
      issue_type,
      subject,
      email,
      sms,
      chat,
      attributes,
    });
    const id = deliveryId(notification);
    try {
      await mkdir(dirname(this.path), { recursive: true });
      const torn = await this.catchUp();
      if (this.delivered.has(id)) return `local-${id.slice(0, 16)}`;
      // A line cut short by a killed process is left as it is, on a line of its own.
      await appendFile(this.path, `${torn ? '\n' : ''}${line}\n`, 'utf8');
    } catch (error) {
      throw new TransportError(`cannot append to ${this.path}`, true, { cause: error });
    }
    this.delivered.add(id);
    this.print(`[notify] ${subject}\n         sms: ${sms}`);
    return `local-${id.slice(0, 16)}`;
  }

  /** Reads the lines appended since the last look; true if the file ends inside a line. */
  private async catchUp(): Promise<boolean> {
    let file: FileHandle;
    try {
      file = await open(this.path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    try {
      const { size } = await file.stat();
      if (size < this.readUpTo) this.readUpTo = 0;
      if (size === this.readUpTo) return false;
      const buffer = Buffer.alloc(size - this.readUpTo);
      await file.read(buffer, 0, buffer.length, this.readUpTo);
      const end = buffer.lastIndexOf(0x0a);
      for (const text of buffer
        .subarray(0, end + 1)
        .toString('utf8')
        .split('\n')) {
        if (text.trim() === '') continue;
        try {
          this.delivered.add(deliveryId(JSON.parse(text) as Notification));
        } catch {
          // a torn line: not a delivered message
        }
      }
      this.readUpTo += end + 1;
      return end + 1 < buffer.length;
    } finally {
      await file.close();
    }
  }
}

/** What identifies a delivery, whichever process made it (see FilePublisher). */
function deliveryId(notification: Pick<Notification, 'event' | 'org_id' | 'issue_id' | 'subject' | 'email'>) {
  const { event, org_id, issue_id, subject, email } = notification;
  if (issue_id && (event === 'issue_opened' || event === 'issue_resolved'))
    return `${event}:${org_id}:${issue_id}`;
  return `${event}:${createHash('sha256')
    .update(JSON.stringify([org_id, subject, email]))
    .digest('hex')}`;
}
