import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { Setup } from '../src/components/Setup';
import { entry, FakeWs, mockGraphQL } from './helpers';

type P = { hasCamera: boolean; hasShop: boolean; hasConnection: boolean; hasLink: boolean; hasReceipt: boolean; complete: boolean };
const progress = (n: number): P => {
  const [hasCamera, hasShop, hasConnection, hasLink, hasReceipt] = [0, 1, 2, 3, 4].map((i) => i < n);
  return { hasCamera, hasShop, hasConnection, hasLink, hasReceipt, complete: n >= 5 };
};
const camera = {
  id: 'CA1', name: '店内カメラ', model: 'SNAP-1', deviceID: 'e2e-001', posOption: true, label: '店内カメラ (SNAP-1 : e2e-001)',
  sourceKind: 'SNAPSHOT', sourceURL: 'http://127.0.0.1:9/snapshot.jpg', hasSourceCredentials: false, sourceStatus: '', retiredAt: null,
  status: { recording: true, online: true, lastSeenAt: '2030-01-01T00:00:00Z', lastError: null },
};
const shop = { id: 'SH1', name: '渋谷店', timezone: 'Asia/Tokyo', businessHours: [] };
const whRow = (over: Record<string, unknown> = {}) => ({
  id: 'PC1', provider: 'WEBHOOK', contractID: '', secretHint: '', terminalExternalID: '', terminalName: '', status: 'OK', lastSyncAt: null, lastError: '',
  cameraLabel: '', connection: { id: 'PC1', name: '決済端末' }, terminal: null, link: null, camera: null, ...over,
});

function data(n: number, over: Record<string, unknown> = {}) {
  return {
    data: {
      setupProgress: progress(n),
      cameras: { edges: n >= 1 ? [{ node: camera }] : [] },
      shops: { edges: n >= 2 ? [{ node: shop }] : [] },
      links: [],
      linkableCameras: n >= 1 ? [{ id: 'CA1', label: camera.label }] : [],
      ubiregiAvailable: false,
      ...over,
    },
  };
}

const stepDone = (k: string) => screen.getByTestId('step-' + k).getAttribute('data-done');

