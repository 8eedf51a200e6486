// Ubiregi end to end in Chromium: a fresh owner (an empty database, no
// demo) links a Ubiregi account through OAuth — the portal's
// 「Ubiregi OAuth2 連携」, the Ubiregi fake's consent page (served by
// internal/e2efakes/cmd/fakes), 許可する, back through
// /oauth/ubiregi/callback to the portal — after a first try refused with
// 拒否する, which the portal words. The account's register appears in the
// ユビレジ table; the owner picks a camera for it (the simulated camera of
// the fakes, a JPEG snapshot source with a readable clock) and presses
// 更新. Bills paid at the fake after that arrive on the dashboard through
// regicam's poller, each with the picture of its second: the thumbnail's
// clock, read back by the fakes' /decode, is the sale's second within the
// frame tolerance.
//
// Then the demo (`regicam --demo`): its tenant is already linked to the
// built-in Ubiregi fake, whose register (ユビレジ デモカフェ) watches the
// demo's camera and rings up bills with their pictures; the demo's owner
// links the fake's account again through the same button and consent page.
//
//   node e2e/ubiregi.mjs                    (run.mjs calls it; E2E_ONLY=ubiregi runs only it)
//   REGICAM_BIN=… E2E_FAKES_BIN=… node e2e/ubiregi.mjs
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
const FRAME_TOLERANCE_MS = 2000; // the server's --frame-tolerance (default 2s)
const OWNER = { email: 'owner@e2e-ubiregi.example', password: 'Owner-Passw0rd', name: '店長' };
const CAMERA = 'レジ横カメラ';

