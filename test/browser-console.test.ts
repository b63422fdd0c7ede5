import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  duration,
  exact,
  hoursOf,
  summarizeHistory,
  summarizeHours,
  URL_CREDENTIAL_WARNING,
} from '../shared/console/client/format.ts';
import { CONTENT_SECURITY_POLICY } from '../shared/console/index.ts';
import type { PullHistory } from '../shared/pulls/activity.ts';
import { addSeconds } from '../shared/time.ts';
import { launchBrowser, openPage, seriousViolations, signIn, type WatchedPage } from './kit/browser.ts';
import { listedNames, rowOf, settled, waitForNames } from './kit/browser-page.ts';
import { type ConsoleWorld, FILLERS, NOW, startConsoleWorld } from './kit/console.ts';

/**
 * The console in Chromium against the local server with seeded data, signed in with a read key: what the
 * person sees in the list, the filters and pages, an integration with its diagnosis, the issues, the banner
 * of a stale feed. Every page must load with no script error, no CSP violation and no off-site request.
 */

let world: ConsoleWorld;
let browser: Browser;
const opened: WatchedPage[] = [];

beforeAll(async () => {
  [world, browser] = await Promise.all([startConsoleWorld(), launchBrowser()]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await world?.close();
});

async function page(): Promise<WatchedPage> {
  const watched = await openPage(browser, world.base);
  opened.push(watched);
  return watched;
}

/** What the API says, with the read key: the page must show the same. */
async function apiGet<T>(path: string): Promise<T> {
  const response = await fetch(`${world.base}${path}`, {
    headers: { authorization: `Bearer ${world.readKey}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

interface IssueBody {
  id: string;
  integration_name: string;
  opened_at: string;
  resolved_at: string | null;
  diagnosis: { summary: string; steps: string[] };
}

describe('signing in', () => {
  it('keeps the key in this tab only: never in the URL, nor in local storage, and a new tab asks again', async () => {
    const { page: tab, problems, context } = await page();
    const answer = await tab.goto('/');
    expect(answer?.headers()['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    await tab.getByRole('heading', { name: 'Sign in to pullwatch' }).waitFor();
    await signIn(tab, world.readKey);
    expect(tab.url()).not.toContain(world.readKey);
    expect(await tab.evaluate('JSON.stringify(localStorage)')).toBe('{}');
    expect(await tab.evaluate(`sessionStorage.getItem('pullwatch.apiKey')`)).toBe(world.readKey);
    expect(await tab.getByText('Read key: view only').isVisible()).toBe(true);

    const other = await context.browser()?.newContext({ baseURL: world.base });
    const fresh = await other?.newPage();
    await fresh?.goto('/integrations');
    await fresh?.getByRole('heading', { name: 'Sign in to pullwatch' }).waitFor();
    await other?.close();

    await tab.getByRole('button', { name: 'Sign out' }).click();
    await tab.getByRole('heading', { name: 'Sign in to pullwatch' }).waitFor();
    expect(await tab.evaluate(`sessionStorage.length`)).toBe(0);
    expect(problems).toEqual([]);
  });

  it('says why a key is refused, and what a key looks like', async () => {
    const { page: tab, problems } = await page();
    await tab.goto('/');
    await tab.getByLabel('API key').fill('hello');
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await tab.getByText('That is not a pullwatch API key: keys start with pwr_ or pww_.').waitFor();
    await tab.getByLabel('API key').fill(`pwr_${'x'.repeat(43)}`);
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await tab.getByText('This key was refused').waitFor();
    expect(await tab.evaluate(`sessionStorage.length`)).toBe(0);
    // The browser reports the refused request itself; nothing else may go wrong.
    expect(problems.filter((problem) => !problem.includes('401'))).toEqual([]);
  });
});

describe('the integrations list', () => {
  it('shows the most alarming first, each status in words and colour, last pulls relative with the exact time, open issue badges', async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    const names = await listedNames(tab);
    expect(names.slice(0, 5)).toEqual([
      'Branch Palo Alto',
      'HQ pfSense',
      'Lab OPNsense',
      'Edge FortiGate',
      'nginx bouncer',
    ]);
    expect(names).toHaveLength(50);

    const branch = await rowOf(tab, 'Branch Palo Alto');
    expect(branch.status).toBe('✕ Offline');
    expect(branch.statusClass).toContain('status-offline');
    expect(branch.lastPull).toBe('1 d ago');
    expect(branch.lastPullTitle).toBe(exact(addSeconds(NOW, -31 * 3600 + 300)));
    expect(branch.issues).toBe('1 open issue');

    const hq = await rowOf(tab, 'HQ pfSense');
    expect(hq.issues).toBe('2 open issues');

    const edge = await rowOf(tab, 'Edge FortiGate');
    expect(edge.status).toBe('✓ Online');
    expect(edge.statusClass).toContain('status-online');
    expect(edge.lastPull).toBe('55 min ago');
    expect(edge.lastPullTitle).toBe('2026-11-28 11:05 UTC');
    expect(edge.issues).toBe('none');

    const lab = await rowOf(tab, 'Lab OPNsense');
    expect(lab.lastPull).toBe('never');
    expect(problems).toEqual([]);
  });

  it('filters by status, kind and name through the API query, and the filters live in the address', async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    await tab.getByLabel('Status').selectOption('offline');
    await tab.getByRole('button', { name: 'Apply filters' }).click();
    await waitForNames(tab, ['Branch Palo Alto', 'HQ pfSense', 'Lab OPNsense']);
    expect(new URL(tab.url()).search).toBe('?status=offline');

    await tab.getByLabel('Status').selectOption('');
    await tab.getByLabel('Kind').selectOption('remediation_component');
    await tab.getByRole('button', { name: 'Apply filters' }).click();
    await waitForNames(tab, ['nginx bouncer']);

    await tab.getByLabel('Kind').selectOption('');
    await tab.getByLabel('Name contains').fill('store 05');
    await tab.getByLabel('Name contains').press('Enter');
    await waitForNames(tab, ['Store 050 MikroTik', 'Store 051 MikroTik', 'Store 052 MikroTik']);
    // The focus stays in the field the person typed in.
    expect(await tab.evaluate('document.activeElement.id')).toBe('q');

    await tab.getByLabel('Name contains').fill('no such thing');
    await tab.getByRole('button', { name: 'Apply filters' }).click();
    await tab.getByText('No integration matches these filters.').waitFor();

    await tab.goBack();
    await waitForNames(tab, ['Store 050 MikroTik', 'Store 051 MikroTik', 'Store 052 MikroTik']);
    expect(await tab.getByLabel('Name contains').inputValue()).toBe('store 05');
    expect(problems).toEqual([]);
  });

  it('pages with the cursor, forwards and back', async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    const total = 6 + FILLERS;
    const first = await listedNames(tab);
    await tab.locator('#page-summary', { hasText: 'Showing 1–50, more on the next page.' }).waitFor();
    expect(await tab.getByRole('button', { name: 'Previous page' }).isDisabled()).toBe(true);

    await tab.getByRole('button', { name: 'Next page' }).click();
    await tab.locator('#page-summary', { hasText: `Showing 51–${total}.` }).waitFor();
    const second = await listedNames(tab);
    expect(second).toHaveLength(total - 50);
    expect(second.filter((name) => first.includes(name))).toEqual([]);
    expect(await tab.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);

    await tab.getByRole('button', { name: 'Previous page' }).click();
    await tab.locator('#page-summary', { hasText: 'Showing 1–50, more on the next page.' }).waitFor();
    expect(await listedNames(tab)).toEqual(first);
    expect(problems).toEqual([]);
  });

  it('reads its rows again every minute, keeping the focus on the row it was on', async () => {
    const { page: tab, problems } = await page();
    // The browser's timers run on a clock the test moves: a minute passes without waiting for one.
    await tab.clock.install();
    await signIn(tab, world.readKey);
    const id = world.named['Store 001 MikroTik']?.id;
    await tab.getByRole('link', { name: 'Store 001 MikroTik', exact: true }).focus();
    const rename = (name: string) =>
      fetch(`${world.base}/v1/integrations/${id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${world.writeKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
    expect((await rename('Store 001 MikroTik, rack 4')).status).toBe(200);
    try {
      await tab.clock.runFor(30_000);
      expect(await tab.getByRole('link', { name: 'Store 001 MikroTik', exact: true }).count()).toBe(1);
      await tab.clock.runFor(31_000);
      await tab.getByRole('link', { name: 'Store 001 MikroTik, rack 4' }).waitFor();
      expect(await tab.evaluate('document.activeElement.textContent')).toBe('Store 001 MikroTik, rack 4');
    } finally {
      expect((await rename('Store 001 MikroTik')).status).toBe(200);
    }
    expect(problems).toEqual([]);
  });
});

describe('one integration', () => {
  it('shows the open issue with its diagnosis and the vendor steps, the status change and the audit trail, and no actions to a read key', async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    await tab.getByRole('link', { name: 'Branch Palo Alto', exact: true }).click();
    await settled(tab);
    expect(new URL(tab.url()).pathname).toBe(`/integrations/${world.named['Branch Palo Alto']?.id}`);
    await tab.getByRole('heading', { level: 1, name: /Branch Palo Alto/ }).waitFor();
    expect(await tab.getByRole('heading', { level: 1 }).innerText()).toContain('Offline');

    const [issue] = (
      await apiGet<{ items: IssueBody[] }>(
        `/v1/issues?state=open&integration_id=${world.named['Branch Palo Alto']?.id}`,
      )
    ).items;
    const card = tab.locator('article.issue');
    expect(await card.locator('h3').innerText()).toContain('Firewall offline');
    expect(await card.locator('.diagnosis').innerText()).toBe(`Probable cause: ${issue?.diagnosis.summary}`);
    expect(await card.locator('ol.steps li').allInnerTexts()).toEqual(issue?.diagnosis.steps);
    expect(await card.innerText()).toContain(
      `open for ${duration((Date.parse(NOW) - Date.parse(issue?.opened_at ?? '')) / 1000)}`,
    );

    const changes = tab.getByRole('region', { name: 'Status changes' });
    expect(await changes.locator('tbody tr').first().innerText()).toContain('Online → Offline');
    const trail = tab.getByRole('region', { name: 'Audit trail' });
    expect(await trail.locator('tbody tr').first().innerText()).toContain('created');

    expect(await tab.getByRole('heading', { name: 'Actions' }).count()).toBe(0);
    expect(await tab.getByRole('button', { name: /Pause|Refresh|Delete/ }).count()).toBe(0);
    await tab.getByText('Signed in with a read key').waitFor();
    expect(problems).toEqual([]);
  });

  it('names the early warning in the status changes, and warns where the password rides in the URL', async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    await tab.getByRole('link', { name: 'HQ pfSense', exact: true }).click();
    await tab.getByRole('heading', { level: 1, name: /HQ pfSense/ }).waitFor();
    const changes = await tab.getByRole('region', { name: 'Status changes' }).locator('tbody').innerText();
    expect(changes).toContain('Pulls refused started (still Online)');
    expect(changes).not.toContain('Online → Online');
    expect(await tab.locator('#credential-in-url').count()).toBe(0);

    await tab.goto('/integrations');
    const row = tab.locator('tr', { has: tab.getByRole('link', { name: 'nginx bouncer', exact: true }) });
    expect(await row.innerText()).toContain('password in URL: use basic auth or X-Api-Key');
    await tab.getByRole('link', { name: 'nginx bouncer', exact: true }).click();
    const warning = tab.locator('#credential-in-url');
    await warning.waitFor();
    expect(await warning.innerText()).toContain(URL_CREDENTIAL_WARNING);
    expect(problems).toEqual([]);
  });

  it('answers an unknown integration with "Not found"', async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    await tab.goto('/integrations/int_0000000000000000');
    await settled(tab);
    expect(await tab.getByRole('heading', { level: 1 }).innerText()).toBe('Not found');
    expect(problems.filter((problem) => !problem.includes('404'))).toEqual([]);
  });
});

