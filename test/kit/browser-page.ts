import type { Page } from 'playwright-core';
import { expect } from 'vitest';

/**
 * Reading the console as a person sees it. Conditions are waited for (never a sleep): locators and polled
 * reads, since the page's CSP (no 'unsafe-eval') refuses playwright's string predicates. Expressions given to
 * `evaluate` are strings, because the test code is type-checked without the DOM library.
 */

/** Waits until the view has rendered (the shell marks `main` busy from the first moment of a navigation). */
export async function settled(page: Page): Promise<void> {
  await page.locator('main:not([aria-busy])').waitFor({ state: 'attached' });
}

/** The names in the integrations table, in order. */
export async function listedNames(page: Page): Promise<string[]> {
  await settled(page);
  return page.locator('table.integrations tbody th a').allInnerTexts();
}

/** Waits until the table shows exactly these names (the list re-renders after a filter or a page). */
export async function waitForNames(page: Page, names: string[]): Promise<void> {
  await expect
    .poll(() => page.locator('table.integrations tbody th a').allInnerTexts(), { timeout: 10_000 })
    .toEqual(names);
}

/** The row of an integration in the list, as text per column. */
export async function rowOf(page: Page, name: string) {
  const row = page
    .locator('table.integrations tbody tr')
    .filter({ has: page.getByRole('link', { name, exact: true }) });
  const cells = row.locator('td');
  return {
    row,
    status: (await cells.nth(0).innerText()).trim(),
    statusClass: await cells.nth(0).locator('.badge').getAttribute('class'),
    lastPull: (await cells.nth(1).innerText()).trim(),
    lastPullTitle: await cells
      .nth(1)
      .locator('time')
      .getAttribute('title')
      .catch(() => null),
    timeline: cells.nth(2),
    issues: (await cells.nth(3).innerText()).trim(),
  };
}

/** What has the keyboard focus: its tag, id and text (or label). */
export async function focused(page: Page): Promise<{ tag: string; id: string; text: string }> {
  return (await page.evaluate(
    `(() => { const e = document.activeElement; return { tag: e.tagName.toLowerCase(), id: e.id, text: (e.getAttribute('aria-label') || e.textContent || e.value || '').trim() }; })()`,
  )) as { tag: string; id: string; text: string };
}

/** Presses Tab until the focus is on an element whose text starts with `text`; fails after `max` presses. */
export async function tabTo(page: Page, text: string, max = 60): Promise<void> {
  const seen: string[] = [];
  for (let press = 0; press < max; press += 1) {
    await page.keyboard.press('Tab');
    const now = await focused(page);
    if (now.text.startsWith(text)) return;
    seen.push(`${now.tag}#${now.id}:${now.text.slice(0, 30)}`);
  }
  throw new Error(`Tab never reached "${text}"; it went through ${seen.join(' | ')}`);
}

/** The text a screen reader would hear from the polite live region, once it says `text`. */
export async function announced(page: Page, text: string): Promise<void> {
  await page.locator('#status').filter({ hasText: text }).waitFor({ state: 'attached' });
}
