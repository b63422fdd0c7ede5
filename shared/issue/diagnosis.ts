import type { Integration, Vendor } from '../integration/index.ts';
import { type DiagnosisGroup, diagnosisGroup, type OutageGroup } from '../outage/index.ts';
import { lapiRemoved } from '../pulls/index.ts';
import { type Iso, loggedBefore, minuteUtc, secondsBetween } from '../time.ts';

/** An engine's bouncer list older than this (its cron prints one every few minutes) has stopped arriving. */
const LIST_LATE_SECONDS = 1800;

export const DIAGNOSIS_CODES = [
  'never_pulled',
  'credentials_rejected',
  'credentials_not_updated',
  'credentials_missing',
  'rate_limited',
  'server_errors',
  'no_requests',
  'bouncer_revoked',
  'bouncer_removed',
  'shared_outage',
] as const;
export type DiagnosisCode = (typeof DIAGNOSIS_CODES)[number];

export interface Diagnosis {
  code: DiagnosisCode;
  summary: string;
  steps: string[];
  /** For `shared_outage`: the group this integration went silent with. */
  group?: DiagnosisGroup;
}

/** Where each vendor keeps its external-list settings and its logs (facts from the vendors' consoles). */
const VENDOR_PLACES: Partial<Record<Vendor, { feed: string; logs: string }>> = {
  fortigate: {
    feed: 'Security Fabric > External Connectors > Threat Feeds',
    logs: 'Log & Report > System Events, filtered on "Threat Feed"',
  },
  paloalto: {
    feed: 'Objects > External Dynamic Lists',
    logs: 'Monitor > System Logs, filtered on "External Dynamic List"',
  },
  checkpoint: {
    feed: 'the IoC / external feed settings of the gateway policy',
    logs: 'the gateway logs for the feed fetch',
  },
  pfsense: {
    feed: 'the alias or pfBlocker feed that holds the list URL',
    logs: 'Status > System Logs > Firewall',
  },
  opnsense: {
    feed: 'Firewall > Aliases (URL table) holding the list URL',
    logs: 'System > Log Files > Firewall',
  },
};

function feedSteps(integration: Integration): string[] {
  const place = VENDOR_PLACES[integration.vendor];
  const where = place
    ? `On the firewall, open ${place.feed}`
    : 'On the firewall, open the external blocklist settings';
  const logs = place ? `Read ${place.logs}` : "Read the firewall's system log";
  return [
    `${where}: check that the blocklist entry still exists, is enabled and points at this integration's URL.`,
    `${logs} for download errors (authentication, TLS, timeout).`,
    'From a host next to the firewall, request the list URL with the credentials (curl -I) to test DNS, routing, proxy and TLS.',
    'Use the feed\'s "refresh now" button, then check that the last pull time moves here.',
  ];
}

function bouncerSteps(): string[] {
  return [
    'On the bouncer host, check the service is running (systemctl status crowdsec-firewall-bouncer) and restart it if not.',
    'Read the bouncer log (journalctl -u crowdsec-firewall-bouncer) for connection or 401/403 errors.',
    'On the security engine, run cscli bouncers list: the bouncer must be listed, valid, with a recent last pull.',
    'Check the bouncer reaches the local API (api_url in its config, port open); re-register it with cscli bouncers add if its key is gone.',
  ];
}

/**
 * The probable cause of an idle integration, from the facts recorded about its pulls.
 * Pure: the same facts always give the same diagnosis.
 */