describe('issues', () => {
  it('lists open issues with how long they have lasted, and resolved ones with how long they lasted', async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    await tab.getByRole('link', { name: 'Issues', exact: true }).click();
    await settled(tab);
    await tab.getByRole('heading', { level: 1, name: 'Open issues' }).waitFor();
    const open = (await apiGet<{ items: IssueBody[] }>('/v1/issues?state=open')).items;
    const rows = tab.locator('main tbody tr');
    expect(await rows.count()).toBe(open.length);
    for (const [index, issue] of open.entries()) {
      const text = await rows.nth(index).innerText();
      expect(text).toContain(issue.integration_name);
      expect(text).toContain(`open for ${duration((Date.parse(NOW) - Date.parse(issue.opened_at)) / 1000)}`);
      expect(text).toContain(issue.diagnosis.summary);
    }

    await tab.getByRole('link', { name: 'Resolved', exact: true }).click();
    await settled(tab);
    await tab.getByRole('heading', { level: 1, name: 'Resolved issues' }).waitFor();
    const [resolved] = (await apiGet<{ items: IssueBody[] }>('/v1/issues?state=resolved')).items;
    expect(resolved?.integration_name).toBe('Edge FortiGate');
    const lasted = duration(
      (Date.parse(resolved?.resolved_at ?? '') - Date.parse(resolved?.opened_at ?? '')) / 1000,
    );
    expect(await tab.locator('main tbody tr').first().innerText()).toContain(`lasted ${lasted}`);
    expect(problems).toEqual([]);
  });

  it("lists an integration's resolved issues on its page, with how long each lasted", async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    const id = world.named['Edge FortiGate']?.id;
    const [resolved] = (
      await apiGet<{ items: IssueBody[] }>(`/v1/issues?state=resolved&integration_id=${id}`)
    ).items;
    await tab.goto(`/integrations/${id}`);
    await settled(tab);
    const section = tab.getByRole('region', { name: 'Resolved issues' });
    const cells = await section.locator('tbody tr').first().locator('td').allInnerTexts();
    expect(cells[0]).toBe('Firewall offline');
    expect(cells[2]).toBe(
      duration((Date.parse(resolved?.resolved_at ?? '') - Date.parse(resolved?.opened_at ?? '')) / 1000),
    );
    expect(cells[3]).toBe(resolved?.diagnosis.summary);
    await section.getByRole('link', { name: 'Firewall offline' }).click();
    await settled(tab);
    expect(new URL(tab.url()).pathname).toBe(`/issues/${resolved?.id}`);
    expect(problems).toEqual([]);
  });

  it('opens an issue at /issues/{id}, where alert emails link', async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    const [issue] = (await apiGet<{ items: IssueBody[] }>('/v1/issues?state=open')).items;
    await tab.goto(`/issues/${issue?.id}`);
    await settled(tab);
    expect(await tab.getByRole('heading', { level: 1 }).innerText()).toContain(issue?.integration_name);
    expect(await tab.locator('.diagnosis').innerText()).toContain(issue?.diagnosis.summary);
    expect(problems).toEqual([]);
  });

  it("shows the issue's latest notification as email, SMS and chat subscribers get it", async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    const [issue] = (await apiGet<{ items: IssueBody[] }>('/v1/issues?state=open')).items;
    const preview = await apiGet<{ subject: string; email: string; sms: string; chat: unknown }>(
      `/v1/issues/${issue?.id}/notification`,
    );
    await tab.goto(`/issues/${issue?.id}`);
    await settled(tab);
    const section = tab.getByRole('region', { name: 'Latest notification' });
    const forms = section.locator('details');
    expect(await forms.locator('summary').allInnerTexts()).toEqual([
      'Email',
      'SMS',
      'Chat (Slack, Teams) and webhooks',
    ]);
    // The email is open; the others open on a click. The texts are the API's, unchanged.
    expect(await forms.nth(0).locator('pre').textContent()).toBe(
      `Subject: ${preview.subject}\n\n${preview.email}`,
    );
    await forms.nth(1).locator('summary').click();
    expect(await forms.nth(1).locator('pre').textContent()).toBe(preview.sms);
    await forms.nth(2).locator('summary').click();
    expect(JSON.parse((await forms.nth(2).locator('pre').textContent()) ?? 'null')).toEqual(preview.chat);
    expect(problems).toEqual([]);
  });
});

