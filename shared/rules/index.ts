import { retryOnConflict } from '../conflict.ts';
import { bucketOf } from '../crypto.ts';
import { type DeploymentState, feedState, feedWatermark, type OfflineHold } from '../deployment/index.ts';
import type { Transition } from '../history/index.ts';
import {
  type Integration,
  type IssueType,
  isSnoozed,
  offlineIssueType,
  scheduledCheckAt,
  statusOf,
  wantedIssueTypes,
} from '../integration/index.ts';
import { withSharedOutage } from '../issue/diagnosis.ts';
import { DEPLOYMENT_ORG, type Issue, issueFor, pipelineIssue, type Resolution } from '../issue/index.ts';
import { OutageFinder } from '../outage/find.ts';
import { relearnSilent } from '../pulls/learn.ts';
import { drain, inParallel } from '../queue/index.ts';
import type { Store } from '../store.ts';
import { ALL_SHARDS, SHARDS } from '../table/schema.ts';
import { type Iso, secondsBetween } from '../time.ts';

/** The data the rule pass reads and writes. */
export type RulesData = Pick<
  Store,
  'integrations' | 'issues' | 'history' | 'deployment' | 'outages' | 'pullDays'
>;

/** Candidates one worker settles at once. */
const SETTLE_CONCURRENCY = 8;

export interface IssueChange {
  issue_id: string;
  integration_id: string | null;
  type: Issue['type'];
  at: Iso;
}

export interface RulesReport {
  candidates: number;
  /** Candidates with nothing to change whose check time was moved to their exact next check. */
  rearmed: number;
  opened: IssueChange[];
  resolved: IssueChange[];
  /** Issues not opened because the feed is stale (offline flips, late warnings) or the integration snoozed. */
  held: number;
  pipeline: 'fresh' | 'stale' | 'unknown' | 'guard_off';
  /** Integrations that could not be settled this pass (e.g. throttled); they stay due for the next one. */
  failed: Array<{ integration_id: string; error: string }>;
}

/** Raised after a pass in which some integrations could not be settled; carries what was done. */
export class RulesIncompleteError extends Error {
  constructor(readonly report: RulesReport) {
    super(
      `${report.failed.length} of ${report.candidates} candidates could not be settled: ${report.failed[0]?.error}`,
    );
    this.name = 'RulesIncompleteError';
  }
}

export interface RulesOptions {
  store: RulesData;
  now: Iso;
  /** Pull logs older than this hold offline flips (0 turns the guard off); PULLWATCH_STALE_AFTER_SECONDS. */
  staleAfterSeconds: number;
}

/**
 * One rule pass: the pipeline guard, then every shard of the due-time index, each settled by one of `workers`
 * concurrent workers through the in-process queue (shared/queue), as the fan-out's Lambda workers take them from
 * SQS in AWS. In one process the shards share what they read of the feed and of shared outages.
 */
export async function runRules(options: RulesOptions & { workers?: number }): Promise<RulesReport> {
  const { report: pipeline, deployment } = await guard(options);
  const pass = passContext(options, deployment);
  // One process reads every shard's candidates at once (one BatchGet per 100) and lets the shared-outage finder
  // know them all; each worker then settles its shard's share.
  const candidates = await options.store.integrations.due(options.now);
  pass.outages.know(candidates);
  const reports: RulesReport[] = [pipeline];
  const run = await drain(
    [...ALL_SHARDS],
    async ([delivery]) => {
      if (!delivery) return { failed: [] };
      const shard = candidates.filter((candidate) => bucketOf(candidate.id, SHARDS) === delivery.message);
      try {
        reports.push(await settle(options, shard, pass));
      } catch (error) {
        // The integrations it could not settle stay due for the next pass: the shard is not delivered again
        // (that would settle its other candidates twice and count its failures once per delivery).
        if (!(error instanceof RulesIncompleteError)) throw error;
        reports.push(error.report);
      }
      return { failed: [] };
    },
    { workers: options.workers ?? 1, batchSize: 1 },
  );
  const report = mergeRulesReports(reports);
  // A shard that kept failing leaves its integrations due: the next pass takes them again.
  if (run.deadLetters.length > 0 || report.failed.length > 0) throw new RulesIncompleteError(report);
  return report;
}

