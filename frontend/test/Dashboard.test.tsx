import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { Dashboard } from '../src/components/Dashboard';
import { neighbours } from '../src/components/ReceiptSheet';
import { entry, FakeWs, mockGraphQL, page } from './helpers';

const NOW = Date.parse('2019-02-21T03:00:00Z'); // 12:00 in Tokyo
const cameras = {
  data: {
    cameras: { edges: [{ node: { id: 'CA1', name: 'レジ前', model: 'DEMO', deviceID: 'd1', posOption: false, status: { recording: true, online: true, lastSeenAt: null, lastError: null } } }] },
    shops: { edges: [{ node: { id: 'SH1', name: '渋谷店', timezone: 'Asia/Tokyo' } }] },
  },
};
// Newest first, as the list shows them.
const newest = entry({ id: 'JE3', occurredAt: '2019-02-21T02:30:00Z', receiptNo: '0003' });
const middle = entry({ id: 'JE2', occurredAt: '2019-02-21T02:20:00Z', receiptNo: '0002' });
const oldest = entry({ id: 'JE1', occurredAt: '2019-02-21T02:10:00Z', receiptNo: '0001' });

/** The viewport: narrow makes the NARROW media query match. */
function viewport(narrow: boolean) {
  vi.stubGlobal('matchMedia', (q: string) => ({
    matches: narrow && q.includes('max-width'), media: q,
    addEventListener() {}, removeEventListener() {},
  }));
}

function setup() {
  const calls = mockGraphQL((op) => {
    if (op === 'DashboardCameras') return cameras;
    if (op === 'Journal') return page([newest, middle, oldest]);
    if (op === 'Timeline') return { data: { timelineBuckets: [] } };
    throw new Error('unexpected ' + op);
  });
  const ws = new FakeWs();
  const r = render(<Dashboard now={() => NOW} everyMs={3_600_000} liveOptions={{ makeClient: ws.make, backoff: () => 10 }} />);
  return { calls, ...r };
}

const card = (id: string) => document.querySelector<HTMLElement>(`.card[data-id="${id}"]`)!;
const journalWheres = (calls: { op: string; variables: any }[]) => calls.filter((c) => c.op === 'Journal').map((c) => JSON.stringify(c.variables.where));

