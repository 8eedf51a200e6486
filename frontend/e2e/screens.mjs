// Every screen at the four widths issue 19 names (1280×800 laptop, 1024×768
// iPad landscape, 768×1024 iPad portrait, 390×844 phone with touch), each in
// a fresh browser context: axe-core on every screen and open dialog, the
// layout (nothing wider than the screen, picture and receipts in sight, the
// tapped receipt's picture in the viewport), the timeline by keyboard and
// click, the live list, search, and the dialogs' safe focus. Screenshots go
// to e2e/artifacts/<width>/<screen>.png.
//
// Each check is recorded, not thrown at once, so one run reports every
// failure with the helper who owns the feature (see the owners below); the
// caller fails the run when any check failed.
//
//   run.mjs calls runScreens() after the demo run, on the same server.
//   REGICAM_BIN=/path/to/regicam node e2e/screens.mjs   only these checks,
//                                 on a demo server of their own (no proxy)
import { countsAsError } from './console.mjs';
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, copyFileSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const frontend = join(here, '..');
const axePath = join(frontend, 'node_modules', 'axe-core', 'axe.min.js');

export const WIDTHS = [
  { name: '1280', viewport: { width: 1280, height: 800 } },
  { name: '1024', viewport: { width: 1024, height: 768 } },
  { name: '768', viewport: { width: 768, height: 1024 }, hasTouch: true },
  { name: '390', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 },
];
const NARROW = 900; // below this a tapped receipt opens the sheet (contracts: C1)
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

// Who builds what (the issue's contracts between helpers).
const OWNER = {
  A: 'A errors', B: 'B picture', C1: 'C1 layout+timeline', C2: 'C2 list+search', E: 'E forms+a11y+phones', F: 'F e2e',
  T: 'T feed truth (issue 17: frontend FeedHealth/ClockOffset; data from graph Terminal.clockOffset/feedHealth, reconcileConnection)',
};

const fullWidth = (s) => s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
const firstLine = (e) => String(e?.message ?? e).split('\n').find((l) => l.trim())?.slice(0, 300) ?? String(e);

/**
 * Runs every screen check at every width; returns { results, axe, failed }.
 * opts: browser, base (what the browser opens), direct (the server itself),
 * creds {email, password}, cam {id}, api(query, vars), artifacts, log.
 */
