// 設定 › カメラクラウド（Safie）: connecting by API key (errors at their
// fields, SAFIE_AUTH at the key), the list with status in plain Japanese,
// sync / new key / disconnect, and the OAuth button only when the server
// has a Safie client.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { CameraCloudSettings, cloudStatus } from '../src/components/CameraCloud';
import { messages } from '../src/errors/messages';
import { mockGraphQL } from './helpers';

const cam = { id: 'CA1', name: 'レジ前カメラ (CC-2L_SF : 201000192)', label: 'レジ前カメラ (CC-2L_SF : 201000192)', model: 'CC-2L_SF', deviceID: 'dev-1', retiredAt: null, streaming: true, notRecordingSince: null };
const conn = {
  id: 'CC1', name: 'Safie 本部', provider: 'SAFIE', authKind: 'API_KEY', secretHint: '••••-key', optionItemID: 5, retentionDays: 7,
  status: 'OK', lastError: '', lastSyncAt: new Date(Date.now() - 120_000).toISOString(), deviceCount: 1, cameras: [cam],
};

function cloud(extra: (op: string, v: any) => unknown = () => undefined, init: { conns?: unknown[]; oauth?: boolean } = {}) {
  return mockGraphQL((op, v) => {
    const r = extra(op, v);
    if (r) return r;
    if (op === 'CameraCloud') return { data: { cameraCloudConnections: init.conns ?? [conn], cameraCloudOAuthAvailable: init.oauth ?? false } };
    throw new Error('unexpected ' + op);
  });
}

