import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exact } from '../shared/console/client/format.ts';
import { addSeconds } from '../shared/time.ts';
import { launchBrowser, openPage, seriousViolations, signIn, type WatchedPage } from './kit/browser.ts';
import { announced, focused, listedNames, settled, tabTo, waitForNames } from './kit/browser-page.ts';
import { acceptsBasic } from './kit/checks.ts';
import { type ConsoleWorld, NOW, SECRET, startConsoleWorld } from './kit/console.ts';

/**
 * The console's actions in Chromium with a write key: pause and resume, snooze, threshold, refresh the
 * credentials (the new password shown once, then gone from the page), delete; and the main flow by keyboard
 * alone. Each action is checked twice: on the page, and in what the API then says.
 */

let world: ConsoleWorld;
let browser: Browser;

beforeAll(async () => {
  [world, browser] = await Promise.all([startConsoleWorld(), launchBrowser()]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await world?.close();
});

const idOf = (name: string) => {
  const integration = world.named[name];
  if (!integration) throw new Error(`no seeded integration ${name}`);
  return integration.id;
};

async function apiGet<T>(path: string): Promise<T> {
  const response = await fetch(`${world.base}${path}`, {
    headers: { authorization: `Bearer ${world.readKey}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

async function openIntegration(name: string): Promise<WatchedPage> {
  const watched = await openPage(browser, world.base, { permissions: ['clipboard-read', 'clipboard-write'] });
  await signIn(watched.page, world.writeKey);
  // By its address: the paused one is on the list's second page.
  await watched.page.goto(`/integrations/${idOf(name)}`);
  await settled(watched.page);
  await watched.page.getByRole('heading', { level: 1, name: new RegExp(name) }).waitFor();
  return watched;
}

/** The value the dialog shows for one form of the credentials. */
const shown = (watched: WatchedPage, label: string) =>
  watched.page
    .locator('dialog dl.secrets dt', { hasText: label })
    .locator('xpath=following-sibling::dd[1]/code')
    .innerText();

describe('a write key', () => {
  it('pauses and resumes: the status and the button change, and the API agrees', async () => {
    const watched = await openIntegration('Edge FortiGate');
    const { page } = watched;
    expect(await page.getByText('Write key: actions allowed').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Pause watching' }).click();
    await announced(page, 'Paused Edge FortiGate');
    expect(await page.getByRole('heading', { level: 1 }).innerText()).toContain('Paused');
    expect(
      (await apiGet<{ paused: boolean; status: string }>(`/v1/integrations/${idOf('Edge FortiGate')}`))
        .status,
    ).toBe('paused');
    // The focus stays on the toggle, now the other way round.
    expect((await focused(page)).text).toBe('Resume watching');

    await page.getByRole('button', { name: 'Resume watching' }).click();
    await announced(page, 'Resumed Edge FortiGate');
    expect(await page.getByRole('heading', { level: 1 }).innerText()).toContain('Online');
    expect((await apiGet<{ paused: boolean }>(`/v1/integrations/${idOf('Edge FortiGate')}`)).paused).toBe(
      false,
    );
    expect(watched.problems).toEqual([]);
  });

  it('snoozes until a time, ends the snooze, and sets the offline threshold', async () => {
    const watched = await openIntegration('nginx bouncer');
    const { page } = watched;
    await page.getByLabel('Hold new alerts until').fill('2026-11-30T08:00');
    await page.getByRole('button', { name: 'Snooze', exact: true }).click();
    await announced(page, 'New alerts held until 2026-11-30 08:00 UTC');
    await page.locator('dl.facts dd', { hasText: 'new alerts held until 2026-11-30 08:00 UTC' }).waitFor();
    const id = idOf('nginx bouncer');
    expect((await apiGet<{ snoozed_until: string }>(`/v1/integrations/${id}`)).snoozed_until).toBe(
      '2026-11-30T08:00:00.000Z',
    );

    await page.getByRole('button', { name: 'End snooze' }).click();
    await announced(page, 'Snooze ended');
    expect(
      (await apiGet<{ snoozed_until: string | null }>(`/v1/integrations/${id}`)).snoozed_until,
    ).toBeNull();

    await page.getByLabel('Offline after').fill('90');
    await page.getByRole('button', { name: 'Set threshold' }).click();
    await page.locator('dl.facts dd', { hasText: '1 h 30 min without a pull' }).waitFor();
    expect(
      (await apiGet<{ offline_after_seconds: number }>(`/v1/integrations/${id}`)).offline_after_seconds,
    ).toBe(5400);
    expect(watched.problems).toEqual([]);
  });

  it('refreshes the credentials: the new password is shown once in every form, works, and is gone when the dialog closes', async () => {
    const watched = await openIntegration('HQ pfSense');
    const { page } = watched;
    const id = idOf('HQ pfSense');
    await page.getByRole('button', { name: 'Refresh credentials…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Refresh the credentials of HQ pfSense' });
    await dialog.waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await dialog.getByLabel('Old password keeps working for').selectOption({ label: '1 hour' });
    await dialog.getByRole('button', { name: 'Refresh credentials' }).click();
    await page.getByRole('dialog', { name: 'New credentials of HQ pfSense' }).waitFor();

    const password = await shown(watched, 'Basic auth password');
    const username = await shown(watched, 'Basic auth user');
    expect(password).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(username).toBe(world.named['HQ pfSense']?.credentials.username);
    const content = `${world.base}/v1/integrations/${id}/content`;
    const withUser = new URL(content);
    withUser.username = username;
    withUser.password = password;
    expect(await shown(watched, 'URL with user and password')).toBe(withUser.toString());
    expect(await shown(watched, 'X-Api-Key header')).toBe(`X-Api-Key: ${password}`);
    expect(await shown(watched, 'URL with ?api_key=')).toBe(`${content}?api_key=${password}`);
    await page.getByText(`The old password keeps working until ${exact(addSeconds(NOW, 3600))}.`).waitFor();
    expect(await seriousViolations(page)).toEqual([]);

    // The password on the page is the one the store now verifies (and the old one only within its grace).
    const stored = await world.store.integrations.get(world.orgId, id);
    expect(stored && acceptsBasic(SECRET, stored, username, password, NOW)).toBe(true);

    await page.getByRole('button', { name: 'Copy Basic auth password' }).click();
    await announced(page, 'Copied: Basic auth password.');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(password);

    await page.getByRole('button', { name: 'I have copied it: close' }).click();
    await page.locator('dialog').waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(password);
    await page.getByText(`still accepted until ${exact(addSeconds(NOW, 3600))}`).waitFor();
    // Back where the person was.
    expect((await focused(page)).text).toBe('Refresh credentials…');

    // The device side: the content endpoint takes the password from the page in each form the dialog offered.
    const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    const pulled = await fetch(content, { headers: { authorization: basic } });
    expect(pulled.status).toBe(200);
    expect(await pulled.text()).toContain('192.0.2.1');
    expect((await fetch(content, { headers: { 'x-api-key': password } })).status).toBe(200);
    expect((await fetch(`${content}?api_key=${encodeURIComponent(password)}`)).status).toBe(200);
    const wrong = await fetch(content, { headers: { 'x-api-key': `${password}x` } });
    expect(wrong.status).toBe(401);
    expect(watched.problems).toEqual([]);
  });

  it('says when the device still uses the previous password, and when it has the new one', async () => {
    const watched = await openIntegration('Edge FortiGate');
    const { page } = watched;
    const id = idOf('Edge FortiGate');
    const content = `${world.base}/v1/integrations/${id}/content`;
    const basic = (user: string, pass: string) => ({
      authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
    });
    await page.getByRole('button', { name: 'Refresh credentials…' }).click();
    await page.getByLabel('Old password keeps working for').selectOption({ label: '24 hours' });
    await page.getByRole('button', { name: 'Refresh credentials', exact: true }).click();
    const username = await shown(watched, 'Basic auth user');
    const password = await shown(watched, 'Basic auth password');
    await page.keyboard.press('Escape');
    await page.locator('dialog').waitFor({ state: 'detached' });

    // The firewall was not told: it pulls with its old password, accepted within the grace.
    const old = await fetch(content, { headers: basic(username, world.passwords['Edge FortiGate'] ?? '') });
    expect(old.status).toBe(200);
    await world.cycle(NOW);
    await page.reload();
    await settled(page);
    const warning = page.locator('p.warning', { hasText: 'The device still uses the previous password.' });
    await warning.waitFor();
    expect(await page.locator('dl.facts dd').filter({ hasText: 'HTTP 200' }).innerText()).toContain(
      'previous password, within its grace',
    );

    // Five minutes later it has the new one.
    const later = addSeconds(NOW, 300);
    world.setNow(later);
    try {
      expect((await fetch(content, { headers: basic(username, password) })).status).toBe(200);
      await world.cycle(later);
      await page.reload();
      await settled(page);
      await page.getByText('The device uses the current password.').waitFor();
      expect(await warning.count()).toBe(0);
    } finally {
      world.setNow(NOW);
    }
    expect(watched.problems).toEqual([]);
  });

  it('closing the credentials with Escape removes them too', async () => {
    const watched = await openIntegration('Branch Palo Alto');
    const { page } = watched;
    await page.getByRole('button', { name: 'Refresh credentials…' }).click();
    await page.getByRole('button', { name: 'Refresh credentials', exact: true }).click();
    const password = await shown(watched, 'Basic auth password');
    await page.keyboard.press('Escape');
    await page.locator('dialog').waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(password);
    expect(watched.problems).toEqual([]);
  });

  it('deletes after a confirmation, and a cancelled confirmation deletes nothing', async () => {
    const watched = await openIntegration('DMZ Sophos');
    const { page } = watched;
    const id = idOf('DMZ Sophos');
    await page.getByRole('button', { name: 'Delete…' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete DMZ Sophos?' });
    await confirm.waitFor();
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('dialog').waitFor({ state: 'detached' });
    expect((await apiGet<{ id: string }>(`/v1/integrations/${id}`)).id).toBe(id);

    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('button', { name: 'Delete DMZ Sophos' }).click();
    await page.getByRole('heading', { level: 1, name: 'Integrations' }).waitFor();
    await announced(page, 'Deleted DMZ Sophos.');
    expect(await listedNames(page)).not.toContain('DMZ Sophos');
    const gone = await fetch(`${world.base}/v1/integrations/${id}`, {
      headers: { authorization: `Bearer ${world.readKey}` },
    });
    expect(gone.status).toBe(404);
    expect(watched.problems).toEqual([]);
  });
});

describe('by keyboard alone', () => {
  it('signs in, filters, opens an integration, refreshes its credentials and closes the dialog', async () => {
    const { page, problems } = await openPage(browser, world.base);
    await page.goto('/');
    await page.getByRole('heading', { name: 'Sign in to pullwatch' }).waitFor();
    // The key field has the focus from the start.
    expect((await focused(page)).id).toBe('key');
    await page.keyboard.type(world.writeKey);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Integrations' }).waitFor();
    await settled(page);
    expect((await focused(page)).text).toBe('Integrations');

    await tabTo(page, '');
    expect((await focused(page)).id).toBe('status');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect((await focused(page)).id).toBe('q');
    await page.keyboard.type('Edge');
    await page.keyboard.press('Enter');
    await waitForNames(page, ['Edge FortiGate']);
    expect((await focused(page)).id).toBe('q');

    await tabTo(page, 'Edge FortiGate');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: /Edge FortiGate/ }).waitFor();
    await settled(page);
    expect((await focused(page)).tag).toBe('h1');

    await tabTo(page, 'Refresh credentials…');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    expect((await focused(page)).id).toBe('grace');
    await page.keyboard.press('Tab');
    expect((await focused(page)).text).toBe('Refresh credentials');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'New credentials of Edge FortiGate' }).waitFor();
    expect((await focused(page)).text).toBe('I have copied it: close');
    await page.keyboard.press('Enter');
    await page.locator('dialog').waitFor({ state: 'detached' });
    expect((await focused(page)).text).toBe('Refresh credentials…');
    expect(problems).toEqual([]);
  });

  it('reaches the skip link first, and it moves the focus to the content', async () => {
    const { page, problems } = await openPage(browser, world.base);
    await signIn(page, world.readKey);
    // A fresh load focuses nothing, so the first Tab starts at the top of the page.
    await page.reload();
    await settled(page);
    await page.keyboard.press('Tab');
    expect((await focused(page)).text).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect((await focused(page)).id).toBe('main');
    expect(problems).toEqual([]);
  });
});
