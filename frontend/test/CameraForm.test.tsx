import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { CameraForm } from '../src/components/CameraForm';
import { mockGraphQL } from './helpers';

const saved = (over: Record<string, unknown> = {}) => ({
  id: 'CA1', name: '自宅カメラ', model: 'CC-2L_SF', deviceID: '201000192', posOption: true, label: '自宅カメラ (CC-2L_SF : 201000192)',
  sourceKind: 'SNAPSHOT', sourceURL: 'http://192.168.1.20/snapshot.jpg', hasSourceCredentials: false, sourceStatus: '', retiredAt: null,
  status: { recording: true, online: true, lastSeenAt: null, lastError: null }, ...over,
});

const fill = (label: RegExp | string, value: string) => fireEvent.input(screen.getByLabelText(label), { target: { value } });

describe('CameraForm', () => {
  it('tests the source: asks for the URL first, busy while testing, then the preview', async () => {
    let release!: () => void;
    const calls = mockGraphQL(async (op) => {
      if (op !== 'TestCameraSource') throw new Error('unexpected ' + op);
      await new Promise<void>((r) => (release = r));
      return { data: { testCameraSource: { ok: true, reason: null, message: '接続できました', previewDataURL: 'data:image/jpeg;base64,AAAA', width: 640, height: 360, elapsedMs: 42 } } };
    });
    render(<CameraForm onSaved={() => {}} />);
    const btn = screen.getByTestId('camera-test');
    expect(btn.hasAttribute('disabled')).toBe(false);
    fireEvent.click(btn);
    const urlErr = await screen.findByText('接続テストの前に、カメラの映像の URL を入力してください');
    expect(screen.getByLabelText('URL').getAttribute('aria-describedby')).toContain(urlErr.id);
    expect(document.activeElement).toBe(screen.getByLabelText('URL'));
    expect(calls).toHaveLength(0);
    fill('URL', 'http://127.0.0.1:9/snapshot.jpg');
    expect(screen.queryByText('接続テストの前に、カメラの映像の URL を入力してください')).toBeNull();
    fill('ユーザー名', 'admin');
    fill('パスワード', 'pw');
    expect(btn.hasAttribute('disabled')).toBe(false);
    fireEvent.click(btn);
    await waitFor(() => expect(btn.textContent).toContain('接続テスト中'));
    expect(btn.hasAttribute('disabled')).toBe(true);
    release();
    const result = screen.getByTestId('camera-test-result');
    await waitFor(() => expect(result.getAttribute('data-ok')).toBe('true'));
    expect((within(result).getByRole('img') as HTMLImageElement).src).toBe('data:image/jpeg;base64,AAAA');
    expect(result.textContent).toContain('640×360');
    expect(calls[0].variables).toEqual({ input: { kind: 'SNAPSHOT', url: 'http://127.0.0.1:9/snapshot.jpg', username: 'admin', password: 'pw' } });
    // Changing the source forgets the old result.
    fill('URL', 'http://127.0.0.1:9/other.jpg');
    expect(result.getAttribute('data-ok')).toBeNull();
  });

  it('says why a test failed, in Japanese, and falls back to the reason code', async () => {
    let n = 0;
    mockGraphQL(() => (n++ === 0
      ? { data: { testCameraSource: { ok: false, reason: 'AUTH_REFUSED', message: 'カメラがユーザー名またはパスワードを受け付けませんでした（401）', previewDataURL: null, width: null, height: null, elapsedMs: 12 } } }
      : { data: { testCameraSource: { ok: false, reason: 'NOT_JPEG', message: '', previewDataURL: null, width: null, height: null, elapsedMs: 5 } } }));
    render(<CameraForm onSaved={() => {}} />);
    fill('URL', 'http://cam.local/snap');
    fireEvent.click(screen.getByTestId('camera-test'));
    expect((await screen.findByRole('alert')).textContent).toContain('受け付けませんでした（401）');
    fireEvent.click(screen.getByTestId('camera-test'));
    expect((await screen.findByText(/JPEG 画像ではありませんでした/)).getAttribute('role')).toBe('alert');
  });

  it('shows a refused URL of the test at the URL field', async () => {
    mockGraphQL(() => ({ errors: [{ message: 'スキーム ftp には対応していません', extensions: { code: 'BAD_USER_INPUT', field: 'input.url' } }] }));
    render(<CameraForm onSaved={() => {}} />);
    fill('URL', 'ftp://cam.local/snap.jpg');
    fireEvent.click(screen.getByTestId('camera-test'));
    const err = await screen.findByText('スキーム ftp には対応していません');
    expect(screen.getByLabelText('URL').getAttribute('aria-describedby')).toContain(err.id);
  });

  it('puts API errors next to the fields they name and saves on retry', async () => {
    let attempt = 0;
    let got: unknown = null;
    const calls = mockGraphQL((op) => {
      if (op !== 'CreateCamera') throw new Error('unexpected ' + op);
      if (attempt++ === 0) {
        return { errors: [
          { message: 'デバイスID 201000192 は「レジ前カメラ」で使われています', extensions: { code: 'CONFLICT', field: 'input.deviceID' } },
          { message: 'URL のスキーム ftp は使えません（http か https）', extensions: { code: 'BAD_USER_INPUT', field: 'input.source.url' } },
        ] };
      }
      return { data: { createCamera: saved() } };
    });
    render(<CameraForm onSaved={(c) => (got = c)} />);
    const submit = screen.getByRole('button', { name: 'カメラを追加' });
    expect(submit.hasAttribute('disabled')).toBe(false);
    // Sent empty: each required field says so, nothing reaches the server.
    fireEvent.click(submit);
    for (const [label, msg] of [['カメラ名', 'カメラ名を入力してください'], ['デバイスID・シリアル番号', 'デバイスID・シリアル番号を入力してください'], ['URL', 'カメラの映像の URL を入力してください']]) {
      const e = await screen.findByText(msg);
      expect(e.classList.contains('field-error')).toBe(true);
      expect(screen.getByLabelText(label).getAttribute('aria-invalid')).toBe('true');
      expect(screen.getByLabelText(label).getAttribute('aria-describedby')).toContain(e.id);
    }
    expect(screen.getByLabelText('機種').getAttribute('aria-invalid')).toBe('false');
    expect(document.activeElement).toBe(screen.getByLabelText('カメラ名'));
    expect(calls).toHaveLength(0);
    fill('カメラ名', '自宅カメラ');
    expect(screen.queryByText('カメラ名を入力してください')).toBeNull();
    fill('機種', 'CC-2L_SF');
    fill('デバイスID・シリアル番号', '201000192');
    fill('URL', 'ftp://192.168.1.20/snapshot.jpg');
    fireEvent.click(submit);
    const devErr = await screen.findByText('デバイスID 201000192 は「レジ前カメラ」で使われています');
    expect(screen.getByLabelText('デバイスID・シリアル番号').getAttribute('aria-describedby')).toContain(devErr.id);
    expect(screen.getByLabelText('デバイスID・シリアル番号').getAttribute('aria-invalid')).toBe('true');
    const urlErr = screen.getByText('URL のスキーム ftp は使えません（http か https）');
    expect(screen.getByLabelText('URL').getAttribute('aria-describedby')).toContain(urlErr.id);
    expect(screen.getByLabelText('カメラ名').getAttribute('aria-invalid')).toBe('false');

    fill('デバイスID・シリアル番号', '201000194');
    fill('URL', 'http://192.168.1.20/snapshot.jpg');
    fireEvent.click(submit);
    await waitFor(() => expect(got).toBeTruthy());
    expect(calls[1].variables).toEqual({ input: { name: '自宅カメラ', model: 'CC-2L_SF', deviceID: '201000194', posOption: true, source: { kind: 'SNAPSHOT', url: 'http://192.168.1.20/snapshot.jpg' } } });
  });

  it('edits without resending the source, keeping stored credentials', async () => {
    const calls = mockGraphQL(() => ({ data: { updateCamera: saved({ name: 'レジ前' }) } }));
    render(<CameraForm camera={saved({ hasSourceCredentials: true }) as any} onSaved={() => {}} />);
    expect(screen.getByText(/保存済みです/)).toBeTruthy();
    fill('カメラ名', 'レジ前');
    fireEvent.click(screen.getByRole('button', { name: '保存' }));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0].variables).toEqual({ id: 'CA1', input: { name: 'レジ前', model: 'CC-2L_SF', deviceID: '201000192', posOption: true } });
  });

  it('takes an RTSP camera\'s snapshot URL, shows its error at the field, and sends it only when changed', async () => {
    let attempt = 0;
    const calls = mockGraphQL((op) => {
      if (op !== 'CreateCamera' && op !== 'UpdateCamera') throw new Error('unexpected ' + op);
      if (op === 'CreateCamera' && attempt++ === 0) {
        return { errors: [{ message: '静止画URL のスキーム ftp は使えません。http:// か https:// で始まる URL を入力してください (scheme "ftp" not supported for a snapshot URL)',
          extensions: { code: 'BAD_USER_INPUT', field: 'input.snapshotURL', reason: 'CAMERA_SNAPSHOT_URL_SCHEME' } }] };
      }
      return { data: { [op === 'CreateCamera' ? 'createCamera' : 'updateCamera']: saved({ sourceKind: 'RTSP' }) } };
    });
    const { unmount } = render(<CameraForm onSaved={() => {}} />);
    // Only an RTSP camera has one.
    expect(screen.queryByLabelText('静止画URL（任意）')).toBeNull();
    fireEvent.change(screen.getByLabelText('種類'), { target: { value: 'RTSP' } });
    const field = screen.getByLabelText('静止画URL（任意）');
    expect(field.getAttribute('aria-describedby')).toContain(screen.getByText(/サムネイルとライブ映像をここから取得します/).id);
    fill('カメラ名', 'レジ前');
    fill('デバイスID・シリアル番号', 'rtsp-1');
    fill('URL', 'rtsp://192.168.1.20:554/stream1');
    fill('静止画URL（任意）', 'ftp://192.168.1.20/picture');
    fireEvent.click(screen.getByRole('button', { name: 'カメラを追加' }));
    const err = await screen.findByText(/静止画URLは「http:\/\/」か「https:\/\/」で始まる/);
    expect(field.getAttribute('aria-invalid')).toBe('true');
    expect(field.getAttribute('aria-describedby')).toContain(err.id);
    fill('静止画URL（任意）', ' http://192.168.1.20/ISAPI/Streaming/channels/101/picture ');
    fireEvent.click(screen.getByRole('button', { name: 'カメラを追加' }));
    await waitFor(() => expect(calls).toHaveLength(2));
    expect(calls[1].variables).toEqual({ input: { name: 'レジ前', model: null, deviceID: 'rtsp-1', posOption: true,
      source: { kind: 'RTSP', url: 'rtsp://192.168.1.20:554/stream1' }, snapshotURL: 'http://192.168.1.20/ISAPI/Streaming/channels/101/picture' } });
    unmount();

    // Editing: the stored URL (never its login) is shown; unchanged it is
    // not sent, emptied it is sent as '' (removed).
    const cam = saved({ sourceKind: 'RTSP', sourceURL: 'rtsp://192.168.1.20:554/stream1', snapshotURL: 'http://192.168.1.20/cgi-bin/snapshot.cgi', hasSnapshotCredentials: true });
    render(<CameraForm camera={cam as any} onSaved={() => {}} />);
    expect((screen.getByLabelText('静止画URL（任意）') as HTMLInputElement).value).toBe('http://192.168.1.20/cgi-bin/snapshot.cgi');
    expect(screen.getByText(/静止画URLのログインは保存済みです/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: '保存' }));
    await waitFor(() => expect(calls).toHaveLength(3));
    expect(calls[2].variables).toEqual({ id: 'CA1', input: { name: '自宅カメラ', model: 'CC-2L_SF', deviceID: '201000192', posOption: true } });
    fill('静止画URL（任意）', '');
    fireEvent.click(await screen.findByRole('button', { name: '保存' }));
    await waitFor(() => expect(calls).toHaveLength(4));
    expect(calls[3].variables).toEqual({ id: 'CA1', input: { name: '自宅カメラ', model: 'CC-2L_SF', deviceID: '201000192', posOption: true, snapshotURL: '' } });
  });

  it('needs no URL for the simulated camera', () => {
    mockGraphQL(() => ({}));
    render(<CameraForm onSaved={() => {}} />);
    fireEvent.change(screen.getByLabelText('種類'), { target: { value: 'SIMULATED' } });
    expect(screen.queryByLabelText('URL')).toBeNull();
    expect(screen.getByTestId('camera-test').hasAttribute('disabled')).toBe(false);
  });
});
