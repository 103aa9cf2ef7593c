// The staff's queue pages in the browser, on a 390 px phone, each in two languages: a front-office
// operator and a provider's clerk register the child of the applicant present, each with a
// priority claim; a specialist confirms one claim and the regional administrator reads the
// decision, a claim is rejected with a reason the family then reads; after a round, the
// kindergarten's head publishes places, refuses one referral with a reason and enrols the other
// child under a contract; the auditor reads the honesty finding the head's hand-made change left,
// in words of the page's language. Forms sent incomplete put the focus on the error summary,
// whose link puts it on the field.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { demoRegion, stopDemo, startDemo, demoLogin, fill, screenshotPath, almatyToday, bandOf, apiToken } from './lib/kezek.mjs';
import { signIn, switchLanguage, assertFits, focusIsVisible, text, waitForFocus, PHONE } from './lib/pages.mjs';

let server;
let chromium;
let msgs;
let region;
/** The kindergarten both children choose: it has a free place for each of them. */
let kindergarten;

// Demo families of the person registry (catalog/registries/persons.csv): Иванова Мария (the
// second demo citizen) with her son, at the State Corporation's page in Russian; Ахметова Гүлнар
// (the first) with her son, at the provider's office page in Kazakh. Both choose Kazakh as the
// language of instruction: the kindergartens whose heads the banner prints teach in Kazakh.
const TIMUR = { lang: 'ru', staff: 'operator', citizen: 1, child: '220630502031', birth: '2022-06-30', name: 'Иванов Тимур', language: 'kk',
  category: 'large-family', evidence: '№ 4471, 02.10.2026' };
const ALIKHAN = { lang: 'kk', staff: 'clerk', citizen: 0, child: '230214502028', birth: '2023-02-14', name: 'Ахметов Алихан', language: 'kk',
  category: 'disabled-parent', evidence: '№ 0093, 14.09.2026' };

before(async () => {
  ({ msgs, server, chromium } = await startDemo());
  region = await demoRegion(server, 'almaty-city');
  // The banner prints the heads of the first kindergartens only: the children choose one of those.
  const places = await (await fetch(`${server.url}/api/v1/regions/${region.id}/places`)).json();
  const organizations = await (await fetch(`${server.url}/api/v1/regions/${region.id}/organizations`)).json();
  const headed = organizations.filter((o) => server.logins.some((l) => l.role === 'kindergarten_head' && l.organization === o.name.en));
  const hasPlace = (k, family) => places.some((g) => g.kindergarten_id === k && g.age_band === bandOf(family.birth) && g.language === family.language && g.free > 0);
  kindergarten = headed.map((o) => o.id).find((k) => hasPlace(k, TIMUR) && hasPlace(k, ALIKHAN));
  assert.ok(kindergarten, 'a kindergarten whose head the banner prints has a free place for both children');
});

after(() => stopDemo({ server, chromium }));

function staffPage(lang, role, index = 0) {
  return signIn(chromium.browser, server.url, msgs[lang], lang, demoLogin(server, role, index).iin, { viewport: PHONE });
}

async function fits(page, name) {
  await assertFits(page, name);
  await page.screenshot({ path: await screenshotPath(`${name}.png`), fullPage: true });
}

/** Sends a form incomplete: the error summary gets the focus, and its link puts it on `field`. */
async function summaryLeadsTo(page, m, field, detail) {
  const summary = page.locator('#error-summary');
  await summary.waitFor();
  await waitForFocus(page, 'error-summary');
  assert.ok(await focusIsVisible(page), 'the focused error summary is outlined');
  assert.ok((await text(summary)).includes(detail), `the summary says "${detail}": ${await text(summary)}`);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('href')), `#${field}`);
  await page.keyboard.press('Enter');
  await waitForFocus(page, field);
  assert.ok(await focusIsVisible(page), `the focus on #${field} is visible`);
}

