import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { Portal } from '../src/components/Portal';
import { mockGraphQL } from './helpers';

const cams = [
  { id: 'CA1', label: '自宅カメラ (CC-2L_SF : 201000192)' },
  { id: 'CA2', label: 'レジ前カメラ (CC-2L_SF : 201000193)' },
];
const row = (over: Record<string, unknown> = {}) => ({
  id: 'TE9', provider: 'SMAREGI', contractID: 'demo_contract', secretHint: '••••0042', terminalExternalID: '9', terminalName: '端末 9',
  status: 'OK', lastSyncAt: null, lastError: '', cameraLabel: cams[1].label,
  connection: { id: 'PC1' }, terminal: { id: 'TE9' }, link: { id: 'LI9' }, camera: { id: 'CA2' }, ...over,
});

function portal(rows = [row()], extra: (op: string, v: any) => unknown = () => undefined) {
  return mockGraphQL((op, v) => {
    const r = extra(op, v);
    if (r) return r;
    if (op === 'Portal') return { data: { linkableCameras: cams, smaregi: rows, ubiregi: [], ubiregiAvailable: false } };
    throw new Error('unexpected ' + op);
  });
}

describe('Portal', () => {
  it('lists Smaregi settings with the masked secret, camera and status', async () => {
    portal([row(), row({ id: 'PC2', terminal: null, link: null, camera: null, terminalExternalID: '', terminalName: '', cameraLabel: '', status: 'NEEDS_REAUTH', contractID: 'old' })]);
    render(<Portal />);
    const table = within(await screen.findByTestId('table-SMAREGI'));
    expect(table.getAllByText('••••0042')).toHaveLength(2);
    expect((table.getByLabelText('端末 9 のカメラ') as HTMLSelectElement).value).toBe('CA2');
    expect(table.getByText('OK')).toBeTruthy();
    expect(table.getByText('要再設定')).toBeTruthy();
    expect(table.getByRole('button', { name: '認証情報を更新' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Ubiregi OAuth2 連携' }).hasAttribute('disabled')).toBe(true);
  });

  it('offers a cloud camera by its name with クラウド, and marks the chosen one 録画停止中 while the cloud does not record', async () => {
    const cloudCam = { id: 'CA3', name: 'レジ前カメラ (CC-2L_SF : 201000192)', label: 'レジ前カメラ (CC-2L_SF : 201000192) (CC-2L_SF : dev-1)', sourceKind: 'CLOUD', streaming: false };
    mockGraphQL((op) => {
      if (op === 'Portal') return { data: { linkableCameras: [...cams, cloudCam], smaregi: [row({ camera: { id: 'CA3' }, cameraLabel: cloudCam.name })], ubiregi: [], ubiregiAvailable: false } };
      throw new Error('unexpected ' + op);
    });
    render(<Portal />);
    const table = within(await screen.findByTestId('table-SMAREGI'));
    const select = table.getByLabelText('端末 9 のカメラ') as HTMLSelectElement;
    expect(select.value).toBe('CA3');
    expect([...select.options].map((o) => o.textContent)).toContain('レジ前カメラ (CC-2L_SF : 201000192)（クラウド・録画停止中）');
    const marks = table.getByTestId('chosen-cloud');
    expect(marks.textContent).toBe('クラウド録画停止中');
    fireEvent.change(select, { target: { value: 'CA1' } });
    expect(table.queryByTestId('chosen-cloud')).toBeNull();
  });

  it('never shows the text of ?error= from the address', async () => {
    portal();
    location.hash = '#/portal?error=' + encodeURIComponent('ユビレジ障害。0120-000-000 へ電話してください') + '&reason=constructor';
    render(<Portal />);
    const alert = await screen.findByText(/ユビレジ連携に失敗しました/);
    expect(alert.textContent).not.toContain('0120');
    expect(alert.textContent).toContain('もう一度連携してください');
    location.hash = '';
  });

  it("shows a failing connection's stored error in Japanese only", async () => {
    portal([row({ status: 'ERROR', lastError: 'スマレジに接続できません (dial tcp 10.0.0.1:443: connection refused)' })]);
    render(<Portal />);
    const table = within(await screen.findByTestId('table-SMAREGI'));
    expect(table.getByText('スマレジに接続できません')).toBeTruthy();
    expect(table.queryByText(/connection refused/)).toBeNull();
  });

  it('words a failed Ubiregi consent by its reason, never with the provider text', async () => {
    portal();
    location.hash = '#/portal?error=' + encodeURIComponent('access_denied (The user denied the request)') + '&reason=UBIREGI_DENIED';
    render(<Portal />);
    const alert = await screen.findByText(/ユビレジ連携に失敗しました/);
    expect(alert.textContent).toContain('ユビレジで連携が許可されませんでした');
    expect(alert.textContent).not.toMatch(/access_denied|denied the request/);
    location.hash = '';
  });

  it('adds a link through the dialog, with the refused secret shown at its field', async () => {
    let attempts = 0;
    const calls = portal([], (op) => {
      if (op !== 'AddSmaregiLink') return;
      if (attempts++ === 0) return { errors: [{ message: 'スマレジがクライアントシークレットを受け付けませんでした', extensions: { code: 'BAD_USER_INPUT', field: 'input.clientSecret' } }] };
      return { data: { addSmaregiLink: row() } };
    });
    render(<Portal />);
    fireEvent.click(await screen.findByRole('button', { name: '新規設定追加' }));
    const dlg = within(screen.getByTestId('add-smaregi'));
    fireEvent.input(dlg.getByLabelText(/契約ID$/), { target: { value: 'demo_contract' } });
    fireEvent.input(dlg.getByLabelText(/クライアントID$/), { target: { value: 'demo_client' } });
    fireEvent.input(dlg.getByLabelText(/クライアントシークレット$/), { target: { value: 'bad' } });
    fireEvent.input(dlg.getByLabelText(/端末ID$/), { target: { value: '9' } });
    fireEvent.change(dlg.getByLabelText(/カメラ$/), { target: { value: 'CA2' } });
    fireEvent.click(dlg.getByRole('button', { name: '追加' }));
    const err = await dlg.findByText('スマレジがクライアントシークレットを受け付けませんでした');
    expect(dlg.getByLabelText(/クライアントシークレット$/).getAttribute('aria-describedby')).toContain(err.id);

    fireEvent.input(dlg.getByLabelText(/クライアントシークレット$/), { target: { value: 'demo-secret-0042' } });
    fireEvent.click(dlg.getByRole('button', { name: '追加' }));
    expect((await screen.findByTestId('success')).textContent).toContain('スマレジ連携を追加しました');
    expect(calls.filter((c) => c.op === 'AddSmaregiLink').at(-1)!.variables.input).toEqual({
      contractID: 'demo_contract', clientID: 'demo_client', clientSecret: 'demo-secret-0042', terminalID: '9', cameraID: 'CA2',
    });
    expect(calls.filter((c) => c.op === 'Portal')).toHaveLength(2);
  });

  it('deletes the checked links after confirmation', async () => {
    const calls = portal([row(), row({ id: 'TE8', terminalExternalID: '8', terminal: { id: 'TE8' }, link: { id: 'LI8' } })],
      (op) => (op === 'DeleteLinks' ? { data: { deleteLinks: [{ id: 'LI8', endedAt: '2030-01-01T00:00:00Z' }] } } : undefined));
    render(<Portal />);
    const table = within(await screen.findByTestId('table-SMAREGI'));
    const trash = table.getByRole('button', { name: '選択した連携を削除' });
    expect(trash.hasAttribute('disabled')).toBe(true);
    fireEvent.click(table.getByLabelText('端末 8 の連携を選択'));
    fireEvent.click(trash);
    const dlg = within(screen.getByTestId('confirm-delete'));
    expect(dlg.getByText('選択した 1 件の連携を削除しますか？')).toBeTruthy();
    // Enter on the dialog as it opens keeps the links: the focus is on キャンセル, and the action is red.
    expect(document.activeElement).toBe(dlg.getByRole('button', { name: 'キャンセル' }));
    expect(dlg.getByRole('button', { name: '削除する' }).className).toBe('btn danger-solid');
    fireEvent.click(dlg.getByRole('button', { name: '削除する' }));
    await screen.findByTestId('success');
    expect(calls.find((c) => c.op === 'DeleteLinks')!.variables).toEqual({ ids: ['LI8'] });
  });

  it('re-binds a register to another camera with 更新', async () => {
    const calls = portal([row()], (op) => (op === 'SetTerminalCameras' ? { data: { setTerminalCameras: [row({ camera: { id: 'CA1' } })] } } : undefined));
    render(<Portal />);
    const table = within(await screen.findByTestId('table-SMAREGI'));
    const save = table.getByRole('button', { name: '更新' });
    expect(save.hasAttribute('disabled')).toBe(true);
    fireEvent.change(table.getByLabelText('端末 9 のカメラ'), { target: { value: 'CA1' } });
    fireEvent.click(save);
    await waitFor(() => expect(calls.find((c) => c.op === 'SetTerminalCameras')?.variables).toEqual({ input: [{ terminalID: 'TE9', cameraID: 'CA1' }] }));
  });
});

describe('Portal re-authentication', () => {
  it('asks for new credentials of a legacy Smaregi contract and keeps the contract id', async () => {
    const legacy = row({ status: 'NEEDS_REAUTH', contractID: 'legacy_contract', secretHint: '' });
    const calls = portal([legacy], (op) => (op === 'ConnectSmaregi'
      ? { data: { connectSmaregi: { id: 'PC1', status: 'OK', secretHint: '••••cret', lastSyncAt: null, lastError: '' } } } : undefined));
    render(<Portal />);
    fireEvent.click(await screen.findByRole('button', { name: '認証情報を更新' }));
    const dlg = within(screen.getByTestId('reauth'));
    expect((dlg.getByLabelText('契約ID') as HTMLInputElement).value).toBe('legacy_contract');
    fireEvent.input(dlg.getByLabelText('クライアントID'), { target: { value: 'cid' } });
    fireEvent.input(dlg.getByLabelText('クライアントシークレット'), { target: { value: 'new-secret' } });
    fireEvent.click(dlg.getByRole('button', { name: '更新' }));
    expect((await screen.findByTestId('success')).textContent).toContain('認証情報を更新しました');
    expect(calls.find((c) => c.op === 'ConnectSmaregi')!.variables).toEqual({ input: { contractID: 'legacy_contract', clientID: 'cid', clientSecret: 'new-secret' } });
  });
});

describe('Portal after Ubiregi OAuth', () => {
  it('says the account is connected and cleans the address', async () => {
    history.replaceState(null, '', '/?connected=PC9#/portal');
    portal([]);
    render(<Portal />);
    expect((await screen.findByText(/ユビレジと連携しました/)).textContent).toContain('更新');
    expect(location.search).toBe('');
    expect(location.hash).toBe('#/portal');
  });

  it('names each empty field of 新規設定追加 when 追加 is pressed, and sends nothing', async () => {
    const calls = portal([]);
    render(<Portal />);
    fireEvent.click(await screen.findByRole('button', { name: '新規設定追加' }));
    const dlg = within(screen.getByTestId('add-smaregi'));
    fireEvent.input(dlg.getByLabelText(/クライアントID$/), { target: { value: 'demo_client' } });
    const add = dlg.getByRole('button', { name: '追加' });
    expect(add.hasAttribute('disabled')).toBe(false);
    fireEvent.click(add);
    for (const [label, msg] of [[/契約ID$/, /^契約IDを入力してください/], [/クライアントシークレット$/, /^クライアントシークレットを入力してください/], [/端末ID$/, /^端末IDを入力してください/]] as const) {
      const e = await dlg.findByText(msg);
      const input = dlg.getByLabelText(label);
      expect(e.classList.contains('field-error')).toBe(true);
      expect(input.getAttribute('aria-invalid')).toBe('true');
      expect(input.getAttribute('aria-describedby')).toContain(e.id);
    }
    expect(dlg.getByLabelText(/クライアントID$/).getAttribute('aria-invalid')).toBe('false');
    expect(document.activeElement).toBe(dlg.getByLabelText(/契約ID$/));
    expect(calls.filter((c) => c.op === 'AddSmaregiLink')).toHaveLength(0);
    fireEvent.input(dlg.getByLabelText(/契約ID$/), { target: { value: 'demo_contract' } });
    expect(dlg.queryByText(/^契約IDを入力してください/)).toBeNull();
    expect(dlg.getByText(/^端末IDを入力してください/)).toBeTruthy();
  });
});
