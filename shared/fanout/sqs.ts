import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { PullwatchError } from '../errors.ts';
import type { RulesMessage } from './index.ts';

/** SQS takes at most ten entries per SendMessageBatch. */
const BATCH = 10;

/** Sends the rules messages to the rules queue; fails if SQS refused any of them (the tick then counts as failed). */
export function sqsEnqueue(client: SQSClient, queueUrl: string) {
  return async (messages: RulesMessage[]): Promise<void> => {
    for (let start = 0; start < messages.length; start += BATCH) {
      const entries = messages.slice(start, start + BATCH).map((message) => ({
        Id: `shard-${message.shard}`,
        MessageBody: JSON.stringify(message),
      }));
      const { Failed = [] } = await client.send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
      );
      if (Failed.length > 0) {
        const first = Failed[0];
        throw new PullwatchError(
          `SQS refused ${Failed.length} rules message(s): ${first?.Id} ${first?.Code} ${first?.Message ?? ''}`.trim(),
        );
      }
    }
  };
}
