// ログイン: email and password; the server's messages (wrong password,
// lockout with its time, IP not allowed) are shown as it words them.
import { useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { Login as LoginOp } from '../gql/ops';
import type { Session } from '../session';
import { Field, useRequired } from './Field';

export function Login({ onLoggedIn }: { onLoggedIn: (s: Session) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const req = useRequired({
    email: !email.trim() && 'メールアドレスを入力してください',
    password: !password && 'パスワードを入力してください',
  });

  const submit = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => 'login-' + f)) return;
    setBusy(true);
    setErr(null);
    try {
      const d = await gql(LoginOp, { email: email.trim(), password });
      onLoggedIn({ user: d.login.user });
    } catch (x) {
      setErr(x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
    } finally {
      setBusy(false);
    }
  };

  const general = err?.generalErrors(['email', 'password']) ?? [];
  return (
    <main class="login-wrap">
      <form class="panel login" onSubmit={submit} noValidate aria-label="ログイン">
        <h1>regicam</h1>
        <p class="sub">レジ × カメラ ジャーナル</p>
        {general.map((m) => <div class="alert" role="alert" data-testid="login-error">{m}</div>)}
        <Field id="login-email" label="メールアドレス" error={req.error('email') ?? err?.fieldError('email')}>
          {(a) => <input {...a} type="email" autoComplete="username" required value={email} autoFocus
            onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />}
        </Field>
        <Field id="login-password" label="パスワード" error={req.error('password') ?? err?.fieldError('password')}>
          {(a) => <input {...a} type="password" autoComplete="current-password" required value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />}
        </Field>
        <button class="btn primary" type="submit" disabled={busy}>{busy ? 'ログイン中…' : 'ログイン'}</button>
      </form>
    </main>
  );
}
