import { api, type Integration, type Page, query } from './api.ts';
import type { Context } from './context.ts';
import { ago, h, replace } from './dom.ts';
import { duration, KIND_LABEL, STATUS_LABEL, type Status, URL_CREDENTIAL_WARNING } from './format.ts';
import { legend, strip } from './timeline.ts';

/**
 * The integrations list: filters map one to one onto GET /v1/integrations' query (status, kind, q), and paging
 * follows the API's cursor, so a page costs the same at 10 integrations or 10,000.
 */

const PAGE_SIZE = 50;
/** The page an operator keeps open reads its rows again this often (while the tab is visible). */
const REFRESH_MS = 60_000;
const STATUS_MARK: Record<Status, string> = { online: '✓', offline: '✕', never_pulled: '–', paused: '‖' };

export function statusBadge(status: Status): HTMLElement {
  return h(
    'span',
    { class: `badge status-${status}` },
    h('span', { 'aria-hidden': 'true' }, STATUS_MARK[status]),
    ` ${STATUS_LABEL[status]}`,
  );
}

function select(id: string, label: string, value: string, options: Array<[string, string]>) {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    h(
      'select',
      { id, name: id },
      ...options.map(([optionValue, text]) =>
        h('option', { value: optionValue, ...(optionValue === value ? { selected: true } : {}) }, text),
      ),
    ),
  );
}

function row(context: Context, integration: Integration): HTMLElement {
  return h(
    'tr',
    { 'data-id': integration.id },
    h(
      'th',
      { scope: 'row' },
      h('a', { href: `/integrations/${encodeURIComponent(integration.id)}` }, integration.name),
      h(
        'span',
        { class: 'sub' },
        `${KIND_LABEL[integration.kind] ?? integration.kind} · ${integration.vendor}`,
      ),
      integration.open_issue_types?.includes('integration_pull_late')
        ? h(
            'span',
            { class: 'badge warning' },
            integration.cadence?.usual_interval_seconds
              ? `late: usually pulls every ~${duration(integration.cadence.usual_interval_seconds)}`
              : 'late against its usual rhythm',
          )
        : null,
      integration.credential_in_url
        ? h(
            'span',
            { class: 'badge issue', title: URL_CREDENTIAL_WARNING },
            'password in URL: use basic auth or X-Api-Key',
          )
        : null,
    ),
    h('td', {}, statusBadge(integration.status)),
    h('td', {}, ago(integration.last_pull_at, context.now())),
    h(
      'td',
      {},
      integration.timeline_48h
        ? strip(integration.timeline_48h)
        : h('span', { class: 'muted' }, 'not recorded'),
    ),
    h(
      'td',
      {},
      integration.open_issues > 0
        ? h(
            'span',
            { class: 'badge issue' },
            `${integration.open_issues} open issue${integration.open_issues > 1 ? 's' : ''}`,
          )
        : h('span', { class: 'muted' }, 'none'),
    ),
  );
}

export async function renderList(context: Context, params: URLSearchParams): Promise<void> {
  const filters = {
    status: params.get('status') ?? '',
    kind: params.get('kind') ?? '',
    q: params.get('q') ?? '',
  };
  document.title = 'Integrations · pullwatch';
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter integrations' },
    select('status', 'Status', filters.status, [['', 'Any status'], ...Object.entries(STATUS_LABEL)]),
    select('kind', 'Kind', filters.kind, [['', 'Any kind'], ...Object.entries(KIND_LABEL)]),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'q' }, 'Name contains'),
      h('input', { id: 'q', name: 'q', type: 'search', value: filters.q, maxlength: 100 }),
    ),
    h('button', { type: 'submit' }, 'Apply filters'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = query({
      status: String(data.get('status') ?? ''),
      kind: String(data.get('kind') ?? ''),
      q: String(data.get('q') ?? '').trim(),
    });
    context.navigate(`/integrations${next}`, { focus: false });
  });

  const body = h('tbody');
  const summary = h('p', { class: 'muted', id: 'page-summary' });
  const previous = h('button', { type: 'button', disabled: true }, 'Previous page');
  const next = h('button', { type: 'button', disabled: true }, 'Next page');
  // Cursors of the pages seen so far: the API pages forwards only, so going back replays a kept cursor.
  const cursors: Array<string | null> = [null];
  let pageIndex = 0;

  const load = async (index: number, announce: boolean) => {
    const cursor = cursors[index] ?? null;
    const page = await api<Page<Integration>>(
      'GET',
      `/v1/integrations${query({ ...filters, limit: PAGE_SIZE, cursor })}`,
    );
    pageIndex = index;
    if (page.next_cursor) cursors[index + 1] = page.next_cursor;
    replace(
      body,
      ...(page.items.length > 0
        ? page.items.map((integration) => row(context, integration))
        : [h('tr', {}, h('td', { colspan: 5 }, 'No integration matches these filters.'))]),
    );
    const first = index * PAGE_SIZE + 1;
    const text =
      page.items.length === 0
        ? 'No integrations shown.'
        : `Showing ${first}–${first + page.items.length - 1}${page.next_cursor ? ', more on the next page' : ''}.`;
    summary.textContent = text;
    previous.disabled = index === 0;
    next.disabled = !page.next_cursor;
    if (announce) context.announce(text);
  };
  previous.addEventListener('click', () => void load(pageIndex - 1, true));
  next.addEventListener('click', () => void load(pageIndex + 1, true));

  await load(0, params.size > 0);
  const timer = window.setInterval(() => {
    if (!context.main.isConnected) {
      window.clearInterval(timer);
      return;
    }
    if (document.visibilityState !== 'visible' || document.querySelector('dialog[open]')) return;
    // A row link that had the focus gets it back after the redraw.
    const active = document.activeElement;
    const focusedRow = active && body.contains(active) ? active.closest('tr')?.dataset.id : undefined;
    load(pageIndex, false)
      .then(() => {
        if (focusedRow) body.querySelector<HTMLElement>(`tr[data-id="${CSS.escape(focusedRow)}"] a`)?.focus();
      })
      .catch(() => {
        // The next tick tries again; a navigation shows the error if the API stays away.
      });
  }, REFRESH_MS);
  replace(
    context.main,
    h('h1', { tabindex: '-1' }, 'Integrations'),
    form,
    h('p', { class: 'legend-line' }, 'Last 48 hours, one mark per hour: ', legend()),
    h(
      'table',
      { class: 'integrations' },
      h('caption', { class: 'sr-only' }, 'Integrations, most alarming first, then by name'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Name'),
          h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col' }, 'Last pull'),
          h('th', { scope: 'col' }, 'Last 48 hours'),
          h('th', { scope: 'col' }, 'Open issues'),
        ),
      ),
      body,
    ),
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, previous, summary, next),
  );
}
