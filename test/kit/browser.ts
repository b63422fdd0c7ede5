import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Page,
} from 'playwright-core';

/**
 * Chromium from Debian (`apt-get install -y chromium`; .ci/run installs it) driven by playwright-core. Each
 * page records what would be a silent failure in a person's browser: script errors, refused requests and
 * Content-Security-Policy violations, so a test can insist there were none.
 */

export const CHROMIUM = process.env.PULLWATCH_CHROMIUM ?? '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Script errors, console errors (CSP reports land there) and failed requests, in order. */
  problems: string[];
}

export async function openPage(
  browser: Browser,
  base: string,
  options: BrowserContextOptions = {},
): Promise<WatchedPage> {
  // UTC, so what a person types into a local-time field means the same instant on every machine.
  const context = await browser.newContext({
    baseURL: base,
    viewport: { width: 1280, height: 900 },
    timezoneId: 'UTC',
    ...options,
  });
  // A missing element fails within the test's time with playwright's own message, instead of a bare timeout.
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
  // Only the app itself may be asked for anything.
  page.on('request', (request) => {
    if (!request.url().startsWith(base) && !request.url().startsWith('data:'))
      problems.push(`off-site request: ${request.url()}`);
  });
  return { page, context, problems };
}

/** Signs in through the form, as a person would, and waits for the integrations list. */
export async function signIn(page: Page, key: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Integrations' }).waitFor();
  await page.locator('table.integrations tbody tr').first().waitFor();
}

const require = createRequire(import.meta.url);

/** axe-core's serious and critical violations of what is on the page now (WCAG 2 A and AA rules). */
export async function seriousViolations(page: Page): Promise<string[]> {
  const source = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  // Injected through the DevTools protocol (not a script tag), so the page's CSP stays as strict as it is.
  await page.evaluate(source);
  const results = (await page.evaluate(
    `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })`,
  )) as {
    violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown }> }>;
  };
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map(
      (violation) =>
        `${violation.id} (${violation.impact}): ${violation.help} at ${JSON.stringify(violation.nodes.map((node) => node.target))}`,
    );
}
