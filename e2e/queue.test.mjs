// The kindergarten queue in the browser, on a phone-sized window, in Kazakh, Russian and English:
// a demo parent registers their child through the form (after its error summary), signed with
// the demo server's labelled demo key, sees the child's position at each chosen kindergarten,
// the regional administrator starts a round after its confirmation, and the parent accepts the
// referral. The public places page and the registration form's keyboard order are checked too.
// Every page must fit 390 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { demoRegion, stopDemo, startDemo, demoLogin, fill, screenshotPath, almatyToday, bandOf } from './lib/kezek.mjs';
import { newPage, switchLanguage, signIn as signInAs, assertFits, focusIsVisible, text, waitForFocus, PHONE } from './lib/pages.mjs';

let server;
let chromium;
let msgs;
let region;

before(async () => {
  ({ msgs, server, chromium } = await startDemo());
  region = await demoRegion(server, 'almaty-city');
});

after(() => stopDemo({ server, chromium }));

// The demo families of the person registry (catalog/registries/persons.csv), one per language.
const FAMILIES = {
  kk: { citizen: 0, child: '230214502028', birth: '2023-02-14', name: 'Ахметов Алихан', relation: 'mother' },
  ru: { citizen: 1, child: '220630502031', birth: '2022-06-30', name: 'Иванов Тимур', relation: 'mother' },
  en: { citizen: 2, child: '240108602041', birth: '2024-01-08', name: 'Серікбаева Аружан', relation: 'father' },
};

/** A kindergarten with a free place for the child's band, and the language it teaches there. */
async function kindergartenFor(birth) {
  const places = await (await fetch(`${server.url}/api/v1/regions/${region.id}/places`)).json();
  const band = bandOf(birth);
  const group = places.find((g) => g.age_band === band && g.language === 'kk' && g.free > 0)
    || places.find((g) => g.age_band === band && g.free > 0);
  assert.ok(group, `a free place in band ${band}`);
  return { kindergarten: group.kindergarten_id, language: group.language };
}

function signIn(lang, role, index = 0) {
  return signInAs(chromium.browser, server.url, msgs[lang], lang, demoLogin(server, role, index).iin, { viewport: PHONE });
}

async function fits(page, name) {
  await assertFits(page, name);
  await page.screenshot({ path: await screenshotPath(`${name}.png`), fullPage: true });
}

for (const lang of ['kk', 'ru', 'en']) {
  test(`a parent registers a child, sees positions and accepts the referral of the admin's round, in ${lang}`, async () => {
    const m = msgs[lang];
    const family = FAMILIES[lang];
    const { kindergarten, language } = await kindergartenFor(family.birth);
    const parent = await signIn(lang, 'citizen', family.citizen);
    const admin = await signIn(lang, 'regional_admin');
    try {
      const page = parent.page;
      await page.locator('a[data-start="citizen"]').click();
      await page.waitForURL(`${server.url}/children`);
      assert.equal(await text(page.locator('h1')), m['children-title']);
      await fits(page, `children-empty-${lang}`);

      // Step one: region and language.
      await page.getByRole('link', { name: m['children-register'], exact: true }).click();
      await page.waitForURL(`${server.url}/children/new`);
      await page.getByLabel(region.name[lang], { exact: true }).check();
      await page.getByLabel(m[`language-${language}`], { exact: true }).check();
      await fits(page, `register-step-one-${lang}`);
      await page.getByRole('button', { name: m['register-continue'], exact: true }).click();
      await page.waitForURL(/\/children\/new\?/);

      // Sent empty, the form lists what is missing, focused, with links to the fields.
      await page.getByRole('button', { name: m['register-submit'], exact: true }).click();
      const summary = page.locator('#error-summary');
      await summary.waitFor();
      await waitForFocus(page, 'error-summary');
      assert.ok((await text(summary)).includes(m['form-error-child_iin']), 'the summary names the missing IIN');
      assert.ok((await text(summary)).includes(m['form-error-consent']), 'the summary names the missing consent');
      await fits(page, `register-errors-${lang}`);
      await summary.getByRole('link').first().click();
      await waitForFocus(page, 'child_iin');

      await page.getByLabel(m['register-child-iin'], { exact: true }).fill(family.child);
      await page.getByLabel(m['register-birth-date'], { exact: true }).fill(family.birth);
      await page.getByLabel(m['register-child-name'], { exact: true }).fill(family.name);
      await page.getByLabel(m[`relation-${family.relation}`], { exact: true }).check();
      await page.getByLabel(fill(m['register-preference'], { n: 1 }), { exact: true }).selectOption(String(kindergarten));
      await page.getByLabel(m['register-desired-start'], { exact: true }).fill(almatyToday());
      await page.getByLabel(m['register-consent'], { exact: true }).check();
      await fits(page, `register-filled-${lang}`);
      // The demo server trusts its own demo CA, so its labelled demo signer stands in for
      // NCALayer (e2e/eds-register.test.mjs signs through NCALayer itself).
      await page.getByRole('button', { name: m['register-demo-sign'], exact: true }).click();
      await page.waitForURL(/\/children\?registered=\d+$/);
      const number = new URL(page.url()).searchParams.get('registered');
      assert.equal(await text(page.locator('#notice')), fill(m['notice-registered'], { number }));
      const card = page.locator('section.card', { hasText: family.name });
      assert.equal(await text(card.locator('[data-status]')), m['entry-status-waiting']);
      const position = await text(card.locator('ol.positions li').first());
      assert.ok(position.includes(fill(m['position-ahead'], { ahead: 0 })), `the child's position: ${position}`);
      await fits(page, `children-waiting-${lang}`);

      // The administrator starts a round from the home page, after its confirmation.
      const a = admin.page;
      await a.locator('a[data-start="regional_admin"]').click();
      await a.waitForURL(`${server.url}/regions/${region.id}/rounds`);
      await fits(a, `rounds-${lang}`);
      await a.getByRole('link', { name: m['rounds-start'], exact: true }).click();
      assert.equal(await text(a.locator('h1')), m['rounds-confirm-title']);
      await fits(a, `round-confirm-${lang}`);
      await a.getByRole('button', { name: m['rounds-start-confirmed'], exact: true }).click();
      await a.waitForURL(/\/rounds\/\d+\?started=1$/);
      assert.equal(await a.locator('[data-check]').getAttribute('data-check'), 'ok');
      assert.equal(await text(a.locator('[data-check]')), m['round-check-ok']);
      await fits(a, `round-${lang}`);

      // The parent finds the referral with its deadline and accepts it.
      await page.goto(`${server.url}/children`);
      const referral = page.locator('section.card', { hasText: family.name }).locator('.referral');
      assert.equal(await text(referral.locator('h3')), m['referral-title']);
      assert.equal(await text(referral.locator('[data-referral-status]')), m['referral-status-open']);
      const organization = await (await fetch(`${server.url}/api/v1/organizations/${kindergarten}`)).json();
      const group = fill(m['group-name'], { band: bandOf(family.birth), language: m[`language-${language}`] });
      assert.equal(await text(page.locator('section.card', { hasText: family.name }).locator('[data-round-summary]')),
        fill(m['round-placed'], { kindergarten: organization.name[lang], group }), 'the round says where the child got a place');
      await fits(page, `children-referral-${lang}`);
      await referral.getByRole('button', { name: m['referral-accept'], exact: true }).click();
      await page.waitForURL(`${server.url}/children?done=accepted`);
      assert.equal(await text(page.locator('#notice')), m['notice-accepted']);
      const accepted = page.locator('section.card', { hasText: family.name });
      assert.equal(await text(accepted.locator('[data-referral-status]')), m['referral-status-accepted']);
      await fits(page, `children-accepted-${lang}`);
    } finally {
      await parent.context.close();
      await admin.context.close();
    }
  });
}

