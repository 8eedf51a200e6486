import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { Login } from '../src/components/Login';
import { mockGraphQL } from './helpers';

function fill(email: string, password: string) {
  fireEvent.input(screen.getByLabelText('メールアドレス'), { target: { value: email } });
  fireEvent.input(screen.getByLabelText('パスワード'), { target: { value: password } });
  fireEvent.click(screen.getByRole('button', { name: 'ログイン' }));
}

describe('Login', () => {
  it('signs in and hands the user over', async () => {
    const calls = mockGraphQL(() => ({ data: { login: { user: { id: 'US1', email: 'a@example.jp', name: 'オーナー', role: 'OWNER' }, expiresAt: '2030-01-01T00:00:00Z' } } }));
    let got: unknown = null;
    render(<Login onLoggedIn={(s) => { got = s; }} />);
    fill(' a@example.jp ', 'Passw0rd!');
    await waitFor(() => expect(got).toEqual({ user: { id: 'US1', email: 'a@example.jp', name: 'オーナー', role: 'OWNER' } }));
    expect(calls[0]).toEqual({ op: 'Login', variables: { email: 'a@example.jp', password: 'Passw0rd!' } });
  });

  it('shows the lockout message from the server', async () => {
    mockGraphQL(() => ({ errors: [{ message: 'パスワードを5回間違えたため、12:30 までロックされています', extensions: { code: 'FORBIDDEN' } }] }));
    render(<Login onLoggedIn={() => {}} />);
    fill('a@example.jp', 'wrong');
    expect((await screen.findByTestId('login-error')).textContent).toContain('ロックされています');
  });

  it('puts a field error next to its field', async () => {
    mockGraphQL(() => ({ errors: [{ message: 'メールアドレスの形式が正しくありません', extensions: { code: 'BAD_USER_INPUT', field: 'email' } }] }));
    render(<Login onLoggedIn={() => {}} />);
    fill('nope', 'x');
    const err = await screen.findByText('メールアドレスの形式が正しくありません');
    const input = screen.getByLabelText('メールアドレス');
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(input.getAttribute('aria-describedby')).toBe(err.id);
    expect(screen.queryByTestId('login-error')).toBeNull();
  });

  it('says which field is empty instead of greying out ログイン', async () => {
    const calls = mockGraphQL(() => { throw new Error('nothing should be sent'); });
    render(<Login onLoggedIn={() => {}} />);
    fireEvent.input(screen.getByLabelText('メールアドレス'), { target: { value: 'a@example.jp' } });
    const btn = screen.getByRole('button', { name: 'ログイン' });
    expect(btn.hasAttribute('disabled')).toBe(false);
    fireEvent.click(btn);
    const err = await screen.findByText('パスワードを入力してください');
    const input = screen.getByLabelText('パスワード');
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(input.getAttribute('aria-describedby')).toBe(err.id);
    expect(document.activeElement).toBe(input);
    expect(screen.getByLabelText('メールアドレス').getAttribute('aria-invalid')).toBe('false');
    expect(calls).toHaveLength(0);
  });

  it('is the main landmark of the page, headed regicam', () => {
    mockGraphQL(() => ({}));
    render(<Login onLoggedIn={() => {}} />);
    expect(screen.getByRole('main').contains(screen.getByRole('heading', { level: 1, name: 'regicam' }))).toBe(true);
  });
});
