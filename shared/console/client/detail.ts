import {
  ApiError,
  type AuditEvent,
  api,
  type Integration,
  type IntegrationDetail,
  type Issue,
  type Page,
} from './api.ts';
import type { Context } from './context.ts';
import { deleteDialog, refreshDialog } from './dialogs.ts';
import { ago, fact, h, replace } from './dom.ts';
import {
  AUTH_LABEL,
  credentialState,
  duration,
  exact,
  ISSUE_LABEL,
  KIND_LABEL,
  rhythmText,
  secondsBetween,
  transitionChange,
  URL_CREDENTIAL_WARNING,
} from './format.ts';
import { statusBadge } from './list.ts';
import { chart } from './timeline.ts';

/** One integration: its facts, 7-day chart, open issues with what to check, history, and (write keys) actions. */

export function issueCard(context: Context, issue: Issue, level: 'h2' | 'h3' = 'h3'): HTMLElement {
  const end = issue.resolved_at ?? context.now();
  const lasted = duration(secondsBetween(issue.opened_at, end));
  return h(
    'article',
    { class: `issue ${issue.criticality}` },
    h(
      level,
      {},
      ISSUE_LABEL[issue.type] ?? issue.type,
      ' ',
      h('span', { class: `badge crit-${issue.criticality}` }, issue.criticality),
    ),
    h(
      'p',
      {},
      'Opened ',
      ago(issue.opened_at, context.now()),
      issue.resolved_at
        ? h('span', {}, '; resolved ', ago(issue.resolved_at, context.now()), ` after ${lasted}.`)
        : `; open for ${lasted}.`,
    ),
    h('p', { class: 'diagnosis' }, h('strong', {}, 'Probable cause: '), issue.diagnosis.summary),
    issue.diagnosis.steps.length > 0
      ? h(
          'div',
          {},
          h('p', {}, 'What to check:'),
          h('ol', { class: 'steps' }, ...issue.diagnosis.steps.map((step) => h('li', {}, step))),
        )
      : null,
  );
}

function table(caption: string, headings: string[], rows: Node[][]): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'muted' }, `No ${caption.toLowerCase()} yet.`);
  return h(
    'table',
    {},
    h('caption', { class: 'sr-only' }, caption),
    h('thead', {}, h('tr', {}, ...headings.map((heading) => h('th', { scope: 'col' }, heading)))),
    h('tbody', {}, ...rows.map((cells) => h('tr', {}, ...cells.map((cell) => h('td', {}, cell))))),
  );
}

const text = (value: string) => document.createTextNode(value);

