import type { Integrations } from '../integration/data.ts';
import { type Integration, offlineAt, offlineIssueType } from '../integration/index.ts';
import { addSeconds, type Iso, secondsBetween } from '../time.ts';
import type { Outages } from './data.ts';
import {
  decideGroup,
  GROUP_WINDOW_SECONDS,
  groupHolds,
  MIN_MEMBERS,
  type OutageGroup,
  scopeOf,
  silentSince,
} from './index.ts';

/**
 * Finds the shared outage of integrations whose offline issue opens in this rule pass. Its reads follow the
 * openings, not the fleet: nothing while no offline issue opens; then the scope's stored group (one GetItem per
 * scope and pass), the integrations due by the end of the window (silent with it or about to follow), and only when enough of
 * one scope went silent together to possibly be a group, that organization's integrations (once per pass).
 */
export class OutageFinder {
  private readonly stored = new Map<string, Promise<OutageGroup | null>>();
  private readonly listed = new Map<string, Promise<Integration[]>>();
  private soon: Promise<Integration[]> | null = null;

  /** The integrations this pass already read (due now): not read again. */
  private readonly candidates = new Map<string, Integration>();

  constructor(
    private readonly data: { integrations: Integrations; outages: Outages },
    private readonly now: Iso,
  ) {}

  /** Tells the finder about candidates its pass read (a shard's), before their settling asks for groups. */
  know(candidates: Integration[]): void {
    for (const candidate of candidates) this.candidates.set(candidate.id, candidate);
  }

  /** The group `integration` went silent with, or null. Call only for an offline issue about to open. */
  async groupOf(integration: Integration): Promise<OutageGroup | null> {
    const last = silentSince(integration);
    if (last === null) return null;
    const scope = scopeOf(integration);
    const storeKey = `${integration.org_id}#${scope.key}`;
    let stored = this.stored.get(storeKey);
    if (!stored) {
      stored = this.data.outages.get(integration.org_id, scope.key);
      this.stored.set(storeKey, stored);
    }
    const known = await stored;
    if (known && groupHolds(known, integration)) return known;
    // Cheap test first: enough of this scope crossing now or within the window to possibly be a group?
    const near = (other: Integration) => {
      const otherLast = silentSince(other);
      return (
        other.org_id === integration.org_id &&
        otherLast !== null &&
        Math.abs(secondsBetween(otherLast, last)) <= GROUP_WINDOW_SECONDS &&
        scopeOf(other).key === scope.key
      );
    };
    const pool = new Map<string, Integration>();
    for (const other of await this.dueOrSoon()) {
      if (near(other)) pool.set(other.id, other);
    }
    if (pool.size < MIN_MEMBERS[scope.kind]) return null;
    const group = decideGroup(integration, await this.orgIntegrations(integration.org_id), this.now);
    if (group === null) return null;
    const standing = await this.data.outages.record(integration.org_id, scope.key, group);
    this.stored.set(storeKey, Promise.resolve(standing));
    return groupHolds(standing, integration) ? standing : group;
  }

  /**
   * Integrations of every shard due now or within the window, not yet offline, crossing by its end: the ones
   * going silent with this one. Every shard's, not only this pass's candidates, so a worker settling one shard
   * sees the members another worker has not settled yet (and one that has settled them recorded the group).
   */
  private dueOrSoon(): Promise<Integration[]> {
    if (!this.soon) {
      const until = addSeconds(this.now, GROUP_WINDOW_SECONDS);
      this.soon = this.data.integrations
        .dueIds(until)
        .then(async (ids) => [
          ...this.candidates.values(),
          ...(await this.data.integrations.byIds(ids.filter((id) => !this.candidates.has(id)))),
        ])
        .then((due) =>
          due.filter(
            (other) => !other.open_issues[offlineIssueType(other.kind)] && offlineAt(other) <= until,
          ),
        );
    }
    return this.soon;
  }

  private orgIntegrations(orgId: string): Promise<Integration[]> {
    let listing = this.listed.get(orgId);
    if (!listing) {
      listing = (async () => {
        const all: Integration[] = [];
        let cursor: string | undefined;
        do {
          const page = await this.data.integrations.list(orgId, {
            limit: 100,
            ...(cursor ? { cursor } : {}),
          });
          all.push(...page.items);
          cursor = page.next_cursor ?? undefined;
        } while (cursor);
        return all;
      })();
      this.listed.set(orgId, listing);
    }
    return listing;
  }
}
