// Feed truth on screen (issue 17): a register's clock in words (ahead,
// behind, right, still estimating), missing receipt ranges (open and lost),
// the last reconciliation and 今すぐ照合 (running, done, refused), the
// dashboard's banner for a clock that is off, and a corrected receipt's
// レジ時刻 … （補正後 …） with the picture's skew against the corrected time.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { ClockBanner, ClockOffsetLine, clockText, durationJa } from '../src/components/ClockOffset';
import { FeedHealth, missingText, reconciliationText } from '../src/components/FeedHealth';
import { CameraView, type CameraInfo } from '../src/components/CameraView';
import { ReceiptCard } from '../src/components/ReceiptCard';
import { Dashboard } from '../src/components/Dashboard';
import { correctedText, reasonCode, reasonText } from '../src/format';
import { messages } from '../src/errors/messages';
import { entry, FakeWs, mockGraphQL, page } from './helpers';

const TZ = 'Asia/Tokyo';
const NOW = Date.parse('2026-12-03T06:10:00Z'); // 15:10 in Tokyo
const clock = (offsetMs: number, over: Record<string, unknown> = {}) => ({
  offsetMs, uncertaintyMs: 400, samples: 12, correcting: true, updatedAt: '2026-12-03T06:04:00Z', ...over,
});

describe('register clock in words', () => {
  it('says ahead, behind, right and still estimating, with the ± bound', () => {
    expect(clockText(clock(42_000))).toBe('レジの時計が 42 秒進んでいます');
    expect(clockText(clock(-90_000))).toBe('レジの時計が 1 分 30 秒遅れています');
    expect(clockText(clock(-9 * 3_600_000))).toBe('レジの時計が 9 時間遅れています');
    expect(clockText(clock(2_450))).toBe('レジの時計が 2.5 秒進んでいます');
    expect(clockText(clock(300, { correcting: false }))).toBe('レジの時計は正確です');
    expect(clockText(clock(42_000, { samples: 2 }))).toBe('推定中（サンプル 2 件）');
    expect(clockText(null)).toBe('推定中（レシートがまだ足りません）');
    expect(durationJa(400)).toBe('0.4 秒');
    expect(durationJa(26 * 3_600_000)).toBe('1 日 2 時間');
  });

  it('shows the bound and whether the pictures are chosen at the corrected time', () => {
    const { rerender } = render(<ClockOffsetLine clock={clock(42_000)} tz={TZ} />);
    const line = screen.getByTestId('clock');
    expect(line.dataset.state).toBe('ahead');
    expect(screen.getByTestId('clock-text').textContent).toBe('レジの時計が 42 秒進んでいます');
    expect(screen.getByTestId('clock-bound').textContent).toBe('（誤差 ±0.4 秒）');
    expect(line.textContent).toContain('補正中');
    expect(line.textContent).toContain('画像は時計のずれを補正した時刻で選んでいます（15:04 時点・サンプル 12 件）');

    rerender(<ClockOffsetLine clock={clock(-3_000)} tz={TZ} />);
    expect(screen.getByTestId('clock').dataset.state).toBe('behind');
    expect(screen.getByTestId('clock-text').textContent).toBe('レジの時計が 3.0 秒遅れています');

    rerender(<ClockOffsetLine clock={clock(120, { correcting: false })} tz={TZ} />);
    expect(screen.getByTestId('clock').dataset.state).toBe('right');
    expect(screen.getByTestId('clock-text').className).toBe('status-ok');
    expect(screen.getByTestId('clock').textContent).not.toContain('補正中');

    rerender(<ClockOffsetLine clock={null} tz={TZ} />);
    expect(screen.getByTestId('clock').dataset.state).toBe('unknown');
    expect(screen.queryByTestId('clock-bound')).toBeNull();
    expect(screen.getByTestId('clock').textContent).toContain('それまで時刻の補正はしません');
  });
});

