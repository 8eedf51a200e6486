import { describe, expect, it } from 'vitest';
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { ReceiptList } from '../src/components/ReceiptList';
import { startOfDay } from '../src/format';
import { entry, FakeWs, mockGraphQL, page } from './helpers';

const TZ = 'Asia/Tokyo';
const NOW = Date.parse('2019-02-21T03:00:00Z'); // 12:00 in Tokyo
const DAY = startOfDay(NOW, TZ);

type ListProps = Parameters<typeof ReceiptList>[0];

function setup(handler: Parameters<typeof mockGraphQL>[0], more: Partial<ListProps> = {}) {
  const calls = mockGraphQL(handler);
  const ws = new FakeWs();
  const selected: string[] = [];
  const cleared: number[] = [];
  const props = (over: Partial<ListProps>): ListProps => ({
    cameraID: 'CA1', tz: TZ, day: DAY, until: null, selectedID: null, now: () => NOW,
    onSelect: (e) => selected.push(e.id), onDay: () => {}, onClearUntil: () => cleared.push(1),
    liveOptions: { makeClient: ws.make, backoff: () => 10 }, ...more, ...over,
  });
  const r = render(<ReceiptList {...props({})} />);
  const rerender = (over: Partial<ListProps>) => r.rerender(<ReceiptList {...props(over)} />);
  return { calls, ws, selected, cleared, rerender };
}

const ids = () => [...document.querySelectorAll('.card')].map((c) => (c as HTMLElement).dataset.receipt);

