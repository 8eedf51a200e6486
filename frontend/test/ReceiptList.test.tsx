import { describe, expect, it } from 'vitest';
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { ReceiptList } from '../src/components/ReceiptList';
import { startOfDay } from '../src/format';
import { entry, FakeWs, mockGraphQL, page } from './helpers';

const TZ = 'Asia/Tokyo';
const NOW = Date.parse('2019-02-21T03:00:00Z'); // 12:00 in Tokyo
const DAY = startOfDay(NOW, TZ);

function setup(handler: Parameters<typeof mockGraphQL>[0]) {
  const calls = mockGraphQL(handler);
  const ws = new FakeWs();
  const selected: string[] = [];
  render(
    <ReceiptList cameraID="CA1" tz={TZ} day={DAY} until={null} selectedID={null} now={() => NOW}
      onSelect={(e) => selected.push(e.id)} onDay={() => {}} onClearUntil={() => {}}
      liveOptions={{ makeClient: ws.make, backoff: () => 10 }} />,
  );
  return { calls, ws, selected };
}

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
    await screen.findByText('「山田」に一致するレシートはありません');
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
});