function actions(
  context: Context,
  detail: IntegrationDetail,
  reload: (message: string) => Promise<void>,
): HTMLElement {
  const path = `/v1/integrations/${encodeURIComponent(detail.id)}`;
  const error = h('p', { class: 'error', role: 'alert' });
  const patch = async (body: Record<string, unknown>, message: string) => {
    try {
      await api<Integration>('PATCH', path, body);
      await reload(message);
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.detail : String(failure);
    }
  };

  // One id for both states, so the focus stays on the toggle after the page is redrawn.
  const pause = detail.paused
    ? h(
        'button',
        {
          type: 'button',
          id: 'pause-toggle',
          onclick: () => void patch({ paused: false }, `Resumed ${detail.name}.`),
        },
        'Resume watching',
      )
    : h(
        'button',
        {
          type: 'button',
          id: 'pause-toggle',
          onclick: () => void patch({ paused: true }, `Paused ${detail.name}: no alerts until resumed.`),
        },
        'Pause watching',
      );

  const early = h(
    'button',
    {
      type: 'button',
      id: 'early-warning-toggle',
      onclick: () =>
        void patch(
          { early_warning: detail.early_warning === false },
          detail.early_warning === false
            ? `Early warnings on for ${detail.name}.`
            : `Early warnings off for ${detail.name}: only the offline threshold alerts.`,
        ),
    },
    detail.early_warning === false ? 'Turn early warnings on' : 'Turn early warnings off',
  );

  const until = h('input', { id: 'snooze-until', type: 'datetime-local', required: true });
  const snooze = h(
    'form',
    { class: 'inline' },
    h('label', { for: 'snooze-until' }, 'Hold new alerts until (your local time)'),
    until,
    h('button', { type: 'submit' }, 'Snooze'),
    detail.snoozed_until
      ? h(
          'button',
          {
            type: 'button',
            id: 'end-snooze',
            onclick: () => void patch({ snoozed_until: null }, 'Snooze ended.'),
          },
          'End snooze',
        )
      : null,
  );
  snooze.addEventListener('submit', (event) => {
    event.preventDefault();
    const at = new Date(until.value);
    if (Number.isNaN(at.getTime())) return;
    void patch({ snoozed_until: at.toISOString() }, `New alerts held until ${exact(at.toISOString())}.`);
  });

  const minutes = h('input', {
    id: 'threshold',
    type: 'number',
    min: 5,
    max: 43_200,
    step: 1,
    required: true,
    value: Math.round(detail.offline_after_seconds / 60),
  });
  const threshold = h(
    'form',
    { class: 'inline' },
    h('label', { for: 'threshold' }, 'Offline after (minutes without a pull)'),
    minutes,
    h('button', { type: 'submit' }, 'Set threshold'),
  );
  threshold.addEventListener('submit', (event) => {
    event.preventDefault();
    const seconds = Number(minutes.value) * 60;
    void patch({ offline_after_seconds: seconds }, `Offline after ${duration(seconds)} without a pull.`);
  });

  return h(
    'section',
    { 'aria-labelledby': 'actions-title' },
    h('h2', { id: 'actions-title' }, 'Actions'),
    h(
      'div',
      { class: 'buttons' },
      pause,
      early,
      h(
        'button',
        {
          type: 'button',
          id: 'refresh',
          onclick: () => refreshDialog(context, detail, () => void reload('')),
        },
        'Refresh credentials…',
      ),
      h(
        'button',
        { type: 'button', id: 'delete', class: 'danger', onclick: () => deleteDialog(context, detail) },
        'Delete…',
      ),
    ),
    snooze,
    threshold,
    error,
  );
}

