import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { CameraSettings } from '../src/components/CameraSettings';
import { mockGraphQL } from './helpers';

const cam = (over: Record<string, unknown> = {}) => ({
  id: 'CA1', name: '自宅カメラ', model: 'CC-2L_SF', deviceID: '201000192', posOption: true, label: '自宅カメラ (CC-2L_SF : 201000192)',
  sourceKind: 'SNAPSHOT', sourceURL: 'http://192.168.1.20/snapshot.jpg', hasSourceCredentials: true, sourceStatus: '', retiredAt: null,
  status: { recording: true, online: false, lastSeenAt: '2030-01-01T00:00:00Z', lastError: 'カメラに接続できません' }, ...over,
});

describe('CameraSettings', () => {
  it('lists cameras with their status and the reason they are offline', async () => {
    mockGraphQL((op) => (op === 'CameraList' ? { data: { cameras: { edges: [{ node: cam() }, { node: cam({ id: 'CA2', deviceID: '9', name: '倉庫', sourceKind: null, sourceURL: null, hasSourceCredentials: false, status: { recording: false, online: false, lastSeenAt: null, lastError: null } }) }] } } } : undefined));
    render(<CameraSettings />);
    const row = (await screen.findByText('自宅カメラ')).closest('tr')!;
    expect(row.textContent).toContain('録画中・オフライン');
    expect(row.textContent).toContain('カメラに接続できません');
    expect(row.textContent).toContain('認証情報あり');
    const other = screen.getByText('倉庫').closest('tr')!;
    expect(other.textContent).toContain('録画していません');
    expect(within(other).getByRole('button', { name: '接続テスト' }).hasAttribute('disabled')).toBe(true);
  });

  it('retires a camera: refused while it watches registers, listed, then forced', async () => {
    const calls = mockGraphQL((op, v) => {
      if (op === 'CameraList') return { data: { cameras: { edges: [{ node: cam() }] } } };
      if (op === 'RetireCamera') {
        return v.force
          ? { data: { retireCamera: { camera: { id: 'CA1', retiredAt: '2030-01-01T00:00:00Z' }, watchedTerminals: [] } } }
          : { data: { retireCamera: { camera: null, watchedTerminals: [{ id: 'TE9', externalID: '9', name: '端末 9' }, { id: 'TE2', externalID: 'T-2', name: 'T-2' }] } } };
      }
      throw new Error('unexpected ' + op);
    });
    render(<CameraSettings />);
    fireEvent.click(await screen.findByRole('button', { name: '撤去' }));
    const dlg = within(screen.getByTestId('retire-camera'));
    expect(document.activeElement).toBe(dlg.getByRole('button', { name: 'キャンセル' }));
    expect(dlg.getByRole('button', { name: '撤去する' }).classList.contains('danger-solid')).toBe(true);
    fireEvent.click(dlg.getByRole('button', { name: '撤去する' }));
    const list = await dlg.findByTestId('watched-terminals');
    expect(list.textContent).toContain('端末ID 9（端末 9）');
    expect(list.textContent).toContain('端末ID T-2');
    // The second, graver question starts on キャンセル too.
    await waitFor(() => expect(document.activeElement).toBe(dlg.getByRole('button', { name: 'キャンセル' })));
    fireEvent.click(dlg.getByRole('button', { name: '紐づけを終了して撤去する' }));
    await waitFor(() => expect(screen.queryByTestId('retire-camera')).toBeNull());
    expect(calls.filter((c) => c.op === 'RetireCamera').map((c) => c.variables)).toEqual([{ id: 'CA1', force: false }, { id: 'CA1', force: true }]);
    expect(calls.filter((c) => c.op === 'CameraList')).toHaveLength(2);
  });
});
