import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { launchBrowser, openPage, signIn } from '../test/kit/browser.ts';
import { type ConsoleWorld, startConsoleWorld } from '../test/kit/console.ts';

/**
 * `npm run screenshots`: the console's list, an integration and the credential-refresh dialog, as PNGs under
 * docs/, taken in Debian's Chromium from the same seeded deployment the browser tests use (pinned clock, so
 * the pictures only change when the page does). The new password in the dialog is a real random one of the
 * throwaway test store.
 */

const docs = fileURLToPath(new URL('../docs/', import.meta.url));
await mkdir(docs, { recursive: true });
const world: ConsoleWorld = await startConsoleWorld();
const browser = await launchBrowser();
try {
  const { page, problems } = await openPage(browser, world.base, { viewport: { width: 1280, height: 820 } });
  await signIn(page, world.writeKey);
  await page.screenshot({ path: `${docs}console-list.png` });

  await page.goto(`/integrations/${world.named['HQ pfSense']?.id}`);
  await page.locator('main:not([aria-busy]) article.issue').first().waitFor();
  await page.screenshot({ path: `${docs}console-detail.png`, fullPage: true });

  await page.getByRole('button', { name: 'Refresh credentials…' }).click();
  await page.getByRole('button', { name: 'Refresh credentials', exact: true }).click();
  await page.getByRole('dialog', { name: /New credentials/ }).waitFor();
  await page.screenshot({ path: `${docs}console-refresh.png` });
  if (problems.length > 0) throw new Error(`the page reported problems: ${problems.join('; ')}`);
  console.log(`wrote ${docs}console-list.png, console-detail.png, console-refresh.png`);
} finally {
  await browser.close();
  await world.close();
}
