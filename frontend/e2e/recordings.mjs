// Recorded moments in Chromium (issue 15), on the demo server run.mjs
// started: a receipt of the simulated camera (and of the ffmpeg RTSP
// camera, when the server was started with --demo-rtsp) is clicked, the
// <video> plays, and the frame the player shows at the receipt's mark is
// drawn to a canvas and its block time code read (e2e/blockcode.mjs, the
// reader of camera/blockcode.go): it must be the receipt's second ±1 s.
// Then the timeline is clicked at two moments and the picture's time
// follows; a share link is made, opened in a fresh logged-out browser
// context (its video plays), revoked, and the reload answers 410. Click →
// first frame painted (requestVideoFrameCallback) is measured over ~10
// receipts.
//
//   E2E_ONLY=recordings npm run e2e
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { decodeBlockCode } from './blockcode.mjs';

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Page-side helpers: the block-code reader and a frame grabber. */
async function install(page) {
  await page.evaluate(`window.__decodeBlockCode = ${decodeBlockCode.toString()};`);
  await page.evaluate(() => {
    /** Reads the time code of the frame the <video> shows now. */
    window.__readFrame = (v) => {
      const c = document.createElement('canvas');
      c.width = v.videoWidth; c.height = v.videoHeight;
      const g = c.getContext('2d', { willReadFrequently: true });
      g.drawImage(v, 0, 0, c.width, c.height);
      const d = g.getImageData(0, 0, c.width, c.height);
      return window.__decodeBlockCode(d.data, c.width, c.height);
    };
    /** Seeks the player's video to moment t (ms) and reads the frame there. */
    window.__frameAt = async (t) => {
      const v = document.querySelector('video[data-testid=player]');
      v.pause();
      const start = Date.parse(v.dataset.start);
      const s = Math.max(0, (t - start) / 1000);
      if (Math.abs(v.currentTime - s) > 0.001) {
        const seeked = new Promise((r) => v.addEventListener('seeked', r, { once: true }));
        v.currentTime = s;
        await seeked;
      }
      // The seeked frame is presented with the next paint (no callback
      // comes when the seek lands on the frame already shown).
      await new Promise((r) => { v.requestVideoFrameCallback?.(() => r()); setTimeout(r, 300); });
      return { ...window.__readFrame(v), currentTime: v.currentTime, start, w: v.videoWidth, h: v.videoHeight };
    };
  });
}

/** Clicks a receipt's card and resolves with ms from the click to the first
 *  frame of its clip painted (requestVideoFrameCallback). */
async function clickToFirstFrame(page, id) {
  return page.evaluate((id) => new Promise((resolve, reject) => {
    const card = document.querySelector(`.card[data-id="${id}"]`);
    if (!card) { reject(new Error('no card ' + id)); return; }
    const old = document.querySelector('video[data-testid=player]');
    let done = false;
    const watch = (v) => {
      if (v.__watched) return;
      v.__watched = true;
      const arm = () => {
        if (!v.getAttribute('src')?.startsWith('blob:')) return;
        v.requestVideoFrameCallback(() => { if (!done) { done = true; obs.disconnect(); resolve(performance.now() - t0); } });
      };
      new MutationObserver(arm).observe(v, { attributes: true, attributeFilter: ['src'] });
      arm();
    };
    const obs = new MutationObserver(() => {
      const v = document.querySelector('video[data-testid=player]');
      if (v && v !== old) watch(v);
    });
    obs.observe(document.body, { childList: true, subtree: true });
    setTimeout(() => { if (!done) { obs.disconnect(); reject(new Error('no frame within 15 s for ' + id)); } }, 15_000);
    const t0 = performance.now();
    card.click();
  }), id);
}