describe('missing receipts and reconciliation in words', () => {
  it('names the range and how many, and a lost one', () => {
    expect(missingText({ from: '1021', to: '1025', count: 5, lost: false })).toBe('レシート番号 1021〜1025 の 5 件が届いていません');
    expect(missingText({ from: '88', to: '88', count: 1, lost: true })).toBe('レシート番号 88 の 1 件は届きませんでした');
  });

  it('says what the sweep found', () => {
    const base = { lastAt: '2026-12-03T06:00:00Z', nextAt: null, windowHours: 48, checked: 120, vanished: 0, changed: 0, lastError: '' };
    expect(reconciliationText({ ...base, lastAt: null })).toBe('まだ照合していません。');
    expect(reconciliationText(base)).toBe('直近 48 時間の 120 件を確認し、食い違いはありませんでした。');
    expect(reconciliationText({ ...base, vanished: 1, changed: 2 })).toBe(
      '直近 48 時間の 120 件を確認し、連携先から消えていた取引 1 件を「削除」として記録しました。見落としていた修正・取消 2 件を記録しました。');
  });
});

const recon = (over: Record<string, unknown> = {}) => ({
  lastAt: '2026-12-03T06:00:00Z', nextAt: '2026-12-03T06:30:00Z', windowHours: 48, checked: 120, vanished: 1, changed: 0, lastError: '', ...over,
});
const connection = (over: Record<string, unknown> = {}) => ({
  id: 'PC1', provider: 'SMAREGI', contractID: 'demo_contract', name: 'demo_contract', missingReceipts: 5, reconciliation: recon(), ...over,
});
const terminal = (over: Record<string, unknown> = {}) => ({
  id: 'TE9', name: '端末 9', externalID: '9', connection: { id: 'PC1' }, shop: { timezone: TZ }, clockOffset: clock(42_000),
  feedHealth: {
    lastReceiptAt: '2026-12-03T06:07:00Z', receiptsLast24h: 118, missingCount: 5,
    missingRanges: [
      { from: '1021', to: '1025', count: 5, firstNoticedAt: '2026-12-03T05:00:00Z', checks: 3, lost: false },
      { from: '988', to: '988', count: 1, firstNoticedAt: '2026-12-01T05:00:00Z', checks: 24, lost: true },
    ],
  },
  ...over,
});
const edges = (xs: unknown[]) => xs.map((node) => ({ node }));
const terminalPage = (ts: unknown[], endCursor: string | null = null) => ({ pageInfo: { hasNextPage: !!endCursor, endCursor }, edges: edges(ts) });
const health = (conns: unknown[], ts: unknown[], endCursor: string | null = null) => ({
  data: { posConnections: { edges: edges(conns) }, terminals: terminalPage(ts, endCursor) },
});

function feed(conns: unknown[], ts: unknown[], reconcile?: (v: any) => unknown) {
  return mockGraphQL((op, v) => {
    if (op === 'FeedHealth') return health(conns, ts);
    if (op === 'ReconcileConnection' && reconcile) return reconcile(v);
    throw new Error('unexpected ' + op);
  });
}