describe('Setup checklist', () => {
  it('shows each step done or not and opens the first one not done', async () => {
    mockGraphQL((op) => (op === 'SetupData' ? data(2) : { errors: [{ message: 'unexpected ' + op }] }));
    render(<Setup />);
    await screen.findByText('5 ステップ中 2 ステップ完了。上から順に進めてください。');
    expect(['camera', 'shop', 'pos', 'link', 'receipt'].map(stepDone)).toEqual(['true', 'true', 'false', 'false', 'false']);
    const pos = within(screen.getByTestId('step-pos'));
    expect(pos.getByRole('button', { name: /POS を連携/ }).getAttribute('aria-expanded')).toBe('true');
    expect(pos.getByText('未完了')).toBeTruthy();
    expect(within(screen.getByTestId('step-camera')).getByText('完了')).toBeTruthy();
    expect(within(screen.getByTestId('step-camera')).getByRole('button').getAttribute('aria-expanded')).toBe('false');
    // Smaregi is the first choice; card terminals need a shop (there is one).
    expect(pos.getByRole('button', { name: 'スマレジを連携' }).hasAttribute('disabled')).toBe(false);
  });

  it('adds a camera in step ①, then moves on to ②', async () => {
    let n = 0;
    const calls = mockGraphQL((op) => {
      if (op === 'SetupData') return data(n);
      if (op === 'CreateCamera') { n = 1; return { data: { createCamera: camera } }; }
      throw new Error('unexpected ' + op);
    });
    render(<Setup />);
    const step = within(await screen.findByTestId('step-camera'));
    fireEvent.input(step.getByLabelText('カメラ名'), { target: { value: '店内カメラ' } });
    fireEvent.input(step.getByLabelText('デバイスID・シリアル番号'), { target: { value: 'e2e-001' } });
    fireEvent.input(step.getByLabelText('URL'), { target: { value: 'http://127.0.0.1:9/snapshot.jpg' } });
    fireEvent.click(step.getByRole('button', { name: 'カメラを追加' }));
    await waitFor(() => expect(stepDone('camera')).toBe('true'));
    expect(within(screen.getByTestId('step-shop')).getByRole('button', { name: /^②/ }).getAttribute('aria-expanded')).toBe('true');
    expect(calls.filter((c) => c.op === 'SetupData')).toHaveLength(2);
    // ② asks for the shop, with Tokyo as the default zone.
    expect((within(screen.getByTestId('step-shop')).getByLabelText('タイムゾーン') as HTMLInputElement).value).toBe('Asia/Tokyo');
  });

  it('shows the webhook URL and signing key of a card-terminal connection once', async () => {
    let created = false;
    const calls = mockGraphQL((op) => {
      if (op === 'SetupData') return data(created ? 3 : 2, created ? { links: [whRow()] } : {});
      if (op === 'CreatePosConnection') {
        created = true;
        return { data: { createPosConnection: { connection: { id: 'PC1', name: '決済端末', provider: 'WEBHOOK' }, webhook: { path: '/webhooks/signed/PC1', secret: 'k3y-s3cret' } } } };
      }
      throw new Error('unexpected ' + op);
    });
    render(<Setup pollMs={60_000} />);
    const pos = within(await screen.findByTestId('step-pos'));
    fireEvent.click(pos.getByRole('tab', { name: 'カード端末・パートナー' }));
    fireEvent.input(pos.getByLabelText('連携の名前'), { target: { value: '決済端末' } });
    fireEvent.click(pos.getByRole('button', { name: '連携を作成' }));
    await waitFor(() => expect(stepDone('pos')).toBe('true'));
    expect(calls.find((c) => c.op === 'CreatePosConnection')!.variables).toEqual({ input: { provider: 'WEBHOOK', name: '決済端末', shopID: 'SH1' } });
    // The key stays on screen after the checklist moved on to ④.
    expect(within(screen.getByTestId('step-link')).getByRole('button', { name: /^④/ }).getAttribute('aria-expanded')).toBe('true');
    const once = within(await screen.findByTestId('signing-key'));
    expect(once.getByTestId('webhook-url').textContent).toBe(location.origin + '/webhooks/signed/PC1');
    expect(once.getByTestId('webhook-secret').textContent).toBe('k3y-s3cret');
    expect(once.getByText(/この一度しか表示されません/)).toBeTruthy();
    expect(once.getAllByRole('button', { name: 'コピー' })).toHaveLength(2);
    fireEvent.click(once.getByRole('button', { name: '保管したので閉じる' }));
    expect(screen.queryByTestId('webhook-secret')).toBeNull();
  });

  it('binds a register that appeared by itself to the camera in step ④', async () => {
    let linked = false;
    const term = whRow({ id: 'TE1', terminal: { id: 'TE1' }, terminalExternalID: 'T-0001', terminalName: 'T-0001' });
    const calls = mockGraphQL((op) => {
      if (op === 'SetupData') return data(linked ? 4 : 3, { links: [linked ? { ...term, link: { id: 'LI1' }, camera: { id: 'CA1' }, cameraLabel: camera.label } : term] });
      if (op === 'LinkTerminal') { linked = true; return { data: { linkTerminal: term } }; }
      throw new Error('unexpected ' + op);
    });
    // ⑤ opens once ④ is done: its live feed needs a websocket.
    const ws = new FakeWs();
    render(<Setup pollMs={60_000} live={{ makeClient: ws.make }} />);
    const link = within(await screen.findByTestId('step-link'));
    const row = link.getByText('T-0001').closest('tr')!;
    expect((within(row).getByLabelText('端末 T-0001 のカメラ') as HTMLSelectElement).value).toBe('CA1');
    fireEvent.click(within(row).getByRole('button', { name: '紐づける' }));
    await waitFor(() => expect(stepDone('link')).toBe('true'));
    expect(calls.find((c) => c.op === 'LinkTerminal')!.variables).toEqual({ terminalID: 'TE1', cameraID: 'CA1' });
    expect(await screen.findByTestId('first-receipt-waiting')).toBeTruthy();
  });

  it('waits live for the first receipt and shows it with its picture', async () => {
    let got = false;
    mockGraphQL((op) => {
      if (op === 'SetupData') return data(got ? 5 : 4);
      throw new Error('unexpected ' + op);
    });
    const ws = new FakeWs();
    render(<Setup live={{ makeClient: ws.make }} />);
    const waiting = await screen.findByTestId('first-receipt-waiting');
    expect(waiting.textContent).toContain('最初のレシートを待っています…');
    await waitFor(() => expect(ws.connected.length).toBe(1));
    ws.connect();
    await waitFor(() => expect(screen.getByTestId('first-receipt-waiting').getAttribute('data-state')).toBe('live'));
    expect(ws.current.variables).toEqual({ where: { cameraIDs: ['CA1'] }, after: null });

    got = true;
    const e = entry({ receiptNo: '0001', thumbnail: null });
    ws.send('ADDED', e, 'c1');
    const card = await screen.findByTestId('first-receipt');
    expect(card.textContent).toContain('画像を撮影中');
    expect(card.textContent).toContain('¥35,000');
    ws.send('THUMBNAIL', { ...e, thumbnail: { id: 'TH9', url: '/thumbnails/TH9', width: 320, height: 180, capturedAt: e.occurredAt, skewMs: 120, skewKnown: true } }, 'c2');
    const img = await within(card).findByRole('img');
    expect(img.getAttribute('src')).toBe('/thumbnails/TH9');
    await waitFor(() => expect(stepDone('receipt')).toBe('true'));
    expect(screen.getByText(/すべて完了しました/)).toBeTruthy();
    expect(screen.getByRole('button', { name: 'ダッシュボードを開く' })).toBeTruthy();
  });
});
