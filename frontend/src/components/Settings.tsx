// 設定: your password; for OWNER/ADMIN also API keys for partners (shown
// once, revocable) and the account's users.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { ApiKeys, ChangePassword, CreateApiKey, CreateUser, DeleteUser, RevokeApiKey, UnlockUser, UpdateUserRole, Users } from '../gql/ops';
import type { ApiKeyRowFragment, UserRole, UserRowFragment } from '../gql/types';
import { dateTime, DEFAULT_TZ } from '../format';
import { isAdmin, type Session } from '../session';
import { Field } from './Field';
import { Modal } from './Modal';
import { CameraSettings } from './CameraSettings';
import { ShopSettings } from './ShopSettings';
import { SetupReminder } from './Setup';
import { SetupProgress } from '../gql/ops';
import type { ProgressFragment } from '../gql/types';

const asApiError = (x: unknown) => (x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
const when = (t: string | null | undefined) => (t ? dateTime(t, DEFAULT_TZ) : '—');
const ROLES: [UserRole, string][] = [['OWNER', 'オーナー'], ['ADMIN', '管理者'], ['STAFF', 'スタッフ']];
const SCOPES: [string, string][] = [['journal:read', 'ジャーナル閲覧'], ['journal:write', 'ジャーナル送信 (ingest)'], ['links:write', '連携設定']];

export function Settings({ session }: { session: Session }) {
  const [progress, setProgress] = useState<ProgressFragment | null>(null);
  useEffect(() => {
    if (isAdmin(session)) gql(SetupProgress).then((d) => setProgress(d.setupProgress), () => {});
  }, []);
  return (
    <div class="stack">
      <h1 style="margin:0;font-size:18px">設定</h1>
      {progress && <SetupReminder progress={progress} />}
      {isAdmin(session) && (
        <>
          <CameraSettings />
          <ShopSettings />
        </>
      )}
      <PasswordPanel />
      {isAdmin(session) ? (
        <>
          <ApiKeysPanel />
          <UsersPanel me={session.user.id} />
        </>
      ) : (
        <div class="panel empty">API キーとユーザーの管理はオーナーまたは管理者だけが行えます。</div>
      )}
    </div>
  );
}

function PasswordPanel() {
  const [cur, setCur] = useState('');
  const [next, setNext] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const [done, setDone] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true); setErr(null); setDone(false);
    try {
      await gql(ChangePassword, { currentPassword: cur, newPassword: next });
      setCur(''); setNext(''); setDone(true);
    } catch (x) { setErr(asApiError(x)); } finally { setBusy(false); }
  };
  const general = err?.generalErrors(['currentPassword', 'newPassword']) ?? [];
  return (
    <section class="panel" aria-labelledby="pw-h">
      <h2 id="pw-h">パスワード変更</h2>
      <form class="panel-body" onSubmit={submit} noValidate style="max-width:420px">
        {done && <div class="alert success" role="status">パスワードを変更しました</div>}
        {general.map((m) => <div class="alert" role="alert">{m}</div>)}
        <Field id="pw-cur" label="現在のパスワード" error={err?.fieldError('currentPassword')}>
          {(a) => <input {...a} type="password" autoComplete="current-password" value={cur} onInput={(e) => setCur((e.target as HTMLInputElement).value)} />}
        </Field>
        <Field id="pw-new" label="新しいパスワード" error={err?.fieldError('newPassword')} hint="8文字以上で、数字・英大文字・英小文字を含めてください。直近4回と同じものは使えません。">
          {(a) => <input {...a} type="password" autoComplete="new-password" value={next} onInput={(e) => setNext((e.target as HTMLInputElement).value)} />}
        </Field>
        <button class="btn primary" type="submit" disabled={busy || !cur || !next}>変更</button>
      </form>
    </section>
  );
}