/**
 * Settles one shard of the due-time index (see `settle`): a fan-out worker's job. Shards are disjoint and every
 * transition is a conditional write, so two workers on one shard (a retry) cannot double an issue or a message.
 */
export async function settleShard(options: RulesOptions & { shard: number }): Promise<RulesReport> {
  const pass = passContext(options, await options.store.deployment.get());
  const candidates = await options.store.integrations.due(options.now, options.shard);
  return settle(options, candidates, pass);
}

/** What the shards of one pass share: the feed as it stands, and the shared outages found so far. */
interface PassContext {
  feed: Feed;
  outages: OutageFinder;
}

function passContext(options: RulesOptions, deployment: DeploymentState): PassContext {
  const { hold } = feedState(deployment, options.staleAfterSeconds, options.now);
  return {
    feed: { hold, watermark: (integration) => feedWatermark(deployment, integration) ?? '' },
    outages: new OutageFinder(options.store, options.now),
  };
}

/** One report for several (a pass's guard and shards): counts added, lists joined, the guard's feed verdict. */
function mergeRulesReports(reports: RulesReport[]): RulesReport {
  const merged = emptyReport();
  for (const report of reports) {
    merged.candidates += report.candidates;
    merged.rearmed += report.rearmed;
    merged.held += report.held;
    merged.opened.push(...report.opened);
    merged.resolved.push(...report.resolved);
    merged.failed.push(...report.failed);
    if (report.pipeline !== 'unknown') merged.pipeline = report.pipeline;
  }
  return merged;
}

const emptyReport = (): RulesReport => ({
  candidates: 0,
  rearmed: 0,
  opened: [],
  resolved: [],
  held: 0,
  pipeline: 'unknown',
  failed: [],
});

/**
 * Moves each candidate (newly idle, or with new facts that may open or resolve an issue) to the state its facts
 * call for. The feed's state is read, not written (the guard writes it): offline flips and late warnings are
 * held while it is stale. Throws RulesIncompleteError, with what it did, if some could not be settled.
 *
 * Every transition writes the issue first (idempotent: a deterministic id, or "resolve where open"), then
 * the integration "where version = the one we read". A crash between the two leaves the integration due,
 * so the next pass redoes the same, harmless, first write and completes the second.
 */