export async function runScreens({ browser, base, direct, creds, cam, api, artifacts, log = console.log, widths = WIDTHS }) {
  const results = [];
  const axeFindings = [];
  // One receipt of kind OTHER (入金 and the like), so the list must explain it.
  const otherNo = 'OTH' + String(Date.now() % 100000).padStart(5, '0');
  await ingestOther({ api, direct, otherNo }).catch((e) => log('screens: could not ingest an OTHER entry:', firstLine(e)));
  // A user to open the delete confirmation on (never deleted).
  await api('mutation($in:CreateUserInput!){ createUser(input:$in){ id } }', { in: { email: 'screens@e2e.local', password: 'Screens1234x', name: 'E2E 画面確認', role: 'STAFF' } })
    .catch((e) => log('screens: could not add a user:', firstLine(e)));
  // Enough demo receipts for the timeline's 10-minute bars and the live list.
  for (let i = 0; i < 60; i++) {
    const d = await api('query($w:JournalWhere){ journal(first: 40, where: $w){ edges { cursor } } }', { w: { cameraIDs: [cam.id] } }).catch(() => null);
    if ((d?.journal.edges.length ?? 0) >= 40) break;
    await new Promise((r) => setTimeout(r, 1000));
  }

  for (const w of widths) {
    const dir = join(artifacts, w.name);
    mkdirSync(dir, { recursive: true });
    const ctx = await browser.newContext({
      viewport: w.viewport, deviceScaleFactor: w.deviceScaleFactor ?? 1, isMobile: !!w.isMobile, hasTouch: !!w.hasTouch,
      locale: 'ja-JP', timezoneId: 'Europe/London',
    });
    const page = await ctx.newPage();
    page.setDefaultTimeout(10_000);
    const consoleErrors = [];
    page.on('console', (m) => { if (countsAsError(m)) consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push('pageerror: ' + e.message));
    const shot = (name, full = false) => page.screenshot({ path: join(dir, name + '.png'), fullPage: full }).catch(() => {});
    let failN = 0;
    const check = async (name, owner, fn) => {
      const t0 = Date.now();
      try {
        const detail = await fn();
        results.push({ width: w.name, name, owner, ok: true, detail: detail ?? '' });
        log(`[screens ${w.name}] PASS ${name}${detail ? ' — ' + detail : ''} (${Date.now() - t0} ms)`);
        return true;
      } catch (e) {
        results.push({ width: w.name, name, owner, ok: false, detail: firstLine(e) });
        await shot(`fail-${++failN}`);
        log(`[screens ${w.name}] FAIL ${name} [${OWNER[owner] ?? owner}]: ${firstLine(e)} (${w.name}/fail-${failN}.png)`);
        // Leave no dialog open for the next check.
        for (let i = 0; i < 2; i++) await page.keyboard.press('Escape').catch(() => {});
        return false;
      }
    };
    const axe = (screen, owner = 'E') => check(`axe: ${screen}`, owner, async () => {
      const v = await runAxe(page);
      for (const x of v) axeFindings.push({ width: w.name, screen, ...x });
      const bad = v.filter((x) => x.impact === 'serious' || x.impact === 'critical');
      if (bad.length) throw new Error(bad.map(fmtViolation).join(' | '));
      return v.length ? `minor: ${v.map((x) => `${x.id}(${x.impact})`).join(', ')}` : 'no violations';
    });
    const noOverflow = (screen, owner = 'E') => check(`no horizontal overflow: ${screen}`, owner, async () => {
      const o = await page.evaluate(() => {
        const sw = document.scrollingElement.scrollWidth, iw = innerWidth;
        // The widest elements sticking out, to say what to fix.
        const out = sw > iw ? [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > iw + 1)
          .slice(-4).map((el) => `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''} right=${Math.round(el.getBoundingClientRect().right)}`) : [];
        return { sw, iw, out };
      });
      if (o.sw > o.iw) throw new Error(`page is ${o.sw} px wide on a ${o.iw} px screen; sticking out: ${o.out.join('; ')}`);
      return `${o.sw} ≤ ${o.iw}`;
    });
    const tap = (loc) => (w.hasTouch ? loc.tap() : loc.click());

    try {
      // ── Login ──────────────────────────────────────────────────────────
      const loggedIn = await check('login page loads', 'F', async () => {
        await page.goto(base + '/');
        await page.getByLabel('メールアドレス').waitFor();
      });
      if (!loggedIn) continue;
      await shot('login');
      await axe('login');
      await noOverflow('login');
      await check('login: main landmark', 'E', async () => {
        if (!(await page.locator('main').count())) throw new Error('no <main> on the login page');
      });
      await check('login: wrong password in plain Japanese, no English in brackets', 'A', async () => {
        // An unknown address, so the demo owner's own throttle stays untouched;
        // the answer is the same words as for a wrong password.
        await page.getByLabel('メールアドレス').fill(`nobody-${w.name}@e2e.local`);
        await page.getByLabel('パスワード').fill('Wrong-Passw0rd');
        await page.getByRole('button', { name: 'ログイン' }).click();
        // A general alert or the words at the password field, whichever the answer is.
        const alert = page.locator('[data-testid=login-error], main [role=alert], main .field-error');
        await alert.first().waitFor();
        const text = (await alert.allTextContents()).join(' ').trim();
        if (!/[\u3040-\u30ff\u4e00-\u9fff]/.test(text)) throw new Error(`not Japanese: 「${text}」`);
        if (/[(（]\s*[A-Za-z][A-Za-z0-9 ,.'_-]*[)）]/.test(text)) throw new Error(`English in brackets: 「${text}」`);
        if (/[A-Za-z]{3,}\s+[A-Za-z]{3,}/.test(text)) throw new Error(`English words: 「${text}」`);
        return `「${text}」`;
      });
      await shot('login-error');
      await axe('login (error shown)');
      const signedIn = await check('sign in', 'F', async () => {
        await page.getByLabel('メールアドレス').fill(creds.email);
        await page.getByLabel('パスワード').fill(creds.password);
        await page.getByRole('button', { name: 'ログイン' }).click();
        await page.locator('[data-testid=receipts][aria-busy=false]').waitFor({ timeout: 20_000 });
      });
      if (!signedIn) continue;

      // ── Dashboard ──────────────────────────────────────────────────────
      const dashOK = await check('dashboard loads with receipts and live picture', 'F', async () => {
        await page.goto(`${base}/#/camera/${cam.id}`);
        await page.locator('.card').first().waitFor({ timeout: 20_000 });
        await page.waitForSelector('[data-testid=conn][data-state=live]', { timeout: 20_000 });
        await page.waitForFunction(() => { const i = document.querySelector('.camview .stage img'); return i && i.complete && i.naturalWidth > 0; }, null, { timeout: 15_000 });
      });
      if (!dashOK) continue;
      await shot('dashboard');
      await axe('dashboard');
      await noOverflow('dashboard', 'C1');
      await check('dashboard: has an h1', 'E', async () => {
        const n = await page.locator('h1').count();
        if (!n) throw new Error('no <h1> on the dashboard');
      });
      if (w.viewport.width >= 1024) {
        await check('camera picture and a receipt card in view without scrolling', 'C1', async () => {
          const r = await page.evaluate(async () => {
            // A receipt that just arrived slides in from 40 px to the right
            // (list.css slidein): measure where it comes to rest.
            const first = document.querySelector('.card');
            const finite = (first?.getAnimations?.() ?? []).filter((a) => a.effect?.getTiming?.().iterations !== Infinity);
            await Promise.race([Promise.all(finite.map((a) => a.finished.catch(() => {}))), new Promise((res) => setTimeout(res, 2000))]);
            const inView = (el) => { if (!el) return null; const b = el.getBoundingClientRect(); return { top: Math.round(b.top), bottom: Math.round(b.bottom), ok: b.top >= 0 && b.left >= 0 && b.bottom <= innerHeight + 1 && b.right <= innerWidth + 1 }; };
            return { pic: inView(document.querySelector('.camview .stage img')), card: inView(first), h: innerHeight, y: scrollY };
          });
          if (!r.pic?.ok || !r.card?.ok) throw new Error(`picture ${JSON.stringify(r.pic)}, first card ${JSON.stringify(r.card)}, viewport height ${r.h}, scrollY ${r.y}`);
          return `picture ${r.pic.top}–${r.pic.bottom}, card ${r.card.top}–${r.card.bottom}`;
        });
      }
      if (w.name === '390') {
        await check('touch targets ≥ 44 px (main controls)', 'E', async () => {
          const bad = await page.evaluate(() => {
            const sel = ['header.topbar nav a', 'header.topbar button', '[role=tab]', '[role=search] input', '.receipts .day button',
              '.timeline .spans button', '.timeline svg', '.card', '[data-testid=back-to-now]', '[data-testid=search-all-days]'];
            const out = [];
            for (const s of sel) {
              document.querySelectorAll(s).forEach((el, i) => {
                const b = el.getBoundingClientRect();
                if (b.width === 0 && b.height === 0) return; // not shown
                if (b.width < 43.5 || b.height < 43.5) out.push(`${s}[${i}] 「${(el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 12)}」 ${Math.round(b.width)}×${Math.round(b.height)}`);
              });
            }
            return out;
          });
          if (bad.length) throw new Error(`${bad.length} below 44 px: ${bad.join('; ')}`);
        });
      }

      // 新着 fades (no receipt selected).
      await check('新着 badge disappears a few seconds after arrival', 'C2', async () => {
        const id = await page.waitForFunction(() => document.querySelector('.card .badge.new')?.closest('.card')?.dataset.id, null, { timeout: 20_000 }).then((h) => h.jsonValue());
        try {
          await page.waitForFunction((id) => !document.querySelector(`.card[data-id="${id}"] .badge.new`), id, { timeout: 15_000 });
        } catch {
          const n = await page.locator('.card .badge.new').count();
          throw new Error(`card ${id} still shows 新着 15 s after it was seen (${n} cards show 新着)`);
        }
      });

      // The tapped receipt's picture.
      const narrow = w.viewport.width < NARROW;
      const target = page.locator('.card').nth(2);
      const targetID = await target.getAttribute('data-id').catch(() => null);
      const picked = await check(`tap a receipt: ${narrow ? 'sheet opens' : 'it is selected'}`, 'C1', async () => {
        await tap(target);
        if (narrow) await page.locator('[data-testid=receipt-sheet]').waitFor({ state: 'visible' });
        else await page.locator(`.card[data-id="${targetID}"][aria-pressed=true]`).waitFor();
      });
      const scope = narrow ? page.locator('[data-testid=receipt-sheet]') : page;
      if (picked) {
        await check('tapped receipt\'s picture img[data-testid=receipt-picture] lies within the viewport', 'B', async () => {
          const img = scope.locator('img[data-testid=receipt-picture]');
          // A receipt with a recorded clip opens in the player; the full-size
          // still is its 静止画 button away.
          const still = scope.locator('[data-testid=show-still]');
          if (await still.count()) await still.first().click();
          try { await img.first().waitFor({ state: 'attached', timeout: 8000 }); } catch {
            throw new Error('missing img[data-testid=receipt-picture] (B: full-resolution picture of the selected receipt)' + (narrow ? ' inside [data-testid=receipt-sheet]' : ''));
          }
          await page.waitForFunction((narrow) => {
            const root = narrow ? document.querySelector('[data-testid=receipt-sheet]') : document;
            const i = root?.querySelector('img[data-testid=receipt-picture]');
            return i && i.complete && i.naturalWidth > 0;
          }, narrow, { timeout: 10_000 });
          const b = await img.first().evaluate((i) => { const r = i.getBoundingClientRect(); return { l: r.left, t: r.top, r: r.right, b: r.bottom, vw: innerWidth, vh: innerHeight }; });
          const box = `${Math.round(b.l)},${Math.round(b.t)}–${Math.round(b.r)},${Math.round(b.b)} in ${b.vw}×${b.vh}`;
          if (b.l < -1 || b.t < -1 || b.r > b.vw + 1 || b.b > b.vh + 1 || b.r - b.l < 1) throw new Error(`picture box ${box} is not within the viewport`);
          return box;
        });
        await check('selected picture is full resolution (naturalWidth > 320)', 'B', async () => {
          const img = scope.locator('img[data-testid=receipt-picture]').first();
          if (!(await img.count())) throw new Error('missing img[data-testid=receipt-picture] (B)');
          const nw = await img.evaluate((i) => i.naturalWidth);
          if (!(nw > 320)) throw new Error(`naturalWidth ${nw}: the 320 px thumbnail, not the full-resolution frame (B: JournalEntry.picture)`);
          return `naturalWidth ${nw}`;
        });
        await shot('dashboard-selected');
        await axe(narrow ? 'dashboard: receipt sheet' : 'dashboard: receipt selected');

        if (narrow) {
          await check('sheet: 次のレシート / 前のレシート change the receipt shown', 'C1', async () => {
            const sheet = page.locator('[data-testid=receipt-sheet]');
            const shown = () => sheet.locator('#receipt-sheet-title, [data-testid=picture-caption]').allTextContents().then((t) => t.join(' '));
            const a = await shown();
            await tap(sheet.locator('[data-testid=sheet-next]'));
            await page.waitForFunction((a) => {
              const s = document.querySelector('[data-testid=receipt-sheet]');
              return s && [...s.querySelectorAll('#receipt-sheet-title, [data-testid=picture-caption]')].map((e) => e.textContent).join(' ') !== a;
            }, a);
            const b = await shown();
            await tap(sheet.locator('[data-testid=sheet-prev]'));
            await page.waitForFunction((b) => {
              const s = document.querySelector('[data-testid=receipt-sheet]');
              return s && [...s.querySelectorAll('#receipt-sheet-title, [data-testid=picture-caption]')].map((e) => e.textContent).join(' ') !== b;
            }, b);
            const c = await shown();
            // The receipt is the sheet's title; its picture line may differ on
            // the way back (the still's caption, or the player's mark once
            // its clip is recorded).
            const title = (t) => t.split(/レシートの時刻|撮影 /)[0];
            if (title(c) !== title(a)) throw new Error(`prev after next did not come back: 「${a}」 → 「${b}」 → 「${c}」`);
            return `「${a.slice(0, 40)}」 ⇄ 「${b.slice(0, 40)}」`;
          });
        }

        await check('while selected: arrivals wait behind 新着 N 件 and the selected card stays put', 'C2', async () => {
          const sel = page.locator('.card[aria-pressed=true]');
          if (!(await sel.count())) throw new Error('no card marked aria-pressed=true while a receipt is selected');
          const id = await sel.first().getAttribute('data-id');
          const top0 = await sel.first().evaluate((e) => e.getBoundingClientRect().top);
          const n0 = await page.locator('.card').count();
          try { await page.locator('[data-testid=new-arrivals]').waitFor({ state: 'attached', timeout: 25_000 }); } catch {
            throw new Error('no [data-testid=new-arrivals] within 25 s of demo receipts arriving while a receipt is selected');
          }
          await page.waitForTimeout(1500); // a further arrival or two
          const top1 = await page.locator(`.card[data-id="${id}"]`).evaluate((e) => e.getBoundingClientRect().top);
          const n1 = await page.locator('.card').count();
          const label = (await page.locator('[data-testid=new-arrivals]').textContent()).trim();
          if (Math.abs(top1 - top0) > 1) throw new Error(`selected card moved from y=${Math.round(top0)} to y=${Math.round(top1)} (${label})`);
          if (n1 > n0) throw new Error(`${n1 - n0} cards were inserted although a receipt is selected (${label})`);
          if (!/新着\s*\d+\s*件/.test(label)) throw new Error(`button says 「${label}」, expected 「新着 N 件」`);
          return `「${label}」, card stayed at y=${Math.round(top0)}`;
        });
        if (narrow) {
          await check('sheet closes with 閉じる', 'C1', async () => {
            // A failed check before closes dialogs with Esc: open it again.
            if (!(await page.locator('[data-testid=receipt-sheet]').isVisible())) {
              await tap(page.locator(`.card[data-id="${targetID}"]`));
              await page.locator('[data-testid=receipt-sheet]').waitFor({ state: 'visible' });
            }
            await tap(page.locator('[data-testid=receipt-sheet] [data-testid=sheet-close]'));
            await page.locator('[data-testid=receipt-sheet]').waitFor({ state: 'hidden' });
          });
        }
        await check('新着 N 件 inserts the waiting receipts', 'C2', async () => {
          const n0 = await page.locator('.card').count();
          const btn = page.locator('[data-testid=new-arrivals]');
          // On a phone, closing the sheet ends the selection and the waiting
          // receipts come in by themselves (ReceiptList's hold): then there is
          // no bar to tap, and the list must simply hold no bar any more.
          if (!(await btn.isVisible().catch(() => false))) {
            if (await btn.count()) throw new Error('新着 N 件 is in the page but not visible');
            return `no selection left, the waiting receipts were already in (${n0} cards)`;
          }
          const label = (await btn.textContent()).trim();
          await tap(btn);
          await page.waitForFunction((n) => document.querySelectorAll('.card').length > n && !document.querySelector('[data-testid=new-arrivals]'), n0);
          return `${label}: ${n0} → ${await page.locator('.card').count()} cards`;
        });
      }
      // Back to live for what follows.
      const backBtn = page.locator('[data-testid=back-to-now]');
      if (await backBtn.isVisible().catch(() => false)) await tap(backBtn).catch(() => {});

      // Timeline.
      const svg = page.locator('.timeline svg').first();
      await check('timeline takes keyboard focus (Tab and focus())', 'C1', async () => {
        const tabIndex = await svg.evaluate((e) => e.tabIndex);
        await page.locator('.timeline .spans button').last().focus();
        await page.keyboard.press('Tab');
        const byTab = await svg.evaluate((e) => document.activeElement === e);
        await svg.evaluate((e) => e.focus());
        const byFocus = await svg.evaluate((e) => document.activeElement === e);
        if (!byTab || !byFocus) throw new Error(`svg tabIndex ${tabIndex}; Tab from the span buttons focuses it: ${byTab}; focus(): ${byFocus}`);
      });
      await check('timeline: ← pans, End returns', 'C1', async () => {
        const v0 = await svg.getAttribute('aria-valuetext');
        await svg.evaluate((e) => e.focus());
        await page.keyboard.press('ArrowLeft');
        await page.waitForFunction((v0) => document.querySelector('.timeline svg')?.getAttribute('aria-valuetext') !== v0, v0, { timeout: 3000 });
        const v1 = await svg.getAttribute('aria-valuetext');
        await page.keyboard.press('End');
        return `「${v0}」 → 「${v1}」`;
      });
      await check('timeline click jumps the list (cards still listed); newer ones reachable', 'C1', async () => {
        await tap(page.locator('.timeline').getByRole('radio', { name: '10M' }));
        await page.waitForFunction(() => document.querySelectorAll('.timeline svg rect[class^=mark-]').length >= 3, null, { timeout: 10_000 });
        const newest = await page.locator('.card').first().getAttribute('data-id');
        // A bar a third of the way along the receipts the demo has rung up, so
        // there are receipts before the picked moment and after it.
        const pt = await svg.evaluate((s) => {
          const xs = [...new Set([...s.querySelectorAll('rect[class^=mark-]')].map((r) => { const b = r.getBoundingClientRect(); return Math.round(b.left + b.width / 2); }))].sort((a, b) => a - b);
          const sb = s.getBoundingClientRect();
          return { x: xs[Math.floor(xs.length / 3)] - sb.left, y: sb.height * 0.6, n: xs.length };
        });
        await svg.click({ position: { x: pt.x, y: pt.y } });
        await page.waitForFunction((newest) => {
          const list = document.querySelector('[data-testid=receipts]');
          if (!list || list.getAttribute('aria-busy') === 'true') return false;
          if (/レシートはありません/.test(list.textContent)) return false;
          const lb = list.getBoundingClientRect();
          const top = [...list.querySelectorAll('.card')].find((c) => c.getBoundingClientRect().bottom > lb.top + 4);
          return top && top.dataset.id !== newest;
        }, newest, { timeout: 10_000 }).catch(async () => {
          const t = (await page.locator('[data-testid=receipts]').textContent()).slice(0, 120);
          throw new Error(`after a click on the timeline the list does not show earlier receipts (list: 「${t}」)`);
        });
        return `${await page.locator('.card').count()} cards listed after the jump (bars: ${pt.n})`;
      });
      await shot('dashboard-timeline-jump');
      await check('今に戻る resets picture, timeline and list', 'C1', async () => {
        const b = page.locator('[data-testid=back-to-now]');
        try { await b.waitFor({ state: 'visible', timeout: 5000 }); } catch { throw new Error('no visible button[data-testid=back-to-now] after a timeline jump'); }
        await tap(b);
        await page.waitForFunction(() => {
          const list = document.querySelector('[data-testid=receipts]');
          return list && list.scrollTop < 2 && !document.querySelector('.card[aria-pressed=true]') && list.querySelector('.card')
            && document.querySelector('.camview img[alt$="のライブ映像"]');
        }, null, { timeout: 10_000 });
      });
      await check('after a timeline jump newer receipts are still reachable', 'C2', async () => {
        // 今に戻る put the span back; on 10M the bars are 10 s apart, so a third
        // of the way along is well before the newest receipt.
        await tap(page.locator('.timeline').getByRole('radio', { name: '10M' }));
        await page.waitForFunction(() => document.querySelectorAll('.timeline svg rect[class^=mark-]').length >= 3, null, { timeout: 10_000 });
        const newest = await page.locator('.card').first().getAttribute('data-id');
        const pt = await svg.evaluate((s) => {
          const xs = [...new Set([...s.querySelectorAll('rect[class^=mark-]')].map((r) => { const b = r.getBoundingClientRect(); return Math.round(b.left + b.width / 2); }))].sort((a, b) => a - b);
          const sb = s.getBoundingClientRect();
          return { x: xs[Math.floor(xs.length / 3)] - sb.left, y: sb.height * 0.6 };
        });
        await svg.click({ position: pt });
        await page.waitForFunction((newest) => !document.querySelector(`.card[data-id="${newest}"]`) || document.querySelector('[data-testid=receipts]').scrollTop > 0, newest, { timeout: 10_000 });
        // By scrolling the list up, or by its button for newer receipts.
        await page.locator('[data-testid=receipts]').evaluate((el) => el.scrollTo(0, 0));
        const seen = await page.locator(`.card[data-id="${newest}"]`).waitFor({ timeout: 4000 }).then(() => 'scrolling up', () => null);
        if (seen) return seen;
        const more = page.locator('[data-testid=show-newer]');
        if (!(await more.count())) throw new Error('after the jump neither scrolling the list up nor a [data-testid=show-newer] button brings back the newest receipt');
        await tap(more.first());
        await page.locator(`.card[data-id="${newest}"]`).waitFor({ timeout: 10_000 }).catch(() => { throw new Error('[data-testid=show-newer] does not bring back the newest receipt'); });
        return "via [data-testid=show-newer]";
      });
      if (await backBtn.isVisible().catch(() => false)) await tap(backBtn).catch(() => {});

      // Search.
      const box = page.locator('[role=search] input, #rl-search').first();
      await check('search: a full-width digit finds receipts, count and highlights shown', 'C2', async () => {
        // A digit some receipt on screen surely has (a fixed 「９」 found
        // nothing when the demo had run only briefly), typed full-width.
        const no = await page.locator('.card[data-receipt]:not([data-receipt=""])').first().getAttribute('data-receipt').catch(() => null);
        const digit = (no || '').replace(/\D/g, '').slice(-1) || '9';
        await box.fill(fullWidth(digit));
        await page.locator('[data-testid=search-count]').waitFor({ state: 'visible' }).catch(() => { throw new Error('no [data-testid=search-count]'); });
        await page.waitForFunction(() => document.querySelectorAll('.card').length > 0 && !document.querySelector('[data-testid=receipts][aria-busy=true]'), null, { timeout: 10_000 })
          .catch(() => { throw new Error(`「${fullWidth(digit)}」 finds no receipt`); });
        const marks = await page.locator('[data-testid=receipts] mark').count();
        if (!marks) throw new Error('no <mark> highlight in the list');
        return `${(await page.locator('[data-testid=search-count]').textContent()).trim()}, ${marks} marks`;
      });
      await shot('dashboard-search');
      await axe('dashboard: search results');
      await check('search: a full-width receipt number finds its card', 'C2', async () => {
        await box.fill('');
        await page.waitForFunction(() => !document.querySelector('[data-testid=receipts] mark') && !document.querySelector('[data-testid=receipts][aria-busy=true]') && document.querySelector('.card'));
        const no = await page.locator('.card[data-receipt]:not([data-receipt=""])').first().getAttribute('data-receipt');
        await box.fill(fullWidth(no));
        // Two cards can share a number (a sale and its cancel).
        await page.locator(`.card[data-receipt="${no}"]`).first().waitFor().catch(() => { throw new Error(`「${fullWidth(no)}」 does not find receipt ${no}`); });
        return `「${fullWidth(no)}」 → ${no}`;
      });
      await check('search: 全期間で検索', 'C2', async () => {
        const all = page.locator('[data-testid=search-all-days]');
        try { await all.waitFor({ state: 'visible', timeout: 5000 }); } catch { throw new Error('no visible [data-testid=search-all-days] while searching'); }
        const before = (await page.locator('[data-testid=search-count]').textContent().catch(() => '')).trim();
        const isBox = await all.evaluate((e) => e.matches('input[type=checkbox]') || e.getAttribute('role') === 'checkbox' || e.getAttribute('role') === 'switch');
        if (isBox) await all.check(); else await tap(all);
        await page.waitForFunction(() => !document.querySelector('[data-testid=receipts][aria-busy=true]') && document.querySelectorAll('.card').length > 0, null, { timeout: 10_000 });
        const after = (await page.locator('[data-testid=search-count]').textContent()).trim();
        if (isBox) await all.uncheck().catch(() => {});
        return `${before} → ${after}`;
      });
      await check('その他 explained where OTHER entries appear', 'C2', async () => {
        await box.fill(otherNo);
        await page.locator(`.card[data-receipt="${otherNo}"]`).first().waitFor().catch(() => { throw new Error(`the OTHER entry ${otherNo} is not found by search`); });
        await page.locator('[data-testid=other-explained]').first().waitFor({ state: 'visible' }).catch(() => { throw new Error('an OTHER card is listed but no [data-testid=other-explained]'); });
        return (await page.locator('[data-testid=other-explained]').first().textContent()).trim().slice(0, 60);
      });
      await box.fill('').catch(() => {});

      // ── Portal ─────────────────────────────────────────────────────────
      const portalOK = await check('portal loads', 'F', async () => {
        await page.goto(`${base}/#/portal`);
        await page.locator('[data-testid=table-SMAREGI] [data-terminal]').first().waitFor({ timeout: 15_000 });
      });
      if (portalOK) {
        await shot('portal', true);
        await axe('portal');
        await noOverflow('portal', 'E');
        await check('portal: 新規設定追加 dialog; 追加 with empty fields names each field', 'E', async () => {
          await tap(page.getByRole('button', { name: '新規設定追加' }));
          const dlg = page.getByTestId('add-smaregi');
          await dlg.waitFor({ state: 'visible' });
          const add = dlg.getByRole('button', { name: '追加' });
          if (await add.isDisabled()) throw new Error('追加 is greyed out while fields are empty (contract: submit not silently disabled)');
          await tap(add);
          await dlg.locator('.field-error').first().waitFor({ timeout: 5000 }).catch(() => { throw new Error('追加 with empty fields shows no .field-error'); });
          const inv = await dlg.locator('[aria-invalid=true]').count();
          if (!inv) throw new Error('no field marked aria-invalid=true');
          return `${await dlg.locator('.field-error').count()} field errors, ${inv} aria-invalid`;
        });
        await shot('portal-add');
        await axe('portal: 新規設定追加 dialog');
        await closeDialog(page, 'add-smaregi');
        await check('portal: delete confirmation starts on キャンセル, red action', 'E', async () => {
          const table = page.getByTestId('table-SMAREGI');
          await table.getByRole('checkbox').nth(1).check().catch(() => table.getByRole('checkbox').first().check());
          await tap(table.getByRole('button', { name: '選択した連携を削除' }));
          const dlg = page.getByTestId('confirm-delete');
          await dlg.waitFor({ state: 'visible' });
          return await safeFocus(page, dlg, '削除する');
        });
        await shot('portal-confirm-delete');
        await axe('portal: delete confirmation');
        await closeDialog(page, 'confirm-delete');
        const checked = page.getByTestId('table-SMAREGI').locator('input[type=checkbox]:checked');
        for (let i = await checked.count(); i > 0; i--) await checked.first().uncheck().catch(() => {});

        // レジの時計と受信状況 (issue 17): each register's clock in words, its
        // receipts, and 今すぐ照合 with its progress, at every width.
        const feed = page.getByTestId('feed-health');
        const feedOK = await check('portal: レジの時計と受信状況 per register', 'T', async () => {
          const term = feed.locator('article[data-connection] li.feed-term').first();
          await term.waitFor({ timeout: 15_000 }).catch(async () => {
            const alert = await feed.getByRole('alert').first().textContent().catch(() => null);
            throw new Error(alert ? `the panel says: ${alert.trim()}` : 'no register in [data-testid=feed-health]');
          });
          const clock = (await term.getByTestId('clock-text').textContent()).trim();
          if (!/^(レジの時計が .+(進んで|遅れて)います|レジの時計は正確です|推定中（.+）)$/.test(clock)) throw new Error(`clock reads 「${clock}」`);
          const small = await feed.locator('button').evaluateAll((bs) => bs.map((b) => b.getBoundingClientRect()).filter((r) => r.height < 44 || r.width < 44).length);
          if (small) throw new Error(`${small} buttons under 44 px`);
          return `${clock}; ${(await term.getByTestId('receipts-24h').textContent()).trim()} in 24 h`;
        });
        if (feedOK) {
          await feed.scrollIntoViewIfNeeded().catch(() => {});
          await shot('portal-feed', true);
          await axe('portal: レジの時計と受信状況', 'T');
          await noOverflow('portal: レジの時計と受信状況', 'T');
          await check('portal: 今すぐ照合 runs the sweep and shows its result', 'T', async () => {
            const conn = feed.locator('article[data-connection]').filter({ has: page.getByRole('button', { name: '今すぐ照合' }) }).first();
            const button = conn.getByRole('button', { name: '今すぐ照合' });
            await tap(button);
            await conn.locator('[data-testid=recon-done], [data-testid=recon-error][role=alert], [data-testid=recon-failed]').first().waitFor({ timeout: 120_000 });
            if (await conn.getByTestId('recon-failed').count()) throw new Error(`refused: ${(await conn.getByTestId('recon-failed').textContent()).trim()}`);
            if (!(await conn.getByTestId('recon-done').count())) throw new Error(`the sweep failed: ${(await conn.getByTestId('recon-error').textContent()).trim()}`);
            return (await conn.getByTestId('recon-text').textContent()).trim().slice(0, 80);
          });
        }
      }

      // ── Settings ───────────────────────────────────────────────────────
      const settingsOK = await check('settings loads', 'F', async () => {
        await page.goto(`${base}/#/settings`);
        await page.getByTestId('api-keys').waitFor();
        await page.getByTestId('users').locator('tbody tr, .row, li').first().waitFor({ timeout: 15_000 }).catch(() => {});
        await page.getByTestId('cameras').waitFor();
      });
      if (settingsOK) {
        await shot('settings', true);
        await axe('settings');
        await noOverflow('settings', 'E');
        await check('settings: no empty table header', 'E', async () => {
          const n = await page.locator('th').evaluateAll((ths) => ths.filter((t) => !t.textContent.trim() && !t.getAttribute('aria-label')).length);
          if (n) throw new Error(`${n} empty <th>`);
        });
        await check('settings: キーを作成 with no name names the field', 'E', async () => {
          const keys = page.getByTestId('api-keys');
          await keys.getByLabel('名前').fill('');
          const create = keys.getByRole('button', { name: 'キーを作成' });
          if (await create.isDisabled()) throw new Error('キーを作成 is greyed out while the name is empty (contract: submit not silently disabled)');
          await tap(create);
          await keys.locator('.field-error').first().waitFor({ timeout: 5000 }).catch(() => { throw new Error('キーを作成 with an empty name shows no .field-error'); });
          if (!(await keys.locator('[aria-invalid=true]').count())) throw new Error('no field marked aria-invalid=true');
        });
        for (const [label, section, button, testid] of [
          ['店舗を追加 dialog', 'shops', '店舗を追加', 'shop-dialog'],
          ['カメラを追加 dialog', 'cameras', 'カメラを追加', 'camera-dialog'],
        ]) {
          const open = await check(`settings: ${label} opens`, 'E', async () => {
            await tap(page.getByTestId(section).getByRole('button', { name: button }).first());
            await page.getByTestId(testid).waitFor({ state: 'visible' });
          });
          if (!open) continue;
          await shot(`settings-${testid}`);
          await axe(`settings: ${label}`);
          await closeDialog(page, testid);
        }
        for (const [label, row, button, testid, action] of [
          ['API キーの失効', page.getByTestId('api-keys').locator('tr, li, .row').filter({ has: page.getByRole('button', { name: '失効させる' }) }).first(), '失効させる', 'confirm-revoke', '失効させる'],
          ['ユーザーの削除', page.getByTestId('users').locator('tr, li, .row').filter({ has: page.getByRole('button', { name: '削除', exact: true }) }).first(), '削除', 'confirm-delete-user', '削除する'],
          ['カメラの撤去', page.getByTestId('cameras').locator('tr, li, .row').filter({ has: page.getByRole('button', { name: '撤去' }) }).first(), '撤去', 'retire-camera', '撤去する'],
        ]) {
          const ok = await check(`settings: ${label} starts on キャンセル, red action`, 'E', async () => {
            if (!(await row.count())) throw new Error(`no row with a ${button} button (nothing to try ${label} on)`);
            await tap(row.getByRole('button', { name: button, exact: true }));
            const dlg = page.getByTestId(testid);
            await dlg.waitFor({ state: 'visible' }).catch(() => { throw new Error(`no [data-testid=${testid}] dialog`); });
            return await safeFocus(page, dlg, action);
          });
          if (!ok) continue;
          await shot(`settings-${testid}`);
          await axe(`settings: ${label} dialog`);
          await closeDialog(page, testid);
        }
      }
      await check('no console errors', 'F', async () => {
        if (consoleErrors.length) throw new Error(consoleErrors.slice(0, 5).join(' | '));
      });
    } finally {
      await ctx.close().catch(() => {});
    }
  }

  const failed = results.filter((r) => !r.ok);
  printSummary(results, axeFindings, log);
  return { results, axe: axeFindings, failed: failed.length };
}

/** The confirmation's focus is on キャンセル and its action is red. */
async function safeFocus(page, dlg, action) {
  await page.waitForTimeout(100); // the dialog moves the focus after it opens
  const f = await page.evaluate(() => document.activeElement && `${document.activeElement.tagName.toLowerCase()} 「${document.activeElement.textContent.trim()}」`);
  if (!/「キャンセル」/.test(f ?? '')) throw new Error(`initial focus is on ${f}, not キャンセル`);
  const red = await dlg.locator('.btn.danger-solid').filter({ hasText: action }).count();
  if (!red) throw new Error(`「${action}」 is not the red .btn.danger-solid button`);
  return 'focus on キャンセル';
}

async function closeDialog(page, testid) {
  const dlg = page.getByTestId(testid);
  if (!(await dlg.isVisible().catch(() => false))) return;
  const cancel = dlg.getByRole('button', { name: 'キャンセル' });
  if (await cancel.count()) await cancel.first().click().catch(() => {});
  else await page.keyboard.press('Escape').catch(() => {});
  await dlg.waitFor({ state: 'hidden', timeout: 3000 }).catch(() => page.keyboard.press('Escape').catch(() => {}));
}

async function runAxe(page) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.addScriptTag({ path: axePath });
  return page.evaluate(async (tags) => {
    // Contrast is judged on the settled page: a card sliding in or a 新着
    // badge fading out is half transparent for a moment (axe measured 2.87:1
    // on a card caught mid-slide). Finite animations only, bounded.
    const finite = document.getAnimations().filter((a) => a.effect?.getComputedTiming().endTime !== Infinity);
    await Promise.race([Promise.allSettled(finite.map((a) => a.finished)), new Promise((r) => setTimeout(r, 3000))]);
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
      summary: (v.nodes[0]?.failureSummary ?? '').split('\n').slice(1, 2).join(' ').trim().slice(0, 160),
    }));
  }, AXE_TAGS);
}

