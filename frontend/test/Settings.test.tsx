import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { Settings } from '../src/components/Settings';
import { mockGraphQL } from './helpers';

const owner = { id: 'US1', email: 'owner@example.jp', name: '店長', role: 'OWNER' as const };
const staff = { id: 'US2', email: 'staff@example.jp', name: 'スタッフ', role: 'STAFF', lockedUntil: null, createdAt: '2030-01-01T00:00:00Z' };
const key = { id: 'AK1', name: 'POS連携', prefix: 'ab12', scopes: ['journal:read'], createdAt: '2030-01-01T00:00:00Z', lastUsedAt: null, expiresAt: null, revokedAt: null };

function settings(extra: (op: string, v: any) => unknown = () => undefined) {
  return mockGraphQL((op, v) => {
    const r = extra(op, v);
    if (r) return r;
    switch (op) {
      case 'SetupProgress': return { data: { setupProgress: { hasCamera: true, hasShop: true, hasConnection: true, hasLink: true, hasReceipt: true, complete: true } } };
      case 'CameraList': return { data: { cameras: { edges: [] } } };
      case 'ShopList': return { data: { shops: { edges: [] }, shopGroups: [] } };
      case 'Users': return { data: { users: [{ ...owner, lockedUntil: null, createdAt: '2030-01-01T00:00:00Z' }, staff] } };
      case 'ApiKeys': return { data: { apiKeys: [key] } };
      case 'CameraCloud': return { data: { cameraCloudConnections: [], cameraCloudOAuthAvailable: false } };
      case 'AlertSettings': return { data: { alertRules: [], alerts: { edges: [] } } };
    }
    throw new Error('unexpected ' + op);
  });
}

describe('Settings', () => {
  it('asks before revoking a key and before deleting a user with キャンセル focused and a red action', async () => {
    const calls = settings((op) => (op === 'RevokeApiKey' ? { data: { revokeApiKey: { ...key, revokedAt: '2030-01-02T00:00:00Z' } } } : undefined));
    render(<Settings session={{ user: owner }} />);
    fireEvent.click(await within(await screen.findByTestId('api-keys')).findByRole('button', { name: '失効させる' }));
    let dlg = within(screen.getByTestId('confirm-revoke'));
    expect(document.activeElement).toBe(dlg.getByRole('button', { name: 'キャンセル' }));
    expect(dlg.getByRole('button', { name: '失効させる' }).classList.contains('danger-solid')).toBe(true);
    fireEvent.click(dlg.getByRole('button', { name: '失効させる' }));
    await waitFor(() => expect(calls.filter((c) => c.op === 'RevokeApiKey').map((c) => c.variables)).toEqual([{ id: 'AK1' }]));

    fireEvent.click(await within(screen.getByTestId('users')).findByRole('button', { name: '削除' }));
    dlg = within(screen.getByTestId('confirm-delete-user'));
    expect(document.activeElement).toBe(dlg.getByRole('button', { name: 'キャンセル' }));
    expect(dlg.getByRole('button', { name: '削除する' }).classList.contains('danger-solid')).toBe(true);
    fireEvent.click(dlg.getByRole('button', { name: 'キャンセル' }));
    expect(screen.queryByTestId('confirm-delete-user')).toBeNull();
    expect(calls.some((c) => c.op === 'DeleteUser')).toBe(false);
  });

  it('names the empty fields of a new user and of a new key instead of greying out the buttons', async () => {
    const calls = settings();
    render(<Settings session={{ user: owner }} />);
    const users = within(await screen.findByTestId('users'));
    fireEvent.click(users.getByRole('button', { name: '追加' }));
    expect((await users.findByText('メールアドレスを入力してください')).id).toBe(users.getByLabelText('メールアドレス').getAttribute('aria-describedby'));
    expect(users.getByLabelText('初期パスワード').getAttribute('aria-invalid')).toBe('true');
    expect(users.getByLabelText('名前').getAttribute('aria-invalid')).toBe('false');

    const keys = within(screen.getByTestId('api-keys'));
    fireEvent.click(keys.getByLabelText(/ジャーナル閲覧/));
    fireEvent.click(keys.getByRole('button', { name: 'キーを作成' }));
    expect(await keys.findByText(/^キーの名前を入力してください/)).toBeTruthy();
    expect(keys.getByText('権限を1つ以上選んでください').id).toBe('key-scopes-err');
    expect(calls.some((c) => c.op === 'CreateUser' || c.op === 'CreateApiKey')).toBe(false);
  });

  it('has the camera-cloud and alert sections for an owner, and reads the cameras again after a connect', async () => {
    const calls = settings((op) => (op === 'ConnectCameraCloud' ? { data: { connectCameraCloud: {
      id: 'CC1', name: 'Safie', provider: 'SAFIE', authKind: 'API_KEY', secretHint: '••••abcd', optionItemID: null, retentionDays: 7,
      status: 'OK', lastError: '', lastSyncAt: null, deviceCount: 0, cameras: [] } } } : undefined));
    render(<Settings session={{ user: owner }} />);
    const cloud = within(await screen.findByTestId('camera-cloud'));
    expect(cloud.getByRole('heading', { name: 'カメラクラウド（Safie）' })).toBeTruthy();
    expect(await within(screen.getByTestId('alert-settings')).findByText(/ルールはまだありません/)).toBeTruthy();
    await waitFor(() => expect(calls.filter((c) => c.op === 'CameraList').length).toBe(1));
    fireEvent.input(cloud.getByLabelText('APIキー'), { target: { value: 'abcd' } });
    fireEvent.click(cloud.getByRole('button', { name: 'API キーで接続' }));
    await waitFor(() => expect(calls.filter((c) => c.op === 'CameraList').length).toBe(2));
  });

  it('gives every column head a name', async () => {
    settings();
    render(<Settings session={{ user: owner }} />);
    await within(await screen.findByTestId('users')).findByText('staff@example.jp');
    await within(screen.getByTestId('api-keys')).findByText('POS連携');
    for (const th of document.querySelectorAll('th')) expect(th.textContent!.trim()).not.toBe('');
  });
});