async function settle(
  options: RulesOptions,
  candidates: Integration[],
  pass: PassContext,
): Promise<RulesReport> {
  const { store, now } = options;
  const report = emptyReport();
  report.candidates = candidates.length;
  const { feed, outages } = pass;
  outages.know(candidates);
  // Candidates are independent (each transition is conditional on the version read), so a worker settles a
  // few at once: most of a transition is waiting on DynamoDB.
  await inParallel(candidates, SETTLE_CONCURRENCY, async (candidate) => {
    try {
      await settleOne(store, candidate, now, feed, outages, report);
    } catch (error) {
      // One integration's failure must not hold back the others; it is still due next pass.
      report.failed.push({
        integration_id: candidate.id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  });
  if (report.failed.length > 0) throw new RulesIncompleteError(report);
  return report;
}

/**
 * The pipeline guard: opens or resolves the deployment-wide pipeline issue as the feed stands (see
 * `feedState`). While it is open, the shards hold offline flips and late warnings (they read the same state).
 */
export async function guardPipeline(options: RulesOptions): Promise<RulesReport> {
  return (await guard(options)).report;
}

async function guard(options: RulesOptions): Promise<{ report: RulesReport; deployment: DeploymentState }> {
  const { store, now, staleAfterSeconds: staleAfter } = options;
  const report = emptyReport();
  const deployment = await store.deployment.get();
  const open = deployment.pipeline_issue;
  const { pipeline, hold, lastSeen: newest } = feedState(deployment, staleAfter, now);
  const stale = hold !== 'none';
  report.pipeline = staleAfter === 0 ? 'guard_off' : pipeline;
  if (stale && newest && !open) {
    const issue = pipelineIssue(newest, staleAfter, deployment.pipeline_seq, now, hold === 'blaas');
    await store.issues.putIfAbsent(issue);
    const ref = { id: issue.id, opened_at: issue.opened_at, logs_only: hold === 'blaas' };
    if (await store.deployment.setPipelineIssue(ref)) {
      report.opened.push({
        issue_id: issue.id,
        integration_id: null,
        type: 'pipeline_stale',
        at: issue.opened_at,
      });
    }
  } else if (!stale && open) {
    // It ended when the feed that had stopped delivered again.
    const back = open.logs_only ? deployment.logs_seen_at : deployment.feed_seen_at;
    const at = back && back > open.opened_at ? back : now;
    await store.issues.resolve(DEPLOYMENT_ORG, open.id, at, 'pull_resumed');
    if (await store.deployment.clearPipelineIssue(open.id)) {
      report.resolved.push({ issue_id: open.id, integration_id: null, type: 'pipeline_stale', at });
    }
  }
  return { report, deployment };
}

/** What the pass knows of the feed: which flips it holds, and how far it delivered for an integration. */
interface Feed {
  hold: OfflineHold;
  /** The feed's watermark for this integration ('' when nothing arrived: then nothing is late). */
  watermark: (integration: Integration) => Iso;
}

const isHeld = (hold: OfflineHold, integration: Integration) =>
  hold === 'all' || (hold === 'blaas' && integration.source === 'blaas');

/** The issue types a stale feed holds: the ones that say a device went silent. */
const silenceTypes = (integration: Integration): IssueType[] => [
  offlineIssueType(integration.kind),
  'integration_pull_late',
];

async function settleOne(
  store: RulesData,
  candidate: Integration,
  now: Iso,
  feed: Feed,
  outages: OutageFinder,
  report: RulesReport,
): Promise<void> {
  // Issues written by an attempt that lost its race, to take back if the next attempt no longer wants them.
  let written: Issue[] = [];
  await retryOnConflict(async (attempt) => {
    const read = attempt === 0 ? candidate : await store.integrations.get(candidate.org_id, candidate.id);
    if (read === null) {
      for (const issue of written) await withdraw(store, issue, now);
      return;
    }
    // A silent pattern device whose profile ran out is learned again here (nothing of it reaches the ingest).
    const relearned = read.paused ? null : await relearnSilent(store.pullDays, read, now);
    const current = relearned === null ? read : { ...read, cadence: relearned };
    const offlineType = offlineIssueType(current.kind);
    const watermark = feed.watermark(current);
    const wanted = new Map<IssueType, Issue>();
    for (const type of wantedIssueTypes(current, now, watermark)) {
      const issue = issueFor(current, type, now, watermark);
      if (issue) wanted.set(type, issue);
    }
    // Issues we wrote in an earlier attempt that the facts no longer call for: take them back.
    for (const issue of written) {
      if (wanted.get(issue.type)?.id !== issue.id) await withdraw(store, issue, now);
    }
    written = written.filter((issue) => wanted.get(issue.type)?.id === issue.id);

    const toOpen = [...wanted.values()].filter((issue) => !current.open_issues[issue.type]);
    // Held: offline flips and late warnings while the log feed is stale; everything while it is snoozed.
    const snoozed = isSnoozed(current, now);
    const held = isHeld(feed.hold, current);
    let opening = toOpen.filter((issue) => !snoozed && !(held && silenceTypes(current).includes(issue.type)));
    const heldHere = toOpen.length - opening.length;
    // The critical offline issue opening (or open) takes over from a late warning: that one ends, escalated,
    // and none opens beside (or after) it.
    const offlineRef =
      current.open_issues[offlineType] ?? opening.find((issue) => issue.type === offlineType) ?? null;
    if (offlineRef) {
      wanted.delete('integration_pull_late');
      opening = opening.filter((issue) => issue.type !== 'integration_pull_late');
    }
    const toResolve = (Object.keys(current.open_issues) as IssueType[]).filter((type) => !wanted.has(type));
    if (opening.length === 0 && toResolve.length === 0) {
      // Nothing to change. Looked at early (a pull kept the stored check time, see scheduledCheckAt): re-arm it
      // at its exact time. A held or due-now candidate stays as it is, and is looked at again next pass.
      const rearmed = scheduledCheckAt(current, now, watermark);
      if ((rearmed !== current.due_at && !(rearmed !== null && rearmed <= now)) || relearned !== null) {
        await store.integrations.save(current, current.version, now, watermark);
        report.rearmed += 1;
      }
      report.held += heldHere;
      return;
    }

    const resolved: IssueChange[] = [];
    for (const type of toResolve) {
      const ref = current.open_issues[type];
      if (!ref) continue;
      const escalated = type === 'integration_pull_late' && offlineRef !== null;
      const resolution: Resolution = current.paused ? 'paused' : escalated ? 'escalated' : 'pull_resumed';
      // Resumed: an outage ended with the first pull after the silence (`resumed_at`), not the newest one,
      // which may be a cycle or a file later; otherwise the newest pull is when it ended. A first pull more
      // than a threshold before the newest one may have been a blip followed by more silence (the issue
      // stayed open), so then the newest pull is taken, as an upper bound.
      const resumed = current.resumed_at;
      const ended =
        silenceTypes(current).includes(type) &&
        resumed &&
        resumed > ref.opened_at &&
        secondsBetween(resumed, current.last_pull_at ?? resumed) < current.offline_after_seconds
          ? resumed
          : current.last_pull_at;
      const at =
        escalated && offlineRef
          ? offlineRef.opened_at
          : resolution === 'pull_resumed' && ended && ended > ref.opened_at
            ? ended
            : now;
      await store.issues.resolve(current.org_id, ref.id, at, resolution);
      await store.history.putTransition(
        current,
        transition(current, ref.id, type, 'issue_resolved', at, resolution),
      );
      resolved.push({ issue_id: ref.id, integration_id: current.id, type, at });
    }
    for (const [index, plain] of opening.entries()) {
      // Silent together with others of its engine or organization: the shared cause is its diagnosis, and
      // its message waits (briefly) for the group's other openings so they go out as one.
      const group = plain.type === offlineType ? await outages.groupOf(current) : null;
      const issue = group
        ? { ...plain, diagnosis: withSharedOutage(current, plain.diagnosis, group, now) }
        : plain;
      opening[index] = issue;
      const announceAt = group && group.notify_at > now ? group.notify_at : now;
      if (await store.issues.putIfAbsent(issue, announceAt)) written.push(issue);
      await store.history.putTransition(
        current,
        transition(current, issue.id, issue.type, 'issue_opened', issue.opened_at, issue.diagnosis.code),
      );
    }
    const openIssues = { ...current.open_issues };
    for (const type of toResolve) delete openIssues[type];
    for (const issue of opening) openIssues[issue.type] = { id: issue.id, opened_at: issue.opened_at };
    // The resumption belongs to the issue of the silence (offline, or late before it): it ends with it, and a
    // new one starts with none.
    const silences = silenceTypes(current);
    const silenceChanged =
      toResolve.some((type) => silences.includes(type)) ||
      opening.some((issue) => silences.includes(issue.type));
    const late = opening.find((issue) => issue.type === 'integration_pull_late');
    await store.integrations.save(
      {
        ...current,
        open_issues: openIssues,
        issue_seq: current.issue_seq + toResolve.length,
        resumed_at: silenceChanged ? null : current.resumed_at,
        late_warned_at: late ? late.opened_at : current.late_warned_at,
      },
      current.version,
      now,
    );
    report.held += heldHere;
    report.resolved.push(...resolved);
    for (const issue of opening) {
      report.opened.push({
        issue_id: issue.id,
        integration_id: current.id,
        type: issue.type,
        at: issue.opened_at,
      });
    }
  });
}

/** One line of an integration's history: an issue opened or resolved, with the status before and after. */
function transition(
  integration: Integration,
  issueId: string,
  type: IssueType,
  kind: 'issue_opened' | 'issue_resolved',
  at: Iso,
  reason: string,
): Transition {
  const offline = type === offlineIssueType(integration.kind);
  const statusNow = statusOf(integration, at);
  return {
    integration_id: integration.id,
    at,
    kind,
    issue_id: issueId,
    issue_type: type,
    from_status:
      kind === 'issue_opened'
        ? offline
          ? integration.last_pull_at
            ? 'online'
            : 'never_pulled'
          : statusNow
        : offline
          ? 'offline'
          : statusNow,
    to_status: kind === 'issue_opened' ? (offline ? 'offline' : statusNow) : statusNow,
    reason,
  };
}

/** Undoes an issue we wrote but could not attach: deleted if nobody heard of it, otherwise resolved. */
async function withdraw(store: RulesData, issue: Issue, now: Iso): Promise<void> {
  if (!(await store.issues.deleteUnannounced(issue))) {
    await store.issues.resolve(issue.org_id, issue.id, now, 'pull_resumed');
  }
}