describe('pull timelines', () => {
  interface Listed {
    name: string;
    timeline_48h: { start: string; hours: string };
  }

  it("draws each row's last 48 hours as the API gives them, in shapes and words as well as colours", async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    const listed = (await apiGet<{ items: Listed[] }>('/v1/integrations?limit=50')).items;
    for (const name of ['HQ pfSense', 'Edge FortiGate', 'Lab OPNsense', 'Branch Palo Alto']) {
      const timeline = listed.find((item) => item.name === name)?.timeline_48h;
      if (!timeline) throw new Error(`no timeline_48h for ${name}`);
      const strip = (await rowOf(tab, name)).timeline.locator('.strip');
      expect(await strip.getAttribute('data-hours')).toBe(timeline.hours);
      expect(await strip.locator('.hour').count()).toBe(48);
      for (const [state, char] of [
        ['accepted', 'a'],
        ['refused', 'r'],
        ['both', 'b'],
        ['silent', '.'],
      ]) {
        expect(await strip.locator(`.hour.${state}`).count(), `${name} ${state}`).toBe(
          [...timeline.hours].filter((hour) => hour === char).length,
        );
      }
      expect(await strip.getAttribute('aria-label')).toBe(
        `Last 48 hours: ${summarizeHours(hoursOf(timeline))}`,
      );
    }
    // What the person reads: HQ pfSense's pulls were accepted, then only refused since its password changed.
    const hq = (await rowOf(tab, 'HQ pfSense')).timeline.locator('.strip');
    expect(await hq.getAttribute('aria-label')).toBe(
      'Last 48 hours: pulls accepted in 21 of 48 hours, only refused in 26, silent in 1',
    );
    expect(await hq.locator('.hour').first().getAttribute('title')).toBe(
      '2026-11-26 13:00 UTC: pulls accepted',
    );
    expect(await hq.locator('.hour').nth(30).getAttribute('title')).toBe(
      '2026-11-27 19:00 UTC: pulls refused only',
    );
    expect(await tab.locator('.legend').first().innerText()).toContain('refused only');
    expect(problems).toEqual([]);
  });

  it("draws the integration's last 7 days, accepted above the line and refused below, with a caption", async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    const id = world.named['HQ pfSense']?.id;
    const detail = await apiGet<{ pull_history: PullHistory }>(`/v1/integrations/${id}`);
    const history = detail.pull_history;
    await tab.goto(`/integrations/${id}`);
    await settled(tab);
    const chart = tab.getByRole('region', { name: 'Pulls, last 7 days' });
    const picture = chart.getByRole('img');
    const sentence = `Last 7 days: ${summarizeHistory(history)}`;
    expect(await picture.getAttribute('aria-label')).toBe(sentence);
    expect(await chart.locator('figcaption').innerText()).toContain(sentence);
    expect(await chart.locator('rect.accepted').count()).toBe(
      history.accepted.filter((count) => count > 0).length,
    );
    expect(await chart.locator('rect.refused').count()).toBe(
      history.refused.filter((count) => count > 0).length,
    );
    expect(await chart.locator('rect.accepted').count()).toBeGreaterThan(100);
    expect(await chart.locator('rect.refused').count()).toBe(26);
    expect(problems).toEqual([]);
  });
});