export function diagnose(integration: Integration): Diagnosis {
  const steps = integration.kind === 'firewall' ? feedSteps(integration) : bouncerSteps();
  if (integration.source === 'lapi' && lapiRemoved(integration.lapi)) {
    return {
      code: 'bouncer_removed',
      summary:
        'The security engine no longer lists this bouncer (it was deleted, e.g. with cscli bouncers delete): its key is gone and every pull is refused.',
      steps: [
        `On the security engine, register it again (cscli bouncers add ${integration.name}) and write the new key into the bouncer's configuration (api_key).`,
        'Restart the bouncer service, then check cscli bouncers list shows it again with a recent last pull.',
        'If it was deleted on purpose, pause or delete this integration instead.',
        ...bouncerSteps().slice(0, 2),
      ],
    };
  }
  if (integration.source === 'lapi' && integration.lapi?.revoked) {
    return {
      code: 'bouncer_revoked',
      summary: 'The security engine lists this bouncer as revoked or invalid: its API key no longer works.',
      steps: [
        `Register it again on the security engine (cscli bouncers add ${integration.name}) and put the new key in the bouncer's configuration.`,
        'Restart the bouncer service and check cscli bouncers list shows a recent last pull.',
        ...bouncerSteps(),
      ],
    };
  }
  const status = integration.last_attempt_status;
  const attemptAfterPull =
    integration.last_attempt_at !== null &&
    (integration.last_pull_at === null || integration.last_attempt_at > integration.last_pull_at);

  const rejected = attemptAfterPull && (status === 401 || status === 403);
  const { rotated_at: rotatedAt } = integration.credentials;
  // Where the log says which credential was refused, the cause is known rather than inferred.
  const presented = rejected ? integration.last_attempt_auth : null;
  if (presented === 'previous_expired') {
    const graceEnd = integration.credentials.previous_valid_until ?? rotatedAt;
    return {
      code: 'credentials_not_updated',
      summary: `The device still presents the password that was replaced on ${minuteUtc(rotatedAt)}; ${
        graceEnd > rotatedAt
          ? `its grace ended on ${minuteUtc(graceEnd)}`
          : 'it was replaced without a grace period'
      }, so every pull is refused.`,
      steps: ['Enter the new password in the device, then trigger a manual update.', ...steps],
    };
  }
  if (presented === 'no_credentials') {
    return {
      code: 'credentials_missing',
      summary:
        "The device's requests carry no credentials at all: the feed's authentication settings were cleared, or the URL lost its user name and password.",
      steps: [
        `Enter the username (${integration.credentials.username}) and password in the feed's authentication settings, or put them back in the URL.`,
        ...steps,
      ],
    };
  }
  if (presented === 'wrong_password') {
    return {
      code: 'credentials_rejected',
      summary: `The device presents a password that is neither the current nor the replaced one (HTTP ${status}).`,
      steps: [
        'Compare the configured username and password with this integration; refresh them if lost.',
        ...steps,
      ],
    };
  }
  // Logged times against the refresh's: only a pull certainly before it counts as one before it, and an attempt in
  // the refresh's second may have come after it (see loggedBefore), so a whole-second log never claims more.
  const refreshedSinceLastPull =
    rotatedAt > integration.created_at &&
    (integration.last_pull_at === null || loggedBefore(integration.last_pull_at, rotatedAt));
  const attemptSinceRefresh =
    integration.last_attempt_at !== null && !loggedBefore(integration.last_attempt_at, rotatedAt);
  // Refreshed after the last good pull, and since then only rejections or silence: the device still has the old ones.
  if (refreshedSinceLastPull && (rejected || (integration.last_pull_at !== null && !attemptSinceRefresh))) {
    return {
      code: 'credentials_not_updated',
      summary:
        'The credentials were refreshed after the last good pull and the device has not been given the new ones.',
      steps: ['Enter the new username and password in the device, then trigger a manual update.', ...steps],
    };
  }
  if (rejected) {
    return {
      code: 'credentials_rejected',
      summary: `The device keeps trying but its credentials are rejected (HTTP ${status}).`,
      steps: [
        'Compare the configured username and password with this integration; refresh them if lost.',
        ...steps,
      ],
    };
  }
  if (attemptAfterPull && status === 429) {
    return {
      code: 'rate_limited',
      summary: 'The device pulls too often and is being rate limited (HTTP 429).',
      steps: [
        'Lower the refresh frequency of the feed on the device (every 5 to 60 minutes is plenty).',
        ...steps,
      ],
    };
  }
  if (attemptAfterPull && status !== null && status >= 500) {
    return {
      code: 'server_errors',
      summary: `The device reaches the endpoint but the endpoint answers with errors (HTTP ${status}).`,
      steps: [
        'The fault is on the blocklist endpoint side: check its status before changing the device.',
        ...steps,
      ],
    };
  }
  if (integration.last_pull_at === null) {
    return {
      code: 'never_pulled',
      summary: 'This integration has never pulled its blocklist since it was created.',
      steps,
    };
  }
  return {
    code: 'no_requests',
    summary:
      integration.kind === 'firewall'
        ? 'No request reaches the endpoint: the firewall is down, the feed is disabled or removed, or DNS, proxy or TLS blocks it.'
        : 'No request reaches the endpoint: the bouncer service is stopped or cannot reach the API.',
    steps,
  };
}