const fmtViolation = (v) => `${v.id} (${v.impact}, ${v.count} nodes) at ${v.targets.join(' ; ')}${v.summary ? ' — ' + v.summary : ''}`;

function printSummary(results, axeFindings, log) {
  const widths = [...new Set(results.map((r) => r.width))];
  const names = [...new Set(results.map((r) => r.name))];
  const lines = ['', 'SCREENS (pass/fail per check per width; owner in brackets)'];
  lines.push(`  ${'check'.padEnd(70)} ${widths.map((w) => w.padStart(5)).join(' ')}`);
  for (const n of names) {
    const owner = results.find((r) => r.name === n).owner;
    const cells = widths.map((w) => { const r = results.find((x) => x.width === w && x.name === n); return (r ? (r.ok ? 'pass' : 'FAIL') : '-').padStart(5); });
    lines.push(`  ${(n + ` [${owner}]`).slice(0, 70).padEnd(70)} ${cells.join(' ')}`);
  }
  const failed = results.filter((r) => !r.ok);
  if (failed.length) {
    lines.push('', `  ${failed.length} FAILED:`);
    for (const r of failed) lines.push(`  - ${r.width} ${r.name} [${OWNER[r.owner] ?? r.owner}]: ${r.detail}`);
  }
  lines.push('', '  axe-core findings (all impacts):');
  if (!axeFindings.length) lines.push('  none');
  for (const v of axeFindings) lines.push(`  - ${v.width} ${v.screen}: ${fmtViolation(v)}`);
  log(lines.join('\n'));
}

