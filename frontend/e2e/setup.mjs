// First real use, end to end in Chromium: from an EMPTY database (no demo)
// an owner made with `regicam user create` signs in, lands on the setup
// checklist and goes all the way to the first receipt beside their own
// camera. Two runs, each on a fresh server and data dir:
//
//   smaregi  ① a camera whose source is an HTTP JPEG snapshot server with a
//            readable clock (the project's simulated camera, served by
//            internal/e2efakes/cmd/fakes) ② a shop ③ the Smaregi fake linked
//            through the portal dialog (④ the register bound in the same
//            step) ⑤ a sale rung up at the fake appears with its picture.
//   webhook  the same with a card-terminal connection: ③ creates it and shows
//            the webhook URL and signing key once, ④ adds the register by
//            端末ID and binds it, ⑤ a signed webhook's sale appears with its
//            picture; then a webhook naming a new terminalId makes that
//            register appear by itself.
//
// The thumbnail of each first sale is fetched and its block code decoded
// (the fakes program's /decode): it must show the sale's own second, within
// the server's frame tolerance. No demo mode, no database writes: only the
// CLI, the browser and the POS-side fakes.
//
//   node e2e/setup.mjs                    (run.mjs calls it after the demo run)
//   REGICAM_BIN=… E2E_FAKES_BIN=… node e2e/setup.mjs
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { createHmac } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const artifacts = join(here, 'artifacts');
const chromePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FRAME_TOLERANCE_MS = 2000; // the server's --frame-tolerance (default 2s)
const OWNER = { email: 'owner@e2e-shop.example', password: 'Owner-Passw0rd', name: '店長' };

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** Reads the first line of a child's stdout matching re. */
export function lineOf(child, re, what, ms = 60_000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`no ${what} within ${ms / 1000} s`)), ms);
    child.stdout.on('data', (d) => {
      buf += d;
      const m = re.exec(buf);
      if (m) { clearTimeout(t); resolve(m); }
    });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`${what}: process exited (${code})`)); });
  });
}

export async function stop(child) {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => { const t = setTimeout(() => { child.kill('SIGKILL'); r(); }, 10_000); child.once('exit', () => { clearTimeout(t); r(); }); });
}

// buildAndStartFakes builds regicam and the e2e fakes when not given, starts
// the fakes program and reads the JSON line of its URLs; the first-use,
// camera-cloud and Ubiregi runs all begin this way.
export async function buildAndStartFakes({ bin, fakesBin, tmp, say }) {
  if (!bin) {
    bin = join(tmp, 'regicam');
    say('go build regicam');
    execFileSync('go', ['build', '-o', bin, '.'], { cwd: root, stdio: 'inherit' });
  }
  if (!fakesBin) {
    fakesBin = join(tmp, 'fakes');
    say('go build e2efakes');
    execFileSync('go', ['build', '-o', fakesBin, './internal/e2efakes/cmd/fakes'], { cwd: root, stdio: 'inherit' });
  }
  const fakes = spawn(fakesBin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const fk = JSON.parse((await lineOf(fakes, /^\{.*\}$/m, 'fakes URLs', 30_000))[0]);
    return { bin, fakesBin, fakes, fk };
  } catch (err) {
    await stop(fakes);
    throw err;
  }
}