/** "all 6 bouncers" or "5 of 6 bouncers". */
function howMany(group: Pick<OutageGroup, 'silent' | 'of'>, noun: string): string {
  return group.silent === group.of ? `all ${group.silent} ${noun}` : `${group.silent} of ${group.of} ${noun}`;
}

/** How much of an engine's name the short forms (SMS, subject) show. */
const ENGINE_NAME_SHOWN = 20;

/** The shared cause in two short parts, for SMS and subjects: who went silent since when, and what to check first. */
export function sharedOutageParts(group: Pick<OutageGroup, 'scope' | 'engine' | 'silent' | 'of' | 'since'>): {
  what: string;
  check: string;
} {
  const since = minuteUtc(group.since);
  // A long host name is cut so that an SMS keeps what to check (the full name is in the diagnosis and email).
  // Cut by code points, so a character outside the BMP is never split (a lone surrogate breaks the SNS request).
  const chars = [...(group.engine ?? '')];
  const engine =
    chars.length > ENGINE_NAME_SHOWN ? `${chars.slice(0, ENGINE_NAME_SHOWN - 3).join('')}...` : group.engine;
  return group.scope === 'engine'
    ? {
        what: `${howMany(group, 'bouncers')} of ${engine} silent since ${since}`,
        check: 'check the engine host, its network and the Local API',
      }
    : {
        what: `${howMany(group, 'integrations')} silent since ${since}`,
        check: 'check the blocklist endpoint (DNS, certificate, availability)',
      };
}

/**
 * An integration that went silent together with others of its engine or organization (see outage/): the shared
 * cause comes first, its own checks after. Only a silence is reattributed; a cause the integration's own logs
 * show (rejected credentials, errors, a removed bouncer) stays its own.
 */
export function withSharedOutage(
  integration: Integration,
  own: Diagnosis,
  group: OutageGroup,
  now: Iso,
): Diagnosis {
  if (own.code !== 'no_requests') return own;
  const since = minuteUtc(group.since);
  if (group.scope === 'engine') {
    // The engine's list itself late too (its cron runs on the engine host): the host is the first suspect.
    const listed = group.engine_path ? integration.lapi?.engines[group.engine_path]?.checked_at : undefined;
    const listLate = listed !== undefined && secondsBetween(listed, now) > LIST_LATE_SECONDS;
    return {
      code: 'shared_outage',
      summary: `${howMany(group, 'bouncers')} of the security engine ${group.engine} stopped pulling within minutes of each other (since ${since}) ${
        listLate && listed
          ? `and its bouncer list has not arrived since ${minuteUtc(listed)} either: the engine host is likely down or cut off`
          : 'while its bouncer list keeps arriving: the engine host, its network or its Local API is the likely cause'
      }, not this bouncer.`,
      steps: [
        `On the engine host of ${group.engine}, check the service is running (systemctl status crowdsec) and read its log (journalctl -u crowdsec) for Local API errors.`,
        'Check the Local API answers where the bouncers point (cscli lapi status; api.server.listen_uri in config.yaml; the port open from the bouncer hosts).',
        "Check the network between the bouncer hosts and the engine (routing, firewall rules, DNS of the engine's name).",
        ...bouncerSteps().slice(0, 2),
      ],
      group: diagnosisGroup(group),
    };
  }
  return {
    code: 'shared_outage',
    summary: `${howMany(group, 'integrations')} of this organization stopped pulling within minutes of each other (since ${since}) while the pull logs keep arriving: the blocklist endpoint itself is the likely cause (DNS, TLS certificate, availability), not each ${integration.kind === 'firewall' ? 'firewall' : 'bouncer'}.`,
    steps: [
      "Resolve the blocklist endpoint's host name from outside your network and compare it with the expected address (a DNS change or expiry stops every device at once).",
      "Check the endpoint's TLS certificate: not expired, the full chain served, the name matching (curl -v or openssl s_client against the list URL).",
      "Request the list URL with one integration's credentials from outside: it must answer 200 with the list; check recent changes in front of it (WAF, CDN, allow lists, rate limits).",
      ...own.steps.slice(0, 2),
    ],
    group: diagnosisGroup(group),
  };
}
