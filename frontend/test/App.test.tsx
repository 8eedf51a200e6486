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
      throw new Error('unexpected ' + op);
    });
    render(<App />);
    fireEvent.input(await screen.findByLabelText('メールアドレス'), { target: { value: 'owner@example.jp' } });
    fireEvent.input(screen.getByLabelText('パスワード'), { target: { value: 'Passw0rd' } });
    fireEvent.click(screen.getByRole('button', { name: 'ログイン' }));
    expect(await screen.findByText('カメラが登録されていません')).toBeTruthy();
    expect(screen.getByTestId('me').textContent).toBe('店長');
    expect(screen.getByRole('link', { name: 'ダッシュボード' }).getAttribute('aria-current')).toBe('page');
  });
});
