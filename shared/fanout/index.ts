import { z } from 'zod';
import { PullwatchError } from '../errors.ts';
import type { S3ObjectRef } from '../ingest/sources.ts';
import { SHARDS } from '../table/schema.ts';
import type { Iso } from '../time.ts';

/**
 * The messages of the fan-out (docs/deploy-aws.md, "Fan-out"): what the ingest queue receives from S3 and what
 * the tick sends the rule workers. Each is validated where it enters, so a malformed body fails its own record
 * with a message that says what was wrong, before anything is read or written.
 */

/** A message body that is not what its queue carries: retrying cannot help, so it ends in the dead-letter queue. */
export class BadMessageError extends PullwatchError {}

/** A record's body as JSON, or a BadMessageError naming the queue it came from. */
function jsonOf(body: string, queue: 'ingest' | 'rules'): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new BadMessageError(`${queue} message is not JSON: ${body.slice(0, 80)}`);
  }
}

/** One rule worker's share of a cycle: settle this shard of the due-time index as of `now` (the tick's time). */
export const RulesMessage = z
  .object({
    shard: z
      .number()
      .int()
      .min(0)
      .max(SHARDS - 1),
    now: z.iso.datetime(),
  })
  .strict();
export type RulesMessage = z.infer<typeof RulesMessage>;

/** The tick's messages for one cycle: one per shard, all with the tick's `now`. */
export function rulesMessages(now: Iso): RulesMessage[] {
  return Array.from({ length: SHARDS }, (_, shard) => ({ shard, now }));
}

/**
 * The parts of an S3 event notification the ingest reads (AWS, "Event message structure"). Other fields are
 * left as they come: S3 adds fields between versions.
 */
const S3Record = z.object({
  eventName: z.string(),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({ key: z.string().min(1), eTag: z.string().optional() }),
  }),
});
const S3Notification = z.object({ Records: z.array(S3Record) });
/** What S3 sends once when the notification is configured, to check that it can deliver. */
const S3TestEvent = z.object({ Event: z.literal('s3:TestEvent') });

/** What one ingest message asks for: the objects to read, or nothing (a test event, other buckets, other events). */
export interface ObjectsToIngest {
  objects: S3ObjectRef[];
  /** Why nothing is read, when nothing is. */
  ignored: 'test_event' | null;
}

/** S3 writes keys form-encoded in events: `+` for a space, `%xx` for the rest. */
export const decodeS3Key = (key: string): string => decodeURIComponent(key.replaceAll('+', ' '));

/**
 * The objects of one ingest message body: the `ObjectCreated` records of `bucket`, keys decoded. Records of
 * other buckets or events are dropped here; the prefix is left to the source (it skips what lies outside).
 */
export function objectsOfMessage(body: string, bucket: string): ObjectsToIngest {
  const parsed = jsonOf(body, 'ingest');
  if (S3TestEvent.safeParse(parsed).success) return { objects: [], ignored: 'test_event' };
  const notification = S3Notification.safeParse(parsed);
  if (!notification.success) {
    const first = notification.error.issues[0];
    throw new BadMessageError(
      `ingest message is not an S3 event notification: ${first?.path.join('.') || 'body'}: ${first?.message}`,
    );
  }
  const objects: S3ObjectRef[] = [];
  for (const record of notification.data.Records) {
    if (!record.eventName.startsWith('ObjectCreated:') || record.s3.bucket.name !== bucket) continue;
    let key: string;
    try {
      key = decodeS3Key(record.s3.object.key);
    } catch {
      throw new BadMessageError(
        `ingest message has a badly encoded key: ${record.s3.object.key.slice(0, 80)}`,
      );
    }
    objects.push({ key, ...(record.s3.object.eTag ? { etag: record.s3.object.eTag } : {}) });
  }
  return { objects, ignored: null };
}

/** The rule message of one record body, or a BadMessageError saying what is wrong with it. */
export function rulesMessageOf(body: string): RulesMessage {
  const message = RulesMessage.safeParse(jsonOf(body, 'rules'));
  if (!message.success) {
    const first = message.error.issues[0];
    throw new BadMessageError(`rules message: ${first?.path.join('.') || 'body'}: ${first?.message}`);
  }
  return message.data;
}
