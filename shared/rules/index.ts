import { ConflictError } from '../errors.ts';
import { type Integration, offlineIssueType } from '../integration/index.ts';
import { type Issue, offlineIssueFor } from '../issue/index.ts';
import type { Store } from '../store/index.ts';
import type { Iso } from '../time.ts';

const MAX_CONFLICT_RETRIES = 5;

/** Raised after a pass in which some integrations could not be settled; carries what was done. */
export class RulesIncompleteError extends Error {
  constructor(readonly report: RulesReport) {
    super(
      `${report.failed.length} of ${report.candidates} candidates could not be settled: ${report.failed[0]?.error}`,
    );
    this.name = 'RulesIncompleteError';
  }
}

export interface IssueChange {
  issue_id: string;
  integration_id: string;
  type: Issue['type'];
  at: Iso;
}

export interface RulesReport {
  candidates: number;
  opened: IssueChange[];
  resolved: IssueChange[];
  /** Integrations that could not be settled this pass (e.g. throttled); they stay due for the next one. */
  failed: Array<{ integration_id: string; error: string }>;
}

/**
 * One rule pass: looks only at the integrations whose check time has come (newly idle ones, and those
 * with an open issue that new facts may resolve), and moves each to the state its facts call for.
 *
 * Every transition writes the issue first (idempotent: a deterministic id, or "resolve where open"),
 * then the integration "where version = the one we read". A crash between the two leaves the
 * integration due, so the next pass redoes the same, harmless, first write and completes the second.
 */
export async function runRules(options: { store: Store; now: Iso }): Promise<RulesReport> {
  const { store, now } = options;
  const candidates = await store.dueIntegrations(now);
  const report: RulesReport = { candidates: candidates.length, opened: [], resolved: [], failed: [] };
  for (const candidate of candidates) {
    try {
      await settle(store, candidate, now, report);
    } catch (error) {
      // One integration's failure must not hold back the others; it is still due next pass.
      report.failed.push({
        integration_id: candidate.id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  if (report.failed.length > 0) {
    throw new RulesIncompleteError(report);
  }
  return report;
}

async function settle(store: Store, candidate: Integration, now: Iso, report: RulesReport): Promise<void> {
  let integration: Integration | null = candidate;
  let written: Issue | null = null;
  for (let attempt = 0; ; attempt += 1) {
    if (integration === null) {
      if (written) await withdraw(store, written, now);
      return;
    }
    const type = offlineIssueType(integration.kind);
    const open = integration.open_issues[type];
    const wanted = offlineIssueFor(integration, now);
    if (written && written.id !== wanted?.id) {
      // The facts changed under us after we wrote an issue: take it back before deciding again.
      await withdraw(store, written, now);
      written = null;
    }
    try {
      if (wanted && !open) {
        if (await store.putIssueIfAbsent(wanted)) written = wanted;
        const { [type]: _previous, ...others } = integration.open_issues;
        await store.saveIntegration(
          {
            ...integration,
            open_issues: { ...others, [type]: { id: wanted.id, opened_at: wanted.opened_at } },
          },
          integration.version,
          now,
        );
        report.opened.push({
          issue_id: wanted.id,
          integration_id: integration.id,
          type,
          at: wanted.opened_at,
        });
      } else if (!wanted && open) {
        const resolution = integration.paused ? 'paused' : 'pull_resumed';
        // Resumed: the pull that ended the outage is the moment it ended (the newest we know of).
        const at = resolution === 'pull_resumed' && integration.last_pull_at ? integration.last_pull_at : now;
        await store.resolveIssue(integration.org_id, open.id, at, resolution);
        const { [type]: _resolved, ...others } = integration.open_issues;
        await store.saveIntegration(
          { ...integration, open_issues: others, issue_seq: integration.issue_seq + 1 },
          integration.version,
          now,
        );
        report.resolved.push({ issue_id: open.id, integration_id: integration.id, type, at });
      }
      return;
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= MAX_CONFLICT_RETRIES) throw error;
      integration = await store.getIntegration(integration.org_id, integration.id);
    }
  }
}

/** Undoes an issue we wrote but could not attach: deleted if nobody heard of it, otherwise resolved. */
async function withdraw(store: Store, issue: Issue, now: Iso): Promise<void> {
  if (!(await store.deleteUnannouncedIssue(issue))) {
    await store.resolveIssue(issue.org_id, issue.id, now, 'pull_resumed');
  }
}
