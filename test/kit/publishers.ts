import { readFile } from 'node:fs/promises';
import { FilePublisher, type Publisher } from '../../shared/notify/publishers.ts';
import type { Notification } from '../../shared/notify/render.ts';

/** Publishers that keep what they are handed, and readers of what was published. */

export interface Recorder {
  publisher: Publisher;
  /** Every notification delivered, in order. */
  sent: Notification[];
  /** Every publish call, failed ones included. */
  calls: () => number;
}

/**
 * A publisher that keeps every notification it is handed. `failures` are thrown by its first calls, one each
 * (a transport that fails, then recovers); `file` also appends each delivered notification there as the
 * product's FilePublisher does, for tests that read that outbox file.
 */
export function recorder(options: { failures?: Error[]; file?: string } = {}): Recorder {
  const failures = [...(options.failures ?? [])];
  const file = options.file === undefined ? null : quietFilePublisher(options.file);
  const sent: Notification[] = [];
  let calls = 0;
  const publisher: Publisher = {
    async publish(notification) {
      calls += 1;
      const failure = failures.shift();
      if (failure) throw failure;
      if (file) await file.publish(notification);
      sent.push(notification);
      return `m-${calls}`;
    },
  };
  return { publisher, sent, calls: () => calls };
}

/** The product's FilePublisher, without its console echo. */
export const quietFilePublisher = (path: string) => new FilePublisher(path, () => {});

/** One line of a FilePublisher's outbox file. */
export interface OutboxLine {
  event: string;
  org_id: string;
  issue_id: string;
  issue_type: string;
  subject: string;
  email: string;
  sms: string;
  /** The chat form as an object (not checked here: the tests parse it with ChatNotificationSchema). */
  chat: unknown;
  attributes: Record<string, string>;
}

/** The lines of an outbox file ([] if nothing was ever written). */
export async function readOutbox(path: string): Promise<OutboxLine[]> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as OutboxLine);
}

/** `event:issue_id` of each notification or outbox line, in order. */
export const events = (sent: Array<{ event: string; issue_id: string | null }>) =>
  sent.map((notification) => `${notification.event}:${notification.issue_id}`);