export async function runUbiregiE2E({ bin, fakesBin, log = console.log } = {}) {
  const started = Date.now();
  const say = (...a) => log(`[ubiregi-e2e ${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
  mkdirSync(artifacts, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'regicam-ubiregi-e2e-'));
  let fakes, browser, server, context;
  const f = {};
  try {
    let fk;
    ({ bin, fakesBin, fakes, fk } = await buildAndStartFakes({ bin, fakesBin, tmp, say }));
    assert.ok(fk.ubiregi && fk.ubiregiClient && fk.ubiregiAccount, `the fakes print the Ubiregi fake: ${JSON.stringify(fk)}`);
    say('fakes up: ubiregi', fk.ubiregi, 'camera', fk.snapshot);

    const data = join(tmp, 'data');
    const out = execFileSync(bin, ['user', 'create', '--email', OWNER.email, '--password', '-', '--name', OWNER.name, '--account', 'E2E ユビレジ商店', '--data-dir', data],
      { cwd: tmp, input: OWNER.password + '\n', encoding: 'utf8' });
    assert.match(out, /created OWNER/);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // The OAuth client comes from the environment only (a flag would show
    // it in the process list).
    server = spawn(bin, [
      '--addr', `127.0.0.1:${port}`, '--data-dir', data, '--demo=false', '--public-url', base, '--cors-origins', base,
      '--ubiregi-auth-url', fk.ubiregi, '--ubiregi-api-url', fk.ubiregiApi, '--poll-interval', '1s', '--log-level', 'info',
    ], {
      cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, REGICAM_UBIREGI_CLIENT_ID: fk.ubiregiClient, REGICAM_UBIREGI_CLIENT_SECRET: fk.ubiregiSecret },
    });
    server.stderr.pipe(createWriteStream(join(artifacts, 'server-ubiregi.log')));
    server.stdout.resume();
    for (let i = 0; ; i++) {
      try { if ((await fetch(base + '/healthz')).ok) break; } catch { /* not yet */ }
      if (server.exitCode !== null) throw new Error(`server exited (${server.exitCode}); see e2e/artifacts/server-ubiregi.log`);
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
    page.on('response', (r) => { if (r.status() >= 400) consoleErrors.push(`${r.status()} ${r.url()}`); });
    const shot = (name) => page.screenshot({ path: join(artifacts, `ubiregi-${name}.png`), fullPage: true });

    let cookie = '';
    const api = async (query, variables = {}) => {
      const r = await fetch(base + '/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json', Cookie: cookie }, body: JSON.stringify({ query, variables }) });
      const j = await r.json();
      if (j.errors) throw new Error(JSON.stringify(j.errors));
      return j.data;
    };

    // Sign in; the account is new. A shop and a camera, as the checklist's
    // ① and ② would make them (setup.mjs drives those screens).
    await page.goto(base + '/');
    await page.getByLabel('メールアドレス').fill(OWNER.email);
    await page.getByLabel('パスワード').fill(OWNER.password);
    await page.getByRole('button', { name: 'ログイン' }).click();
    await page.getByRole('heading', { name: '初期設定' }).waitFor();
    cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    await api('mutation { createShop(input: { name: "原宿店", timezone: "Asia/Tokyo" }) { id } }');
    const cam = await api('mutation($u: String!) { createCamera(input: { name: "' + CAMERA + '", model: "SNAP-E2E", deviceID: "E2E-UBIREGI", posOption: true, source: { kind: SNAPSHOT, url: $u }, requireSourceOK: true }) { id } }', { u: fk.snapshot });
    const cameraID = cam.createCamera.id;
    say('shop and camera', cameraID);

    // The portal: no Ubiregi account yet.
    await page.goto(base + '/#/portal');
    await page.getByRole('heading', { name: 'カメラ - POS 認証連携ポータル' }).waitFor();
    const table = page.getByTestId('table-UBIREGI');
    await table.getByText('連携しているユビレジのアカウントはありません。').waitFor();
    const connect = table.getByRole('button', { name: 'Ubiregi OAuth2 連携' });
    assert.equal(await connect.isEnabled(), true, 'the server has a Ubiregi OAuth client');
    await shot('1-portal-empty');

    // First try: the owner refuses on Ubiregi's consent page.
    await connect.click();
    await page.waitForURL((u) => u.origin === fk.ubiregi);
    await page.getByRole('heading', { name: 'アプリ連携の許可' }).waitFor();
    assert.match(await page.getByTestId('ubiregi-account').textContent(), new RegExp(`E2E カフェ \\(${fk.ubiregiAccount}\\)`));
    await page.getByRole('button', { name: '拒否する' }).click();
    await page.waitForURL((u) => u.origin === base);
    const refused = page.getByRole('alert').filter({ hasText: 'ユビレジ連携に失敗しました。' });
    await refused.waitFor();
    say('refused on the consent page:', (await refused.textContent()).trim());
    assert.equal(await table.locator('tr[data-terminal]').count(), 0, 'nothing linked after 拒否する');
    await shot('2-refused');

    // Again, and 許可する: back in the portal with the account's register.
    const tConnect = Date.now();
    await table.getByRole('button', { name: 'Ubiregi OAuth2 連携' }).click();
    await page.waitForURL((u) => u.origin === fk.ubiregi);
    await page.getByRole('heading', { name: 'アプリ連携の許可' }).waitFor();
    await shot('3-consent');
    await page.getByRole('button', { name: '許可する' }).click();
    await page.waitForURL((u) => u.origin === base);
    await page.getByText('ユビレジと連携しました。').waitFor();
    f.consentToPortal = Date.now() - tConnect;
    assert.equal(new URL(page.url()).search, '', 'the way back is read once and dropped from the address');
    const row = table.locator(`tr[data-terminal="${fk.ubiregiAccount}"]`);
    await row.waitFor();
    const rowText = (await row.textContent()).replace(/\s+/g, ' ').trim();
    assert.match(rowText, /OK/, `the connection is OK: ${rowText}`);
    assert.equal(await table.locator('tr[data-terminal]').count(), 1, 'one Ubiregi account is one register');
    say(`linked in ${f.consentToPortal} ms (button → consent → portal):`, rowText);
    const tokens = JSON.stringify(await api('{ linkSettings(provider: UBIREGI) { contractID status terminalExternalID secretHint } }'));
    assert.ok(!tokens.includes(fk.ubiregiSecret), 'the client secret never comes back');

    // A camera for the register, saved with 更新.
    const select = row.getByLabel(`端末 ${fk.ubiregiAccount} のカメラ`);
    await select.selectOption(cameraID);
    await shot('4-camera-chosen');
    await table.getByRole('button', { name: '更新', exact: true }).click();
    await page.getByTestId('success').getByText('1 件の端末のカメラを更新しました').waitFor();
    await page.getByTestId('success').getByRole('button', { name: 'OK' }).click();
    assert.equal(await table.locator(`tr[data-terminal="${fk.ubiregiAccount}"]`).getByLabel(`端末 ${fk.ubiregiAccount} のカメラ`).inputValue(), cameraID, 'the choice is saved');
    say('register', fk.ubiregiAccount, 'watched by', CAMERA);
    await shot('5-linked');

    // Two bills at Ubiregi, a full second after the link began (Ubiregi's
    // times are whole seconds).
    await page.waitForTimeout(1100);
    await page.goto(base + '/#/');
    const ring = (total, cashierId) => fetch(fk.control + '/ubiregi/checkout', { method: 'POST', body: JSON.stringify({ total, cashierId }) }).then((r) => r.json());
    const sales = [await ring(1980, 11)];
    await page.waitForTimeout(1500);
    sales.push(await ring(760, 12));
    const t0 = Date.now();
    say('bills paid at the Ubiregi fake', sales);

    // The dashboard: each bill's card, with the picture of its second.
    const decoded = [];
    for (const sale of sales) {
      const card = page.locator(`.card[data-receipt="${sale.guid}"]`);
      await card.waitFor({ timeout: 60_000 });
      await page.waitForFunction((g) => { const i = document.querySelector(`.card[data-receipt="${g}"] img.thumb`); return i && i.complete && i.naturalWidth > 0; }, sale.guid, { timeout: 60_000 });
      const src = await card.locator('img.thumb').getAttribute('src');
      const jpeg = Buffer.from(await (await fetch(base + src, { headers: { Cookie: cookie } })).arrayBuffer());
      const dec = await fetch(fk.control + '/decode', { method: 'POST', body: jpeg }).then((r) => r.json());
      assert.ok(dec.unixMs, `the picture carries a readable clock: ${JSON.stringify(dec)}`);
      assert.ok(Math.abs(dec.unixMs - sale.atMs) <= FRAME_TOLERANCE_MS, `picture at ${dec.time} is the bill's second ${new Date(sale.atMs).toISOString()} ±${FRAME_TOLERANCE_MS} ms`);
      assert.equal(await card.getAttribute('data-kind'), 'PAYMENT');
      decoded.push({ ...sale, decodedMs: dec.unixMs });
    }
    f.saleToPictures = Date.now() - t0;
    const j = await api('{ journal(first: 5) { edges { node { externalID kind total staffName receiptNo camera { name } terminal { name } } } } }');
    const nodes = j.journal.edges.map((e) => e.node);
    for (const [i, sale] of sales.entries()) {
      const e = nodes.find((n) => n.externalID === sale.id);
      assert.ok(e, `checkout ${sale.id} is in the journal: ${JSON.stringify(nodes)}`);
      assert.equal(e.kind, 'PAYMENT');
      assert.equal(e.total, [1980, 760][i]);
      assert.equal(e.staffName, ['山田', '佐藤'][i]);
      assert.equal(e.receiptNo, sale.guid);
      assert.equal(e.camera?.name, CAMERA);
    }
    assert.equal(nodes.filter((n) => sales.some((s) => s.id === n.externalID)).length, sales.length, 'each bill once');
    say(`both bills on the dashboard with their pictures ${f.saleToPictures} ms after the second was paid`);
    await shot('6-receipts');
    // The first bill's detail: its picture beside the receipt.
    await page.locator(`.card[data-receipt="${sales[0].guid}"]`).click();
    // With its clip recorded the receipt opens in the player; 静止画 shows the picture.
    if (await page.getByTestId('show-still').count()) await page.getByTestId('show-still').click();
    await page.getByTestId('receipt-picture').waitFor();
    await shot('7-detail');

    assert.deepEqual(consoleErrors, [], 'no console errors');
    await context.close();
    context = null;

    f.demo = await demoScenario({ bin, browser, tmp, say });

    console.log('\nUBIREGI FIGURES');
    console.log(`  portal button → consent → back in the portal: ${f.consentToPortal} ms; second bill paid → both cards with pictures on screen: ${f.saleToPictures} ms (poll interval 1 s)`);
    console.log(`  demo: a Ubiregi bill with its picture ${f.demo.entryAgeMs} ms old when seen; re-link through the consent page ${f.demo.relinkMs} ms`);
    for (const d of decoded) console.log(`  checkout ${d.id}: picture shows ${new Date(d.decodedMs).toISOString()} for a bill paid at ${new Date(d.atMs).toISOString()} (${d.decodedMs - d.atMs >= 0 ? '+' : ''}${d.decodedMs - d.atMs} ms)`);
    say('ubiregi e2e passed');
    return f;
  } catch (e) {
    try { const p = context?.pages()[0]; if (p) await p.screenshot({ path: join(artifacts, 'ubiregi-failure.png'), fullPage: true }); } catch { /* ignore */ }
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

/** The demo's Ubiregi: its register's bills with pictures, and the OAuth
 *  button, the fake's consent page and the way back, in demo mode. */
async function demoScenario({ bin, browser, tmp, say }) {
  const f = {};
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = { ...process.env };
  delete env.REGICAM_UBIREGI_CLIENT_ID; // a configured client would keep the demo's fake off
  delete env.REGICAM_UBIREGI_CLIENT_SECRET;
  const server = spawn(bin, [
    '--addr', `127.0.0.1:${port}`, '--data-dir', join(tmp, 'demo-data'), '--demo=true', '--demo-every', '1s',
    '--public-url', base, '--cors-origins', base, '--log-level', 'info',
  ], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'], env });
  server.stderr.pipe(createWriteStream(join(artifacts, 'server-ubiregi-demo.log')));
  let context;
  try {
    const [, email, password] = await lineOf(server, /^demo login: (\S+) (\S+)$/m, '"demo login:" line', 60_000);
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'ja-JP', timezoneId: 'Asia/Tokyo' });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push('pageerror: ' + e.message));
    page.on('response', (r) => { if (r.status() >= 400) consoleErrors.push(`${r.status()} ${r.url()}`); });
    const shot = (name) => page.screenshot({ path: join(artifacts, `ubiregi-demo-${name}.png`), fullPage: true });
    await page.goto(base + '/');
    await page.getByLabel('メールアドレス').fill(email);
    await page.getByLabel('パスワード').fill(password);
    await page.getByRole('button', { name: 'ログイン' }).click();
    await page.locator('.card').first().waitFor({ timeout: 30_000 });
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const api = async (query) => {
      const r = await fetch(base + '/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json', Cookie: cookie }, body: JSON.stringify({ query }) });
      const j = await r.json();
      if (j.errors) throw new Error(JSON.stringify(j.errors));
      return j.data;
    };

    // A bill of the demo's Ubiregi register, with its camera's picture, on the dashboard.
    let entry;
    for (const deadline = Date.now() + 60_000; !entry; await page.waitForTimeout(500)) {
      const j = await api('{ journal(first: 30) { edges { node { id kind occurredAt terminal { name } camera { id name } thumbnail { id } } } } }');
      entry = j.journal.edges.map((e) => e.node).find((n) => n.terminal.name === 'ユビレジ デモカフェ' && n.kind === 'PAYMENT' && n.thumbnail);
      if (!entry && Date.now() > deadline) throw new Error('no Ubiregi bill with a picture in the demo within a minute');
    }
    // Its card, under its camera's tab (pictures load lazily: scrolled into view first).
    await page.getByRole('tablist', { name: 'カメラ' }).getByRole('tab', { name: entry.camera.name }).click();
    const card = page.locator(`.card[data-id="${entry.id}"]`);
    await card.waitFor({ timeout: 30_000 });
    await card.scrollIntoViewIfNeeded();
    await page.waitForFunction((id) => { const i = document.querySelector(`.card[data-id="${id}"] img.thumb`); return i && i.complete && i.naturalWidth > 0; }, entry.id, { timeout: 30_000 });
    f.entryAgeMs = Date.now() - Date.parse(entry.occurredAt);
    say('demo: Ubiregi bill', entry.id, 'on', entry.camera?.name, 'with its picture');
    await shot('1-dashboard');

    // The portal: the demo's Ubiregi account, its register on the demo camera.
    await page.goto(base + '/#/portal');
    const table = page.getByTestId('table-UBIREGI');
    const row = table.locator('tr[data-terminal="1001"]');
    await row.waitFor();
    assert.match(await row.textContent(), /デモカフェ/);
    assert.match(await row.textContent(), /OK/);
    assert.notEqual(await row.locator('select').inputValue(), '', 'the demo register watches a camera');
    await shot('2-portal');

    // Linking it again by OAuth: the fake's consent page, 許可する, back.
    const t0 = Date.now();
    await table.getByRole('button', { name: 'Ubiregi OAuth2 連携' }).click();
    await page.getByRole('heading', { name: 'アプリ連携の許可' }).waitFor();
    assert.match(await page.getByTestId('ubiregi-account').textContent(), /デモカフェ \(1001\)/);
    await shot('3-consent');
    await page.getByRole('button', { name: '許可する' }).click();
    await page.getByText('ユビレジと連携しました。').waitFor();
    f.relinkMs = Date.now() - t0;
    assert.equal(await table.locator('tr[data-terminal]').count(), 1, 'the same account, the same one register');
    say('demo: linked again by OAuth in', f.relinkMs, 'ms');
    assert.deepEqual(consoleErrors, [], 'no console errors in the demo');
    return f;
  } catch (e) {
    try { const p = context?.pages()[0]; if (p) await p.screenshot({ path: join(artifacts, 'ubiregi-demo-failure.png'), fullPage: true }); } catch { /* ignore */ }
    throw e;
  } finally {
    await context?.close().catch(() => {});
    await stop(server);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runUbiregiE2E({ bin: process.env.REGICAM_BIN, fakesBin: process.env.E2E_FAKES_BIN }).catch((e) => {
    console.error('ubiregi e2e FAILED:', e);
    process.exit(1);
  });
}
