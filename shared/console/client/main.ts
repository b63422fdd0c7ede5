import { ApiError, api, type Health, session } from './api.ts';
import type { Context } from './context.ts';
import { renderDetail } from './detail.ts';
import { h, replace } from './dom.ts';
import { duration, scopeOfKey } from './format.ts';
import { renderIssue, renderIssues } from './issues.ts';
import { renderList } from './list.ts';

/**
 * The console shell: sign-in, the header, the stale-feed banner and a router over real paths (/integrations,
 * /integrations/{id}, /issues, /issues/{id}), so the links in alert emails open the right view.
 */

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
const banner = document.getElementById('banner') as HTMLElement;
const status = document.getElementById('status') as HTMLElement;

let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs).toISOString();

function announce(message: string) {
  // Cleared first, so the same words said twice are read twice.
  status.textContent = '';
  window.setTimeout(() => {
    status.textContent = message;
  }, 50);
}

async function refreshHealth() {
  try {
    const health = await api<Health>('GET', '/v1/health', undefined, null);
    offsetMs = Date.parse(health.now) - Date.now();
    if (health.pipeline === 'stale') {
      const age =
        health.feed_age_seconds === null
          ? ''
          : ` The newest pull record is ${duration(health.feed_age_seconds)} old.`;
      replace(
        banner,
        h(
          'div',
          { class: 'banner', role: 'alert' },
          h('strong', {}, 'Pull logs have stopped arriving: offline alerts are held.'),
          `${age} Statuses may be out of date until the feed recovers; nobody is flagged offline meanwhile.`,
        ),
      );
    } else replace(banner);
  } catch {
    // The banner is a courtesy: the views say themselves when the API cannot be reached.
  }
}

function navigate(path: string, options: { focus?: boolean; replace?: boolean } = {}) {
  if (options.replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  void route(options.focus ?? true);
}

function header(scope: 'read' | 'write' | null) {
  if (!scope) {
    replace(nav);
    replace(who);
    return;
  }
  const here = location.pathname;
  const link = (href: string, text: string, active: boolean) =>
    h('a', { href, ...(active ? { 'aria-current': 'page' } : {}) }, text);
  replace(
    nav,
    link('/integrations', 'Integrations', here === '/' || here.startsWith('/integrations')),
    link('/issues', 'Issues', here.startsWith('/issues')),
  );
  replace(
    who,
    h(
      'span',
      { class: `scope ${scope}` },
      scope === 'write' ? 'Write key: actions allowed' : 'Read key: view only',
    ),
    h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'),
  );
}

function signOut() {
  session.signOut();
  navigate('/');
  announce('Signed out.');
}

function signIn(reason?: string) {
  header(null);
  document.title = 'Sign in · pullwatch';
  const error = h('p', { class: 'error', id: 'key-error', role: 'alert' }, reason ?? '');
  const input = h('input', {
    id: 'key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'key-help key-error',
  });
  // No name on the input and method=post: even without this script the key cannot end up in a URL.
  const form = h(
    'form',
    { class: 'signin', method: 'post', action: '/' },
    h('label', { for: 'key' }, 'API key'),
    input,
    h(
      'p',
      { id: 'key-help', class: 'muted' },
      'A read key (pwr_…) shows everything; a write key (pww_…) also allows pausing, snoozing, refreshing credentials and deleting. The key stays in this browser tab only and is sent as a header, never in a link.',
    ),
    h('button', { type: 'submit' }, 'Sign in'),
    error,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!scopeOfKey(key)) {
      error.textContent = 'That is not a pullwatch API key: keys start with pwr_ or pww_.';
      input.focus();
      return;
    }
    try {
      await api('GET', '/v1/integrations?limit=1', undefined, key);
    } catch (failure) {
      error.textContent =
        failure instanceof ApiError && failure.status === 401
          ? 'This key was refused: it may have been revoked, or belong to another deployment.'
          : `The API could not be reached: ${failure instanceof Error ? failure.message : String(failure)}`;
      input.focus();
      return;
    }
    session.signIn(key);
    announce('Signed in.');
    void route(true);
  });
  replace(main, h('h1', { tabindex: '-1' }, 'Sign in to pullwatch'), form);
  input.focus();
}

let rendering = 0;
async function route(focus: boolean) {
  const ticket = ++rendering;
  // Busy from the first moment, so a reader (or a test) knows the view is not the final one yet.
  main.setAttribute('aria-busy', 'true');
  // A re-render that keeps the focus (filters) puts it back on the same control of the new view.
  const kept = focus ? null : document.activeElement?.id || null;
  await refreshHealth();
  const key = session.key();
  const scope = key ? scopeOfKey(key) : null;
  if (ticket !== rendering) return;
  if (!scope) {
    signIn();
    main.removeAttribute('aria-busy');
    return;
  }
  header(scope);
  // Each view renders into its own element, swapped in only if no later navigation overtook it.
  const view = h('div', { class: 'view' });
  const context: Context = { scope, now, navigate, announce, main: view };
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  const integration = /^\/integrations\/([^/]+)$/.exec(path);
  const issue = /^\/issues\/([^/]+)$/.exec(path);
  try {
    if (path === '/' || path === '/integrations') await renderList(context, params);
    else if (integration?.[1]) await renderDetail(context, decodeURIComponent(integration[1]));
    else if (path === '/issues') await renderIssues(context, params);
    else if (issue?.[1]) await renderIssue(context, decodeURIComponent(issue[1]));
    else
      replace(
        view,
        h('h1', { tabindex: '-1' }, 'Not found'),
        h('p', {}, h('a', { href: '/integrations' }, 'Back to the integrations')),
      );
  } catch (failure) {
    if (ticket !== rendering) return;
    if (failure instanceof ApiError && failure.status === 401) {
      session.signOut();
      signIn('The key was refused; sign in again.');
      main.removeAttribute('aria-busy');
      return;
    }
    const title =
      failure instanceof ApiError && failure.status === 404 ? 'Not found' : 'Something went wrong';
    const detail = failure instanceof ApiError ? failure.detail : String(failure);
    replace(view, h('h1', { tabindex: '-1' }, title), h('p', { role: 'alert' }, detail));
  }
  if (ticket !== rendering) return;
  replace(main, view);
  main.removeAttribute('aria-busy');
  if (focus) (main.querySelector('h1') as HTMLElement | null)?.focus();
  else if (kept) document.getElementById(kept)?.focus();
}

// In-app links go through the router; anything else (the API docs) is a normal navigation.
document.addEventListener('click', (event) => {
  const target = event.target as Element | null;
  const anchor = target?.closest('a');
  if (
    !anchor ||
    event.defaultPrevented ||
    event.button !== 0 ||
    event.metaKey ||
    event.ctrlKey ||
    event.shiftKey
  )
    return;
  const href = anchor.getAttribute('href') ?? '';
  if (!href.startsWith('/') || href.startsWith('/v1/') || href.startsWith('//')) return;
  event.preventDefault();
  navigate(href);
});
window.addEventListener('popstate', () => void route(true));
void route(false);
