import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { addLapiState, addRecord, emptySummary, type PullRecord, type PullSummary } from '../pulls/index.ts';
import { baseName, MAX_SNAPSHOT_BYTES, orgOfSnapshot, parseSnapshot } from '../pulls/lapi.ts';
import {
  type SkipReason as LineSkipReason,
  MAX_LINE_LENGTH,
  newParseContext,
  parseLine,
} from '../pulls/parse.ts';
import { type Iso, laterOf } from '../time.ts';
import { readBounded, splitLines, TOO_LONG } from './lines.ts';
import { redact } from './redact.ts';
import type { LogFile } from './sources.ts';

/**
 * Reading one pull-log file or bouncer list to its end into what it teaches (a FileResult): no database, so the
 * ingest can read files concurrently and fold them afterwards in listing order.
 */

const SAMPLES_PER_FILE = 3;
const SAMPLE_LENGTH = 200;

export type SkipReason =
  | LineSkipReason
  | 'future_time'
  | 'unknown_integration'
  | 'not_a_snapshot'
  | 'no_org_in_path'
  | 'bad_entry';

export interface SkipSample {
  file: string;
  line: number;
  reason: SkipReason;
  text: string;
}

/** What one file taught, kept apart until the file has been read to its end. */
export interface FileResult {
  lines: number;
  records: number;
  newest: Iso | null;
  /** See IngestReport.feed_seen_at. */
  delivered: Iso | null;
  skipped: Partial<Record<SkipReason, number>>;
  samples: SkipSample[];
  /** By integration id (log lines) ... */
  byId: Map<string, PullSummary>;
  /** ... or by bouncer name within an organization (snapshots). */
  byLapiName: Map<string, { orgId: string; summary: PullSummary }>;
  /** Where each id (or `org#bouncer`) first appeared, shown if it turns out to be unknown. */
  firstSeen: Map<string, SkipSample>;
  /** A snapshot read whole: which bouncers (base names) its engine lists, as of when. */
  census: SnapshotCensus | null;
}

export interface SnapshotCensus {
  orgId: string;
  path: string;
  seenAt: Iso;
  listed: Set<string>;
}

function newResult(): FileResult {
  return {
    lines: 0,
    records: 0,
    newest: null,
    delivered: null,
    skipped: {},
    samples: [],
    byId: new Map(),
    byLapiName: new Map(),
    firstSeen: new Map(),
    census: null,
  };
}

/**
 * Samples are for operators: credentials out first (the whole line, so a cut cannot part a secret from its
 * name), then cut short, and only printable characters.
 */
function sampleOf(file: string, line: number, reason: SkipReason, text: string | null): SkipSample {
  const shown = redact(text ?? '')
    .slice(0, SAMPLE_LENGTH)
    .replace(/[^\x20-\x7e]/g, '?');
  return { file, line, reason, text: shown };
}

function skip(result: FileResult, reason: SkipReason, file: string, line: number, text: string | null): void {
  result.skipped[reason] = (result.skipped[reason] ?? 0) + 1;
  if (result.samples.length < SAMPLES_PER_FILE) result.samples.push(sampleOf(file, line, reason, text));
}

async function open(file: LogFile): Promise<Readable> {
  const stream = await file.open();
  return /\.gz$/i.test(file.name) ? stream.pipe(createGunzip()) : stream;
}

export function summaryFor(map: Map<string, PullSummary>, id: string): PullSummary {
  let summary = map.get(id);
  if (!summary) {
    summary = emptySummary(id);
    map.set(id, summary);
  }
  return summary;
}

