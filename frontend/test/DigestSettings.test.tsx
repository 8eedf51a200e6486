// 設定 › メール・日報: the stored password is never prefilled (「保存済み」
// instead), an empty password field keeps it, テスト送信 says the server's
// refusal in words, a digest rule shows its error and 今すぐ送る sends it.
import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { DigestSettings } from '../src/components/DigestSettings';
import { mockGraphQL } from './helpers';

const mail = { host: 'smtp.example.jp', port: 587, security: 'STARTTLS', username: 'shop', hasPassword: true, fromAddress: 'regicam@example.jp', fromName: '日報', updatedAt: '2030-01-01T00:00:00Z' };
const rule = { id: 'DR1', name: '店長あて', recipients: ['tencho@example.jp'], sendAt: '22:00', enabled: true, status: 'ERROR', lastError: '送り先のサーバーが受け取りを拒否しました', lastSentAt: '2030-01-01T13:00:00Z', shops: [] };

function setup(extra: (op: string, v: any) => unknown = () => undefined) {
  return mockGraphQL((op, v) => {
    const r = extra(op, v);
    if (r) return r;
    if (op === 'DigestSettings') return { data: { mailSettings: mail, digestRules: [rule], shops: { edges: [{ node: { id: 'SH1', name: '渋谷店' } }] } } };
    throw new Error('unexpected ' + op);
  });
}

describe('DigestSettings', () => {
  it('never prefills the password and keeps the stored one when left empty', async () => {
    const calls = setup((op, v) => (op === 'SetMailSettings' ? { data: { setMailSettings: { ...mail, host: v.input.host, updatedAt: '2030-01-02T00:00:00Z' } } } : undefined));
    render(<DigestSettings tz="Asia/Tokyo" />);
    const form = within(await screen.findByTestId('mail-form'));
    expect(form.getByTestId('password-saved').textContent).toBe('保存済み');
    const pw = form.getByLabelText(/^パスワード/) as HTMLInputElement;
    expect(pw.type).toBe('password');
    expect(pw.value).toBe('');
    fireEvent.input(form.getByLabelText('サーバー名'), { target: { value: 'mail.example.jp' } });
    fireEvent.click(form.getByRole('button', { name: '保存' }));
    expect(await screen.findByText('メールの設定を保存しました')).toBeTruthy();
    const input = calls.find((c) => c.op === 'SetMailSettings')!.variables.input;
    expect(input).toEqual({ host: 'mail.example.jp', port: 587, security: 'STARTTLS', username: 'shop', fromAddress: 'regicam@example.jp', fromName: '日報' });
    expect('password' in input).toBe(false);
  });

  it('sends a typed password, and TLS moves the usual port to 465', async () => {
    const calls = setup((op) => (op === 'SetMailSettings' ? { data: { setMailSettings: mail } } : undefined));
    render(<DigestSettings />);
    const form = within(await screen.findByTestId('mail-form'));
    fireEvent.change(form.getByLabelText('暗号化'), { target: { value: 'TLS' } });
    expect((form.getByLabelText('ポート') as HTMLInputElement).value).toBe('465');
    fireEvent.input(form.getByLabelText(/^パスワード/), { target: { value: 'n3w-secret' } });
    fireEvent.click(form.getByRole('button', { name: '保存' }));
    await waitFor(() => expect(calls.some((c) => c.op === 'SetMailSettings')).toBe(true));
    expect(calls.find((c) => c.op === 'SetMailSettings')!.variables.input).toMatchObject({ security: 'TLS', port: 465, password: 'n3w-secret' });
    await screen.findByText('メールの設定を保存しました');
    expect((screen.getByLabelText(/^パスワード/) as HTMLInputElement).value).toBe('');
  });

  it('テスト送信 shows the refusal; a digest shows its error and 今すぐ送る sends it', async () => {
    const calls = setup((op) => {
      if (op === 'TestMailSettings') return { errors: [{ message: 'メールサーバーがユーザー名かパスワードを受け付けませんでした', extensions: { code: 'BAD_USER_INPUT' } }] };
      if (op === 'SendDigestNow') return { data: { sendDigestNow: { ...rule, status: 'OK', lastError: '' } } };
      return undefined;
    });
    render(<DigestSettings />);
    const form = within(await screen.findByTestId('mail-form'));
    fireEvent.input(form.getByLabelText('テスト送信先'), { target: { value: 'me@example.jp' } });
    fireEvent.click(form.getByRole('button', { name: 'テスト送信' }));
    expect((await form.findByTestId('mail-test-result')).textContent).toBe('メールサーバーがユーザー名かパスワードを受け付けませんでした');
    const row = within(screen.getByTestId('digest-rules').querySelector<HTMLElement>('tr[data-digest=DR1]')!);
    expect(row.getByText('送信エラー')).toBeTruthy();
    expect(row.getByText('送り先のサーバーが受け取りを拒否しました')).toBeTruthy();
    fireEvent.click(row.getByRole('button', { name: '今すぐ送る' }));
    await waitFor(() => expect(calls.find((c) => c.op === 'SendDigestNow')?.variables).toEqual({ id: 'DR1' }));
  });

  it('a digest needs a name, recipients and a time, named at their fields', async () => {
    const calls = setup((op) => (op === 'CreateDigestRule' ? { data: { createDigestRule: rule } } : undefined));
    render(<DigestSettings />);
    const form = within(await screen.findByTestId('digest-form'));
    fireEvent.click(form.getByRole('button', { name: '日報を追加' }));
    expect(await form.findByText('日報の名前を入力してください')).toBeTruthy();
    expect(form.getByText('送り先のメールアドレスを入力してください')).toBeTruthy();
    fireEvent.input(form.getByLabelText('名前'), { target: { value: '本部' } });
    fireEvent.input(form.getByLabelText('送り先（「、」で区切る）'), { target: { value: 'a@example.jp、b@example.jp' } });
    fireEvent.click(form.getByLabelText('渋谷店'));
    fireEvent.click(form.getByRole('button', { name: '日報を追加' }));
    await form.findByText('日報「本部」を追加しました');
    expect(calls.find((c) => c.op === 'CreateDigestRule')!.variables.input).toEqual({ name: '本部', recipients: ['a@example.jp', 'b@example.jp'], shopIDs: ['SH1'], sendAt: '22:00', enabled: true });
  });
});
