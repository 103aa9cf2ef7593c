// Signing in with an electronic digital signature from the login page: the page's NCALayer
// adapter is replaced by a fake that signs the challenge with `openssl cms -sign` and the demo
// citizen's authentication key from the demo CA the server wrote into its data folder (and
// trusts, as `kezek serve` does with demo data and no configured roots).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stopDemo, startDemo, demoLogin } from './lib/kezek.mjs';
import { openSignIn, text, waitForFocus } from './lib/pages.mjs';

let server;
let chromium;
let msgs;

before(async () => {
  ({ msgs, server, chromium } = await startDemo());
});

after(() => stopDemo({ server, chromium }));

/** The sign-in page in English, its NCALayer `sign(base64) -> base64 CMS` run in Node. */
function signInPageWithNcaLayer(sign) {
  return openSignIn(chromium.browser, server.url, 'en', {}, async (page) => {
    await page.exposeFunction('kezekTestSign', sign);
    await page.addInitScript(() => {
      window.kezekNcaLayer = { sign: (base64) => window.kezekTestSign(base64) };
    });
  });
}

/** Signs `base64`'s bytes with the demo CA's authentication key of `iin`, as NCALayer would. */
function demoSign(iin, base64) {
  const users = path.join(server.dataDir, 'eds-demo', 'users');
  const input = path.join(server.dataDir, `challenge-${Date.now()}.bin`);
  writeFileSync(input, Buffer.from(base64, 'base64'));
  const der = execFileSync('openssl', [
    'cms', '-sign', '-binary', '-in', input, '-outform', 'DER',
    '-signer', path.join(users, `${iin}-auth.cer`), '-inkey', path.join(users, `${iin}-auth.key`),
  ]);
  return der.toString('base64');
}

test('a citizen signs in with EDS through NCALayer', async () => {
  const citizen = demoLogin(server, 'citizen');
  const { context, page } = await signInPageWithNcaLayer((base64) => demoSign(citizen.iin, base64));
  try {
    const m = msgs.en;
    const button = page.locator('#eds-login button');
    assert.equal(await text(button), m['login-eds-submit']);
    await button.click();
    await page.waitForURL(`${server.url}/`);
    assert.equal(await page.locator('li.role[data-role="citizen"]').count(), 1, 'signed in as the citizen');
  } finally {
    await context.close();
  }
});

test('when NCALayer does not sign, the page says so and stays signed out', async () => {
  const { context, page } = await signInPageWithNcaLayer(() => { throw new Error('USER_CANCELED'); });
  try {
    await page.locator('#eds-login button').click();
    await waitForFocus(page, 'eds-error');
    assert.equal(await text(page.locator('#eds-error')), msgs.en['login-eds-failed']);
    assert.equal(page.url(), `${server.url}/login`);
  } finally {
    await context.close();
  }
});
