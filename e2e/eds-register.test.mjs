// A parent registers their child on the portal signed with their electronic digital signature:
// the page asks the server for the exact bytes of the registration, NCALayer signs them with the
// signing key, and the form goes with the signature. NCALayer is replaced by a fake that signs
// with `openssl cms -sign` and the demo citizen's signing key from the demo CA the server wrote
// into its data folder (and trusts, as `kezek serve` does with demo data and no configured roots).
// When NCALayer does not sign, the page says so and nothing is registered; without JavaScript
// the page says that an office can register the child instead.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { demoRegion, stopDemo, startDemo, demoLogin, fill, almatyToday, bandOf, apiToken, DEMO_PASSWORD } from './lib/kezek.mjs';
import { openSignIn, switchLanguage, submitSignIn, text, waitForFocus, assertFits, PHONE } from './lib/pages.mjs';

let server;
let chromium;
let msgs;
let region;

before(async () => {
  ({ msgs, server, chromium } = await startDemo());
  region = await demoRegion(server, 'almaty-city');
});

after(() => stopDemo({ server, chromium }));

// The first demo family of the person registry (catalog/registries/persons.csv).
const FAMILY = { citizen: 0, child: '230214502028', birth: '2023-02-14', name: 'Ахметов Алихан' };

/** Signs `base64`'s bytes with the demo CA's signing key of `iin`, as NCALayer would. */
function demoSign(iin, base64) {
  const users = path.join(server.dataDir, 'eds-demo', 'users');
  const input = path.join(server.dataDir, `registration-${Date.now()}.bin`);
  writeFileSync(input, Buffer.from(base64, 'base64'));
  const der = execFileSync('openssl', [
    'cms', '-sign', '-binary', '-in', input, '-outform', 'DER',
    '-signer', path.join(users, `${iin}-sign.cer`), '-inkey', path.join(users, `${iin}-sign.key`),
  ]);
  return der.toString('base64');
}

/** A signed-in parent whose NCALayer (if `sign` is given) is `sign(base64, keyType)`, run in Node. */
async function parentWithNcaLayer(sign, options = {}) {
  const { context, page } = await openSignIn(chromium.browser, server.url, 'en', { viewport: PHONE, ...options }, async (p) => {
    if (!sign) return;
    await p.exposeFunction('kezekTestSign', sign);
    await p.addInitScript(() => {
      window.kezekNcaLayer = { sign: (base64, keyType) => window.kezekTestSign(base64, keyType) };
    });
  });
  await submitSignIn(page, msgs.en, demoLogin(server, 'citizen', FAMILY.citizen).iin, DEMO_PASSWORD);
  await page.waitForURL(`${server.url}/`);
  return { context, page };
}

/** Fills the registration form for the family's child, at a kindergarten with a Kazakh group of its band. */
async function fillForm(page) {
  const m = msgs.en;
  const places = await (await fetch(`${server.url}/api/v1/regions/${region.id}/places`)).json();
  const group = places.find((g) => g.age_band === bandOf(FAMILY.birth) && g.language === 'kk');
  assert.ok(group, 'a Kazakh group of the child\'s band');
  await page.goto(`${server.url}/children/new?region=${region.id}&language=kk`);
  await page.getByLabel(m['register-child-iin'], { exact: true }).fill(FAMILY.child);
  await page.getByLabel(m['register-birth-date'], { exact: true }).fill(FAMILY.birth);
  await page.getByLabel(m['register-child-name'], { exact: true }).fill(FAMILY.name);
  await page.getByLabel(m['relation-mother'], { exact: true }).check();
  await page.getByLabel(fill(m['register-preference'], { n: 1 }), { exact: true }).selectOption(String(group.kindergarten_id));
  await page.getByLabel(m['register-desired-start'], { exact: true }).fill(almatyToday());
  await page.getByLabel(m['register-consent'], { exact: true }).check();
}

async function myApplications(iin) {
  const token = await apiToken(server, iin);
  return (await fetch(`${server.url}/api/v1/me/applications`, { headers: { authorization: `Bearer ${token}` } })).json();
}

test('when NCALayer does not sign, the page says so and registers nothing', async () => {
  const m = msgs.en;
  const { context, page } = await parentWithNcaLayer(() => { throw new Error('USER_CANCELED'); });
  try {
    await fillForm(page);
    assert.equal(await page.locator('#eds-needs-script').isVisible(), false, 'with JavaScript the page signs itself');
    await page.getByRole('button', { name: m['register-submit'], exact: true }).click();
    await waitForFocus(page, 'eds-error');
    assert.equal(await text(page.locator('#eds-error')), m['register-sign-failed']);
    assert.ok(page.url().startsWith(`${server.url}/children/new`), page.url());
    const citizen = demoLogin(server, 'citizen', FAMILY.citizen);
    assert.deepEqual(await myApplications(citizen.iin), [], 'nothing was filed');
  } finally {
    await context.close();
  }
});

test('a parent signs the registration through NCALayer and its S1 application keeps the verdict', async () => {
  const m = msgs.en;
  const citizen = demoLogin(server, 'citizen', FAMILY.citizen);
  const asked = [];
  const { context, page } = await parentWithNcaLayer((base64, keyType) => {
    asked.push({ text: Buffer.from(base64, 'base64').toString('utf8'), keyType });
    return demoSign(citizen.iin, base64);
  });
  try {
    await fillForm(page);
    assert.equal(await text(page.locator('#eds-sign-title')), m['register-sign-title']);
    await assertFits(page, 'register-sign-en');
    await page.getByRole('button', { name: m['register-submit'], exact: true }).click();
    await page.waitForURL(/\/children\?registered=\d+$/);
    const number = new URL(page.url()).searchParams.get('registered');
    assert.equal(await text(page.locator('#notice')), fill(m['notice-registered'], { number }));
    assert.equal(asked.length, 1, 'NCALayer signed once');
    assert.equal(asked[0].keyType, 'SIGNATURE', 'with the signing key, not the login key');
    assert.ok(asked[0].text.startsWith('kezek-queue-registration:v1\n'), asked[0].text);
    assert.ok(asked[0].text.includes(`child_iin:${FAMILY.child}\n`) && asked[0].text.includes(`applicant_iin:${citizen.iin}\n`), asked[0].text);
    const [application] = await myApplications(citizen.iin);
    assert.equal(application.service_id, 'S1');
    assert.equal(application.state, 'issued');
    assert.equal(application.signature.valid, true);
    assert.equal(application.signature.signer_iin, citizen.iin);
  } finally {
    await context.close();
  }
});

test('without JavaScript the page says a portal registration needs NCALayer and who else registers', async () => {
  for (const lang of ['kk', 'ru', 'en']) {
    const m = msgs[lang];
    const { context, page } = await parentWithNcaLayer(null, { javaScriptEnabled: false });
    try {
      await switchLanguage(page, lang);
      await page.goto(`${server.url}/children/new?region=${region.id}&language=kk`);
      const note = page.locator('#eds-needs-script');
      assert.equal(await note.isVisible(), true);
      assert.equal(await text(note), m['register-sign-needs-script']);
      assert.equal(await page.locator('#demo-sign').isVisible(), false, 'no demo button that cannot work');
      await assertFits(page, `register-no-script-${lang}`);
    } finally {
      await context.close();
    }
  }
});
