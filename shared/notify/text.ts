import type { Issue, NotificationEvent } from '../issue/index.ts';
import { humanDuration, type Iso, secondsBetween } from '../time.ts';

/** The small text helpers every form of a notification (email, SMS, chat) is written with. */

/** One printable line: control characters and runs of spaces become a single space. */
export const oneLine = (text: string) =>
  text
    .replace(/[\p{Cc}\u2028\u2029]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/** Cuts to at most `max` UTF-16 units (how SNS counts), never inside a surrogate pair. */
export const clip = (text: string, max: number) => {
  if (text.length <= max) return text;
  let out = '';
  for (const char of text) {
    if (out.length + char.length > max - 3) break;
    out += char;
  }
  return `${out}...`;
};

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
