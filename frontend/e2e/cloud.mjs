// The camera cloud end to end in Chromium: an owner of an empty account
// connects a Safie account in 設定 › カメラクラウド（Safie） with the API key
// of the project's Safie fake (served by internal/e2efakes/cmd/fakes), sees
// its POS-option camera listed as the cloud labels it —
// 「レジ前カメラ (CC-2L_SF : 201000192)」 — and not the one without the
// option, links the Smaregi fake's register to it in the portal, rings up
// a sale there, and sees the receipt arrive with its picture: the picture
// the cloud drew of that second, whose clock the fakes' /decode reads back
// (the sale's own second ±1 s). A wrong key first: its sentence stands at
// the APIキー field. Last, a second connection by OAuth through the fake's
// consent page and /oauth/safie/callback; then, once the cloud's person
// events of the sale's minute can be asked, 人検知 1人 on the card.
//
//   node e2e/cloud.mjs                    (run.mjs calls it after the first-use run)
//   REGICAM_BIN=… E2E_FAKES_BIN=… node e2e/cloud.mjs
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { buildAndStartFakes, freePort, lineOf, stop } from './setup.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const artifacts = join(here, 'artifacts');
const chromePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const OWNER = { email: 'owner@e2e-cloud.example', password: 'Owner-Passw0rd', name: '店長' };
const LABEL = 'レジ前カメラ (CC-2L_SF : 201000192)';
// The sentence of SAFIE_AUTH (src/errors/messages.ts), its first clause.
const SAFIE_AUTH = 'Safie が API キーを受け付けませんでした';

