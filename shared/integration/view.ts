import { z } from 'zod';
import { AuthOutcome } from '../auth/verify.ts';
import { CRITICALITIES, ISSUE_TYPE_INFO } from '../issue/types.ts';
import { PullHistoryView, Timeline48h, timeline48h } from '../pulls/activity.ts';
import { CADENCE_STATES } from '../pulls/cadence.ts';
import type { Iso } from '../time.ts';
import {
  cadenceOf,
  credentialInUrl,
  type Integration,
  IntegrationKind,
  IntegrationStatus,
  IssueType,
  idleSeconds,
  lateWarningAt,
  Source,
  statusOf,
  Vendor,
} from './index.ts';

const Time = z.iso.datetime();
/** The learned rhythm (pulls/cadence.ts) and when a late warning would open. */
const CadenceView = z
  .object({
    state: z
      .enum(CADENCE_STATES)
      .describe(
        "'learning': under 7 full days since the first pull, or pulls on fewer than 5 of the last 7 days; 'steady': pulls at a regular interval; 'pattern': pulls on a daily pattern (e.g. business hours); 'irregular': no rhythm to judge by. Only steady and pattern can warn",
      ),
    usual_interval_seconds: z
      .number()
      .int()
      .nullable()
      .describe(
        'the median gap between pulled minutes over the last 7 days (60 for once a minute or more often)',
      ),
    late_after: Time.nullable().describe(
      'when a late warning opens if nothing arrives; null when none can open before the offline threshold (or early_warning is off)',
    ),
  })
  .describe("the device's own rhythm, learned from its pulls");

export { PullHistoryView, Timeline48h };

/**
 * The integration as the API and the CLI show it: derived status, no secrets, no hashes. The API documents this
 * very schema, so what is shown and what is documented cannot drift.
 */
export const IntegrationView = z.object({
  id: z.string(),
  name: z.string(),
  kind: IntegrationKind,
  vendor: Vendor,
  source: Source,
  status: IntegrationStatus,
  last_pull_at: Time.nullable(),
  last_attempt_at: Time.nullable(),
  last_attempt_status: z.number().int().nullable().describe('HTTP status of the last try'),
  last_attempt_auth: AuthOutcome.nullable().describe(
    'which credential the last try presented, where the pull log says so (null otherwise)',
  ),
  idle_seconds: z.number().int().nullable(),
  offline_after_seconds: z.number().int(),
  paused: z.boolean(),
  snoozed_until: Time.nullable(),
  open_issues: z.number().int(),
  open_issue_types: z
    .array(IssueType)
    .describe('the types of its open issues, most urgent first (e.g. integration_pull_late: a late warning)'),
  credential_in_url: z
    .boolean()
    .describe(
      'the device sends its password in the URL (`?api_key=`), so every proxy, load balancer or CDN on the way ' +
        'logs it: true when a request did so since the last successful pull, or that pull did. Use basic auth ' +
        'or the `X-Api-Key` header instead, then refresh the credentials',
    ),
  credential_in_url_at: Time.nullable().describe(
    'while credential_in_url is true: the newest request seen with its password in the URL; null otherwise',
  ),
  timeline_48h: Timeline48h,
  early_warning: z
    .boolean()
    .describe('warn (criticality warning) when it is silent far longer than its own rhythm'),
  cadence: CadenceView,
  username: z.string(),
  credentials_rotated_at: Time,
  created_at: Time,
  updated_at: Time,
});
export type IntegrationView = z.infer<typeof IntegrationView>;

function openIssueTypes(integration: Integration): IssueType[] {
  const types = Object.keys(integration.open_issues) as IssueType[];
  const urgency = (type: IssueType) => CRITICALITIES.indexOf(ISSUE_TYPE_INFO[type].criticality);
  return types.sort((a, b) => urgency(a) - urgency(b) || a.localeCompare(b));
}

function cadenceView(integration: Integration, now: Iso): z.infer<typeof CadenceView> {
  const cadence = cadenceOf(integration);
  return {
    state: cadence?.state ?? 'learning',
    usual_interval_seconds: cadence && cadence.state !== 'learning' ? cadence.interval : null,
    late_after: lateWarningAt(integration, now),
  };
}

export function integrationView(integration: Integration, now: Iso): IntegrationView {
  return {
    id: integration.id,
    name: integration.name,
    kind: integration.kind,
    vendor: integration.vendor,
    source: integration.source,
    status: statusOf(integration, now),
    last_pull_at: integration.last_pull_at,
    last_attempt_at: integration.last_attempt_at,
    last_attempt_status: integration.last_attempt_status,
    last_attempt_auth: integration.last_attempt_auth,
    idle_seconds: idleSeconds(integration, now),
    offline_after_seconds: integration.offline_after_seconds,
    paused: integration.paused,
    snoozed_until: integration.snoozed_until,
    open_issues: Object.keys(integration.open_issues).length,
    open_issue_types: openIssueTypes(integration),
    credential_in_url: credentialInUrl(integration),
    credential_in_url_at: integration.credential_in_url_at,
    timeline_48h: timeline48h(integration.recent_pulls, now),
    early_warning: integration.early_warning,
    cadence: cadenceView(integration, now),
    username: integration.credentials.username,
    credentials_rotated_at: integration.credentials.rotated_at,
    created_at: integration.created_at,
    updated_at: integration.updated_at,
  };
}
