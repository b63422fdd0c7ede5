import type { Issue, NotificationEvent } from '../issue/index.ts';
import { ISSUE_TYPE_INFO } from '../issue/types.ts';
import { clip } from '../text.ts';
import { humanDuration, type Iso, secondsBetween } from '../time.ts';

/** The small text helpers every form of a notification (email, SMS, chat) is written with. */

/** What the messages call the subject of an integration issue; null for the deployment's feed. */
export function subjectOf(issue: Issue): { noun: string; name: string } | null {
  if (issue.type === 'pipeline_stale') return null;
  return {
    noun: issue.integration_kind === 'remediation_component' ? 'remediation component' : 'firewall',
    name: issue.integration_name,
  };
}

/** Fills `template` (with one `{name}` slot) so the whole text fits `max` characters. */
export function fitName(template: string, name: string, max: number): string {
  const room = max - (template.length - '{name}'.length);
  // split/join, not String.replace: a name holding `$&` or `$'` must stay literal.
  return template.split('{name}').join(clip(name, Math.max(1, room)));
}

export const TAG: Record<NotificationEvent, (issue: Issue) => string> = {
  issue_opened: (issue) => issue.criticality.toUpperCase(),
  issue_reminder: (issue) => `STILL OPEN (${issue.criticality})`,
  issue_resolved: () => 'RESOLVED',
};

export const durationOf = (issue: Issue, now: Iso) =>
  humanDuration(secondsBetween(issue.opened_at, issue.resolved_at ?? now));

/** Why a resolved issue ended, in one sentence; `at` is its resolution time as the form writes times. */
export function whyResolved(issue: Issue, at: string): string {
  if (issue.resolution === 'paused') return 'The integration was paused, so it is no longer watched.';
  if (issue.resolution === 'deleted') return 'The integration was deleted.';
  return ISSUE_TYPE_INFO[issue.type].resumed(at);
}