describe('CameraCloudSettings', () => {
  it('lists a connection: name, 認証方式, masked key, status, last sync and its cameras with their marks', async () => {
    const stopped = { ...cam, id: 'CA2', name: '入口カメラ (CC-2L_SF : 201000200)', deviceID: 'dev-2', streaming: false };
    cloud(undefined, { conns: [{ ...conn, cameras: [cam, stopped] }] });
    render(<CameraCloudSettings />);
    const row = within((await screen.findByTestId('cloud-connections')).querySelector('tr[data-connection=CC1]') as HTMLElement);
    expect(row.getByText('Safie 本部')).toBeTruthy();
    expect(row.getByText('APIキー')).toBeTruthy();
    expect(row.getByText('••••-key')).toBeTruthy();
    expect(row.getByTestId('cloud-status').textContent).toBe('正常');
    expect(row.getByText('2分前')).toBeTruthy();
    expect(row.getByText('2 台')).toBeTruthy();
    const items = row.getByTestId('cloud-cameras').querySelectorAll('li');
    expect(items[0].textContent).toBe('レジ前カメラ (CC-2L_SF : 201000192) クラウド');
    expect(items[1].textContent).toBe('入口カメラ (CC-2L_SF : 201000200) クラウド録画停止中');
    // No OAuth client on this server: no OAuth button.
    expect(screen.queryByRole('button', { name: 'Safie でログインして接続' })).toBeNull();
  });

  it('words a refused key and an unreachable cloud in plain Japanese, without the provider text', () => {
    expect(cloudStatus({ status: 'NEEDS_REAUTH', lastError: 'Safie がキーを受け付けませんでした (401 Unauthorized: invalid api key)' }))
      .toEqual({ ok: false, text: '要再設定', detail: 'Safie がキーを受け付けませんでした' });
    expect(cloudStatus({ status: 'NEEDS_REAUTH', lastError: 'unauthorized' }).detail).toBe(messages.SAFIE_AUTH);
    expect(cloudStatus({ status: 'ERROR', lastError: '' })).toEqual({ ok: false, text: 'エラー', detail: messages.SAFIE_UNREACHABLE });
  });

  it('names the empty key and a bad number at their fields before sending', async () => {
    const calls = cloud();
    render(<CameraCloudSettings />);
    const form = within(await screen.findByTestId('cloud-connect'));
    fireEvent.input(form.getByLabelText('録画の保存日数'), { target: { value: '0' } });
    fireEvent.input(form.getByLabelText('POSオプションID（任意）'), { target: { value: 'abc' } });
    fireEvent.click(form.getByRole('button', { name: 'API キーで接続' }));
    const key = form.getByLabelText('APIキー') as HTMLInputElement;
    expect(key.type).toBe('password');
    expect(key.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById('cc-key-err')!.textContent).toMatch(/^API キーを入力してください/);
    expect(document.getElementById('cc-option-err')!.textContent).toBe('POS オプション ID は数字で入力してください');
    expect(document.getElementById('cc-days-err')!.textContent).toBe('録画の保存日数は 1〜365 の数字で入力してください');
    expect(document.activeElement).toBe(key);
    expect(calls.some((c) => c.op === 'ConnectCameraCloud')).toBe(false);
  });

  it('shows SAFIE_AUTH at the APIキー field, then connects with the right key and lists the camera', async () => {
    let tries = 0;
    const calls = cloud((op) => {
      if (op !== 'ConnectCameraCloud') return undefined;
      if (tries++ === 0) return { errors: [{ message: 'Safie が API キーを受け付けませんでした (safie: 401)', extensions: { code: 'BAD_USER_INPUT', reason: 'SAFIE_AUTH' } }] };
      return { data: { connectCameraCloud: conn } };
    }, { conns: [] });
    render(<CameraCloudSettings />);
    expect(await screen.findByText(/接続しているカメラクラウドはありません/)).toBeTruthy();
    const form = within(screen.getByTestId('cloud-connect'));
    fireEvent.input(form.getByLabelText('名前'), { target: { value: 'Safie 本部' } });
    fireEvent.input(form.getByLabelText('APIキー'), { target: { value: 'wrong' } });
    fireEvent.input(form.getByLabelText('POSオプションID（任意）'), { target: { value: '５' } });
    fireEvent.click(form.getByRole('button', { name: 'API キーで接続' }));
    await waitFor(() => expect(document.getElementById('cc-key-err')?.textContent).toBe(messages.SAFIE_AUTH));
    expect(form.getByLabelText('APIキー').getAttribute('aria-describedby')).toContain('cc-key-err');
    expect(form.queryByRole('alert', { name: /safie: 401/ })).toBeNull();
    expect(calls.find((c) => c.op === 'ConnectCameraCloud')!.variables.input).toEqual({ provider: 'SAFIE', name: 'Safie 本部', apiKey: 'wrong', optionItemID: 5, retentionDays: 7 });

    fireEvent.input(form.getByLabelText('APIキー'), { target: { value: 'right-key' } });
    fireEvent.click(form.getByRole('button', { name: 'API キーで接続' }));
    expect(await screen.findByText('「Safie 本部」を接続しました（POS オプションのカメラ 1 台）')).toBeTruthy();
    expect((form.getByLabelText('APIキー') as HTMLInputElement).value).toBe('');
    expect(calls.filter((c) => c.op === 'CameraCloud').length).toBe(2);
  });

  it('syncs now, takes a new key in a dialog, and asks before disconnecting', async () => {
    const calls = cloud((op) => {
      if (op === 'SyncCameraCloud') return { data: { syncCameraCloud: { ...conn, lastSyncAt: new Date().toISOString() } } };
      if (op === 'UpdateCameraCloud') return { data: { updateCameraCloud: conn } };
      if (op === 'DisconnectCameraCloud') return { data: { disconnectCameraCloud: true } };
      return undefined;
    });
    const changed = vi.fn();
    render(<CameraCloudSettings onCamerasChanged={changed} />);
    const row = within(await screen.findByTestId('cloud-connections'));
    fireEvent.click(row.getByRole('button', { name: '今すぐ同期' }));
    expect(await screen.findByText('「Safie 本部」を同期しました')).toBeTruthy();
    expect(calls.find((c) => c.op === 'SyncCameraCloud')!.variables).toEqual({ id: 'CC1' });
    expect(changed).toHaveBeenCalledTimes(1);

    fireEvent.click(row.getByRole('button', { name: 'キーを更新' }));
    const dlg = within(screen.getByTestId('cloud-rekey'));
    fireEvent.input(dlg.getByLabelText('APIキー'), { target: { value: 'new-key' } });
    fireEvent.click(dlg.getByRole('button', { name: '更新' }));
    expect(await screen.findByText('「Safie 本部」の API キーを更新しました')).toBeTruthy();
    expect(calls.find((c) => c.op === 'UpdateCameraCloud')!.variables).toEqual({ id: 'CC1', input: { apiKey: 'new-key' } });

    fireEvent.click(row.getByRole('button', { name: '接続を解除' }));
    const confirm = within(screen.getByTestId('confirm-disconnect-cloud'));
    expect(document.activeElement).toBe(confirm.getByRole('button', { name: 'キャンセル' }));
    expect(confirm.getByRole('button', { name: '接続を解除する' }).classList.contains('danger-solid')).toBe(true);
    fireEvent.click(confirm.getByRole('button', { name: '接続を解除する' }));
    expect(await screen.findByText('「Safie 本部」の接続を解除しました')).toBeTruthy();
    expect(calls.find((c) => c.op === 'DisconnectCameraCloud')!.variables).toEqual({ id: 'CC1' });
  });

  it('offers 「Safie でログインして接続」 when the server has an OAuth client, and goes to the consent page', async () => {
    const assign = vi.fn();
    vi.stubGlobal('location', { ...window.location, assign, search: '' });
    const calls = cloud((op) => (op === 'StartCameraCloudOAuth' ? { data: { startCameraCloudOAuth: { authorizeURL: 'https://safie.example/auth/authorize?x=1' } } } : undefined), { oauth: true });
    render(<CameraCloudSettings />);
    await screen.findByTestId('cloud-connections');
    const form = within(screen.getByTestId('cloud-connect'));
    fireEvent.input(form.getByLabelText('名前'), { target: { value: '本店' } });
    fireEvent.click(form.getByRole('button', { name: 'Safie でログインして接続' }));
    await waitFor(() => expect(assign).toHaveBeenCalledWith('https://safie.example/auth/authorize?x=1'));
    expect(calls.find((c) => c.op === 'StartCameraCloudOAuth')!.variables.input).toEqual({ name: '本店', optionItemID: null, retentionDays: 7 });
  });

  it('words the way back from Safie\'s consent page from its own table only', async () => {
    const replace = vi.spyOn(history, 'replaceState');
    vi.stubGlobal('location', { ...window.location, pathname: '/', hash: '#/settings', search: '?cameraCloud=error&reason=SAFIE_OAUTH_DENIED' });
    cloud();
    const { unmount } = render(<CameraCloudSettings />);
    expect((await screen.findByText(/^Safie との接続に失敗しました/)).textContent).toBe('Safie との接続に失敗しました。' + messages.SAFIE_OAUTH_DENIED);
    expect(replace).toHaveBeenCalledWith(null, '', '/#/settings');
    unmount();
    vi.stubGlobal('location', { ...window.location, pathname: '/', hash: '#/settings', search: '?cameraCloud=error&reason=constructor' });
    render(<CameraCloudSettings />);
    expect((await screen.findByText(/^Safie との接続に失敗しました/)).textContent).toBe('Safie との接続に失敗しました。' + messages.SAFIE_UNREACHABLE);
    replace.mockRestore();
  });

  it('shows a connection that needs a new key with the reason and the button to give it', async () => {
    cloud(undefined, { conns: [{ ...conn, status: 'NEEDS_REAUTH', lastError: 'Safie がキーを受け付けませんでした (revoked)' }] });
    render(<CameraCloudSettings />);
    const st = await screen.findByTestId('cloud-status');
    expect(st.textContent).toBe('要再設定Safie がキーを受け付けませんでした');
    expect(st.textContent).not.toMatch(/revoked/);
  });
});