for (const family of [TIMUR, ALIKHAN]) {
  test(`the ${family.staff} registers the child of the applicant present, with a priority claim, in ${family.lang}`, async () => {
    const m = msgs[family.lang];
    const { context, page } = await staffPage(family.lang, family.staff);
    try {
      await page.locator(`a[data-start="${family.staff}"]`).click();
      await page.waitForURL(`${server.url}/office/children/new`);
      assert.equal(await text(page.locator('h1')), m['register-office-title']);
      await page.getByLabel(m[`language-${family.language}`], { exact: true }).check();
      await fits(page, `office-step-one-${family.lang}`);
      await page.getByRole('button', { name: m['register-continue'], exact: true }).click();
      await page.waitForURL(/\/office\/children\/new\?/);

      await page.getByRole('button', { name: m['register-submit'], exact: true }).click();
      await summaryLeadsTo(page, m, 'applicant_iin', m['form-error-applicant_iin']);
      await fits(page, `office-errors-${family.lang}`);

      await page.getByLabel(m['register-applicant-iin'], { exact: true }).fill(demoLogin(server, 'citizen', family.citizen).iin);
      await page.getByLabel(m['register-child-iin'], { exact: true }).fill(family.child);
      await page.getByLabel(m['register-birth-date'], { exact: true }).fill(family.birth);
      await page.getByLabel(m['register-child-name'], { exact: true }).fill(family.name);
      await page.getByLabel(m['relation-mother'], { exact: true }).check();
      await page.getByLabel(fill(m['register-preference'], { n: 1 }), { exact: true }).selectOption(String(kindergarten));
      await page.getByLabel(m['register-desired-start'], { exact: true }).fill(almatyToday());
      await page.locator(`input[name="category"][value="${family.category}"]`).check();
      await page.getByLabel(m['evidence-document'], { exact: true }).check();
      await page.getByLabel(m['register-evidence-ref'], { exact: true }).fill(family.evidence);
      await page.getByLabel(m['register-consent'], { exact: true }).check();
      await fits(page, `office-filled-${family.lang}`);
      await page.getByRole('button', { name: m['register-submit'], exact: true }).click();
      await page.waitForURL(new RegExp(`/office/children/new\\?language=${family.language}&registered=\\d+$`));
      const number = new URL(page.url()).searchParams.get('registered');
      assert.equal(await text(page.locator('#notice')), fill(m['notice-registered'], { number }));
      await fits(page, `office-registered-${family.lang}`);
    } finally {
      await context.close();
    }
  });
}

test('a specialist confirms one claim with its last day and rejects the other with a reason, in ru', async () => {
  const m = msgs.ru;
  const { context, page } = await staffPage('ru', 'specialist');
  try {
    await page.locator('a[data-start="specialist"]').click();
    await page.waitForURL(`${server.url}/regions/${region.id}/claims`);
    assert.equal(await text(page.locator('h1')), fill(m['claims-title'], { region: region.name.ru }));
    assert.equal(await page.locator('section[data-claim]').count(), 2, 'both claims wait for a decision');
    await fits(page, 'claims-pending-ru');

    // Tab walks a card's forms in order, each stop visibly focused.
    const timur = page.locator('section.card', { hasText: TIMUR.name });
    assert.ok((await text(timur.locator('[data-evidence]'))).includes(TIMUR.evidence), 'the evidence is shown');
    const id = await timur.getAttribute('data-claim');
    await timur.getByLabel(m['claims-expires-on'], { exact: true }).focus();
    assert.ok(await focusIsVisible(page), 'the focus on the date is visible');
    // Tab first walks the parts of the date (day, month, year), then leaves it.
    const stops = [];
    for (let i = 0; i < 10 && stops.length < 3; i++) {
      await page.keyboard.press('Tab');
      const now = await page.evaluate(() => document.activeElement.id);
      if (now === `expires_on-${id}` || now === stops[stops.length - 1]) continue;
      stops.push(now);
      assert.ok(await focusIsVisible(page), `the focus on #${now} is visible`);
    }
    assert.deepEqual(stops, [`confirm-${id}`, `reason-${id}`, `reject-${id}`]);

    const until = almatyToday(365);
    await timur.getByLabel(m['claims-expires-on'], { exact: true }).fill(until);
    await timur.getByRole('button', { name: m['claims-confirm-submit'], exact: true }).click();
    await page.waitForURL(/\/claims\?status=pending&done=confirmed&number=\d+$/);
    const number = new URL(page.url()).searchParams.get('number');
    assert.equal(await text(page.locator('#notice')), fill(m['notice-claim-confirmed'], { number }));
    assert.equal(await page.locator('section[data-claim]').count(), 1);

    // A rejection without its reason goes back to the reason's field.
    const alikhan = page.locator('section.card', { hasText: ALIKHAN.name });
    const other = await alikhan.getAttribute('data-claim');
    await alikhan.getByRole('button', { name: m['claims-reject'], exact: true }).click();
    await summaryLeadsTo(page, m, `reason-${other}`, m['form-error-claim_reason']);
    await fits(page, 'claims-error-ru');
    await page.keyboard.type('Справка не подтверждает инвалидность родителя');
    await page.locator(`#reject-${other}`).click();
    await page.waitForURL(/done=rejected/);
    assert.equal(await page.locator('section[data-claim]').count(), 0);
    assert.equal(await text(page.locator('[data-claims]')), fill(m['claims-count'], { count: 0 }));
  } finally {
    await context.close();
  }
});

