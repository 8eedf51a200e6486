// Issue 18 in the browser, as the demo OWNER: a rule built from conditions
// (キャンセル and 金額 ≥ 1000) is tried over the last 7 days (its hits
// shown) and saved; スタッフ分析 shows its table; メール・日報 saves the
// mail server (no message is sent). Each screen at 1280 and 390 px passes
// axe-core (serious/critical), has no horizontal overflow, and on the phone
// its controls are 44 px to tap.
//
//   run.mjs calls runRulesE2E() after the screen checks of the demo run.
//   E2E_ONLY=rules npm run e2e     only the demo server and this module
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
const axePath = join(here, '..', 'node_modules', 'axe-core', 'axe.min.js');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

async function axeClean(page, screen) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.addScriptTag({ path: axePath });
  const v = await page.evaluate(async (tags) => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return r.violations.map((x) => ({ id: x.id, impact: x.impact, targets: x.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  }, AXE_TAGS);
  const bad = v.filter((x) => x.impact === 'serious' || x.impact === 'critical');
  assert.deepEqual(bad, [], `axe on ${screen}: ${JSON.stringify(bad)}`);
  return v.length;
}

async function noOverflow(page, screen) {
  const o = await page.evaluate(() => {
    const sw = document.scrollingElement.scrollWidth, iw = innerWidth;
    const out = sw > iw ? [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > iw + 1).slice(-4)
      .map((el) => `${el.tagName.toLowerCase()}.${String(el.className)} right=${Math.round(el.getBoundingClientRect().right)}`) : [];
    return { sw, iw, out };
  });
  assert.ok(o.sw <= o.iw, `${screen}: page is ${o.sw} px wide on a ${o.iw} px screen; ${o.out.join('; ')}`);
}

/** On a phone, everything of these screens one taps is 44 px. */
async function touchTargets(page, screen, sels) {
  const bad = await page.evaluate((sels) => {
    const out = [];
    for (const s of sels) document.querySelectorAll(s).forEach((el) => {
      const b = el.getBoundingClientRect();
      if (b.width === 0 && b.height === 0) return;
      if (b.width < 43.5 || b.height < 43.5) out.push(`${s} 「${(el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 12)}」 ${Math.round(b.width)}×${Math.round(b.height)}`);
    });
    return out;
  }, sels);
  assert.deepEqual(bad, [], `${screen}: below 44 px: ${bad.join('; ')}`);
}

const BUILDER_TAPS = ['[data-testid=rule-builder] button', '[data-testid=rule-builder] select', '[data-testid=rule-builder] input:not([type=checkbox])', '[data-testid=rule-builder] label.check', '[data-testid=rule-form] .preview-box button'];
const STAFF_TAPS = ['[data-testid=staff-outliers] .seg button', '[data-testid=staff-outliers] label.check', '[data-testid=staff-table] .linkish', '[data-testid=staff-outliers] select'];
const MAIL_TAPS = ['[data-testid=mail-form] button', '[data-testid=mail-form] input:not([type=checkbox])', '[data-testid=mail-form] select', '[data-testid=digest-rules] button'];

/** Opens 条件を組み合わせる with キャンセル and 金額 ≥ 1000 and tries it over 7 days. */
async function buildRule(page, name) {
  const form = page.getByTestId('rule-form');
  await form.waitFor();
  await form.getByLabel('名前', { exact: true }).fill(name);
  await form.getByLabel('種類', { exact: true }).selectOption('CUSTOM');
  const builder = page.getByTestId('rule-builder');
  await builder.waitFor();
  assert.ok(await builder.getByLabel('キャンセル', { exact: true }).isChecked(), 'キャンセル is the first condition');
  await builder.getByLabel('追加する条件').selectOption('amount');
  await builder.getByRole('button', { name: '条件を追加' }).click();
  await builder.getByLabel('下限（円以上）').fill('1000');
  const t0 = Date.now();
  await form.getByRole('button', { name: '過去 7 日で試す' }).click();
  const hits = Number((await form.getByTestId('preview-hits').textContent({ timeout: 30_000 })).replace(/,/g, ''));
  return { hits, ms: Date.now() - t0 };
}

export async function runRulesE2E(page, { browser, base, creds, api, direct, artifacts, log = console.log }) {
  const figures = {};
  const dir = join(artifacts, 'rules');
  mkdirSync(dir, { recursive: true });

  // Receipts the rule must find, and sales for the staff table.
  const key = (await api('mutation($n:String!,$s:[String!]!){ createApiKey(name:$n, scopes:$s){ key } }', { n: 'e2e-rules', s: ['journal:write'] })).createApiKey.key;
  const terms = await api('{ terminals(first: 50) { edges { node { id externalID } } } }');
  const term = terms.terminals.edges.map((e) => e.node).find((n) => n.externalID === '1') ?? terms.terminals.edges[0].node;
  const now = Date.now();
  const items = [];
  for (let i = 0; i < 6; i++) items.push({ terminalID: term.id, externalID: `e2e-rules-p${i}`, kind: 'PAYMENT', occurredAt: new Date(now - 60_000 * (i + 2)).toISOString(), receiptNo: `RP${i}`, registerNo: '1', staffName: 'E2Eルール', total: 1500 + i, paymentMethod: '現金' });
  for (let i = 0; i < 3; i++) items.push({ terminalID: term.id, externalID: `e2e-rules-p${i}`, kind: 'CANCEL', occurredAt: new Date(now - 30_000 * (i + 1)).toISOString(), receiptNo: `RC${i}`, registerNo: '1', staffName: 'E2Eルール', total: 1500 + i, paymentMethod: '現金' });
  const res = await fetch(direct + '/graphql', {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + key },
    body: JSON.stringify({ query: 'mutation($in:[JournalInput!]!){ ingestJournal(input:$in){ status error { message } } }', variables: { in: items } }),
  }).then((r) => r.json());
  assert.ok(!res.errors && res.data.ingestJournal.every((x) => x.status !== 'FAILED'), 'ingest: ' + JSON.stringify(res));

  // 1. The rule builder at 1280: build, try over 7 days, save.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(base + '/#/settings');
  const { hits, ms } = await buildRule(page, 'E2E 高額キャンセル');
  assert.ok(hits >= 3, `the preview finds the 3 cancels of ¥1,500 (said ${hits})`);
  figures.preview7 = { hits, ms };
  log(`rules: 過去 7 日で試す → ${hits} hits in ${ms} ms`);
  assert.ok(await page.locator('[data-testid=rule-preview] rect.bar').count() === 7, 'a bar per day');
  assert.ok(await page.locator('[data-testid=preview-examples] li').count() >= 3, 'examples listed');
  await page.getByTestId('rule-builder').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(dir, 'builder-1280.png') });
  await axeClean(page, 'rule builder with preview (1280)');
  await noOverflow(page, 'rule builder (1280)');
  await page.getByTestId('rule-form').getByRole('button', { name: 'ルールを追加' }).click();
  await page.getByTestId('rule-form').getByText('ルール「E2E 高額キャンセル」を追加しました').waitFor();
  const row = page.getByTestId('alert-rules').locator('tr', { hasText: 'E2E 高額キャンセル' });
  await row.waitFor();
  assert.match(await row.textContent(), /キャンセル かつ 金額 1,000 円以上/);
  log('rules: CUSTOM rule saved:', (await row.locator('td[data-label=条件]').textContent()).trim());

  // 2. スタッフ分析.
  await page.getByRole('link', { name: 'スタッフ分析' }).click();
  const table = page.getByTestId('staff-table');
  await table.waitFor({ timeout: 30_000 });
  const staffRows = await table.locator('tbody tr').count();
  assert.ok(await table.locator('tr[data-staff="E2Eルール"]').count() === 1, 'the staff member of the ingested receipts is listed');
  log(`rules: スタッフ分析 lists ${staffRows} staff`);
  await page.screenshot({ path: join(dir, 'staff-1280.png'), fullPage: true });
  await axeClean(page, 'スタッフ分析 (1280)');
  await noOverflow(page, 'スタッフ分析 (1280)');
  await table.getByRole('button', { name: 'E2Eルール の取引を見る' }).click();
  await page.getByTestId('staff-entries').locator('li.example').first().waitFor();

  // 3. メール・日報: save the SMTP settings (nothing is sent).
  await page.getByRole('link', { name: '設定' }).click();
  const mail = page.getByTestId('mail-form');
  await mail.waitFor();
  await mail.getByLabel('サーバー名').fill('127.0.0.1');
  await mail.getByLabel('暗号化').selectOption('STARTTLS');
  await mail.getByLabel('ポート').fill('2525');
  await mail.getByLabel('ユーザー名').fill('e2e');
  await mail.getByLabel(/^パスワード/).fill('e2e-mail-Passw0rd');
  await mail.getByLabel('差出人アドレス').fill('regicam@e2e.local');
  await mail.getByRole('button', { name: '保存' }).click();
  await mail.getByText('メールの設定を保存しました').waitFor();
  await mail.getByTestId('password-saved').waitFor();
  assert.equal(await mail.getByLabel(/^パスワード/).inputValue(), '', 'the password is not shown back');
  const stored = await api('{ mailSettings { host port hasPassword } }');
  assert.deepEqual(stored.mailSettings, { host: '127.0.0.1', port: 2525, hasPassword: true });
  log('rules: mail settings saved (保存済み)');
  await mail.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(dir, 'mail-1280.png') });
  await axeClean(page, 'メール・日報 (1280)');
  await noOverflow(page, 'メール・日報 (1280)');

  // 4. The same screens on a phone.
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true, locale: 'ja-JP', timezoneId: 'Europe/London' });
  const phone = await ctx.newPage();
  phone.setDefaultTimeout(20_000);
  const errors = [];
  phone.on('pageerror', (e) => errors.push(e.message));
  try {
    await phone.goto(base + '/');
    await phone.getByLabel('メールアドレス').fill(creds.email);
    await phone.getByLabel('パスワード').fill(creds.password);
    await phone.getByRole('button', { name: 'ログイン' }).click();
    await phone.getByTestId('me').waitFor({ state: 'attached' });
    await phone.goto(base + '/#/settings');
    const p = await buildRule(phone, 'E2E 電話で試す');
    log(`rules 390: preview ${p.hits} hits`);
    await phone.getByTestId('rule-builder').scrollIntoViewIfNeeded();
    await phone.screenshot({ path: join(dir, 'builder-390.png') });
    await axeClean(phone, 'rule builder with preview (390)');
    await noOverflow(phone, 'rule builder (390)');
    await touchTargets(phone, 'rule builder (390)', BUILDER_TAPS);
    await phone.getByTestId('mail-form').scrollIntoViewIfNeeded();
    await phone.screenshot({ path: join(dir, 'mail-390.png') });
    await noOverflow(phone, 'メール・日報 (390)');
    await touchTargets(phone, 'メール・日報 (390)', MAIL_TAPS);
    await phone.goto(base + '/#/staff');
    await phone.getByTestId('staff-table').waitFor({ timeout: 30_000 });
    await phone.screenshot({ path: join(dir, 'staff-390.png'), fullPage: true });
    await axeClean(phone, 'スタッフ分析 (390)');
    await noOverflow(phone, 'スタッフ分析 (390)');
    await touchTargets(phone, 'スタッフ分析 (390)', STAFF_TAPS);
    assert.deepEqual(errors, [], 'no page errors on the phone');
  } finally {
    await ctx.close();
  }
  log('rules e2e passed', JSON.stringify(figures));
  return figures;
}
