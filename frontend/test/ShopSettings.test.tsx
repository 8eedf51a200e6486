import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { ShopSettings } from '../src/components/ShopSettings';
import { mockGraphQL } from './helpers';

const shop = { id: 'SH1', name: '渋谷店', timezone: 'Asia/Tokyo', businessHours: [] };
const group = { id: 'SG1', name: '東京エリア', shops: [{ id: 'SH1', name: '渋谷店' }], members: [] };

function shops(extra: (op: string, v: any) => unknown = () => undefined) {
  return mockGraphQL((op, v) => {
    const r = extra(op, v);
    if (r) return r;
    if (op === 'ShopList') return { data: { shops: { edges: [{ node: shop }] }, shopGroups: [group] } };
    if (op === 'Users') return { data: { users: [] } };
    throw new Error('unexpected ' + op);
  });
}

describe('ShopSettings', () => {
  it('asks before deleting a group with キャンセル focused and a red action, and gives the focus back', async () => {
    const calls = shops();
    render(<ShopSettings />);
    fireEvent.click(await within(await screen.findByTestId('shop-groups')).findByRole('button', { name: '編集' }));
    const dlg = within(screen.getByTestId('group-dialog'));
    const ask = dlg.getByRole('button', { name: 'グループを削除' });
    fireEvent.click(ask);
    const confirm = within(dlg.getByTestId('confirm-delete-group'));
    await waitFor(() => expect(document.activeElement).toBe(confirm.getByRole('button', { name: 'キャンセル' })));
    expect(confirm.getByRole('button', { name: '削除する' }).classList.contains('danger-solid')).toBe(true);
    fireEvent.click(confirm.getByRole('button', { name: 'キャンセル' }));
    await waitFor(() => expect(document.activeElement?.textContent).toBe('グループを削除'));
    expect(calls.some((c) => c.op === 'DeleteShopGroup')).toBe(false);
  });

  it('names an empty shop name at its field when 店舗を追加 is pressed', async () => {
    const calls = shops();
    render(<ShopSettings />);
    fireEvent.click(await screen.findByRole('button', { name: '店舗を追加' }));
    const form = within(screen.getByTestId('shop-form'));
    fireEvent.click(form.getByRole('button', { name: '店舗を追加' }));
    const err = await form.findByText('店舗名を入力してください');
    expect(form.getByLabelText('店舗名').getAttribute('aria-describedby')).toContain(err.id);
    expect(form.getByLabelText('店舗名').getAttribute('aria-invalid')).toBe('true');
    expect(calls.some((c) => c.op === 'CreateShop')).toBe(false);
  });
});