export async function runSetupE2E({ bin, fakesBin, log = console.log } = {}) {
  const started = Date.now();
  const say = (...a) => log(`[setup-e2e ${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
  mkdirSync(artifacts, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'regicam-setup-e2e-'));
  const figures = {};
  let fakes, browser;
  try {
    let fk;
    ({ bin, fakesBin, fakes, fk } = await buildAndStartFakes({ bin, fakesBin, tmp, say }));
    say('fakes up: camera', fk.snapshot, 'smaregi', fk.smaregi);

    browser = await chromium.launch({
      executablePath: chromePath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    for (const kind of ['smaregi', 'webhook']) {
      const t0 = Date.now();
      figures[kind] = await scenario({ kind, bin, fk, browser, tmp, say });
      figures[kind].totalMs = Date.now() - t0;
    }
  } finally {
    await browser?.close().catch(() => {});
    fakes?.stdin.end();
    await stop(fakes);
    if (!process.env.E2E_KEEP) rmSync(tmp, { recursive: true, force: true });
  }
  console.log('\nFIRST-USE FIGURES');
  for (const [k, f] of Object.entries(figures)) {
    console.log(`  ${k}: login → checklist ${f.loginToChecklist} ms; source test ${f.sourceTestMs} ms; sale → receipt with picture on screen ${f.saleToPicture} ms; thumbnail shows ${new Date(f.decodedMs).toISOString()} for a sale at ${new Date(f.saleMs).toISOString()} (${f.decodedMs - f.saleMs >= 0 ? '+' : ''}${f.decodedMs - f.saleMs} ms); whole run ${(f.totalMs / 1000).toFixed(1)} s`);
  }
  say('first-use e2e passed');
  return figures;
}

async function scenario({ kind, bin, fk, browser, tmp, say }) {
  const data = join(tmp, 'data-' + kind);
  const f = {};
  // The CLI creates the first OWNER (and the account) in the empty database.
  const out = execFileSync(bin, ['user', 'create', '--email', OWNER.email, '--password', '-', '--name', OWNER.name, '--account', 'E2E 商店', '--data-dir', data],
    { cwd: tmp, input: OWNER.password + '\n', encoding: 'utf8' });
  assert.match(out, /created OWNER/);
  say(kind, out.trim());

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(bin, [
    '--addr', `127.0.0.1:${port}`, '--data-dir', data, '--demo=false', '--public-url', base, '--cors-origins', base,
    '--smaregi-id-url', fk.smaregi, '--smaregi-api-url', fk.smaregi, '--poll-interval', '1s', '--log-level', 'info',
  ], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.pipe(createWriteStream(join(artifacts, `server-setup-${kind}.log`)));
  server.stdout.resume();
  let context;
  try {
    for (let i = 0; ; i++) {
      try { if ((await fetch(base + '/healthz')).ok) break; } catch { /* not yet */ }
      if (server.exitCode !== null) throw new Error(`server exited (${server.exitCode}); see e2e/artifacts/server-setup-${kind}.log`);
      if (i > 300) throw new Error('server not healthy');
      await new Promise((r) => setTimeout(r, 100));
    }
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'ja-JP', timezoneId: 'Asia/Tokyo' });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push('pageerror: ' + e.message));
    const shot = (name) => page.screenshot({ path: join(artifacts, `setup-${kind}-${name}.png`), fullPage: true });

    let cookie = '';
    const api = async (query, variables = {}) => {
      const r = await fetch(base + '/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json', Cookie: cookie }, body: JSON.stringify({ query, variables }) });
      const j = await r.json();
      if (j.errors) throw new Error(JSON.stringify(j.errors));
      return j.data;
    };

    // Sign in: a new account lands on the checklist.
    await page.goto(base + '/');
    await page.getByLabel('メールアドレス').fill(OWNER.email);
    await page.getByLabel('パスワード').fill(OWNER.password);
    const tLogin = Date.now();
    await page.getByRole('button', { name: 'ログイン' }).click();
    await page.getByRole('heading', { name: '初期設定' }).waitFor();
    f.loginToChecklist = Date.now() - tLogin;
    assert.equal(new URL(page.url()).hash, '#/setup');
    cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const step = (k) => page.getByTestId('step-' + k);
    const done = (k) => page.waitForSelector(`[data-testid=step-${k}][data-done=true]`, { timeout: 30_000 });
    for (const k of ['camera', 'shop', 'pos', 'link', 'receipt']) assert.equal(await step(k).getAttribute('data-done'), 'false', `${k} not done yet`);
    await shot('1-checklist');

    // ① Camera: a URL the server refuses speaks at its field or in the test result; then the real one.
    const cam = step('camera');
    await cam.getByLabel('カメラ名').fill('店内カメラ');
    await cam.getByLabel('機種').fill('SNAP-E2E');
    await cam.getByLabel('デバイスID・シリアル番号').fill('E2E-' + kind.toUpperCase());
    await cam.getByLabel('URL').fill('ftp://127.0.0.1/snapshot.jpg');
    await cam.getByTestId('camera-test').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=step-camera] [data-field-error], [data-testid=camera-test-result] [role=alert]'));
    say(kind, 'ftp URL refused:', (await cam.locator('[data-field-error], [data-testid=camera-test-result] [role=alert]').first().textContent()).trim());
    await cam.getByLabel('URL').fill(fk.snapshot);
    const tTest = Date.now();
    await cam.getByTestId('camera-test').click();
    await cam.locator('[data-testid=camera-test-result][data-ok=true] img').waitFor();
    f.sourceTestMs = Date.now() - tTest;
    await page.waitForFunction(() => { const i = document.querySelector('[data-testid=camera-test-result] img'); return i && i.complete && i.naturalWidth > 0; });
    await shot('2-camera-test');
    await cam.getByRole('button', { name: 'カメラを追加', exact: true }).click();
    await done('camera');
    say(kind, '① camera added; source test', f.sourceTestMs, 'ms');

    // ② Shop, Asia/Tokyo by default, hours per weekday (Sunday closed).
    const shop = step('shop');
    await shop.getByLabel('店舗名').fill('渋谷店');
    assert.equal(await shop.getByLabel('タイムゾーン').inputValue(), 'Asia/Tokyo');
    await shop.locator('tr[data-weekday="0"]').getByLabel('営業').uncheck();
    await shop.getByLabel('土曜の閉店').fill('02:00'); // crosses midnight
    await shop.getByRole('button', { name: '店舗を追加', exact: true }).click();
    await done('shop');
    say(kind, '② shop added');

    let decodeTarget; // what to compare the thumbnail with
    if (kind === 'smaregi') {
      // ③ + ④ Smaregi through the portal's dialog: a wrong secret first.
      const pos = step('pos');
      await pos.getByRole('button', { name: 'スマレジを連携' }).click();
      const dlg = page.getByTestId('add-smaregi');
      await dlg.getByLabel('契約ID').fill(fk.contract);
      await dlg.getByLabel('クライアントID').fill(fk.client);
      await dlg.getByLabel('クライアントシークレット').fill('wrong-secret');
      await dlg.getByLabel('端末ID').fill('9');
      await dlg.getByRole('button', { name: '追加' }).click();
      await dlg.locator('[data-field-error], [role=alert]').first().waitFor();
      say(kind, 'wrong secret says:', (await dlg.locator('[data-field-error], [role=alert]').first().textContent()).trim());
      await dlg.getByLabel('クライアントシークレット').fill(fk.secret);
      await dlg.getByRole('button', { name: '追加' }).click();
      await done('pos');
      await done('link');
      say(kind, '③ Smaregi linked, ④ register 9 bound to the camera');
      await page.getByTestId('first-receipt-waiting').waitFor();
      await page.waitForSelector('[data-testid=first-receipt-waiting][data-state=live]');
      await shot('3-waiting');
      // Sale times are whole seconds: ring up a full second after the binding
      // began, so the sale cannot fall before the link in its own second.
      await page.waitForTimeout(1100);
      const sale = await fetch(fk.control + '/smaregi/ringup', { method: 'POST', body: JSON.stringify({ terminalId: '9', total: 1200, staffName: '山田' }) }).then((r) => r.json());
      decodeTarget = { atMs: sale.atMs, t0: Date.now() };
      say(kind, 'sale rung up at the Smaregi fake', sale);
    } else {
      // ③ Card terminal: the webhook URL and signing key, shown once.
      const pos = step('pos');
      await pos.getByRole('tab', { name: 'カード端末・パートナー' }).click();
      await pos.getByLabel('連携の名前').fill('決済端末');
      await pos.getByRole('button', { name: '連携を作成' }).click();
      await done('pos');
      const url = (await page.getByTestId('webhook-url').textContent()).trim();
      const secret = (await page.getByTestId('webhook-secret').textContent()).trim();
      assert.ok(url.startsWith(base + '/webhooks/'), `webhook URL on this origin: ${url}`);
      assert.ok(secret.length >= 32, 'a long signing key');
      await shot('3-signing-key');
      await page.getByRole('button', { name: '保管したので閉じる' }).click();
      assert.equal(await page.getByTestId('webhook-secret').count(), 0, 'the key is shown once');
      const listed = JSON.stringify(await api('{ linkSettings { secretHint connection { id name } } }'));
      assert.ok(!listed.includes(secret), 'the key never comes back from the API');
      say(kind, '③ card-terminal connection; webhook', url);

      const send = async (terminalId, tx) => {
        const body = JSON.stringify({ terminalId, storeName: '渋谷店', transactions: [tx] });
        const ts = Math.floor(Date.now() / 1000);
        const sig = 'sha256=' + createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
        const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Regicam-Timestamp': String(ts), 'X-Regicam-Signature': sig }, body });
        return { status: r.status, body: await r.text() };
      };
      // A forged signature is refused and stores nothing.
      const forged = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Regicam-Timestamp': String(Math.floor(Date.now() / 1000)), 'X-Regicam-Signature': 'sha256=' + '0'.repeat(64) }, body: '{"terminalId":"T-9","transactions":[{"id":"x","status":"CAPTURE","occurredAt":"2026-01-01T00:00:00Z","amount":1}]}' });
      assert.equal(forged.status, 401, 'a wrongly signed webhook gets 401');

      // ④ The register by its 端末ID, then bound to the camera.
      const link = step('link');
      await link.getByTestId('no-registers').waitFor();
      await link.getByLabel('端末ID').fill('T-0001');
      await link.getByLabel('レジの名前').fill('1番レジ');
      await link.getByRole('button', { name: 'レジを追加' }).click();
      const row = link.locator('tr[data-terminal="T-0001"]');
      await row.waitFor();
      await row.getByRole('button', { name: '紐づける' }).click();
      await done('link');
      say(kind, '④ register T-0001 added and bound');
      await page.getByTestId('first-receipt-waiting').waitFor();
      await page.waitForSelector('[data-testid=first-receipt-waiting][data-state=live]');
      await shot('4-waiting');
      await page.waitForTimeout(1100); // as above: the sale's whole second is after the binding
      const at = new Date(Math.floor(Date.now() / 1000) * 1000);
      const r = await send('T-0001', { id: 'tx-0001', status: 'CAPTURE', occurredAt: at.toISOString(), amount: 1500, receiptNo: '0001', staffName: '佐藤', paymentMethod: 'VISA', maskedCard: '411111******11' });
      assert.ok(r.status >= 200 && r.status < 300, `signed webhook accepted: ${r.status} ${r.body}`);
      decodeTarget = { atMs: at.getTime(), t0: Date.now(), send };
      say(kind, 'signed webhook sent:', r.status, r.body.slice(0, 200));
    }

    // ⑤ The receipt replaces the waiting state, with the picture of its second.
    await page.getByTestId('first-receipt').waitFor({ timeout: 30_000 });
    await page.waitForFunction(() => { const i = document.querySelector('[data-testid=first-receipt] img.first-pic'); return i && i.complete && i.naturalWidth > 0; }, null, { timeout: 30_000 });
    f.saleToPicture = Date.now() - decodeTarget.t0;
    await done('receipt');
    assert.match(await page.getByTestId('setup-count').textContent(), /すべて完了しました/);
    await shot('5-first-receipt');
    const src = await page.locator('[data-testid=first-receipt] img.first-pic').getAttribute('src');
    const jpeg = Buffer.from(await (await fetch(base + src, { headers: { Cookie: cookie } })).arrayBuffer());
    const dec = await fetch(fk.control + '/decode', { method: 'POST', body: jpeg }).then((r) => r.json());
    assert.ok(dec.unixMs, `thumbnail carries a readable clock: ${JSON.stringify(dec)}`);
    f.decodedMs = dec.unixMs;
    f.saleMs = decodeTarget.atMs;
    const j = await api('{ journal(first: 1) { edges { node { occurredAt total thumbnail { capturedAt skewMs } camera { name } } } } }');
    const e = j.journal.edges[0].node;
    assert.equal(Date.parse(e.occurredAt), decodeTarget.atMs, 'the entry keeps the sale time');
    // The server stamps a snapshot when it fetched it; the camera drew its own clock a moment before.
    assert.ok(Math.abs(Date.parse(e.thumbnail.capturedAt) - dec.unixMs) <= 250, `the picture is the frame the server says it took (${e.thumbnail.capturedAt} vs ${dec.time})`);
    assert.ok(Math.abs(dec.unixMs - decodeTarget.atMs) <= FRAME_TOLERANCE_MS, `thumbnail at ${dec.time} is within ${FRAME_TOLERANCE_MS} ms of the sale at ${new Date(decodeTarget.atMs).toISOString()}`);
    say(kind, `⑤ first receipt on screen after ${f.saleToPicture} ms; thumbnail decodes to ${dec.time} for a sale at ${new Date(decodeTarget.atMs).toISOString()} (camera ${e.camera?.name}, skew ${e.thumbnail.skewMs} ms)`);

    if (kind === 'webhook') {
      // A register the server has never heard of appears by itself on its first signed webhook.
      const r2 = await decodeTarget.send('T-0002', { id: 'tx-0002', status: 'AUTH', occurredAt: new Date().toISOString(), amount: 800 });
      assert.ok(r2.status >= 200 && r2.status < 300, `second webhook accepted: ${r2.status} ${r2.body}`);
      await page.getByRole('link', { name: '連携ポータル' }).click();
      await page.getByRole('heading', { name: 'カメラ - POS 認証連携ポータル' }).waitFor();
      const t = await api('{ linkSettings(provider: WEBHOOK) { terminalExternalID link { id } } }');
      const ids = t.linkSettings.map((x) => x.terminalExternalID);
      assert.ok(ids.includes('T-0002'), `T-0002 appeared by itself: ${ids}`);
      say(kind, 'register T-0002 appeared by itself on its first signed webhook');
    }

    // The dashboard shows the receipt with its picture; 設定 › カメラ shows the camera recording.
    await page.goto(base + '/#/');
    await page.locator('.card').first().waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll('.card img.thumb')].some((i) => i.complete && i.naturalWidth > 0));
    await shot('6-dashboard');
    await page.getByRole('link', { name: '設定' }).click();
    const camRow = page.getByTestId('cameras').locator('tbody tr').first();
    await camRow.waitFor();
    assert.match(await camRow.textContent(), /録画中・オンライン/);
    assert.equal(await page.getByTestId('setup-reminder').count(), 0, 'no reminder once setup is complete');
    await shot('7-settings');
    // Retiring a camera that still watches a register is refused with the register named.
    await camRow.getByRole('button', { name: '撤去' }).click();
    const retire = page.getByTestId('retire-camera');
    await retire.getByRole('button', { name: '撤去する' }).click();
    const watched = await retire.getByTestId('watched-terminals').textContent();
    assert.match(watched, kind === 'smaregi' ? /端末ID 9/ : /端末ID T-0001/);
    await shot('8-retire-refused');
    await retire.getByRole('button', { name: 'キャンセル' }).click();
    say(kind, 'retire refused, listing:', watched.trim());
    // The checklist on a phone.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(base + '/#/setup');
    await page.getByTestId('step-receipt').waitFor();
    await shot('9-phone');
    assert.deepEqual(consoleErrors, [], 'no console errors');
    return f;
  } catch (e) {
    try { const p = context?.pages()[0]; if (p) await p.screenshot({ path: join(artifacts, `setup-${kind}-failure.png`), fullPage: true }); } catch { /* ignore */ }
    throw e;
  } finally {
    await context?.close().catch(() => {});
    await stop(server);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runSetupE2E({ bin: process.env.REGICAM_BIN, fakesBin: process.env.E2E_FAKES_BIN }).catch((e) => {
    console.error('setup e2e FAILED:', e);
    process.exit(1);
  });
}