async function ingestOther({ api, direct, otherNo }) {
  const key = (await api('mutation($n:String!,$s:[String!]!){ createApiKey(name:$n, scopes:$s){ key } }', { n: 'e2e-screens', s: ['journal:write'] })).createApiKey.key;
  const t = await api('{ terminals(first: 50) { edges { node { id externalID activeLink { camera { id } } } } } }');
  const term = t.terminals.edges.map((e) => e.node).find((n) => n.externalID === '1' && n.activeLink);
  const r = await fetch(direct + '/graphql', {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + key },
    body: JSON.stringify({
      query: 'mutation($in:[JournalInput!]!){ ingestJournal(input:$in){ status error { code message } } }',
      variables: { in: [{ terminalID: term.id, externalID: 'e2e-' + otherNo, kind: 'OTHER', occurredAt: new Date().toISOString(), receiptNo: otherNo, registerNo: '1', staffName: 'E2E担当', total: 1000 }] },
    }),
  }).then((x) => x.json());
  if (r.errors || r.data.ingestJournal.some((x) => x.status === 'FAILED')) throw new Error(JSON.stringify(r));
}

/** The screenshots the README shows, copied to docs/screenshots. */
export function copyDocs(artifacts, docs) {
  mkdirSync(docs, { recursive: true });
  for (const [from, to] of [
    ['1024/dashboard.png', 'dashboard-1024.png'],
    ['768/dashboard-selected.png', 'dashboard-768.png'],
    ['390/dashboard-selected.png', 'dashboard-390.png'],
    ['390/portal.png', 'portal-390.png'],
    ['390/settings.png', 'settings-390.png'],
  ]) {
    try { copyFileSync(join(artifacts, from), join(docs, to)); } catch (e) { console.error('docs screenshot', from, firstLine(e)); }
  }
}