export async function renderDetail(context: Context, id: string, message = ''): Promise<void> {
  const path = `/v1/integrations/${encodeURIComponent(id)}`;
  const [detail, events, resolved] = await Promise.all([
    api<IntegrationDetail>('GET', path),
    api<Page<AuditEvent>>('GET', `${path}/events?limit=20`),
    api<Page<Issue>>('GET', `/v1/issues?state=resolved&limit=10&integration_id=${encodeURIComponent(id)}`),
  ]);
  document.title = `${detail.name} · pullwatch`;
  const now = context.now();
  const reload = async (said: string) => {
    const focused = document.activeElement?.id;
    await renderDetail(context, id, said);
    if (focused) document.getElementById(focused)?.focus();
    if (said) context.announce(said);
  };
  const state = credentialState(detail.credentials.last_used);
  const credentials = h(
    'section',
    { 'aria-labelledby': 'credentials-title' },
    h('h2', { id: 'credentials-title' }, 'Credentials'),
    state ? h('p', { class: detail.credentials.last_used === 'previous' ? 'warning' : '' }, state) : null,
    detail.credential_in_url
      ? h(
          'p',
          { class: 'warning', id: 'credential-in-url' },
          URL_CREDENTIAL_WARNING,
          detail.credential_in_url_at ? ' Last seen ' : '',
          detail.credential_in_url_at ? ago(detail.credential_in_url_at, now) : '',
          detail.credential_in_url_at ? '.' : '',
        )
      : null,
    h(
      'dl',
      { class: 'facts' },
      ...fact('User name', h('code', {}, detail.credentials.username)),
      ...fact('Password changed', ago(detail.credentials.rotated_at, now)),
      ...fact(
        'Old password',
        detail.credentials.previous_password_valid && detail.credentials.previous_valid_until
          ? h(
              'span',
              {},
              'still accepted until ',
              h(
                'time',
                { datetime: detail.credentials.previous_valid_until },
                exact(detail.credentials.previous_valid_until),
              ),
            )
          : 'no longer accepted',
      ),
    ),
  );
  const issues = detail.issues.filter((issue) => issue.state === 'open');
  replace(
    context.main,
    h('p', { class: 'crumbs' }, h('a', { href: '/integrations' }, 'Integrations')),
    h('h1', { tabindex: '-1' }, detail.name, ' ', statusBadge(detail.status)),
    message ? h('p', { class: 'done' }, message) : null,
    h(
      'dl',
      { class: 'facts' },
      ...fact(
        'Kind',
        `${KIND_LABEL[detail.kind] ?? detail.kind}, ${detail.vendor} (${detail.source === 'lapi' ? 'seen through a LAPI' : 'pulls our blocklist URL'})`,
      ),
      ...fact('Last pull', ago(detail.last_pull_at, now)),
      ...fact(
        'Last attempt',
        detail.last_attempt_at
          ? h(
              'span',
              {},
              ago(detail.last_attempt_at, now),
              ` (HTTP ${detail.last_attempt_status ?? '?'}${detail.last_attempt_auth ? `, ${AUTH_LABEL[detail.last_attempt_auth] ?? detail.last_attempt_auth}` : ''})`,
            )
          : 'none',
      ),
      ...(detail.cadence ? fact('Rhythm', rhythmText(detail.cadence)) : []),
      ...(detail.cadence
        ? fact(
            'Expected by',
            detail.cadence.late_after
              ? h(
                  'span',
                  {},
                  exact(detail.cadence.late_after),
                  ': a late warning opens then if nothing arrives',
                )
              : detail.early_warning === false
                ? 'early warning off: only the offline threshold alerts'
                : 'no early warning before the offline threshold',
          )
        : []),
      ...fact('Offline after', `${duration(detail.offline_after_seconds)} without a pull`),
      ...fact('Watching', detail.paused ? 'paused: no alerts' : 'yes'),
      ...fact(
        'Snoozed',
        detail.snoozed_until && detail.snoozed_until > now
          ? `new alerts held until ${exact(detail.snoozed_until)}`
          : 'no',
      ),
      ...(detail.lapi_entry ? fact('LAPI entry', detail.lapi_entry) : []),
    ),
    detail.pull_history
      ? h(
          'section',
          { 'aria-labelledby': 'history-title' },
          h('h2', { id: 'history-title' }, 'Pulls, last 7 days'),
          chart(detail.pull_history),
        )
      : null,
    h(
      'section',
      { 'aria-labelledby': 'issues-title' },
      h('h2', { id: 'issues-title' }, issues.length > 0 ? `Open issues (${issues.length})` : 'Open issues'),
      ...(issues.length > 0
        ? issues.map((issue) => issueCard(context, issue))
        : [h('p', { class: 'muted' }, 'None.')]),
    ),
    credentials,
    context.scope === 'write'
      ? actions(context, detail, reload)
      : h(
          'p',
          { class: 'muted' },
          'Signed in with a read key: pausing, snoozing, refreshing credentials and deleting need a write key.',
        ),
    h(
      'section',
      { 'aria-labelledby': 'resolved-title' },
      h('h2', { id: 'resolved-title' }, 'Resolved issues'),
      table(
        'Resolved issues',
        ['Issue', 'Opened', 'Lasted', 'Probable cause'],
        resolved.items.map((issue) => [
          h('a', { href: `/issues/${encodeURIComponent(issue.id)}` }, ISSUE_LABEL[issue.type] ?? issue.type),
          ago(issue.opened_at, now),
          text(duration(secondsBetween(issue.opened_at, issue.resolved_at ?? now))),
          text(issue.diagnosis.summary),
        ]),
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'transitions-title' },
      h('h2', { id: 'transitions-title' }, 'Status changes'),
      table(
        'Status changes',
        ['When', 'Change', 'Reason'],
        detail.transitions.map((item) => [
          ago(item.at, now),
          text(transitionChange(item)),
          text(item.reason.replaceAll('_', ' ')),
        ]),
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'events-title' },
      h('h2', { id: 'events-title' }, 'Audit trail'),
      table(
        'Audit events',
        ['When', 'What', 'Who'],
        events.items.map((event) => [
          ago(event.at, now),
          text(event.type.replaceAll('_', ' ')),
          text(event.actor),
        ]),
      ),
    ),
  );
}