export async function readLogFile(file: LogFile, latestAllowed: Iso): Promise<FileResult> {
  const result = newResult();
  let lineNumber = 0;
  const accept = (record: PullRecord, line: string) => {
    result.records += 1;
    result.newest = laterOf(result.newest, record.time);
    result.delivered = laterOf(result.delivered, record.time);
    const id = record.integration_id;
    if (!result.byId.has(id)) {
      result.firstSeen.set(id, sampleOf(file.name, lineNumber, 'unknown_integration', line));
    }
    addRecord(summaryFor(result.byId, id), record);
  };
  // W3C logs (CloudFront) name their columns in a `#Fields:` line: parsing state that lives as long as the file.
  const context = newParseContext();
  for await (const line of splitLines(await open(file), MAX_LINE_LENGTH)) {
    lineNumber += 1;
    result.lines += 1;
    if (line === TOO_LONG) {
      skip(result, 'too_long', file.name, lineNumber, null);
      continue;
    }
    const parsed = parseLine(line, context);
    if (parsed === null) continue;
    if (!parsed.ok) {
      skip(result, parsed.reason, file.name, lineNumber, line);
      // Not a pull, but a line the feed delivered (a health check, another path): the feed is alive.
      if (parsed.time !== undefined && parsed.time <= latestAllowed)
        result.delivered = laterOf(result.delivered, parsed.time);
    } else if (parsed.record.time > latestAllowed) skip(result, 'future_time', file.name, lineNumber, line);
    else accept(parsed.record, line);
  }
  return result;
}

export async function readSnapshot(file: LogFile, latestAllowed: Iso): Promise<FileResult> {
  const result = newResult();
  const orgId = orgOfSnapshot(file.name);
  const text = await readBounded(await open(file), MAX_SNAPSHOT_BYTES);
  result.lines = 1;
  if (orgId === null) {
    skip(result, 'no_org_in_path', file.name, 1, file.name);
    return result;
  }
  const parsed = text === null ? ({ ok: false, reason: 'too_long' } as const) : parseSnapshot(text);
  if (!parsed.ok) {
    skip(
      result,
      parsed.reason === 'not_json'
        ? 'not_json'
        : parsed.reason === 'too_long'
          ? 'too_long'
          : 'not_a_snapshot',
      file.name,
      1,
      null,
    );
    return result;
  }
  for (let index = 0; index < parsed.skipped; index += 1) skip(result, 'bad_entry', file.name, 1, null);
  // A snapshot's own time: when it was written, never later than now.
  const seenAt = file.modified_at < latestAllowed ? file.modified_at : latestAllowed;
  // The engine printed its list then: the feed is alive, whatever the entries say about the bouncers.
  result.delivered = laterOf(result.delivered, seenAt);
  result.census = { orgId, path: file.name, seenAt, listed: new Set() };
  for (const bouncer of parsed.bouncers) {
    // `name`, `name@ip` (auto-created for a new address) and `cn@ip` (TLS) all feed the integration `name`.
    const name = baseName(bouncer.name);
    result.census.listed.add(name);
    const key = `${orgId}#${name}`;
    let entry = result.byLapiName.get(key);
    if (!entry) {
      entry = { orgId, summary: emptySummary(name) };
      result.byLapiName.set(key, entry);
      result.firstSeen.set(key, sampleOf(file.name, 1, 'unknown_integration', name));
    }
    const pulled = bouncer.last_pull_at !== null && bouncer.last_pull_at <= latestAllowed;
    addLapiState(entry.summary, {
      revoked: bouncer.revoked,
      seen_at: seenAt,
      entry: pulled ? bouncer.name : null,
      entry_pull_at: pulled ? bouncer.last_pull_at : null,
      engines: { [file.name]: { listed_at: seenAt, checked_at: seenAt } },
    });
    if (pulled && bouncer.last_pull_at) {
      result.records += 1;
      result.newest = laterOf(result.newest, bouncer.last_pull_at);
      addRecord(entry.summary, {
        time: bouncer.last_pull_at,
        integration_id: name,
        method: 'GET',
        status: 200,
        ip: bouncer.ip,
        user_agent: bouncer.user_agent,
      });
    } else if (bouncer.last_pull_at) {
      skip(result, 'future_time', file.name, 1, bouncer.name);
    }
  }
  return result;
}