describe('ReceiptList', () => {
  it('shows the day and each receipt as a card with yen amounts and its picture', async () => {
    const e = entry({ kind: 'CANCEL', kindLabel: 'キャンセル', total: 35000, deposit: 35000, change: 0 });
    const { calls } = setup(() => page([e]));
    expect(screen.getByTestId('day-header').textContent).toBe('2019/2/21(木)');
    const card = await screen.findByText('2019/02/21 11:22:17');
    const c = within(card.closest('.card') as HTMLElement);
    expect(c.getByText('キャンセル')).toBeTruthy();
    expect(c.getByText('0042')).toBeTruthy();
    expect(c.getByText('合計').nextElementSibling!.textContent).toBe('¥35,000');
    expect(c.getByText('預かり金').nextElementSibling!.textContent).toBe('¥35,000');
    expect(c.getByText('釣り銭').nextElementSibling!.textContent).toBe('¥0');
    expect(c.getByText('入店時間').nextElementSibling!.textContent).toBe('11:18');
    expect(c.getByText('支払い方法').nextElementSibling!.textContent).toBe('クレジットカード');
    expect(c.getByText('担当').nextElementSibling!.textContent).toBe('山田');
    expect((c.getByRole('img') as HTMLImageElement).getAttribute('src')).toBe('/thumbnails/TH1');
    expect(calls[0].variables.where).toEqual({
      cameraIDs: ['CA1'], from: '2019-02-20T15:00:00.000Z', to: '2019-02-21T15:00:00.000Z',
    });
  });

  it('maps the tabs and the search box onto the query and the live stream', async () => {
    const { calls, ws } = setup(() => page([]));
    await screen.findByText('この日のレシートはありません');
    fireEvent.click(screen.getByRole('tab', { name: '修正' }));
    await waitFor(() => expect(calls.at(-1)!.variables.where.kinds).toEqual(['MODIFY']));
    expect(ws.current.variables.where.kinds).toEqual(['MODIFY']);
    fireEvent.input(screen.getByPlaceholderText('レシートNo / レジNo / 担当'), { target: { value: '山田' } });
    await waitFor(() => expect(calls.at(-1)!.variables.where.search).toBe('山田'));
    expect(calls.at(-1)!.variables.where.kinds).toEqual(['MODIFY']);
    await screen.findByText('この日に「山田」に一致する修正のレシートはありません');
    expect(screen.getByTestId('search-scope').textContent).toBe('この日の中から検索しています');
    expect(screen.getByTestId('search-count').textContent).toBe('0 件');
    fireEvent.click(screen.getByTestId('search-all-days'));
    await waitFor(() => expect(calls.at(-1)!.variables.where.from).toBeUndefined());
    expect(calls.at(-1)!.variables.where.to).toBeUndefined();
    expect(calls.at(-1)!.variables.where.search).toBe('山田');
    await screen.findByText('全期間に「山田」に一致する修正のレシートはありません');
    expect(screen.getByTestId('search-all-days').getAttribute('aria-checked')).toBe('true');
    expect(screen.getByTestId('search-scope').textContent).toBe('全期間から検索しています');
    fireEvent.click(screen.getByRole('tab', { name: 'すべて' }));
    await waitFor(() => expect(calls.at(-1)!.variables.where.kinds).toBeUndefined());
  });

  it('slides in live receipts once, shows the connection state and what a drop missed', async () => {
    const old = entry({ occurredAt: '2019-02-21T01:00:00Z', receiptNo: '0001' });
    const { ws } = setup(() => page([old]));
    await screen.findByText('0001');
    expect(screen.getByTestId('conn').dataset.state).toBe('connecting');
    act(() => ws.connect());
    expect(screen.getByTestId('conn').textContent).toBe('● ライブ');

    const live = entry({ occurredAt: '2019-02-21T02:59:00Z', receiptNo: '0002' });
    act(() => ws.send('ADDED', live, 'k1'));
    const card = (await screen.findByText('0002')).closest('.card')!;
    expect(card.classList.contains('fresh')).toBe(true);
    expect(within(card as HTMLElement).getByText('新着')).toBeTruthy();
    const ids = () => [...document.querySelectorAll('.card')].map((c) => (c as HTMLElement).dataset.id);
    expect(ids()).toEqual([live.id, old.id]);

    act(() => ws.drop());
    expect(screen.getByTestId('conn').dataset.state).toBe('reconnecting');
    await waitFor(() => expect(ws.subs).toHaveLength(2));
    expect(ws.current.variables.after).toBe('k1');
    act(() => ws.connect());
    const missed = entry({ occurredAt: '2019-02-21T02:59:30Z', receiptNo: '0003', receivedAt: new Date(Date.now() - 2000).toISOString() });
    act(() => { ws.send('ADDED', live, 'k1'); ws.send('ADDED', missed, 'k2'); });
    await screen.findByText('0003');
    expect(ids()).toEqual([missed.id, live.id, old.id]);
    expect(screen.getByTestId('missed').textContent).toContain('接続が切れていた間の 1 件');
    expect(within(screen.getByText('0003').closest('.card') as HTMLElement).getByText('切断中に受信')).toBeTruthy();
  });

  it('loads older pages with the keyset cursor', async () => {
    const a = entry({ occurredAt: '2019-02-21T02:00:00Z', receiptNo: '0010' });
    const b = entry({ occurredAt: '2019-02-21T01:00:00Z', receiptNo: '0009' });
    const { calls } = setup((_, v) => (v.after ? page([b]) : page([a], true)));
    await screen.findByText('0010');
    fireEvent.click(screen.getByRole('button', { name: 'さらに読み込む' }));
    await screen.findByText('0009');
    expect(calls.find((c) => c.variables.after)!.variables.after).toBe('c-' + a.id);
    expect(screen.queryByRole('button', { name: 'さらに読み込む' })).toBeNull();
  });

  it('selects a receipt with the keyboard', async () => {
    const { selected } = setup(() => page([entry({ receiptNo: '0042' })]));
    const card = (await screen.findByText('0042')).closest('.card') as HTMLElement;
    fireEvent.keyDown(card, { key: 'Enter' });
    expect(selected).toHaveLength(1);
  });

  it('tells the parent the entries in list order whenever they change', async () => {
    mockGraphQL(() => page([entry({ occurredAt: '2019-02-21T01:00:00Z', receiptNo: '0001' })]));
    const ws = new FakeWs();
    const seen: string[][] = [];
    render(
      <ReceiptList cameraID="CA1" tz={TZ} day={DAY} until={null} selectedID={null} now={() => NOW}
        onSelect={() => {}} onDay={() => {}} onClearUntil={() => {}} onEntries={(es) => seen.push(es.map((e) => e.receiptNo))}
        liveOptions={{ makeClient: ws.make, backoff: () => 10 }} />,
    );
    await screen.findByText('0001');
    act(() => ws.connect());
    act(() => ws.send('ADDED', entry({ occurredAt: '2019-02-21T02:00:00Z', receiptNo: '0002' }), 'k1'));
    await waitFor(() => expect(seen.at(-1)).toEqual(['0002', '0001']));
  });

  it('jumps to a picked moment without cutting the list: newer receipts one button away', async () => {
    const until = Date.parse('2019-02-21T02:00:00Z'); // 11:00 in Tokyo
    const { calls, cleared } = setup(() => page([]), { until });
    await screen.findByText('この日の 11:00 までのレシートはありません');
    expect(calls[0].variables.where.to).toBe('2019-02-21T02:00:00.001Z');
    fireEvent.click(screen.getByTestId('show-newer'));
    expect(screen.getByTestId('show-newer').textContent).toBe('11:00 より新しいレシートを表示');
    expect(cleared).toHaveLength(1);
  });

  it('holds live arrivals behind 「新着 N 件」 while a receipt is selected, so the selected card stays put', async () => {
    const a = entry({ occurredAt: '2019-02-21T01:00:00Z', receiptNo: '0001' });
    const b = entry({ occurredAt: '2019-02-21T00:30:00Z', receiptNo: '0000' });
    const { ws, rerender } = setup(() => page([a, b]), { selectedID: a.id });
    await screen.findByText('0001');
    act(() => ws.connect());
    act(() => {
      ws.send('ADDED', entry({ occurredAt: '2019-02-21T02:00:00Z', receiptNo: '0002' }), 'k1');
      ws.send('ADDED', entry({ occurredAt: '2019-02-21T02:01:00Z', receiptNo: '0003' }), 'k2');
      ws.send('UPDATED', { ...b, canceledAt: '2019-02-21T02:02:00Z' }, 'k3');
    });
    const bar = await screen.findByTestId('new-arrivals');
    expect(bar.textContent).toBe('新着 2 件');
    expect(ids()).toEqual(['0001', '0000']);
    // News about a card already shown still lands, in place.
    await screen.findByText('取消済');
    fireEvent.click(bar);
    await waitFor(() => expect(ids()).toEqual(['0003', '0002', '0001', '0000']));
    expect(screen.queryByTestId('new-arrivals')).toBeNull();

    // With nothing selected, arrivals come straight in.
    rerender({ selectedID: null });
    act(() => ws.send('ADDED', entry({ occurredAt: '2019-02-21T02:03:00Z', receiptNo: '0004' }), 'k4'));
    await waitFor(() => expect(ids()[0]).toBe('0004'));
    expect(screen.queryByTestId('new-arrivals')).toBeNull();
  });

  it('lets the waiting arrivals in once the selection is cleared', async () => {
    const a = entry({ occurredAt: '2019-02-21T01:00:00Z', receiptNo: '0001' });
    const { ws, rerender } = setup(() => page([a]), { selectedID: a.id });
    await screen.findByText('0001');
    act(() => ws.connect());
    act(() => ws.send('ADDED', entry({ occurredAt: '2019-02-21T02:00:00Z', receiptNo: '0002' }), 'k1'));
    await screen.findByTestId('new-arrivals');
    rerender({ selectedID: null });
    await waitFor(() => expect(ids()).toEqual(['0002', '0001']));
  });

  it('takes 新着 off every card of a burst by itself', async () => {
    const { ws } = setup(() => page([]), { freshMs: 20 });
    await screen.findByText('この日のレシートはありません');
    act(() => ws.connect());
    act(() => {
      for (let i = 0; i < 5; i++) ws.send('ADDED', entry({ occurredAt: `2019-02-21T02:0${i}:00Z`, receiptNo: `000${i}` }), `k${i}`);
    });
    await waitFor(() => expect(document.querySelectorAll('.card')).toHaveLength(5));
    await waitFor(() => expect(document.querySelectorAll('.badge.new, .card.fresh')).toHaveLength(0));
  });

  it("counts a search's matches over all pages by the server's count, and only for a search", async () => {
    const first = entry({ receiptNo: '0009' });
    const { calls } = setup((_, v) => {
      const p = page([first], true);
      if (v.withCount) (p.data.journal as Record<string, unknown>).totalCount = { count: 1234, more: false };
      return p;
    });
    await screen.findByText('0009');
    expect(calls.at(-1)!.variables.withCount).toBe(false);
    fireEvent.input(screen.getByPlaceholderText('レシートNo / レジNo / 担当'), { target: { value: '9' } });
    await waitFor(() => expect(screen.getByTestId('search-count').textContent).toBe('1,234 件'));
  });

  it('marks what the search matched whatever its width, and says what その他 is', async () => {
    const nine = entry({ receiptNo: '0009', staffName: 'ﾀﾞｲｽｹ' });
    const other = entry({ occurredAt: '2019-02-21T01:00:00Z', kind: 'OTHER', kindLabel: 'その他', receiptNo: '0100' });
    const { calls } = setup((_, v) => (v.where.search ? page([nine], true) : page([nine, other])));
    await screen.findByText('0100');
    expect(screen.getByTestId('other-explained').textContent).toContain('入金・出金・与信など、支払い以外のレジ操作');
    expect(screen.getByText('その他').getAttribute('title')).toBe('入金・出金・与信など、支払い以外のレジ操作');
    fireEvent.input(screen.getByPlaceholderText('レシートNo / レジNo / 担当'), { target: { value: '９' } });
    await waitFor(() => expect(calls.at(-1)!.variables.where.search).toBe('９'));
    await waitFor(() => expect(document.querySelector('.card[data-receipt="0009"] mark')?.textContent).toBe('9'));
    expect(screen.getByTestId('search-count').textContent).toBe('1 件以上');
    expect(calls.at(-1)!.variables.withCount).toBe(true);

    expect(screen.queryByTestId('other-explained')).toBeNull();
    fireEvent.input(screen.getByPlaceholderText('レシートNo / レジNo / 担当'), { target: { value: 'ダイ' } });
    await waitFor(() => expect(document.querySelector('.card[data-receipt="0009"] mark')?.textContent).toBe('ﾀﾞｲ'));
  });
});
