import { type CycleReport, cycleRun } from '../cycle.ts';
import type { Publisher } from '../notify/publishers.ts';
import { guardPipeline } from '../rules/index.ts';
import type { Store } from '../store.ts';
import type { Iso } from '../time.ts';
import { type RulesMessage, rulesMessages } from './index.ts';

/**
 * The fan-out's scheduled step, run under the cycle lock: the pipeline guard, then the notify pass, then one
 * rules message per shard. Ingest is not here: S3 events start it, object by object.
 *
 * Notify runs here, once per tick, rather than after the rule workers: issues the workers open in this cycle
 * are announced by the next tick (one cycle interval later, 5 minutes by default). In exchange there is one
 * notify pass per cycle, under the lock, as in the single-function mode, so "one digest per organization per
 * cycle at most" holds by construction, and the outbox's claims keep anything from being sent twice or lost
 * (docs/deploy-aws.md, "Fan-out").
 */
export async function runTick(options: {
  store: Store;
  publisher: Publisher;
  now: Iso;
  consoleUrl?: string;
  staleAfterSeconds: number;
  reminderSeconds: number;
  /** Hands the shards' messages to the rule workers (SQS in AWS). */
  enqueue: (messages: RulesMessage[]) => Promise<void>;
}): Promise<CycleReport> {
  const { store, now } = options;
  const { report, stage, notify, finish } = cycleRun(now);
  report.rules = await stage('rules', () =>
    guardPipeline({ store, now, staleAfterSeconds: options.staleAfterSeconds }),
  );
  await notify(options);
  // Sent even when the guard failed: the shards then read the feed state the last guard wrote.
  await stage('rules', () => options.enqueue(rulesMessages(now)));
  return finish(store);
}