// Standalone: a demo server of its own, then the checks.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bin = process.env.REGICAM_BIN;
  if (!bin) { console.error('REGICAM_BIN=/path/to/regicam node e2e/screens.mjs'); process.exit(2); }
  const artifacts = join(here, 'artifacts');
  mkdirSync(artifacts, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'regicam-screens-'));
  const port = await new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(bin, ['--addr', `127.0.0.1:${port}`, '--data-dir', join(tmp, 'data'), '--demo', '--cors-origins', base, '--log-level', 'info'],
    { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.pipe(createWriteStream(join(artifacts, 'server-screens.log')));
  let browser, code = 0;
  try {
    const creds = await new Promise((resolve, reject) => {
      let buf = '';
      const t = setTimeout(() => reject(new Error('no demo login line')), 60_000);
      server.stdout.on('data', (d) => { buf += d; const m = /^demo login: (\S+) (\S+)$/m.exec(buf); if (m) { clearTimeout(t); resolve({ email: m[1], password: m[2] }); } });
    });
    for (let i = 0; ; i++) { try { if ((await fetch(base + '/healthz')).ok) break; } catch { /* not yet */ } if (i > 100) throw new Error('not healthy'); await new Promise((r) => setTimeout(r, 100)); }
    const login = await fetch(base + '/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ query: 'mutation($e:String!,$p:String!){ login(email:$e,password:$p){ user { id } } }', variables: { e: creds.email, p: creds.password } }) });
    const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const api = async (query, variables = {}) => { const j = await fetch(base + '/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json', Cookie: cookie }, body: JSON.stringify({ query, variables }) }).then((r) => r.json()); if (j.errors) throw new Error(JSON.stringify(j.errors)); return j.data; };
    const t = await api('{ terminals(first: 50) { edges { node { externalID activeLink { camera { id } } } } } }');
    const cam = t.terminals.edges.map((e) => e.node).find((n) => n.externalID === '1' && n.activeLink).activeLink.camera;
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const only = process.env.E2E_WIDTHS?.split(',');
    const res = await runScreens({ browser, base, direct: base, creds, cam, api, artifacts, widths: only ? WIDTHS.filter((w) => only.includes(w.name)) : WIDTHS });
    if (process.env.E2E_DOCS) copyDocs(artifacts, join(frontend, '..', 'docs', 'screenshots'));
    code = res.failed ? 1 : 0;
  } catch (e) {
    console.error('screens FAILED:', e);
    code = 1;
  } finally {
    await browser?.close().catch(() => {});
    server.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(code);
}