export async function runCloudE2E({ bin, fakesBin, log = console.log } = {}) {
  const started = Date.now();
  const say = (...a) => log(`[cloud-e2e ${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
  mkdirSync(artifacts, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'regicam-cloud-e2e-'));
  let fakes, browser, server, context;
  const f = {};
  try {
    let fk;
    ({ bin, fakesBin, fakes, fk } = await buildAndStartFakes({ bin, fakesBin, tmp, say }));
    assert.ok(fk.safie && fk.safieKey, `the fakes print the Safie fake: ${JSON.stringify(fk)}`);
    say('fakes up: safie', fk.safie, 'smaregi', fk.smaregi);

    const data = join(tmp, 'data');
    const out = execFileSync(bin, ['user', 'create', '--email', OWNER.email, '--password', '-', '--name', OWNER.name, '--account', 'E2E クラウド商店', '--data-dir', data],
      { cwd: tmp, input: OWNER.password + '\n', encoding: 'utf8' });
    assert.match(out, /created OWNER/);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    server = spawn(bin, [
      '--addr', `127.0.0.1:${port}`, '--data-dir', data, '--demo=false', '--public-url', base, '--cors-origins', base,
      '--smaregi-id-url', fk.smaregi, '--smaregi-api-url', fk.smaregi, '--poll-interval', '1s', '--log-level', 'info',
      '--safie-base-url', fk.safie, '--safie-pos-item-id', fk.safiePosItem ?? '5',
      '--safie-client-id', fk.safieClient,
    ], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REGICAM_SAFIE_CLIENT_SECRET: fk.safieSecret } });
    server.stderr.pipe(createWriteStream(join(artifacts, 'server-cloud.log')));
    server.stdout.resume();
    for (let i = 0; ; i++) {
      try { if ((await fetch(base + '/healthz')).ok) break; } catch { /* not yet */ }
      if (server.exitCode !== null) throw new Error(`server exited (${server.exitCode}); see e2e/artifacts/server-cloud.log`);
      if (i > 300) throw new Error('server not healthy');
      await new Promise((r) => setTimeout(r, 100));
    }

    browser = await chromium.launch({
      executablePath: chromePath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'ja-JP', timezoneId: 'Asia/Tokyo' });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push('pageerror: ' + e.message));
    const shot = (name) => page.screenshot({ path: join(artifacts, `cloud-${name}.png`), fullPage: true });

    let cookie = '';
    const api = async (query, variables = {}) => {
      const r = await fetch(base + '/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json', Cookie: cookie }, body: JSON.stringify({ query, variables }) });
      const j = await r.json();
      if (j.errors) throw new Error(JSON.stringify(j.errors));
      return j.data;
    };

    // Sign in; the account is new, so it lands on the checklist. A shop, as
    // the checklist's ② would make it.
    await page.goto(base + '/');
    await page.getByLabel('メールアドレス').fill(OWNER.email);
    await page.getByLabel('パスワード').fill(OWNER.password);
    await page.getByRole('button', { name: 'ログイン' }).click();
    await page.getByRole('heading', { name: '初期設定' }).waitFor();
    cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    await api('mutation { createShop(input: { name: "渋谷店", timezone: "Asia/Tokyo" }) { id } }');

    // 設定 › カメラクラウド（Safie）: a wrong key speaks at the APIキー field.
    await page.goto(base + '/#/settings');
    const cloud = page.getByTestId('camera-cloud');
    await cloud.getByRole('heading', { name: 'カメラクラウド（Safie）' }).waitFor();
    const form = cloud.getByTestId('cloud-connect');
    await form.getByLabel('名前').fill('Safie 本部');
    await form.getByLabel('APIキー').fill('not-the-key');
    await form.getByRole('button', { name: 'API キーで接続' }).click();
    const keyErr = form.locator('#cc-key-err');
    await keyErr.waitFor();
    const keyErrText = (await keyErr.textContent()).trim();
    assert.ok(keyErrText.startsWith(SAFIE_AUTH), `the wrong key's sentence at the APIキー field: ${keyErrText}`);
    assert.equal(await form.getByLabel('APIキー').getAttribute('aria-invalid'), 'true');
    assert.match(await form.getByLabel('APIキー').getAttribute('aria-describedby'), /cc-key-err/);
    assert.ok(!(await page.content()).includes('not-the-key'), 'the key is not echoed');
    say('wrong key says:', keyErrText);
    await shot('1-wrong-key');

    // The fake's key: the POS-option device is listed, the other is not.
    await form.getByLabel('APIキー').fill(fk.safieKey);
    const tConnect = Date.now();
    await form.getByRole('button', { name: 'API キーで接続' }).click();
    const row = cloud.locator('tr[data-connection]');
    await row.waitFor();
    await row.getByTestId('cloud-cameras').getByText(LABEL, { exact: false }).waitFor();
    f.connectMs = Date.now() - tConnect;
    const rowText = await row.textContent();
    assert.ok(rowText.includes(LABEL), `listed: ${rowText}`);
    assert.ok(!rowText.includes('事務所カメラ'), `the device without the POS option is not a camera: ${rowText}`);
    assert.match(rowText, /APIキー/);
    assert.match(await row.getByTestId('cloud-status').textContent(), /正常/);
    assert.ok(!rowText.includes(fk.safieKey), 'the key never comes back');
    const listed = JSON.stringify(await api('{ cameraCloudConnections { name secretHint status lastError cameras { name } } }'));
    assert.ok(!listed.includes(fk.safieKey), 'the API never answers the key');
    say(`connected in ${f.connectMs} ms:`, rowText.replace(/\s+/g, ' ').trim());
    await shot('2-connected');
    // The camera list of 設定 shows it as a cloud camera, not editable by hand.
    const camRow = page.getByTestId('cameras').locator('tbody tr', { hasText: 'レジ前カメラ' });
    await camRow.waitFor();
    assert.match(await camRow.textContent(), /クラウド/);
    assert.equal(await camRow.getByRole('button', { name: '編集' }).count(), 0, 'a cloud camera is not edited by hand');

    // 今すぐ同期 answers with the same camera.
    await row.getByRole('button', { name: '今すぐ同期' }).click();
    await cloud.getByText('を同期しました').waitFor();

    // The portal: the Smaregi fake's register 9 on the cloud camera.
    await page.goto(base + '/#/portal');
    await page.getByRole('heading', { name: 'カメラ - POS 認証連携ポータル' }).waitFor();
    await page.getByRole('button', { name: '新規設定追加' }).click();
    const dlg = page.getByTestId('add-smaregi');
    await dlg.getByLabel('契約ID').fill(fk.contract);
    await dlg.getByLabel('クライアントID').fill(fk.client);
    await dlg.getByLabel('クライアントシークレット').fill(fk.secret);
    await dlg.getByLabel('端末ID').fill('9');
    const options = await dlg.getByLabel('カメラ').locator('option').allTextContents();
    assert.ok(options.some((o) => o.startsWith(LABEL) && o.includes('クラウド')), `the cloud camera is offered: ${options}`);
    assert.ok(!options.some((o) => o.includes('事務所カメラ')), `not the office camera: ${options}`);
    const value = await dlg.getByLabel('カメラ').locator('option', { hasText: LABEL }).getAttribute('value');
    await dlg.getByLabel('カメラ').selectOption(value);
    await dlg.getByRole('button', { name: '追加' }).click();
    await page.getByTestId('success').waitFor({ timeout: 60_000 });
    await page.getByTestId('success').getByRole('button', { name: 'OK' }).click();
    const linkRow = page.getByTestId('table-SMAREGI').locator('tr[data-terminal="9"]');
    await linkRow.waitFor();
    await linkRow.getByTestId('chosen-cloud').waitFor();
    say('register 9 linked to', LABEL);
    await shot('3-portal');

    // A sale at the Smaregi fake, a full second after the link began.
    await page.waitForTimeout(1100);
    const sale = await fetch(fk.control + '/smaregi/ringup', { method: 'POST', body: JSON.stringify({ terminalId: '9', total: 2400, staffName: '佐藤' }) }).then((r) => r.json());
    const t0 = Date.now();
    say('sale rung up', sale);
    // A stretch the cloud did not record, well before the sale: the timeline's 録画なし.
    // Someone at the counter 10 s after the sale: the card will say 人検知 1人
    // once the cloud's person events are in (a minute and more later).
    const evR = await fetch(fk.control + '/safie/event', { method: 'POST', body: JSON.stringify({ deviceId: 'e2e-device-regi', type: 'person', atMs: sale.atMs + 10_000 }) });
    assert.equal(evR.status, 204, 'the fake logs a person event');
    const gapR = await fetch(fk.control + '/safie/gap', { method: 'POST', body: JSON.stringify({ deviceId: 'e2e-device-regi', fromMs: sale.atMs - 20 * 60_000, toMs: sale.atMs - 12 * 60_000 }) });
    assert.equal(gapR.status, 204, 'the fake cuts a recording gap');

    // The dashboard: the receipt with the cloud's picture of its second.
    await page.goto(base + '/#/');
    const card = page.locator('.card').first();
    await card.waitFor({ timeout: 60_000 });
    await page.waitForFunction(() => { const i = document.querySelector('.card img.thumb'); return i && i.complete && i.naturalWidth > 0; }, null, { timeout: 60_000 });
    f.saleToPicture = Date.now() - t0;
    const src = await card.locator('img.thumb').getAttribute('src');
    const jpeg = Buffer.from(await (await fetch(base + src, { headers: { Cookie: cookie } })).arrayBuffer());
    const dec = await fetch(fk.control + '/decode', { method: 'POST', body: jpeg }).then((r) => r.json());
    assert.ok(dec.unixMs, `the cloud's picture carries a readable clock: ${JSON.stringify(dec)}`);
    assert.ok(Math.abs(dec.unixMs - sale.atMs) <= 1000, `picture at ${dec.time} is the sale's second ${new Date(sale.atMs).toISOString()} ±1 s`);
    const j = await api('{ journal(first: 1) { edges { node { occurredAt thumbnail { skewKnown } camera { name sourceKind } clip { url unavailableReason } } } } }');
    const e = j.journal.edges[0].node;
    assert.equal(Date.parse(e.occurredAt), sale.atMs, 'the entry keeps the sale time');
    assert.equal(e.camera?.sourceKind, 'CLOUD');
    assert.equal(e.thumbnail.skewKnown, false, 'a cloud picture has no known skew');
    assert.equal(e.clip.url, null);
    say(`receipt with its picture after ${f.saleToPicture} ms; picture decodes to ${dec.time} for a sale at ${new Date(sale.atMs).toISOString()}`);

    // Its detail: the skew is 不明, the clip says why there is no video.
    await card.click();
    const caption = page.getByTestId('picture-caption');
    await caption.waitFor();
    assert.match(await caption.textContent(), /ずれ: 不明（クラウド録画）/);
    assert.equal((await page.getByTestId('clip').textContent()).includes(e.clip.unavailableReason), true);
    // A recording gap the cloud reports is hatched 録画なし on the timeline (1H span).
    await page.getByTestId('back-to-now').click();
    const gap = page.locator('.timeline [data-testid=nomark]').first();
    await gap.waitFor({ timeout: 30_000 });
    assert.match(await gap.locator('title').textContent(), /^録画なし /);
    assert.match(await page.getByTestId('nomark-list').textContent(), /録画なし .* から .* まで/);
    await shot('4-receipt');

    // OAuth: 「Safie でログインして接続」 goes to Safie's consent page (the
    // fake approves at once) and back through /oauth/safie/callback to 設定.
    await page.goto(base + '/#/settings');
    const form2 = page.getByTestId('camera-cloud').getByTestId('cloud-connect');
    await form2.getByLabel('名前').fill('Safie OAuth');
    await form2.getByRole('button', { name: 'Safie でログインして接続' }).click();
    await page.getByText('Safie と接続しました。').waitFor({ timeout: 30_000 });
    assert.equal(new URL(page.url()).search, '', 'the way back is read once and dropped from the address');
    const oauthRow = page.getByTestId('camera-cloud').locator('tr[data-connection]', { hasText: 'Safie OAuth' });
    await oauthRow.waitFor();
    assert.match(await oauthRow.textContent(), /OAuth/);
    say('OAuth connection:', (await oauthRow.textContent()).replace(/\s+/g, ' ').trim());
    await shot('5-oauth');
    // The same section on a phone.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByTestId('camera-cloud').screenshot({ path: join(artifacts, 'cloud-6-phone.png') });

    // Was anyone there? The presence check counts the person event beside
    // the sale once the events API can be asked for its minute (≥ 90 s
    // after the sale, checked every 30 s), and the live card shows it.
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(base + '/#/');
    const persons = page.locator('.card').first().getByTestId('persons');
    await persons.waitFor({ timeout: Math.max(10_000, sale.atMs + 200_000 - Date.now()) });
    f.saleToPersons = Date.now() - t0;
    assert.equal((await persons.textContent()).trim(), '人検知 1人');
    const pj = await api('{ journal(first: 1) { edges { node { personsNearby personsCheckedAt } } } }');
    assert.equal(pj.journal.edges[0].node.personsNearby, 1);
    say(`人検知 1人 on the card ${f.saleToPersons} ms after the sale`);
    await shot('7-persons');

    assert.deepEqual(consoleErrors, [], 'no console errors');
    console.log('\nCAMERA-CLOUD FIGURES');
    console.log(`  connect (key checked, devices synced) ${f.connectMs} ms; sale → receipt with the cloud's picture on screen ${f.saleToPicture} ms; picture shows ${dec.time} for a sale at ${new Date(sale.atMs).toISOString()} (${dec.unixMs - sale.atMs} ms); 人検知 on the card ${f.saleToPersons} ms after the sale`);
    say('camera-cloud e2e passed');
    return f;
  } catch (e) {
    try { const p = context?.pages()[0]; if (p) await p.screenshot({ path: join(artifacts, 'cloud-failure.png'), fullPage: true }); } catch { /* ignore */ }
    throw e;
  } finally {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await stop(server);
    fakes?.stdin.end();
    await stop(fakes);
    if (!process.env.E2E_KEEP) rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runCloudE2E({ bin: process.env.REGICAM_BIN, fakesBin: process.env.E2E_FAKES_BIN }).catch((e) => {
    console.error('camera-cloud e2e FAILED:', e);
    process.exit(1);
  });
}