describe('FeedHealth (link portal)', () => {
  it("shows each register's clock, last receipt, 24 h count and missing ranges, lost ones marked", async () => {
    feed([connection()], [terminal(), terminal({
      id: 'TE8', name: '端末 8', externalID: '8', clockOffset: null, feedHealth: { lastReceiptAt: null, receiptsLast24h: 0, missingCount: 0, missingRanges: [] },
    })]);
    render(<FeedHealth now={() => NOW} />);
    const panel = await screen.findByTestId('feed-health');
    expect(within(panel).getByRole('heading', { name: 'レジの時計と受信状況' })).toBeTruthy();
    const t9 = within(panel.querySelector<HTMLElement>('li[data-terminal="9"]')!);
    expect(t9.getByRole('heading', { name: '端末 9' })).toBeTruthy();
    expect(t9.getByTestId('clock-text').textContent).toBe('レジの時計が 42 秒進んでいます');
    expect(t9.getByTestId('last-receipt').textContent).toBe('2026/12/03 15:07:00（3分前）');
    expect(t9.getByTestId('receipts-24h').textContent).toBe('118 件');
    const ranges = t9.getAllByTestId('missing-range');
    expect(ranges.map((r) => r.dataset.lost)).toEqual(['false', 'true']);
    expect(ranges[0].textContent).toContain('レシート番号 1021〜1025 の 5 件が届いていません');
    expect(ranges[0].textContent).toContain('照合のたびに探しています（3 回）');
    expect(missingText({ from: '2', to: '2', count: 1, lost: false })).toBe('レシート番号 2 の 1 件が届いていません');
    expect(within(ranges[1]).getByText('紛失')).toBeTruthy();
    expect(ranges[1].textContent).toContain('レシート番号 988 の 1 件は届きませんでした');

    const t8 = within(panel.querySelector<HTMLElement>('li[data-terminal="8"]')!);
    expect(t8.getByTestId('clock-text').textContent).toBe('推定中（レシートがまだ足りません）');
    expect(t8.getByTestId('last-receipt').textContent).toBe('まだありません');
    expect(t8.getByTestId('no-missing')).toBeTruthy();

    // One block per connection, however many registers it has.
    expect(panel.querySelectorAll('article[data-connection]')).toHaveLength(1);
    const conn = within(panel.querySelector<HTMLElement>('article[data-connection="PC1"]')!);
    expect(conn.getByTestId('reconciliation').textContent).toContain('最終照合 2026/12/03 15:00:00（10分前）');
    expect(conn.getByTestId('recon-text').textContent).toContain('連携先から消えていた取引 1 件を「削除」として記録しました');
    expect(conn.getByTestId('reconciliation').textContent).toContain('次回は 15:30 ごろです。');
    expect(conn.getByTestId('missing-total').textContent).toBe('届いていないレシートが 5 件あります');
  });

  it('says a range just noticed will be looked for at the next sweep', async () => {
    feed([connection()], [terminal({ feedHealth: { lastReceiptAt: null, receiptsLast24h: 3, missingCount: 1, missingRanges: [
      { from: '2', to: '2', count: 1, firstNoticedAt: '2026-12-03T06:09:00Z', checks: 0, lost: false }] } })]);
    render(<FeedHealth now={() => NOW} />);
    const range = await screen.findByTestId('missing-range');
    expect(range.textContent).toBe('レシート番号 2 の 1 件が届いていません2026/12/03 15:09:00 に気づきました。次の照合から探します。届きしだい記録します。');
  });

  it("shows the last sweep's error in Japanese only", async () => {
    feed([connection({ reconciliation: recon({ lastError: 'スマレジが期間が長すぎると答えました (range too long: 400 Bad Request)' }) })], [terminal()]);
    render(<FeedHealth now={() => NOW} />);
    const err = await screen.findByTestId('recon-error');
    expect(err.textContent).toBe('前回の照合はできませんでした。スマレジが期間が長すぎると答えました');
  });

  it('runs 今すぐ照合: progress while it runs, then the new result', async () => {
    let answer!: (v: unknown) => void;
    let reads = 0;
    const calls = mockGraphQL((op) => {
      if (op === 'FeedHealth') {
        reads++;
        return health([reads === 1 ? connection() : connection({ missingReceipts: 0, reconciliation: recon({ lastAt: '2026-12-03T06:09:30Z', vanished: 0, changed: 2, checked: 130 }) })], [terminal()]);
      }
      if (op === 'ReconcileConnection') return new Promise((r) => { answer = r; });
      throw new Error('unexpected ' + op);
    });
    render(<FeedHealth now={() => NOW} />);
    const button = await screen.findByRole('button', { name: '今すぐ照合' });
    fireEvent.click(button);
    await waitFor(() => expect(button.hasAttribute('disabled')).toBe(true));
    expect(button.textContent).toBe('照合中…');
    expect(button.getAttribute('aria-busy')).toBe('true');
    expect(screen.getByTestId('recon-progress').textContent).toBe('スマレジから直近 48 時間の取引を読み直しています。連携先の混み具合によって数十秒かかります。');

    answer({ data: { reconcileConnection: connection({ missingReceipts: 0, reconciliation: recon({ lastAt: '2026-12-03T06:09:30Z', vanished: 0, changed: 2, checked: 130 }) }) } });
    expect((await screen.findByTestId('recon-done')).textContent).toBe('照合が終わりました。');
    expect(button.hasAttribute('disabled')).toBe(false);
    expect(button.textContent).toBe('今すぐ照合');
    expect(screen.queryByTestId('recon-progress')).toBeNull();
    expect(screen.getByTestId('recon-text').textContent).toBe('直近 48 時間の 130 件を確認し、見落としていた修正・取消 2 件を記録しました。');
    expect(screen.queryByTestId('missing-total')).toBeNull();
    expect(calls.find((c) => c.op === 'ReconcileConnection')!.variables).toEqual({ id: 'PC1' });
    // The registers are read again: a sweep may have found missing receipts.
    await waitFor(() => expect(calls.filter((c) => c.op === 'FeedHealth')).toHaveLength(2));
  });

  it('words a refused sweep in plain Japanese and lets it be tried again', async () => {
    feed([connection()], [terminal()], () => ({ errors: [{ message: '操作が集中しています (rate limited: retry after 30s)', extensions: { code: 'RATE_LIMITED', reason: 'RATE_LIMITED' } }] }));
    render(<FeedHealth now={() => NOW} />);
    fireEvent.click(await screen.findByRole('button', { name: '今すぐ照合' }));
    const failed = await screen.findByTestId('recon-failed');
    expect(failed.getAttribute('role')).toBe('alert');
    expect(failed.textContent).toBe('照合できませんでした。' + messages.RATE_LIMITED);
    expect(failed.textContent).not.toMatch(/rate limited/);
    expect(screen.getByRole('button', { name: '今すぐ照合' }).hasAttribute('disabled')).toBe(false);
  });

  it('says so when a sweep that ran ended in an error', async () => {
    feed([connection()], [terminal()], () => ({ data: { reconcileConnection: connection({ reconciliation: recon({ lastError: 'スマレジに接続できませんでした' }) }) } }));
    render(<FeedHealth now={() => NOW} />);
    fireEvent.click(await screen.findByRole('button', { name: '今すぐ照合' }));
    const err = await screen.findByTestId('recon-error');
    expect(err.getAttribute('role')).toBe('alert');
    expect(err.textContent).toBe('照合できませんでした。スマレジに接続できませんでした');
    expect(screen.queryByTestId('recon-done')).toBeNull();
  });

  it('reads the registers 20 at a time, and offers no sweep for a connection that sends its receipts', async () => {
    const many = Array.from({ length: 23 }, (_, i) => terminal({ id: `T${i}`, name: `端末 ${i + 1}`, externalID: String(i + 1), connection: { id: i < 20 ? 'PC1' : 'PC2' } }));
    const calls = mockGraphQL((op, v) => {
      if (op === 'FeedHealth') return health([connection({ id: 'PC2', provider: 'WEBHOOK', contractID: 'pos-hook', name: '自社 POS', missingReceipts: 0 }), connection()], many.slice(0, 20), 'c20');
      if (op === 'FeedTerminals' && v.after === 'c20') return { data: { terminals: terminalPage(many.slice(20)) } };
      throw new Error('unexpected ' + op);
    });
    render(<FeedHealth now={() => NOW} />);
    const hook = await screen.findByRole('article', { name: /Webhook 連携/ });
    expect(hook.querySelectorAll('li.feed-term')).toHaveLength(3);
    expect(document.querySelectorAll('li.feed-term')).toHaveLength(23);
    expect(within(hook).queryByRole('button', { name: '今すぐ照合' })).toBeNull();
    expect(within(hook).getByTestId('reconciliation').textContent).toContain('照合はありません');
    expect(screen.getAllByRole('button', { name: '今すぐ照合' })).toHaveLength(1);
    expect(calls.map((c) => c.op)).toEqual(['FeedHealth', 'FeedTerminals']);
    // スマレジ and ユビレジ first, as the tables above.
    expect([...document.querySelectorAll('article[data-connection]')].map((a) => a.getAttribute('data-connection'))).toEqual(['PC1', 'PC2']);
  });

  it('keeps quiet with no connections, and says when it cannot read', async () => {
    feed([], []);
    const { container, unmount } = render(<FeedHealth now={() => NOW} />);
    await new Promise((r) => setTimeout(r, 20));
    expect(container.textContent).toBe('');
    unmount();
    mockGraphQL(() => ({ errors: [{ message: 'internal', extensions: { code: 'INTERNAL' } }] }));
    render(<FeedHealth now={() => NOW} />);
    expect((await screen.findByRole('alert')).textContent).toBe('受信状況を読み込めませんでした。' + messages.INTERNAL);
  });
});