test('the public places page is reached from the home page and fits a phone in each language', async () => {
  for (const lang of ['kk', 'ru', 'en']) {
    const m = msgs[lang];
    const { context, page } = await newPage(chromium.browser, { viewport: PHONE });
    try {
      await page.goto(`${server.url}/`);
      await switchLanguage(page, lang);
      await page.locator(`a[data-places="${region.id}"]`).click();
      await page.waitForURL(`${server.url}/regions/${region.id}/places`);
      assert.equal(await text(page.locator('h1')), fill(m['places-page-title'], { region: region.name[lang] }));
      await fits(page, `places-${lang}`);
      await page.getByLabel(m['register-language'], { exact: true }).selectOption('ru');
      await page.getByLabel(m['places-only-free'], { exact: true }).check();
      await page.getByRole('button', { name: m['places-filter'], exact: true }).click();
      await page.waitForURL(/language=ru/);
      await fits(page, `places-filtered-${lang}`);
      await page.getByRole('link', { name: m['queue-log-link'], exact: true }).last().click();
      await page.waitForURL(`${server.url}/regions/${region.id}/queue-log`);
      await page.getByRole('link', { name: m['places-link'], exact: true }).click();
      await page.waitForURL(`${server.url}/regions/${region.id}/places`);
    } finally {
      await context.close();
    }
  }
});

test('Tab walks the registration form in reading order, with a visible focus on every kind of control', async () => {
  const { context, page } = await signIn('en', 'citizen', 0);
  try {
    await page.goto(`${server.url}/children/new?region=${region.id}&language=kk`);
    await page.locator('#main').focus();
    const seen = [];
    for (let i = 0; i < 60 && seen[seen.length - 1] !== 'submit-registration'; i++) {
      await page.keyboard.press('Tab');
      const id = await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName.toLowerCase());
      if (seen[seen.length - 1] === id) continue;
      seen.push(id);
      // Checked on arrival only: re-focusing a date field puts the cursor back in its first part.
      if (['relation-1', 'pref1', 'consent', 'child_birth_date'].includes(id)) {
        assert.ok(await focusIsVisible(page), `the focus on #${id} is visible`);
      }
    }
    const wanted = ['child_iin', 'child_birth_date', 'child_name', 'relation-1', 'power_of_attorney', 'poa_principal_iin',
      'pref1', 'pref2', 'desired_start', 'category-1', 'evidence_kind-1', 'evidence_ref', 'consent', 'submit-registration'];
    const order = wanted.map((id) => seen.indexOf(id));
    assert.ok(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1])), `Tab went ${seen.join(' → ')}`);
  } finally {
    await context.close();
  }
});
