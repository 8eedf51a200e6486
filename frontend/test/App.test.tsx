import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/preact';
import { App } from '../src/components/App';
import { mockGraphQL } from './helpers';

describe('App', () => {
  it('shows the login screen without a session, then the dashboard', async () => {
    let signedIn = false;
    const me = { id: 'US1', email: 'owner@example.jp', name: '店長', role: 'OWNER' };
    mockGraphQL((op) => {
      if (op === 'Me') return signedIn ? { data: { me } } : { errors: [{ message: 'ログインしてください', extensions: { code: 'UNAUTHENTICATED' } }] };
      if (op === 'Login') { signedIn = true; return { data: { login: { user: me, expiresAt: '2030-01-01T00:00:00Z' } } }; }
      if (op === 'DashboardCameras') return { data: { cameras: { edges: [] }, shops: { edges: [] } } };
      if (op === 'SetupProgress') return { data: { setupProgress: { hasCamera: true, hasShop: true, hasConnection: true, hasLink: true, hasReceipt: false, complete: false } } };
      throw new Error('unexpected ' + op);
    });
    render(<App />);
    fireEvent.input(await screen.findByLabelText('メールアドレス'), { target: { value: 'owner@example.jp' } });
    fireEvent.input(screen.getByLabelText('パスワード'), { target: { value: 'Passw0rd' } });
    fireEvent.click(screen.getByRole('button', { name: 'ログイン' }));
    expect(await screen.findByText(/カメラが登録されていません/)).toBeTruthy();
    expect(screen.getByTestId('me').textContent).toBe('店長');
    expect(screen.getByRole('link', { name: 'ダッシュボード' }).getAttribute('aria-current')).toBe('page');
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('regicam ダッシュボード');
    expect(screen.getByRole('main')).toBeTruthy();
  });

  it('lands a new account on the setup checklist after sign-in', async () => {
    history.replaceState(null, '', '/#/');
    const me = { id: 'US1', email: 'owner@example.jp', name: '', role: 'OWNER' };
    const none = { hasCamera: false, hasShop: false, hasConnection: false, hasLink: false, hasReceipt: false, complete: false };
    mockGraphQL((op) => {
      if (op === 'Me') return { data: { me } };
      if (op === 'DashboardCameras') return { data: { cameras: { edges: [] }, shops: { edges: [] } } };
      if (op === 'SetupProgress') return { data: { setupProgress: none } };
      if (op === 'SetupData') return { data: { setupProgress: none, cameras: { edges: [] }, shops: { edges: [] }, links: [], linkableCameras: [], ubiregiAvailable: false } };
      throw new Error('unexpected ' + op);
    });
    render(<App />);
    expect(await screen.findByRole('heading', { name: '初期設定' }, { timeout: 5000 })).toBeTruthy();
    expect(location.hash).toBe('#/setup');
    history.replaceState(null, '', '/');
  });
});
