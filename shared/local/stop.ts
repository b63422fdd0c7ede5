import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * A graceful stop of the local runner and the CLI on SIGINT (Ctrl-C) and SIGTERM.
 *
 * The embedded database runs inside this process, and dynalite writes an item and its index entries as
 * separate LevelDB writes, so a process that dies in the middle of a request tears them apart (repair.ts
 * mends that at the next start, but the best tear is the one that never happens). So a signal does not end
 * the process at once: the database gate stops new work from starting, lets the requests in flight finish,
 * and only then is the database closed and the process left with the conventional code (128 + signal).
 */

/** Exit codes by the shell's convention: 128 + the signal's number. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

/** How long a stop waits for the work in progress to wind down before it closes the database under it. */
export const STOP_GRACE_MS = 3000;

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand']);

/** What the gate throws at work that starts after a stop began. */
export class StoppingError extends Error {
  override name = 'StoppingError';
}

export interface DatabaseGate {
  /**
   * Stop starting new work: reads are refused (every step of a cycle reads before it writes), while writes
   * still go through, so a step that already read or published finishes recording it (a delivered message is
   * recorded, not left to be sent again after its claim runs out).
   */
  drain(): void;
  /** Refuse everything from now on, and settle when no request is in flight. */
  close(): Promise<void>;
}

/** Installs the gate on the client every data module goes through. */
export function gateDatabase(client: DynamoDBClient): DatabaseGate {
  let state: 'open' | 'draining' | 'closed' = 'open';
  let inFlight = 0;
  let idle: Array<() => void> = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? '';
      if (state === 'closed' || (state === 'draining' && !isWrite(command)))
        throw new StoppingError(`stopping: ${command} not started`);
      inFlight += 1;
      try {
        return await next(args);
      } finally {
        inFlight -= 1;
        if (inFlight === 0) for (const done of idle.splice(0)) done();
      }
    },
    { step: 'initialize', name: 'pullwatchStopGate', override: true },
  );
  return {
    drain() {
      if (state === 'open') state = 'draining';
    },
    async close() {
      state = 'closed';
      if (inFlight > 0) await new Promise<void>((done) => idle.push(done));
      idle = [];
    },
  };
}

const isWrite = (command: string) => WRITES.has(command);

/**
 * Calls `stop` on the first SIGINT or SIGTERM, after one line on stderr, then exits with 130 or 143. A
 * second signal exits at once (the person at the keyboard means it). Returns a function that removes the
 * handlers.
 */
export function onStopSignal(
  stop: (signal: StopSignal) => Promise<void>,
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): () => void {
  let first: StopSignal | null = null;
  const handler = (signal: StopSignal) => {
    if (first) {
      write(`pullwatch: ${signal} again: stopping without waiting`);
      process.exit(SIGNAL_EXIT_CODES[signal]);
    }
    first = signal;
    write(`pullwatch: ${signal} received: finishing the write in progress, then stopping (again to force)`);
    const code = SIGNAL_EXIT_CODES[signal];
    // Also the code if the work ends on its own before the stop does.
    process.exitCode = code;
    stop(signal).then(
      () => process.exit(code),
      () => process.exit(code),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** Settles when `work` settles or after `ms`, whichever comes first; never rejects. */
export async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.then(
      () => {},
      () => {},
    ),
    new Promise<void>((done) => {
      timer = setTimeout(done, ms);
    }),
  ]);
  clearTimeout(timer);
}