describe('the deployment banner', () => {
  it('says offline alerts are held while the pull-log feed is stale, and goes away when it is fresh', async () => {
    const { page: tab, problems } = await page();
    await signIn(tab, world.readKey);
    expect(await tab.locator('#banner').innerText()).toBe('');
    try {
      // Three hours on with no new pull logs: the newest record is older than the 2 h limit.
      world.setNow(addSeconds(NOW, 3 * 3600));
      await tab.reload();
      await settled(tab);
      const banner = tab.getByRole('alert').filter({ hasText: 'offline alerts are held' });
      await banner.waitFor();
      expect(await banner.innerText()).toContain('The newest pull record is 3 h 55 min old.');
      // The page's clock is the server's: the same pull now reads an hour older.
      expect((await rowOf(tab, 'Edge FortiGate')).lastPull).toBe('3 h ago');
    } finally {
      world.setNow(NOW);
    }
    await tab.reload();
    await settled(tab);
    expect(await tab.locator('#banner').innerText()).toBe('');
    expect(problems).toEqual([]);
  });
});

describe('accessibility', () => {
  it('has no serious or critical axe-core violation on the sign-in page, the list, an integration and the issues', async () => {
    const { page: tab, problems } = await page();
    await tab.goto('/');
    await tab.getByRole('heading', { name: 'Sign in to pullwatch' }).waitFor();
    const found: Record<string, string[]> = { signIn: await seriousViolations(tab) };
    await signIn(tab, world.readKey);
    found.list = await seriousViolations(tab);
    await tab.getByRole('link', { name: 'HQ pfSense', exact: true }).click();
    await settled(tab);
    found.detail = await seriousViolations(tab);
    await tab.getByRole('link', { name: 'Issues', exact: true }).click();
    await settled(tab);
    found.issues = await seriousViolations(tab);
    expect(found).toEqual({ signIn: [], list: [], detail: [], issues: [] });
    expect(problems).toEqual([]);
  });
});
