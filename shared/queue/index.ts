import { z } from 'zod';
import { ValidationError } from '../errors.ts';

/**
 * An in-process queue with the delivery semantics of the SQS queues the fan-out uses in AWS, so the same
 * handlers run locally (`pullwatch cycle --workers N`) and the tests can exercise what SQS does to them:
 * - at-least-once: a message whose handling failed is delivered again, up to MAX_RECEIVES times, then it goes
 *   to the dead letters (SQS: the redrive policy's maxReceiveCount and the dead-letter queue);
 * - batches: a worker receives up to `batchSize` messages and reports which of them failed (Lambda's
 *   ReportBatchItemFailures), so only those come back;
 * - no order: N workers take batches concurrently, and a redelivered message goes to the back.
 * Handlers must therefore be idempotent and order-independent, which the ledger and the conditional writes make
 * them. There is no visibility timeout: a handler that never returns holds its batch, as a crashed Lambda would
 * until the timeout.
 */

/** How many times a message is delivered before it is set aside (the stack's DLQ redrive uses the same). */
export const MAX_RECEIVES = 5;

export interface Delivery<T> {
  message: T;
  /** 1 on the first delivery. */
  receive: number;
}

/** What a handler reports: the messages of its batch that failed (by index in the batch), or throws for all. */
export type BatchHandler<T> = (batch: Array<Delivery<T>>) => Promise<{ failed: number[] }>;

export interface QueueRun<T> {
  /** Deliveries made, first ones and redeliveries. */
  deliveries: number;
  /** Messages that failed MAX_RECEIVES times, with the last error. */
  deadLetters: Array<{ message: T; error: string }>;
}

/**
 * Delivers `messages` to `workers` concurrent workers in batches of up to `batchSize` until each is handled or
 * dead-lettered. A handler that throws fails its whole batch.
 */
export async function drain<T>(
  messages: T[],
  handler: BatchHandler<T>,
  options: { workers: number; batchSize: number },
): Promise<QueueRun<T>> {
  if (!(options.workers >= 1 && options.batchSize >= 1))
    throw new RangeError('drain needs at least one worker');
  const waiting: Array<Delivery<T>> = messages.map((message) => ({ message, receive: 1 }));
  const run: QueueRun<T> = { deliveries: 0, deadLetters: [] };
  const failed = (delivery: Delivery<T>, error: string) => {
    if (delivery.receive >= MAX_RECEIVES) run.deadLetters.push({ message: delivery.message, error });
    else waiting.push({ message: delivery.message, receive: delivery.receive + 1 });
  };
  const worker = async () => {
    for (let batch = waiting.splice(0, options.batchSize); batch.length > 0; ) {
      run.deliveries += batch.length;
      let result: { failed: number[] };
      try {
        result = await handler(batch);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        for (const delivery of batch) failed(delivery, message);
        batch = waiting.splice(0, options.batchSize);
        continue;
      }
      for (const index of new Set(result.failed)) {
        const delivery = batch[index];
        if (delivery) failed(delivery, 'reported as failed by its handler');
      }
      batch = waiting.splice(0, options.batchSize);
    }
  };
  // Workers that find the queue empty stop; a redelivery pushed while others still work is taken by them.
  const running = new Set<Promise<void>>();
  do {
    while (running.size < options.workers && waiting.length > 0) {
      const started: Promise<void> = worker().finally(() => running.delete(started));
      running.add(started);
    }
    if (running.size > 0) await Promise.race(running);
  } while (running.size > 0 || waiting.length > 0);
  return run;
}

export const MAX_WORKERS = 64;
/** A workers count as given on the command line or in PULLWATCH_WORKERS: a whole number from 1 to 64. */
export const WorkersCount = z
  .string()
  .regex(/^\s*\d+\s*$/, 'must be a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1).max(MAX_WORKERS));

/** `--workers` as given, or an error that names the option. */
export function parseWorkers(value: string, option: string): number {
  const parsed = WorkersCount.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError(
      `${option} must be a whole number from 1 to ${MAX_WORKERS}, not "${value}"`,
      option,
    );
  }
  return parsed.data;
}

/** Runs `work` over `items`, at most `limit` at a time (a worker's own concurrency, e.g. its writes). */
export async function inParallel<T>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
