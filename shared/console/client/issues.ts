import { api, type Issue, type NotificationPreview, type Page, query } from './api.ts';
import type { Context } from './context.ts';
import { issueCard } from './detail.ts';
import { ago, h, replace } from './dom.ts';
import { duration, ISSUE_LABEL, secondsBetween } from './format.ts';

/** Issues, open or resolved, with how long each lasted; and one issue (where alert emails link). */

const PAGE_SIZE = 50;

function row(context: Context, issue: Issue): HTMLElement {
  const lasted = duration(secondsBetween(issue.opened_at, issue.resolved_at ?? context.now()));
  return h(
    'tr',
    {},
    h(
      'th',
      { scope: 'row' },
      h('a', { href: `/issues/${encodeURIComponent(issue.id)}` }, ISSUE_LABEL[issue.type] ?? issue.type),
    ),
    h(
      'td',
      {},
      issue.integration_id
        ? h(
            'a',
            { href: `/integrations/${encodeURIComponent(issue.integration_id)}` },
            issue.integration_name ?? issue.integration_id,
          )
        : 'the whole deployment',
    ),
    h('td', {}, h('span', { class: `badge crit-${issue.criticality}` }, issue.criticality)),
    h('td', {}, ago(issue.opened_at, context.now())),
    h('td', {}, issue.resolved_at ? `lasted ${lasted}` : `open for ${lasted}`),
    h('td', {}, issue.diagnosis.summary),
  );
}

export async function renderIssues(context: Context, params: URLSearchParams): Promise<void> {
  const state = params.get('state') === 'resolved' ? 'resolved' : 'open';
  document.title = `${state === 'open' ? 'Open' : 'Resolved'} issues · pullwatch`;
  const body = h('tbody');
  const more = h('button', { type: 'button', id: 'more-issues' }, 'Show more');
  let cursor: string | null = null;
  const load = async () => {
    const page = await api<Page<Issue>>('GET', `/v1/issues${query({ state, limit: PAGE_SIZE, cursor })}`);
    cursor = page.next_cursor;
    body.append(...page.items.map((issue) => row(context, issue)));
    if (body.childElementCount === 0)
      body.append(h('tr', {}, h('td', { colspan: 6 }, `No ${state} issues.`)));
    more.hidden = !cursor;
  };
  more.addEventListener('click', () => void load());
  await load();
  const tab = (value: string, label: string) =>
    h('a', { href: `/issues?state=${value}`, ...(value === state ? { 'aria-current': 'page' } : {}) }, label);
  replace(
    context.main,
    h('h1', { tabindex: '-1' }, state === 'open' ? 'Open issues' : 'Resolved issues'),
    h(
      'nav',
      { class: 'tabs', 'aria-label': 'Issue state' },
      tab('open', 'Open'),
      tab('resolved', 'Resolved'),
    ),
    h(
      'table',
      {},
      h('caption', { class: 'sr-only' }, `${state} issues, newest first`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Issue', 'Integration', 'Criticality', 'Opened', 'Duration', 'Probable cause'].map((heading) =>
            h('th', { scope: 'col' }, heading),
          ),
        ),
      ),
      body,
    ),
    more,
  );
}

const EVENT_LABEL: Record<NotificationPreview['event'], string> = {
  issue_opened: 'opening',
  issue_reminder: 'reminder',
  issue_resolved: 'resolution',
};

/** The issue's latest notification in the three forms subscribers get: email, SMS, chat (and webhooks). */
function notificationSection(context: Context, preview: NotificationPreview): HTMLElement {
  const form = (summary: string, text: string, open = false) =>
    h('details', { open }, h('summary', {}, summary), h('pre', { class: 'message' }, text));
  return h(
    'section',
    { class: 'notification', 'aria-labelledby': 'notification-heading' },
    h('h2', { id: 'notification-heading' }, 'Latest notification'),
    h(
      'p',
      { class: 'muted' },
      `The ${EVENT_LABEL[preview.event]}, `,
      preview.sent_at ? h('span', {}, 'sent ', ago(preview.sent_at, context.now())) : 'not sent yet',
      ', as each kind of subscriber receives it.',
    ),
    form('Email', `Subject: ${preview.subject}\n\n${preview.email}`, true),
    form('SMS', preview.sms),
    form('Chat (Slack, Teams) and webhooks', JSON.stringify(preview.chat, null, 2)),
  );
}

export async function renderIssue(context: Context, id: string): Promise<void> {
  const path = `/v1/issues/${encodeURIComponent(id)}`;
  const [issue, preview] = await Promise.all([
    api<Issue>('GET', path),
    api<NotificationPreview>('GET', `${path}/notification`),
  ]);
  document.title = `${ISSUE_LABEL[issue.type] ?? issue.type} · pullwatch`;
  replace(
    context.main,
    h(
      'p',
      { class: 'crumbs' },
      h(
        'a',
        { href: `/issues?state=${issue.state}` },
        issue.state === 'open' ? 'Open issues' : 'Resolved issues',
      ),
    ),
    h(
      'h1',
      { tabindex: '-1' },
      `${ISSUE_LABEL[issue.type] ?? issue.type}: ${issue.integration_name ?? 'deployment'}`,
    ),
    issueCard(context, issue, 'h2'),
    issue.integration_id
      ? h(
          'p',
          {},
          h(
            'a',
            { href: `/integrations/${encodeURIComponent(issue.integration_id)}` },
            `Open ${issue.integration_name ?? 'the integration'}`,
          ),
        )
      : null,
    h('p', { class: 'muted' }, 'Detected ', ago(issue.detected_at, context.now()), '.'),
    notificationSection(context, preview),
  );
}