describe('Dashboard', () => {
  it('on a wide screen shows the tapped receipt in the camera panel, and one button goes back to now', async () => {
    viewport(false);
    const { calls, container } = setup();
    await waitFor(() => expect(card('JE2')).toBeTruthy());
    const first = journalWheres(calls)[0];
    expect(screen.queryByTestId('back-to-now')).toBeNull();

    fireEvent.click(card('JE2'));
    const cam = container.querySelector('section.camview') as HTMLElement;
    expect(within(cam).getByTestId('picture-caption').textContent).toContain('0002');
    expect(screen.queryByTestId('receipt-sheet')).toBeNull();
    // A moment picked on the timeline (the list jumps there; marked on the bar).
    fireEvent.keyDown(screen.getByRole('slider', { name: 'タイムライン' }), { key: 'ArrowLeft' });
    fireEvent.keyDown(screen.getByRole('slider', { name: 'タイムライン' }), { key: 'Enter' });
    await waitFor(() => expect(container.querySelector('line.picked')).toBeTruthy());

    const back = screen.getByTestId('back-to-now');
    expect(back.textContent).toContain('今に戻る');
    const list = screen.getByTestId('receipts');
    list.scrollTop = 300;
    fireEvent.click(back);
    // Picture live, timeline following the clock, today's list from the top.
    expect(screen.queryByTestId('back-to-now')).toBeNull();
    expect(within(cam).queryByTestId('picture-caption')).toBeNull();
    expect(within(cam).getByText('レシートを選ぶとその瞬間の画像を表示します')).toBeTruthy();
    expect(container.querySelector('line.picked')).toBeNull();
    expect(screen.getByRole('slider').getAttribute('aria-valuetext')).toContain('24時間表示、現在');
    await waitFor(() => expect(journalWheres(calls).at(-1)).toBe(first));
    await waitFor(() => expect(card('JE2').getAttribute('aria-pressed')).toBe('false'));
    expect(screen.getByTestId('receipts').scrollTop).toBe(0);
  });

  it('offers the way back as soon as the timeline is moved off now', async () => {
    viewport(false);
    setup();
    const bar = await screen.findByRole('slider', { name: 'タイムライン' });
    fireEvent.click(screen.getByRole('radio', { name: '1H' }));
    fireEvent.keyDown(bar, { key: 'ArrowLeft' });
    fireEvent.click(await screen.findByTestId('back-to-now'));
    await waitFor(() => expect(screen.queryByTestId('back-to-now')).toBeNull());
    expect(screen.getByRole('radio', { name: '24H' }).getAttribute('aria-checked')).toBe('true');
  });

  it('on a narrow screen opens the tapped receipt in a sheet with previous and next; Esc closes it and the focus goes back', async () => {
    viewport(true);
    const { container } = setup();
    await waitFor(() => expect(card('JE2')).toBeTruthy());
    card('JE2').focus();
    fireEvent.click(card('JE2'));

    const sheet = await screen.findByTestId('receipt-sheet');
    expect(sheet.getAttribute('role')).toBe('dialog');
    expect(screen.getByRole('dialog')).toBe(sheet);
    expect(sheet.contains(document.activeElement)).toBe(true);
    expect(within(sheet).getByTestId('picture-caption').textContent).toContain('0002');
    // The panel behind stays live: one picture of the receipt, in the sheet.
    const behind = container.querySelector('.dash-main section.camview') as HTMLElement;
    expect(within(behind).queryByTestId('picture-caption')).toBeNull();

    const prev = within(sheet).getByTestId('sheet-prev');
    const next = within(sheet).getByTestId('sheet-next');
    expect(prev.textContent).toContain('前のレシート');
    expect(next.textContent).toContain('次のレシート');
    expect(within(sheet).getByTestId('sheet-close').textContent).toBe('閉じる');

    fireEvent.click(prev); // the one rung up before
    expect(within(sheet).getByTestId('picture-caption').textContent).toContain('0001');
    expect(card('JE1').getAttribute('aria-pressed')).toBe('true');
    expect((within(sheet).getByTestId('sheet-prev') as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(within(sheet).getByTestId('sheet-next'));
    fireEvent.click(within(sheet).getByTestId('sheet-next'));
    expect(within(sheet).getByTestId('picture-caption').textContent).toContain('0003');
    expect((within(sheet).getByTestId('sheet-next') as HTMLButtonElement).disabled).toBe(true);

    fireEvent.keyDown(sheet, { key: 'Escape' });
    await waitFor(() => expect(screen.queryByTestId('receipt-sheet')).toBeNull());
    // Back on the card of the receipt last shown, not the one first tapped.
    expect(document.activeElement).toBe(card('JE3'));
    expect(card('JE3').getAttribute('aria-pressed')).toBe('false');
  });

  it('on a narrow screen brings the list up after a pick on the timeline, the bar still in reach', async () => {
    viewport(true);
    const into = vi.fn();
    const orig = HTMLElement.prototype.scrollIntoView;
    HTMLElement.prototype.scrollIntoView = function (this: HTMLElement, o?: boolean | ScrollIntoViewOptions) { into(this, o); };
    try {
      setup();
      fireEvent.keyDown(await screen.findByRole('slider', { name: 'タイムライン' }), { key: 'Enter' });
      expect(into).toHaveBeenCalledTimes(1);
      expect((into.mock.calls[0][0] as HTMLElement).matches('section.receipts')).toBe(true);
      expect(into.mock.calls[0][1]).toMatchObject({ block: 'nearest' });
    } finally {
      HTMLElement.prototype.scrollIntoView = orig;
    }
  });

  it('closes the sheet with 閉じる', async () => {
    viewport(true);
    setup();
    await waitFor(() => expect(card('JE1')).toBeTruthy());
    fireEvent.click(card('JE1'));
    fireEvent.click(within(await screen.findByTestId('receipt-sheet')).getByTestId('sheet-close'));
    await waitFor(() => expect(screen.queryByTestId('receipt-sheet')).toBeNull());
    expect(document.activeElement).toBe(card('JE1'));
  });
});

describe('neighbours', () => {
  it('walks a newest-first list: 前 is older, 次 is newer', () => {
    const list = [newest, middle, oldest];
    expect(neighbours(list, 'JE2')).toEqual({ older: oldest, newer: newest });
    expect(neighbours(list, 'JE3').newer).toBeNull();
    expect(neighbours(list, 'JE1').older).toBeNull();
    expect(neighbours(list, 'nope')).toEqual({ older: null, newer: null });
  });
});