test('the regional administrator reads who decided, and the family reads the reason, in en and kk', async () => {
  const m = msgs.en;
  const { context, page } = await staffPage('en', 'regional_admin');
  try {
    await page.locator('a[data-start="claims"]').click();
    await page.waitForURL(`${server.url}/regions/${region.id}/claims`);
    await page.getByRole('link', { name: m['claims-tab-confirmed'], exact: true }).click();
    await page.waitForURL(/status=confirmed/);
    assert.equal(await page.locator('nav.tabs a[aria-current="page"]').getAttribute('data-tab'), 'confirmed');
    const card = page.locator('section.card', { hasText: TIMUR.name });
    assert.ok((await text(card.locator('[data-decided]'))).startsWith(fill(m['claims-decided-confirmed'], { name: 'Ким Наталья', at: '' }).replace(/, $/, '')),
      'who confirmed it');
    const [y, mo, d] = almatyToday(365).split('-');
    assert.equal(await text(card.locator('[data-expires]')), `${d}.${mo}.${y}`);
    await fits(page, 'claims-confirmed-en');
    await page.getByRole('link', { name: m['claims-tab-rejected'], exact: true }).click();
    await page.waitForURL(/status=rejected/);
    assert.equal(await text(page.locator('section.card [data-reason]')), 'Справка не подтверждает инвалидность родителя');
  } finally {
    await context.close();
  }

  const kk = msgs.kk;
  const parent = await staffPage('kk', 'citizen', ALIKHAN.citizen);
  try {
    await parent.page.goto(`${server.url}/children`);
    const claim = parent.page.locator('section.card', { hasText: ALIKHAN.name }).locator('li[data-claim]');
    assert.ok((await text(claim)).includes(kk['claim-status-rejected']), await text(claim));
    assert.equal(await text(claim.locator('[data-claim-reason]')), fill(kk['claim-reason'], { reason: 'Справка не подтверждает инвалидность родителя' }));
    await fits(parent.page, 'children-claim-rejected-kk');
  } finally {
    await parent.context.close();
  }
});

/** The head of the kindergarten both children chose. */
async function headOfKindergarten() {
  const organization = await (await fetch(`${server.url}/api/v1/organizations/${kindergarten}`)).json();
  const head = server.logins.find((l) => l.role === 'kindergarten_head' && l.organization === organization.name.en);
  assert.ok(head, `the demo prints the head of ${organization.name.en}`);
  return { head, organization };
}

/** The group the head raised the enrolled count of by hand, for the auditor's test. */
let raised;

