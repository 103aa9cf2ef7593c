// Screenshots of the home, sign-in and public queue log pages at a phone width and a desktop
// width, in each language, saved under target/e2e-screenshots/ for a person to look at. The
// checks here catch what breaks a small screen: a page wider than the window, or text or
// controls cut off.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopDemo, startDemo, demoLogin, screenshotPath, DEMO_PASSWORD, LANGS } from './lib/kezek.mjs';
import { newPage, switchLanguage, submitSignIn, assertFits, PHONE, DESKTOP } from './lib/pages.mjs';

let server;
let chromium;
let msgs;
let region;

before(async () => {
  ({ msgs, server, chromium } = await startDemo());
  const regions = await (await fetch(`${server.url}/api/v1/regions`)).json();
  assert.ok(regions.length > 0, 'the demo data has regions');
  region = regions[0];
});

after(() => stopDemo({ server, chromium }));

const SIZES = [['phone', PHONE], ['desktop', DESKTOP]];

for (const [size, viewport] of SIZES) {
  test(`home, sign-in and queue log pages at ${size} width (${viewport.width}×${viewport.height})`, async () => {
    for (const lang of LANGS) {
      const m = msgs[lang];
      const { context, page } = await newPage(chromium.browser, { viewport });
      try {
        await page.goto(`${server.url}/`);
        await switchLanguage(page, lang);
        await assertFits(page, `the ${lang} home page of a visitor`);
        await page.screenshot({ path: await screenshotPath(`start-${lang}-${size}.png`), fullPage: true });

        // The public queue log shows hashes and keys, long strings that must wrap on a phone.
        await page.goto(`${server.url}/regions/${region.id}/queue-log`);
        assert.equal(await page.locator('html').getAttribute('lang'), lang);
        await assertFits(page, `the ${lang} queue log page`);
        await page.screenshot({ path: await screenshotPath(`queue-log-${lang}-${size}.png`), fullPage: true });

        await page.goto(`${server.url}/`);
        await page.locator('main').getByRole('link', { name: m['nav-login'], exact: true }).click();
        await page.waitForURL(`${server.url}/login`);
        await assertFits(page, `the ${lang} sign-in page`);
        await page.screenshot({ path: await screenshotPath(`login-${lang}-${size}.png`), fullPage: true });

        await submitSignIn(page, m, '123', 'x');
        await page.locator('#error-summary').waitFor();
        await assertFits(page, `the ${lang} sign-in page with an error`);
        await page.screenshot({ path: await screenshotPath(`login-error-${lang}-${size}.png`), fullPage: true });

        await submitSignIn(page, m, demoLogin(server, 'kindergarten_head').iin, DEMO_PASSWORD);
        await page.waitForURL(`${server.url}/`);
        await assertFits(page, `the ${lang} home page`);
        await page.screenshot({ path: await screenshotPath(`home-${lang}-${size}.png`), fullPage: true });
      } finally {
        await context.close();
      }
    }
  });
}
