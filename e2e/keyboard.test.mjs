// Keyboard only: Tab walks the sign-in page in reading order, every stop shows where the focus
// is, the skip link jumps to the content, and the form can be filled and sent without a mouse.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopDemo, startDemo, demoLogin, DEMO_PASSWORD } from './lib/kezek.mjs';
import { newPage, waitForFocus, focusIsVisible } from './lib/pages.mjs';

let server;
let chromium;
let msgs;

before(async () => {
  ({ msgs, server, chromium } = await startDemo());
});

after(() => stopDemo({ server, chromium }));

/** What has the focus, in words a failure message can show. */
function describeFocus(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'body';
    let d = el.tagName.toLowerCase();
    if (el.id) d += `#${el.id}`;
    if (el.classList.contains('skip-link')) d += '.skip-link';
    if (el.closest('nav.langs')) d += `[lang=${el.getAttribute('lang')}]`;
    if (el.type === 'submit') d += '[type=submit]';
    if (el.tagName === 'A' && !el.closest('nav.langs') && !el.classList.contains('skip-link')) d += `[href=${el.getAttribute('href')}]`;
    return d;
  });
}

test('Tab reaches the skip link, the languages, the fields and the button in order, each visibly', async () => {
  const { context, page } = await newPage(chromium.browser);
  try {
    await page.goto(`${server.url}/login`);
    const wanted = ['a.skip-link', 'a[lang=kk]', 'a[lang=ru]', 'a[lang=en]', 'input#iin', 'input#password', 'button[type=submit]'];
    const seen = [];
    let next = 0;
    for (let i = 0; i < 20 && next < wanted.length; i++) {
      await page.keyboard.press('Tab');
      const now = await describeFocus(page);
      seen.push(now);
      if (now !== wanted[next]) continue;
      if (wanted[next] === 'a.skip-link') {
        // The skip link is off screen until it has the focus; then it is the first thing shown.
        const box = await page.locator('.skip-link').boundingBox();
        assert.ok(box && box.x >= 0 && box.y >= 0 && box.y < 60, `the focused skip link shows at the top: ${JSON.stringify(box)}`);
      } else {
        assert.ok(await focusIsVisible(page), `the focus on ${now} is visible`);
      }
      next++;
    }
    assert.equal(next, wanted.length, `Tab went ${seen.join(' → ')}; expected ${wanted.join(' → ')} in this order`);
    assert.equal(seen[0], 'a.skip-link', 'the skip link comes first');
  } finally {
    await context.close();
  }
});

test('the skip link jumps over the header and the form is sent with the keyboard alone', async () => {
  const m = msgs.en;
  const head = demoLogin(server, 'kindergarten_head');
  const { context, page } = await newPage(chromium.browser);
  try {
    await page.goto(`${server.url}/login`);
    await page.keyboard.press('Tab');
    assert.equal((await page.locator('.skip-link').innerText()).trim(), m['skip-link']);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${server.url}/login#main`);
    await waitForFocus(page, 'main');
    await page.keyboard.press('Tab');
    assert.equal(await describeFocus(page), 'input#iin', 'after the skip link, Tab lands in the first field');

    // A wrong password: the focus starts on the error summary, whose link leads back to the field.
    await page.keyboard.type(head.iin);
    await page.keyboard.press('Tab');
    await page.keyboard.type('not-the-password');
    await page.keyboard.press('Enter');
    await page.locator('#error-summary').waitFor();
    await waitForFocus(page, 'error-summary');
    assert.ok(await focusIsVisible(page), 'the focused error summary is outlined');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('href')), '#iin');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${server.url}/login#iin`);
    await waitForFocus(page, 'iin');

    await page.keyboard.press('Tab');
    await page.keyboard.type(DEMO_PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${server.url}/`);
    assert.equal(await page.locator('li.role[data-role="kindergarten_head"]').count(), 1);
  } finally {
    await context.close();
  }
});