test('after a round, the head publishes places, refuses one referral with a reason and enrols the other child, in kk and ru', async () => {
  const token = await apiToken(server, demoLogin(server, 'regional_admin').iin);
  const round = await fetch(`${server.url}/api/v1/regions/${region.id}/rounds`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  assert.equal(round.status, 201, 'the administrator starts a round');
  const { head } = await headOfKindergarten();
  const m = msgs.kk;
  const { context, page } = await signIn(chromium.browser, server.url, m, 'kk', head.iin, { viewport: PHONE });
  try {
    await page.locator('a[data-start="kindergarten_head"]').click();
    await page.waitForURL(`${server.url}/kindergartens/${kindergarten}`);
    assert.equal(await page.locator('section[data-referral]').count(), 2, 'both children were referred here');
    await fits(page, 'kindergarten-kk');

    // One more child enrolled in a group with a free place, published by hand.
    const groups = page.locator('section[data-group]');
    let group;
    for (let i = 0; i < await groups.count(); i++) {
      if (Number(await text(groups.nth(i).locator('[data-free]'))) > 0) { group = groups.nth(i); break; }
    }
    assert.ok(group, 'a group has a free place');
    const enrolled = group.getByLabel(m['places-enrolled'], { exact: true });
    const from = Number(await enrolled.inputValue());
    raised = { id: Number(await group.getAttribute('data-group')), from, to: from + 1 };
    await enrolled.fill(String(from + 1));
    await group.getByRole('button', { name: m['head-publish'], exact: true }).click();
    await page.waitForURL(/done=places$/);
    assert.equal(await text(page.locator('#notice')), m['notice-places']);

    // Refusing needs a reason.
    const timur = page.locator('section[data-referral]', { hasText: TIMUR.name });
    const referral = await timur.getAttribute('data-referral');
    await timur.getByRole('button', { name: m['head-refuse'], exact: true }).click();
    await summaryLeadsTo(page, m, `reason-${referral}`, m['form-error-reason']);
    await fits(page, 'kindergarten-refuse-error-kk');
    await page.keyboard.type('Ата-анасы басқа қалаға көшті');
    await page.locator(`#refuse-${referral}`).click();
    await page.waitForURL(/done=refused$/);
    assert.equal(await text(page.locator('#notice')), m['notice-refused']);
    assert.equal(await page.locator('section[data-referral]').count(), 1);

    // In Russian, the other child is enrolled under a contract, sent with the keyboard.
    await switchLanguage(page, 'ru');
    const ru = msgs.ru;
    const alikhan = page.locator('section[data-referral]', { hasText: ALIKHAN.name });
    const other = await alikhan.getAttribute('data-referral');
    await alikhan.getByLabel(ru['head-contract-date'], { exact: true }).fill(almatyToday());
    await alikhan.getByLabel(ru['head-contract-no'], { exact: true }).focus();
    assert.ok(await focusIsVisible(page), 'the focus on the contract number is visible');
    await page.keyboard.type('Д-118');
    await page.keyboard.press('Tab');
    await waitForFocus(page, `contract_date-${other}`);
    assert.ok(await focusIsVisible(page), 'the focus on the contract date is visible');
    await page.keyboard.press('Shift+Tab');
    await waitForFocus(page, `contract_no-${other}`);
    await page.keyboard.press('Enter');
    await page.waitForURL(/done=enrolled$/);
    assert.equal(await text(page.locator('#notice')), ru['notice-enrolled']);
    assert.equal(await text(page.locator('main > p').filter({ hasText: ru['head-referrals-none'] })), ru['head-referrals-none']);
    await fits(page, 'kindergarten-enrolled-ru');
  } finally {
    await context.close();
  }
});

test("the auditor reads the head's hand-made change in the page's language, in kk and en", async () => {
  assert.ok(raised, 'the head raised a group by hand');
  const auditor = demoLogin(server, 'auditor');
  const report = await (await fetch(`${server.url}/api/v1/regions/${region.id}/honesty`,
    { headers: { authorization: `Bearer ${await apiToken(server, auditor.iin)}` } })).json();
  const finding = report.findings.find((f) => f.kind === 'enrolled_raised_by_hand' && f.object_id === raised.id);
  assert.ok(finding, `the API finds the raise: ${JSON.stringify(report)}`);
  assert.deepEqual([finding.params.from, finding.params.to], [raised.from, raised.to]);
  const places = await (await fetch(`${server.url}/api/v1/regions/${region.id}/places`)).json();
  const group = places.find((g) => g.group_id === raised.id);
  const { organization } = await headOfKindergarten();

  const { context, page } = await signIn(chromium.browser, server.url, msgs.kk, 'kk', auditor.iin, { viewport: PHONE });
  try {
    await page.locator('a[data-start="auditor"]').click();
    await page.waitForURL(`${server.url}/regions/${region.id}/honesty`);
    for (const lang of ['kk', 'en']) {
      if (lang !== 'kk') await switchLanguage(page, lang);
      const m = msgs[lang];
      const item = page.locator(`li[data-kind="enrolled_raised_by_hand"]`).filter({ hasText: organization.name[lang] });
      assert.equal(await text(item.locator('strong')), m['finding-enrolled_raised_by_hand']);
      const groupName = fill(m['group-name'], { band: group.age_band, language: m[`language-${group.language}`] });
      assert.equal(await text(item.locator('[data-object]')), fill(m['object-group-named'], { kindergarten: organization.name[lang], group: groupName }));
      assert.equal(await text(item.locator('[data-detail]')), fill(m['finding-detail-enrolled_raised_by_hand'], finding.params));
      await fits(page, `honesty-${lang}`);
      // The page's links are reached with the keyboard, visibly.
      await page.locator('#main').focus();
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement.tagName), 'A');
      assert.ok(await focusIsVisible(page), 'the focus on the first link is visible');
    }
  } finally {
    await context.close();
  }
});