describe('ClockBanner (dashboard)', () => {
  const node = (id: string, name: string, c: unknown) => ({ node: { id, name, externalID: id.slice(2), clockOffset: c } });
  it('names each register whose clock is off by more than 10 s, and no other', async () => {
    mockGraphQL((op) => {
      if (op === 'RegisterClocks') return { data: { terminals: { edges: [
        node('TE9', '端末 9', clock(42_000)), node('TE8', '', clock(-95_000)), node('TE7', '端末 7', clock(4_000)),
        node('TE6', '端末 6', null), node('TE5', '端末 5', clock(60_000, { samples: 1 })),
      ] } } };
      throw new Error('unexpected ' + op);
    });
    render(<ClockBanner />);
    const banner = await screen.findByTestId('clock-banner');
    expect([...banner.querySelectorAll('li')].map((l) => l.textContent)).toEqual([
      '「端末 9」の時計が 42 秒進んでいます',
      '「端末 8」の時計が 1 分 35 秒遅れています',
    ]);
    expect(banner.textContent).toContain('レジの時計を合わせてください');
  });

  it('shows nothing when every clock is near, or the clocks cannot be read', async () => {
    const calls = mockGraphQL(() => ({ data: { terminals: { edges: [node('TE7', '端末 7', clock(9_000))] } } }));
    const { container } = render(<ClockBanner />);
    await waitFor(() => expect(calls).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 20));
    expect(container.textContent).toBe('');
  });

  it('stands above the dashboard', async () => {
    vi.stubGlobal('matchMedia', (q: string) => ({ matches: false, media: q, addEventListener() {}, removeEventListener() {} }));
    mockGraphQL((op) => {
      if (op === 'DashboardCameras') return { data: {
        cameras: { edges: [{ node: { id: 'CA1', name: 'レジ前', model: 'DEMO', deviceID: 'd1', posOption: true, sourceKind: 'LOCAL', streaming: null, status: { recording: true, online: true, lastSeenAt: null, lastError: null } } }] },
        shops: { edges: [{ node: { id: 'SH1', name: '渋谷店', timezone: TZ } }] },
      } };
      if (op === 'RegisterClocks') return { data: { terminals: { edges: [node('TE9', '端末 9', clock(42_000))] } } };
      if (op === 'Journal') return page([]);
      if (op === 'Timeline') return { data: { timelineBuckets: [] } };
      throw new Error('unexpected ' + op);
    });
    const ws = new FakeWs();
    render(<Dashboard now={() => NOW} everyMs={3_600_000} liveOptions={{ makeClient: ws.make, backoff: () => 10 }} />);
    expect((await screen.findByTestId('clock-banner')).textContent).toContain('「端末 9」の時計が 42 秒進んでいます');
  });
});

