// Steps a person takes on the kezek pages, shared by the test files.

import assert from 'node:assert/strict';
import { DEMO_PASSWORD } from './kezek.mjs';

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

/**
 * Opens the sign-in page in a fresh context and picks `lang` with the header's link. `prepare`
 * runs on the page before it loads (e.g. to stand in for NCALayer).
 */
export async function openSignIn(browser, base, lang, options = {}, prepare = async () => {}) {
  const { context, page } = await newPage(browser, options);
  await prepare(page);
  await page.goto(`${base}/login`);
  await switchLanguage(page, lang);
  return { context, page };
}

/**
 * Signs a demo account in through the form in `lang`, in a fresh context, and waits for the home
 * page. `m` are the messages of `lang`.
 */
export async function signIn(browser, base, m, lang, iin, options = {}) {
  const { context, page } = await openSignIn(browser, base, lang, options);
  await submitSignIn(page, m, iin, DEMO_PASSWORD);
  await page.waitForURL(`${base}/`);
  return { context, page };
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

/**
 * Nothing sticks out sideways: no horizontal scrolling, every text and control inside the window.
 */
export async function assertFits(page, what) {
  const overflow = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const out = [];
    if (document.documentElement.scrollWidth > width) out.push(`page is ${document.documentElement.scrollWidth}px wide`);
    for (const el of document.querySelectorAll('h1, h2, h3, p, li, dt, dd, label, legend, input, select, button, table, a:not(.skip-link)')) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && (r.left < 0 || r.right > width + 0.5)) out.push(`${el.tagName} "${(el.textContent || el.id).trim().slice(0, 30)}" spans ${r.left}..${r.right}`);
    }
    return out;
  });
  assert.deepEqual(overflow, [], `${what} fits its window`);
}

/** The pixels around the focused element, with and without the focus: true when they differ. */
export async function focusIsVisible(page) {
  const box = await page.evaluate(() => {
    const r = document.activeElement.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  });
  assert.ok(box.width > 0 && box.height > 0, 'the focused element is on screen');
  // Outlines and shadows are drawn outside the box.
  const pad = 6;
  const x = Math.max(0, box.x - pad);
  const y = Math.max(0, box.y - pad);
  const clip = { x, y, width: box.width + pad * 2, height: box.height + pad * 2 };
  const focused = await page.screenshot({ clip });
  await page.evaluate(() => { window.__kezekFocus = document.activeElement; document.activeElement.blur(); });
  const blurred = await page.screenshot({ clip });
  await page.evaluate(() => window.__kezekFocus.focus());
  return !focused.equals(blurred);
}
