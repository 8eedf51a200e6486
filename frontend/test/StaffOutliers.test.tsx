// スタッフ分析: the flagged staff member's rate is marked with its score,
// the chart draws a bar per staff and the median, a name opens their
// receipts (entriesWhere), and card mismatches read in words.
import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { StaffOutliers } from '../src/components/StaffOutliers';
import { mockGraphQL } from './helpers';

const rate = (metric: string, per100: number, score: number, flagged = false) => ({ metric, count: Math.round(per100), per100, score, flagged });
const rates = (cancel: number, score: number, flagged = false) => [rate('CANCEL', cancel, score, flagged), rate('MODIFY', 1, 0), rate('DELETE', 0, 0), rate('REFUND', 0.5, 0), rate('DISCOUNT', 2, 0)];
const report = {
  from: '2030-01-01T00:00:00Z', to: '2030-01-08T00:00:00Z', threshold: 3.5,
  staff: [
    { staffName: '山田', sales: 120, flagged: true, entriesWhere: { staff: '山田', from: '2030-01-01T00:00:00Z' }, rates: rates(9.2, 6.1, true) },
    { staffName: '佐藤', sales: 98, flagged: false, entriesWhere: { staff: '佐藤' }, rates: rates(2.0, 0.1) },
    { staffName: '鈴木', sales: 80, flagged: false, entriesWhere: { staff: '鈴木' }, rates: rates(1.8, -0.2) },
  ],
  peers: ['CANCEL', 'MODIFY', 'DELETE', 'REFUND', 'DISCOUNT'].map((metric) => ({ metric, median: metric === 'CANCEL' ? 2 : 0.5, mad: 0.3 })),
};
const mismatch = { id: 'CM1', side: 'CARD', state: 'UNMATCHED', occurredAt: '2030-01-02T03:00:00Z', amount: 5400, decidedAt: '2030-01-02T03:10:00Z',
  entry: { id: 'JE1', kind: 'OTHER', kindLabel: 'カード返金', occurredAt: '2030-01-02T03:00:00Z', receiptNo: 'C77', registerNo: '', staffName: '', total: 5400, paymentMethod: 'クレジットカード', thumbnail: null } };

function setup() {
  return mockGraphQL((op) => {
    if (op === 'AnalysisShops') return { data: { shops: { edges: [{ node: { id: 'SH1', name: '渋谷店', timezone: 'Asia/Tokyo' } }] } } };
    if (op === 'StaffOutliers') return { data: { staffOutliers: report } };
    if (op === 'CardMismatches') return { data: { cardMatches: [mismatch] } };
    if (op === 'StaffEntries') return { data: { journal: { edges: [{ node: { ...mismatch.entry, id: 'JE2', kind: 'CANCEL', kindLabel: 'キャンセル', receiptNo: 'R9', staffName: '山田', thumbnail: { id: 'T', url: '/thumbnails/T', width: 320, height: 180 } } }], pageInfo: { hasNextPage: false, endCursor: null } } } };
    throw new Error('unexpected ' + op);
  });
}

describe('StaffOutliers', () => {
  it('marks the flagged rate with its score and only that one', async () => {
    const calls = setup();
    render(<StaffOutliers now={() => Date.parse('2030-01-07T12:00:00Z')} />);
    const table = await screen.findByTestId('staff-table');
    const flagged = table.querySelectorAll('td.flagged');
    expect(flagged.length).toBe(1);
    expect(flagged[0].closest('tr')!.getAttribute('data-staff')).toBe('山田');
    expect(flagged[0].getAttribute('data-metric')).toBe('CANCEL');
    expect(flagged[0].getAttribute('title')).toBe('スコア 6.1（基準 3.5）・9 件');
    expect(flagged[0].textContent).toMatch(/^9\.2/);
    expect(within(table.querySelector<HTMLElement>('tr[data-staff=山田]')!).getByText('要確認')).toBeTruthy();
    expect(within(table.querySelector<HTMLElement>('tr[data-staff=佐藤]')!).queryByText('要確認')).toBeNull();
    // Last 7 days in the shop's time (21:00 JST on 1/7): 1/1 00:00 JST to 1/8 00:00 JST.
    const input = calls.find((c) => c.op === 'StaffOutliers')!.variables.input;
    expect(input).toEqual({ from: '2029-12-31T15:00:00.000Z', to: '2030-01-07T15:00:00.000Z' });
    // The chart: a bar per staff, the flagged one coloured, the median line.
    expect(document.querySelectorAll('.staff-chart rect.bar').length).toBe(3);
    expect(document.querySelectorAll('.staff-chart rect.bar.flagged').length).toBe(1);
    expect(screen.getByRole('img', { name: /中央値 2\.0/ })).toBeTruthy();
    expect(within(screen.getByTestId('card-mismatches')).getByText('カード端末で返金されたのに、レジに取消がありません')).toBeTruthy();
  });

  it('opens a staff member\'s receipts with the filter the server gave', async () => {
    const calls = setup();
    render(<StaffOutliers />);
    await screen.findByTestId('staff-table');
    fireEvent.click(screen.getByRole('button', { name: '山田 の取引を見る' }));
    const list = within(await screen.findByTestId('staff-entries'));
    expect(await list.findByRole('img', { name: 'レシート R9 の画像' })).toBeTruthy();
    expect(calls.find((c) => c.op === 'StaffEntries')!.variables.where).toEqual({ staff: '山田', from: '2030-01-01T00:00:00Z' });
    fireEvent.click(screen.getByRole('button', { name: '過去 30 日' }));
    await waitFor(() => expect(calls.filter((c) => c.op === 'StaffOutliers').length).toBe(2));
  });
});
