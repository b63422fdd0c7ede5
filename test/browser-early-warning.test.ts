import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../shared/api/app.ts';
import { exact } from '../shared/console/client/format.ts';
import type { Integration } from '../shared/integration/index.ts';
import { listenLocal } from '../shared/local/http.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { launchBrowser, openPage, seriousViolations, signIn } from './kit/browser.ts';
import { announced, rowOf, settled } from './kit/browser-page.ts';
import { TEST_SECRET, useTestDb } from './kit/db.ts';
import { pullTimes } from './kit/devices.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import { addIntegration, cycle, issuesOf, type World, world } from './kit/world.ts';

/**
 * The early warning in Chromium: a firewall that pulled every minute for 9 days, learned steady, goes silent
 * until its late warning opens. The list shows the warning on its row, the detail page its rhythm and when it
 * was expected, and the toggle turns early warnings off (on the page and in the API).
 */

useTestDb();
useTempDirs();

const CREATED = '2026-11-10T23:00:00.000Z';
const HISTORY_FROM = '2026-11-11T00:00:00.000Z';
/** A Friday morning: the last pull is just before it. */
const DEATH = '2026-11-20T10:07:00.000Z';
const NAME = 'fw-paris';

let w: World;
let fw: Integration;
let lateAt: Iso;
let browser: Browser;
let server: Server;
let base: string;

beforeAll(async () => {
  browser = await launchBrowser();
  w = await world({ heartbeat: true });
  fw = await addIntegration(w, { name: NAME }, { now: CREATED });
  const times = pullTimes('every-1min', HISTORY_FROM, DEATH);
  await drop(
    w,
    times.map((time) => pull(fw.id, time)),
    'history.jsonl',
  );
  lateAt = addSeconds(times.at(-1) as Iso, 1800);
  // Five-minute cycles until the warning opens (at most an hour: the steady allowance is 30 minutes).
  let now: Iso = DEATH;
  for (; now <= addSeconds(DEATH, 3600); now = addSeconds(now, 300)) {
    await cycle(w, now);
    const open = await issuesOf(w, 'open');
    if (open.some((issue) => issue.type === 'integration_pull_late')) break;
  }
  const warned = now;
  const app = createApp({
    store: w.store,
    secret: TEST_SECRET,
    now: () => warned,
    staleAfterSeconds: 7200,
    log: quiet,
  });
  server = await listenLocal(app.fetch, { port: 0, hostname: '127.0.0.1', log: quiet });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (server) {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
});

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

async function apiGet<T>(path: string): Promise<T> {
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${w.key}` } });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

/** The text of a fact of the detail page (`dl.facts`), by its term. */
const factOf = (page: import('playwright-core').Page, term: string) =>
  page.locator('dl.facts dt', { hasText: term }).locator('xpath=following-sibling::dd[1]').innerText();

describe('a steady firewall gone silent', () => {
  it('is late in the API: warning open, steady every minute, expected by its allowance', async () => {
    const got = await apiGet<{
      cadence: { state: string; usual_interval_seconds: number; late_after: string };
      open_issue_types: string[];
      early_warning: boolean;
    }>(`/v1/integrations/${fw.id}`);
    expect(got.cadence).toEqual({ state: 'steady', usual_interval_seconds: 60, late_after: lateAt });
    expect(got.open_issue_types).toContain('integration_pull_late');
    expect(got.early_warning).toBe(true);
  });

  it('shows the warning badge on its row in the list', async () => {
    const { page, problems } = await openPage(browser, base);
    await signIn(page, w.key);
    await settled(page);
    const { row } = await rowOf(page, NAME);
    expect(await row.locator('.badge.warning').innerText()).toBe('late: usually pulls every ~1 min');
    expect(await seriousViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('shows its rhythm and when it was expected, and the toggle turns early warnings off', async () => {
    const { page, problems } = await openPage(browser, base);
    await signIn(page, w.key);
    await page.goto(`/integrations/${fw.id}`);
    await settled(page);
    await page.getByRole('heading', { level: 1, name: new RegExp(NAME) }).waitFor();
    expect(await factOf(page, 'Rhythm')).toBe('steady: a pull every ~1 min');
    expect(await factOf(page, 'Expected by')).toBe(
      `${exact(lateAt)}: a late warning opens then if nothing arrives`,
    );
    expect(await seriousViolations(page)).toEqual([]);

    const patched = page.waitForRequest(
      (request) => request.method() === 'PATCH' && request.url().endsWith(`/v1/integrations/${fw.id}`),
    );
    await page.locator('#early-warning-toggle').click();
    expect((await patched).postDataJSON()).toEqual({ early_warning: false });
    await announced(page, `Early warnings off for ${NAME}`);
    await page.getByRole('button', { name: 'Turn early warnings on' }).waitFor();
    await page
      .locator('dl.facts dd', { hasText: 'early warning off: only the offline threshold alerts' })
      .waitFor();
    expect((await apiGet<{ early_warning: boolean }>(`/v1/integrations/${fw.id}`)).early_warning).toBe(false);
    expect(await seriousViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });
});