export async function runRecordingsE2E(page, { browser, base, direct, cam, api, artifacts, log, figures }) {
  let failed = 0;
  const check = async (name, f) => {
    // A step that hangs fails after 4 minutes rather than holding the run.
    let timer;
    const limit = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no answer in 4 minutes')), 240_000); });
    try { await Promise.race([f(), limit]); log('recordings ok:', name); } catch (e) { failed++; console.error(`RECORDINGS FAILED: ${name}:`, e.message ?? e); await page.screenshot({ path: join(artifacts, `recordings-failed-${failed}.png`) }).catch(() => {}); } finally { clearTimeout(timer); }
  };
  const cams = (await api('{ cameras(first: 50, where: { retiredAtIsNil: true }) { edges { node { id name sourceKind recordingStatus { state reason bytes oldest newest } } } } }'))
    .cameras.edges.map((e) => e.node);
  log('recording status:', cams.map((c) => `${c.name} ${c.sourceKind} ${c.recordingStatus.state} ${c.recordingStatus.bytes} B${c.recordingStatus.reason ? ' ' + c.recordingStatus.reason : ''}`).join('; '));
  const rtspCam = cams.find((c) => c.sourceKind === 'RTSP');

  // Receipts of a camera whose clip is recorded to its end (the lead-out has passed).
  const clipped = async (cameraID, n, timeoutMs = 90_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const d = await api(`query($w: JournalWhere){ journal(first: 100, where: $w) { edges { node { id receiptNo occurredAt correctedAt clip { from to mark url downloadURL unavailableReason } } } } }`, { w: { cameraIDs: [cameraID] } });
      const all = d.journal.edges.map((e) => e.node);
      const ok = all.filter((e) => e.clip.url && Date.parse(e.clip.to) < Date.now() - 2000);
      log(`recordings: camera ${cameraID}: ${all.length} receipts, ${ok.length} with a recorded clip`);
      if (ok.length >= n || Date.now() > until) {
        if (!ok.length) throw new Error(`no receipt of camera ${cameraID} with a recorded clip (${all.length} receipts; clip says: ${[...new Set(all.map((e) => e.clip.unavailableReason))].join(' / ')})`);
        return ok;
      }
      await sleep(2000);
    }
  };

  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${base}/#/camera/${cam.id}`);
  await page.locator('.card').first().waitFor();
  await install(page);

  /** Clicks a receipt (by id) and checks the frame at its mark. */
  const receiptFrame = async (e) => {
    const card = page.locator(`.card[data-id="${e.id}"]`);
    await card.scrollIntoViewIfNeeded();
    const ms = await clickToFirstFrame(page, e.id);
    log(`recordings: receipt ${e.receiptNo}: first frame ${Math.round(ms)} ms`);
    const v = page.locator('video[data-testid=player]');
    await page.waitForFunction(() => document.querySelector('video[data-testid=player]')?.dataset.ready === 'true');
    assert.equal(await v.getAttribute('data-mark'), new Date(Date.parse(e.clip.mark)).toISOString(), 'the player marks the receipt\'s second');
    await page.locator('[data-testid=scrub-mark]').waitFor();
    const mark = Date.parse(e.clip.mark);
    const got = await page.evaluate((t) => window.__frameAt(t), mark);
    assert.ok('ms' in got, `time code at the mark of ${e.receiptNo}: ${got.error} (${got.w}×${got.h}, video time ${got.currentTime})`);
    const off = got.ms - mark;
    return { ms, off, got };
  };

  // 1. The simulated camera: a receipt's clip plays, its frame at the mark is the receipt's second.
  let simEntries = [];
  await check('a receipt of the simulated camera plays its clip; the frame at the mark is its second ±1 s', async () => {
    simEntries = await clickedList(page, await clipped(cam.id, 12));
    const r = await receiptFrame(simEntries[0]);
    log(`simulated camera: receipt ${simEntries[0].receiptNo} first frame in ${Math.round(r.ms)} ms; frame at mark is ${r.off} ms off`);
    assert.ok(Math.abs(r.off) <= 1000, `frame at the mark is ${r.off} ms from the receipt's second`);
    await page.screenshot({ path: join(artifacts, 'player.png') });
  });

  // 2. Click → first frame over ~10 receipts, and the mark's frame of each.
  await check('click → first frame (p50 ≤ 300 ms target) and every mark within ±1 s', async () => {
    const times = [], offs = [];
    for (const e of simEntries.slice(1, 11)) {
      const r = await receiptFrame(e);
      times.push(r.ms); offs.push(r.off);
    }
    assert.ok(times.length >= 3, `only ${times.length} receipts with clips`);
    figures.clickToFirstFrame = { n: times.length, p50: Math.round(pct(times, 50)), max: Math.round(Math.max(...times)) };
    figures.markOffset = { n: offs.length, within1s: offs.filter((o) => Math.abs(o) <= 1000).length, maxAbs: Math.max(...offs.map(Math.abs)) };
    log('click → first frame', figures.clickToFirstFrame, 'mark offsets', offs.join(' '));
    assert.equal(figures.markOffset.within1s, offs.length, `frames at the mark off by ${offs.join(', ')} ms`);
  });

  // 3. The ffmpeg RTSP camera (--demo-rtsp), when there is one.
  if (rtspCam) {
    await check('a receipt of the RTSP camera plays; the frame at the mark is its second ±1 s', async () => {
      await page.goto(`${base}/#/camera/${rtspCam.id}`);
      await page.locator('.card').first().waitFor();
      await install(page);
      const list = await clickedList(page, await clipped(rtspCam.id, 1));
      const r = await receiptFrame(list[0]);
      figures.rtsp = { firstFrameMs: Math.round(r.ms), markOffsetMs: r.off, size: `${r.got.w}×${r.got.h}` };
      log(`RTSP camera: receipt ${list[0].receiptNo} first frame in ${Math.round(r.ms)} ms; frame at mark ${r.off} ms off (${r.got.w}×${r.got.h})`);
      assert.ok(Math.abs(r.off) <= 1000, `frame at the mark is ${r.off} ms from the receipt's second`);
      await page.screenshot({ path: join(artifacts, 'player-rtsp.png') });
    });
  } else {
    log('recordings: no RTSP camera in this demo (server without --demo-rtsp or without ffmpeg)');
  }

  // 4. The timeline: a click plays the recording at that moment; a second
  // click elsewhere moves the picture's time with it.
  await check('timeline clicks seek the recording; the picture\'s time follows', async () => {
    await page.goto(`${base}/#/camera/${cam.id}`);
    await page.locator('.card').first().waitFor();
    await install(page);
    await page.getByRole('radio', { name: '10M' }).click();
    const svg = page.locator('.timeline svg');
    // Two moments inside what was recorded (the demo started a few minutes
    // ago; before that the bar says 録画なし): 60 s and 25 s before the
    // newest recorded second, or as far back as the recording goes.
    const span0 = new Date(Date.now() - 9 * 60_000).toISOString(), span1 = new Date().toISOString();
    const rec = (await api('query($id: ID!, $f: Time!, $t: Time!){ cameras(first: 1, where: { id: $id }) { edges { node { recordings(from: $f, to: $t) { source spans { from to } } } } } }', { id: cam.id, f: span0, t: span1 })).cameras.edges[0].node.recordings;
    const last = rec.spans.at(-1);
    assert.ok(last, `recorded spans of the camera: ${JSON.stringify(rec)}`);
    const lastFrom = Date.parse(last.from), lastTo = Date.parse(last.to);
    const moments = [Math.max(lastFrom + 8000, lastTo - 60_000), Math.max(lastFrom + 20_000, lastTo - 25_000)];
    for (const t of moments) {
      // What the panel says before the click, read without waiting (a
      // locator would wait for a player that is not there yet, and the bar
      // moves on meanwhile).
      const before = await page.evaluate(() => document.querySelector('.camview .picbar .bar-time')?.textContent ?? null);
      // The window as drawn (it follows the clock in 10 s steps), read just
      // before the click.
      const box = await svg.boundingBox();
      const now = await page.evaluate(() => Date.now());
      const drawn = await svg.getAttribute('data-from');
      const from = drawn ? Date.parse(drawn) : Math.floor(now / 10_000) * 10_000 + 10_000 - 600_000;
      const ago = now - t;
      await page.mouse.click(box.x + ((t - from) / 600_000) * box.width, box.y + box.height / 2);
      // The panel names the new pick and the video shows it: a new window
      // (a JPEG camera's is encoded with ffmpeg on the server first) or a
      // seek inside the one already loaded.
      await page.waitForFunction((b) => {
        const p = document.querySelector('.camview .picbar .bar-time');
        const v = document.querySelector('video[data-testid=player]');
        return p && p.textContent !== b && v && v.dataset.ready === 'true' && !v.seeking && v.readyState >= 2;
      }, before, { timeout: 60_000 });
      const head = Date.parse(await page.locator('[data-testid=player-time]').getAttribute('data-at'));
      const got = await page.evaluate(() => { const v = document.querySelector('video[data-testid=player]'); v.pause(); return new Promise((r) => setTimeout(() => r({ ...window.__readFrame(v), start: Date.parse(v.dataset.start), ct: v.currentTime }), 150)); });
      assert.ok('ms' in got, `time code after the timeline click: ${got.error}`);
      const shown = got.start + got.ct * 1000;
      const picked = await page.locator('.camview .picbar .bar-time').textContent();
      log(`timeline click ${Math.round(ago / 1000)} s ago: picture ${new Date(got.ms).toISOString()}, asked ${new Date(t).toISOString()}, player at ${new Date(shown).toISOString()} (video from ${new Date(got.start).toISOString()} + ${got.ct.toFixed(2)} s; panel says ${picked})`);
      assert.ok(Math.abs(got.ms - shown) <= 1000, `the picture (${got.ms}) is where the player says (${shown})`);
      // The click's own pixel is ±(10 min / width) wide; playing since adds a little.
      // The picture is the moment the panel says the click picked …
      // (the panel's 「2026/12/04 00:23:44 (日本時間)」: the demo shop is in Tokyo).
      const pm = /(\d+)\/(\d+)\/(\d+) (\d+):(\d+):(\d+)/.exec(picked);
      const pickedAt = Date.parse(`${pm[1]}-${pm[2]}-${pm[3]}T${pm[4]}:${pm[5]}:${pm[6]}+09:00`) + 500;
      assert.ok(Math.abs(got.ms - pickedAt) <= 3000, `the picture (${new Date(got.ms).toISOString()}) is the picked moment (${new Date(pickedAt).toISOString()})`);
      // … and that is where the bar was clicked: one pixel is 10 min / width
      // (under a second here), the window may have stepped 10 s on between
      // reading it and the click, and the picture plays on a little.
      assert.ok(Math.abs(got.ms - t) <= 12_000, `the picture (${new Date(got.ms).toISOString()}) is the clicked moment (${new Date(t).toISOString()})`);
      assert.ok(Math.abs(head - shown) <= 1500, 'the time under the video follows');
      await page.locator('[data-testid=playhead]').waitFor();
    }
    await page.screenshot({ path: join(artifacts, 'player-timeline.png') });
    // 今に戻る: live picture, the bar on now, the list from its newest receipt.
    await page.getByTestId('back-to-now').click();
    await page.locator('.camview .badge.live').waitFor();
  });

  // 5. A share link opens logged out and plays; revoked, it answers 410.
  await check('a share link plays logged out, and answers 410 once revoked', async () => {
    await page.goto(`${base}/#/camera/${cam.id}`);
    await page.reload();
    const e = simEntries[0];
    await page.locator(`.card[data-id="${e.id}"]`).scrollIntoViewIfNeeded();
    await page.locator(`.card[data-id="${e.id}"]`).click();
    await page.getByTestId('share-open').click();
    const dlg = page.getByTestId('share-dialog');
    await dlg.getByLabel('有効期間（時間）').fill('2');
    await dlg.getByLabel('メモ（渡す相手など）').fill('e2e 警察署');
    await dlg.getByTestId('share-create').click();
    const url = await dlg.getByTestId('share-url').inputValue();
    assert.match(url, /\/share\//);
    await page.screenshot({ path: join(artifacts, 'share-dialog.png') });
    const shareURL = url.replace(/^https?:\/\/[^/]+/, base);
    const anon = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'ja-JP' });
    try {
      const p = await anon.newPage();
      const res = await p.goto(shareURL);
      if (res.status() !== 200) log('share page', new URL(shareURL).pathname.replace(/[^/]{6}$/, '……'), res.status(), (await p.textContent('body'))?.slice(0, 200));
      assert.equal(res.status(), 200, 'the share page opens logged out');
      const played = await p.evaluate(() => new Promise((resolve) => {
        const v = document.querySelector('video');
        if (!v) { resolve({ error: 'no video' }); return; }
        v.muted = true;
        const t = setTimeout(() => resolve({ error: 'not playing within 15 s', rs: v.readyState, err: v.error?.message }), 15_000);
        v.addEventListener('timeupdate', () => { if (v.currentTime > 0.3) { clearTimeout(t); resolve({ ct: v.currentTime, w: v.videoWidth }); } });
        v.play().catch((e) => { clearTimeout(t); resolve({ error: String(e) }); });
      }));
      assert.ok(!played.error, `share video: ${JSON.stringify(played)}`);
      await p.screenshot({ path: join(artifacts, 'share-page.png') });
      assert.doesNotMatch(await p.content(), /連携ポータル|設定/, 'nothing else of the account');
      await dlg.locator('tr[data-state=有効]').first().getByTestId('share-revoke').click();
      await dlg.getByTestId('share-revoke-confirm').click();
      await dlg.locator('tr[data-state=失効]').first().waitFor();
      const again = await p.reload();
      assert.equal(again.status(), 410, 'a revoked link answers 410');
      log('share link: played logged out, 410 after revoke');
    } finally {
      await anon.close();
      await dlg.getByRole('button', { name: '閉じる' }).click().catch(() => {});
    }
  });

  // 6. The player at a phone's width: the receipt sheet plays the clip.
  await check('the receipt sheet plays the clip at 390 px', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByTestId('back-to-live').click().catch(() => {});
    const e = simEntries[1] ?? simEntries[0];
    await page.locator(`.card[data-id="${e.id}"]`).scrollIntoViewIfNeeded();
    await page.locator(`.card[data-id="${e.id}"]`).click();
    await page.waitForFunction(() => document.querySelector('[data-testid=receipt-sheet] video[data-testid=player]')?.dataset.ready === 'true');
    const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(over <= 0, `page wider than the phone by ${over} px`);
    await page.screenshot({ path: join(artifacts, 'player-phone.png') });
    await page.getByTestId('sheet-close').click();
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  return { failed };
}

/** The receipts in the order to click them, keeping those whose card is in
 *  the list (the list shows today's newest first, a page at a time). */
async function clickedList(page, entries) {
  const shown = new Set(await page.locator('.card').evaluateAll((cs) => cs.map((c) => c.dataset.id)));
  const inList = entries.filter((e) => shown.has(e.id));
  if (!inList.length) throw new Error(`none of ${entries.length} receipts with clips is in the list (${shown.size} cards)`);
  return inList;
}