function ApiKeysPanel() {
  const [keys, setKeys] = useState<ApiKeyRowFragment[] | null>(null);
  const [loadErr, setLoadErr] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['journal:read']);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const [created, setCreated] = useState<{ key: string; name: string } | null>(null);
  const [copied, setCopied] = useState(false);
  const [revoking, setRevoking] = useState<ApiKeyRowFragment | null>(null);

  const load = () => gql(ApiKeys).then((d) => setKeys(d.apiKeys), (e) => setLoadErr(e.message));
  useEffect(() => { void load(); }, []);

  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true); setErr(null); setCopied(false);
    try {
      const d = await gql(CreateApiKey, { name: name.trim(), scopes });
      setCreated({ key: d.createApiKey.key, name: d.createApiKey.apiKey.name });
      setName('');
      void load();
    } catch (x) { setErr(asApiError(x)); } finally { setBusy(false); }
  };
  const copy = async () => {
    if (!created) return;
    try { await navigator.clipboard.writeText(created.key); setCopied(true); } catch { setCopied(false); }
  };
  const revoke = async () => {
    if (!revoking) return;
    try { await gql(RevokeApiKey, { id: revoking.id }); void load(); } catch (x) { setErr(asApiError(x)); }
    setRevoking(null);
  };
  const general = err?.generalErrors(['name', 'scopes']) ?? [];

  return (
    <section class="panel" aria-labelledby="keys-h" data-testid="api-keys">
      <h2 id="keys-h">API キー</h2>
      <div class="panel-body">
        <form onSubmit={create} noValidate style="display:flex;gap:14px;align-items:flex-end;flex-wrap:wrap">
          <Field id="key-name" label="名前" error={err?.fieldError('name')}>
            {(a) => <input {...a} value={name} placeholder="例: 決済端末連携" onInput={(e) => setName((e.target as HTMLInputElement).value)} />}
          </Field>
          <fieldset class="field" style="border:0;padding:0;margin:0 0 14px">
            <legend style="font-weight:600;font-size:13px;margin-bottom:4px">権限</legend>
            <div style="display:flex;gap:12px;flex-wrap:wrap">
              {SCOPES.map(([s, label]) => (
                <label style="display:flex;gap:4px;align-items:center;font-weight:400">
                  <input type="checkbox" checked={scopes.includes(s)} onChange={() => setScopes((x) => (x.includes(s) ? x.filter((y) => y !== s) : [...x, s]))} />
                  {label} <span class="hint mono">{s}</span>
                </label>
              ))}
            </div>
            {err?.fieldError('scopes') && <span class="field-error" role="alert">{err.fieldError('scopes')}</span>}
          </fieldset>
          <button class="btn primary" type="submit" style="margin-bottom:14px" disabled={busy || !name.trim() || scopes.length === 0}>キーを作成</button>
        </form>
        {general.map((m) => <div class="alert" role="alert">{m}</div>)}
        {created && (
          <div role="status" data-testid="new-key">
            <div class="alert info">「{created.name}」のキーです。この画面を離れると二度と表示されません。今すぐコピーして保管してください。</div>
            <div class="secret-once">
              <code class="mono" style="flex:1" data-testid="new-key-value">{created.key}</code>
              <button class="btn" onClick={copy}>{copied ? 'コピーしました' : 'コピー'}</button>
              <button class="btn" onClick={() => setCreated(null)}>閉じる</button>
            </div>
          </div>
        )}
      </div>
      {loadErr && <div class="alert" role="alert">{loadErr}</div>}
      {!keys ? <div class="loading"><span class="spinner" />読み込み中…</div> : keys.length === 0 ? <div class="empty">API キーはまだありません</div> : (
        <table class="grid">
          <thead><tr><th>名前</th><th>キー</th><th>権限</th><th>作成</th><th>最終利用</th><th>状態</th><th /></tr></thead>
          <tbody>
            {keys.map((k) => {
              const expired = !!k.expiresAt && Date.parse(k.expiresAt) < Date.now();
              return (
                <tr>
                  <td>{k.name}</td>
                  <td class="mono">rk_{k.prefix}_…</td>
                  <td class="mono">{k.scopes.join(', ')}</td>
                  <td>{when(k.createdAt)}</td>
                  <td>{when(k.lastUsedAt)}</td>
                  <td>{k.revokedAt ? <span class="status-bad">失効 {when(k.revokedAt)}</span> : expired ? <span class="status-bad">期限切れ</span> : <span class="status-ok">有効</span>}</td>
                  <td>{!k.revokedAt && <button class="btn small danger" onClick={() => setRevoking(k)}>失効させる</button>}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {revoking && (
        <Modal title="API キーの失効" onClose={() => setRevoking(null)}>
          <div class="body">
            <p>「{revoking.name}」({revoking.prefix}…) を失効させますか？ このキーを使う連携はすぐに使えなくなります。</p>
            <div class="actions">
              <button class="btn" onClick={() => setRevoking(null)}>キャンセル</button>
              <button class="btn primary" onClick={revoke}>失効させる</button>
            </div>
          </div>
        </Modal>
      )}
    </section>
  );
}

function UsersPanel({ me }: { me: string }) {
  const [users, setUsers] = useState<UserRowFragment[] | null>(null);
  const [loadErr, setLoadErr] = useState<string | null>(null);
  const [form, setForm] = useState({ email: '', name: '', password: '', role: 'STAFF' as UserRole });
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const [rowErr, setRowErr] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<UserRowFragment | null>(null);

  const load = () => gql(Users).then((d) => setUsers(d.users), (e) => setLoadErr(e.message));
  useEffect(() => { void load(); }, []);
  const set = (k: keyof typeof form) => (e: Event) => setForm((f) => ({ ...f, [k]: (e.target as HTMLInputElement).value }));

  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true); setErr(null);
    try {
      await gql(CreateUser, { input: { email: form.email.trim(), name: form.name.trim() || null, password: form.password, role: form.role } });
      setForm({ email: '', name: '', password: '', role: 'STAFF' });
      void load();
    } catch (x) { setErr(asApiError(x)); } finally { setBusy(false); }
  };
  const act = async (f: () => Promise<unknown>) => {
    setRowErr(null);
    try { await f(); void load(); } catch (x) { setRowErr(asApiError(x).message); }
  };
  const general = err?.generalErrors(['email', 'name', 'password', 'role']) ?? [];

  return (
    <section class="panel" aria-labelledby="users-h" data-testid="users">
      <h2 id="users-h">ユーザー</h2>
      {loadErr && <div class="alert" role="alert">{loadErr}</div>}
      {rowErr && <div class="alert" role="alert" style="margin:8px 14px">{rowErr}</div>}
      {!users ? <div class="loading"><span class="spinner" />読み込み中…</div> : (
        <table class="grid">
          <thead><tr><th>メールアドレス</th><th>名前</th><th>権限</th><th>状態</th><th /></tr></thead>
          <tbody>
            {users.map((u) => {
              const locked = !!u.lockedUntil && Date.parse(u.lockedUntil) > Date.now();
              return (
                <tr>
                  <td>{u.email}{u.id === me && <span class="hint">（あなた）</span>}</td>
                  <td>{u.name || '—'}</td>
                  <td>
                    <select class="input" aria-label={`${u.email} の権限`} value={u.role} disabled={u.id === me}
                      onChange={(e) => act(() => gql(UpdateUserRole, { id: u.id, role: (e.target as HTMLSelectElement).value as UserRole }))}>
                      {ROLES.map(([r, label]) => <option value={r}>{label}</option>)}
                    </select>
                  </td>
                  <td>{locked ? <><span class="status-bad">ロック中 ({when(u.lockedUntil)} まで)</span> <button class="btn small" onClick={() => act(() => gql(UnlockUser, { id: u.id }))}>ロック解除</button></> : <span class="status-ok">有効</span>}</td>
                  <td>{u.id !== me && <button class="btn small danger" onClick={() => setDeleting(u)}>削除</button>}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <form class="panel-body" onSubmit={create} noValidate style="border-top:1px solid var(--line)">
        <h3 style="margin:0 0 10px;font-size:14px">ユーザーを追加</h3>
        {general.map((m) => <div class="alert" role="alert">{m}</div>)}
        <div style="display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:0 14px">
          <Field id="u-email" label="メールアドレス" error={err?.fieldError('email')}>
            {(a) => <input {...a} type="email" value={form.email} onInput={set('email')} autoComplete="off" />}
          </Field>
          <Field id="u-name" label="名前" error={err?.fieldError('name')}>
            {(a) => <input {...a} value={form.name} onInput={set('name')} autoComplete="off" />}
          </Field>
          <Field id="u-password" label="初期パスワード" error={err?.fieldError('password')} hint="8文字以上・数字/英大文字/英小文字を含む">
            {(a) => <input {...a} type="password" value={form.password} onInput={set('password')} autoComplete="new-password" />}
          </Field>
          <Field id="u-role" label="権限" error={err?.fieldError('role')}>
            {(a) => <select {...a} value={form.role} onChange={set('role')}>{ROLES.map(([r, label]) => <option value={r}>{label}</option>)}</select>}
          </Field>
        </div>
        <button class="btn primary" type="submit" disabled={busy || !form.email || !form.password}>追加</button>
      </form>
      {deleting && (
        <Modal title="ユーザーの削除" onClose={() => setDeleting(null)}>
          <div class="body">
            <p>{deleting.email} を削除しますか？ ログイン中のセッションも終了します。</p>
            <div class="actions">
              <button class="btn" onClick={() => setDeleting(null)}>キャンセル</button>
              <button class="btn primary" onClick={() => { const u = deleting; setDeleting(null); void act(() => gql(DeleteUser, { id: u.id })); }}>削除する</button>
            </div>
          </div>
        </Modal>
      )}
    </section>
  );
}
