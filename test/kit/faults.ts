import type { Store } from '../../shared/store.ts';
import { localClient, storeOn, testDb } from './db.ts';

/** Fault injectors: AWS-shaped errors, a DynamoDB client that throttles chosen writes, a store that crashes. */

/** An error shaped as the AWS SDK throws it: `name` is the service's error code. */
export function awsError(name: string, status: number): Error {
  const error = new Error(`${name} (injected by the test)`);
  error.name = name;
  Object.assign(error, {
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
  return error;
}

export type WriteKind =
  | 'integration'
  | 'issue.create'
  | 'issue.resolve'
  | 'outbox.claim'
  | 'outbox.complete'
  | 'outbox.release';

/** What a DynamoDB request (as the SDK's build step sees it) writes, or null if it is none of these. */
export function writeKind(target: string, body: string): WriteKind | null {
  if (!/\.(PutItem|UpdateItem)$/.test(target)) return null;
  const input = JSON.parse(body) as {
    Item?: { sk?: { S?: string } };
    Key?: { sk?: { S?: string } };
    UpdateExpression?: string;
  };
  const sk = input.Item?.sk?.S ?? input.Key?.sk?.S ?? '';
  if (sk.startsWith('INT#')) return 'integration';
  if (!sk.startsWith('ISSUE#')) return null;
  if (target.endsWith('.PutItem')) return 'issue.create';
  const expression = input.UpdateExpression ?? '';
  if (expression.includes(':resolved')) return 'issue.resolve';
  if (expression.includes('claim_until = :until')) return 'outbox.claim';
  if (expression.includes('notified.')) return 'outbox.complete';
  return 'outbox.release';
}

/**
 * A store on its own table whose DynamoDB client (no SDK retries, so nothing hides a fault) throws
 * ProvisionedThroughputExceededException for the matching writes of the chosen kinds, while `faults.on`.
 * `throttle` is asked with the 1-based index of each matching write.
 */
export async function throttledStore(
  kinds: WriteKind[],
  throttle: (index: number) => boolean,
  db = testDb(),
): Promise<{ store: Store; faults: { on: boolean; matched: number; thrown: WriteKind[] } }> {
  const client = localClient(db, { maxAttempts: 1 });
  const faults = { on: false, matched: 0, thrown: [] as WriteKind[] };
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      const kind = writeKind(request.headers?.['x-amz-target'] ?? '', String(request.body ?? ''));
      if (faults.on && kind !== null && kinds.includes(kind)) {
        faults.matched += 1;
        if (throttle(faults.matched)) {
          faults.thrown.push(kind);
          throw awsError('ProvisionedThroughputExceededException', 400);
        }
      }
      return next(args);
    },
    { step: 'build', name: 'throttleSomeWrites' },
  );
  return { store: await storeOn(client), faults };
}

/** Where a `crashingStore` dies: at the `call`-th call of `method` (`module.method`), before or after its write. */
export interface CrashPoint {
  method: string;
  call: number;
  when: 'before' | 'after';
}

/**
 * A store whose process "dies" at one call of one data-module method (e.g. `issues.putIfAbsent`), before or
 * after that call's write lands: that call and every later store call of the process throw, until the test
 * restarts it (`state.dead = false`, the next cycle).
 */
export function crashingStore(plain: Store, point: CrashPoint) {
  const state = { dead: false, calls: 0, crashed: false };
  const [moduleName, methodName] = point.method.split('.');
  const guarded = (module: object, name: string) =>
    new Proxy(module, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => Promise<unknown>;
        return async (...args: unknown[]) => {
          if (state.dead) throw new Error('the process crashed');
          if (name !== moduleName || property !== methodName) return method.apply(target, args);
          state.calls += 1;
          if (state.crashed || state.calls !== point.call) return method.apply(target, args);
          state.crashed = true;
          if (point.when === 'after') await method.apply(target, args);
          state.dead = true;
          throw new Error(`crash ${point.when} ${point.method} #${point.call}`);
        };
      },
    });
  const store = Object.fromEntries(
    Object.entries(plain).map(([name, module]) => [name, name === 'table' ? module : guarded(module, name)]),
  ) as unknown as Store;
  return { store, state };
}

/**
 * A store whose `outbox.due` read, once done, waits until the test lets it go on: the worst interleaving of
 * two concurrent notify passes, made deterministic. `read` settles when the read is done; `goOn()` releases it.
 */
export function outboxReadGate(store: Store) {
  let goOn: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    goOn = resolve;
  });
  let hasRead: () => void = () => {};
  const read = new Promise<void>((resolve) => {
    hasRead = resolve;
  });
  const outbox = store.outbox;
  const gated: Store = {
    ...store,
    outbox: Object.assign(Object.create(outbox), {
      async due(until: string) {
        const due = await outbox.due(until);
        hasRead();
        await gate;
        return due;
      },
    }),
  };
  return { store: gated, read, goOn };
}
