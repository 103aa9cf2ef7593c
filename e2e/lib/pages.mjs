// Steps a person takes on the kezek pages, shared by the test files.

import assert from 'node:assert/strict';

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/** A fresh browser context (no cookies); the browser asks for English until a language is picked. */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ locale: 'en-US', viewport: DESKTOP, ...options });
  // Fail fast: every page here answers locally within milliseconds.
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(10_000);
  const page = await context.newPage();
  return { context, page };
}

/** Clicks the header's link for `lang` and waits for the page to come back in it. */
export async function switchLanguage(page, lang) {
  await page.locator(`nav.langs a[lang="${lang}"]`).click();
  await page.locator(`html[lang="${lang}"]`).waitFor({ state: 'attached' });
}

/** Fills the sign-in form through its labels, as read in `lang`, and sends it with the button. */
export async function submitSignIn(page, m, iin, password) {
  await page.getByLabel(m['login-iin'], { exact: true }).fill(iin);
  await page.getByLabel(m['login-password'], { exact: true }).fill(password);
  await page.locator('main').getByRole('button', { name: m['login-submit'], exact: true }).click();
}

/** Signs out with the header's button and checks the anonymous home page in `lang`. */
export async function signOut(page, base, m, lang) {
  await page.locator('header').getByRole('button', { name: m['nav-logout'], exact: true }).click();
  await page.waitForURL(`${base}/`);
  assert.equal(await page.locator('li.role').count(), 0, 'no roles once signed out');
  assert.equal(await page.locator('html').getAttribute('lang'), lang);
  assert.equal((await page.locator('main .lead').innerText()).trim(), m['home-anonymous']);
  await page.locator('header').getByRole('link', { name: m['nav-login'], exact: true }).waitFor();
}

/** The visible text of an element with runs of white space made single spaces. */
export async function text(locator) {
  return (await locator.innerText()).replace(/\s+/g, ' ').trim();
}

/**
 * Waits until the element with `id` has the focus. Browsers apply `autofocus` and fragment focus
 * at their next rendering step, so the focus is awaited, not read at once.
 */
export async function waitForFocus(page, id) {
  try {
    await page.waitForFunction((want) => document.activeElement?.id === want, id, { timeout: 5_000 });
  } catch {
    const has = await page.evaluate(() => {
      const el = document.activeElement;
      return el ? `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}` : 'nothing';
    });
    assert.fail(`#${id} should have the focus, ${has} has it`);
  }
}