describe('a receipt whose register clock was corrected', () => {
  const camera: CameraInfo = { id: 'CA1', name: 'レジ前', model: 'DEMO', deviceID: 'd1', status: { recording: true, online: true, lastSeenAt: null, lastError: null } };
  // The register said 15:05:21 (Tokyo); it runs 45 s ahead, so the sale was at 15:04:36.
  const corrected = entry({
    occurredAt: '2026-12-03T06:05:21Z', correctedAt: '2026-12-03T06:04:36Z',
    thumbnail: { id: 'TH1', url: '/thumbnails/TH1', width: 320, height: 180, capturedAt: '2026-12-03T06:04:36.300Z', skewMs: 300, skewKnown: true },
  });

  it('words both times in the shop zone, the date too across midnight', () => {
    expect(correctedText(corrected, TZ)).toBe('レジ時刻 15:05:21（補正後 15:04:36）');
    expect(correctedText({ occurredAt: '2026-12-03T15:00:20Z', correctedAt: '2026-12-03T14:59:35Z' }, TZ)).toBe('レジ時刻 2026/12/04 00:00:20（補正後 2026/12/03 23:59:35）');
    expect(correctedText({ ...corrected, correctedAt: null }, TZ)).toBeNull();
    expect(correctedText(corrected, 'America/Los_Angeles')).toBe('レジ時刻 22:05:21（補正後 22:04:36）');
  });

  it('shows the line under the picture, with the skew against the corrected time', () => {
    render(<CameraView camera={camera} tz={TZ} selected={corrected} onBackToLive={() => {}} everyMs={3_600_000} />);
    expect(screen.getByTestId('corrected-time').textContent).toBe('レジ時刻 15:05:21（補正後 15:04:36）');
    expect(screen.getByTestId('picture-skew').textContent).toBe('補正後の時刻とのずれ +0.3秒');
    expect(screen.getByTestId('picture-caption').textContent).toContain('撮影 15:04:36 (日本時間)');
  });

  it('shows no such line for a receipt left as the register said, and marks a corrected card', () => {
    const plain = entry({ occurredAt: '2026-12-03T06:05:21Z' });
    const { rerender } = render(<CameraView camera={camera} tz={TZ} selected={plain} onBackToLive={() => {}} everyMs={3_600_000} />);
    expect(screen.queryByTestId('corrected-time')).toBeNull();
    expect(screen.getByTestId('picture-skew').textContent).toBe('ずれ +0.3秒');
    rerender(<ReceiptCard entry={corrected} tz={TZ} selected={false} fresh={false} missed={false} onSelect={() => {}} />);
    expect(screen.getByTestId('corrected').textContent).toBe('時刻補正');
    expect(screen.getByTestId('corrected').getAttribute('title')).toBe('レジ時刻 15:05:21（補正後 15:04:36）');
  });
});

describe('a receipt without a picture says why (ingest/thumbreason.go 「CODE: sentence」)', () => {
  const camera: CameraInfo = { id: 'CA1', name: 'レジ前', model: 'DEMO', deviceID: 'd1', status: { recording: true, online: true, lastSeenAt: null, lastError: null } };
  const card = (reason: string) => {
    const e = entry({ thumbnail: null, thumbnailReason: reason });
    const r = render(<ReceiptCard entry={e} tz={TZ} selected={false} fresh={false} missed={false} onSelect={() => {}} />);
    const th = r.container.querySelector<HTMLElement>('div.thumb')!;
    const out = { text: th.textContent, title: th.getAttribute('title') };
    r.unmount();
    return out;
  };

  it('reads the sentence, never the code', () => {
    expect(reasonText('NO_LINK: この時刻にこのレジに紐付いたカメラがありません')).toBe('この時刻にこのレジに紐付いたカメラがありません');
    expect(reasonCode('FRAME_TOO_FAR: 最も近い映像が 3.2 秒離れています')).toBe('FRAME_TOO_FAR');
    expect(reasonText('カメラがオフラインでした')).toBe('カメラがオフラインでした'); // written before the codes
    expect(reasonCode('カメラがオフラインでした')).toBe('');
  });

  it('marks a card 撮影待ち, 取得中 or 画像なし by the code, with the sentence as its title', () => {
    expect(card('PENDING: カメラ映像を取得中です（再試行します）')).toEqual({ text: '撮影待ち…', title: 'カメラ映像を取得中です（再試行します）' });
    expect(card('CLOUD_RETRY: クラウドから映像を取得中です（再試行します）').text).toBe('取得中…');
    expect(card('NO_LINK: この時刻にこのレジに紐付いたカメラがありません')).toEqual({ text: '画像なし', title: 'この時刻にこのレジに紐付いたカメラがありません' });
  });

  it('says it under the selected receipt without the code', () => {
    const { rerender } = render(<CameraView camera={camera} tz={TZ} selected={entry({ thumbnail: null, thumbnailReason: 'CAMERA_OFFLINE: カメラがオフラインでした' })} onBackToLive={() => {}} everyMs={3_600_000} />);
    expect(document.querySelector('.nopic')!.textContent).toBe('画像なし: カメラがオフラインでした');
    rerender(<CameraView camera={camera} tz={TZ} selected={entry({ id: 'JE-p', thumbnail: null, thumbnailReason: 'PENDING: カメラ映像を取得中です（再試行します）' })} onBackToLive={() => {}} everyMs={3_600_000} />);
    expect(document.querySelector('.nopic')!.textContent).toBe('カメラ映像を取得中です（再試行します）');
  });
});
