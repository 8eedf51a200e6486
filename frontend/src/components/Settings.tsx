// 設定: your password; for OWNER/ADMIN also cameras, recording, camera clouds, shops,
// alert rules, API keys for partners (shown once, revocable) and the
// account's users.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { ApiKeys, ChangePassword, CreateApiKey, CreateUser, DeleteUser, RevokeApiKey, UnlockUser, UpdateUserRole, Users } from '../gql/ops';
import type { ApiKeyRowFragment, UserRole, UserRowFragment } from '../gql/types';
import { dateTime, DEFAULT_TZ } from '../format';
import { isAdmin, type Session } from '../session';
import { Field, FieldError, useRequired } from './Field';
import { ConfirmDialog } from './Modal';
import { CameraSettings } from './CameraSettings';
import { RecordingSettings } from './RecordingSettings';
import { CameraCloudSettings } from './CameraCloud';
import { AlertSettings } from './AlertSettings';
import { DigestSettings } from './DigestSettings';
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
  // A camera-cloud sync adds, renames or retires cameras: the camera list reads them again.
  const [camerasVersion, setCamerasVersion] = useState(0);
  useEffect(() => {
    if (isAdmin(session)) gql(SetupProgress).then((d) => setProgress(d.setupProgress), () => {});
  }, []);
  return (
    <div class="stack">
      <h1 class="page-h">設定</h1>
      {progress && <SetupReminder progress={progress} />}
      {isAdmin(session) && (
        <>
          <CameraSettings key={camerasVersion} />
          <RecordingSettings key={camerasVersion} />
          <CameraCloudSettings onCamerasChanged={() => setCamerasVersion((v) => v + 1)} />
          <ShopSettings />
          <AlertSettings />
          <DigestSettings />
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
  const req = useRequired({
    currentPassword: !cur && '現在のパスワードを入力してください',
    newPassword: !next && '新しいパスワードを入力してください',
  });
  const submit = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => (f === 'currentPassword' ? 'pw-cur' : 'pw-new'))) return;
    setBusy(true); setErr(null); setDone(false);
    try {
      await gql(ChangePassword, { currentPassword: cur, newPassword: next });
      setCur(''); setNext(''); setDone(true); req.reset();
    } catch (x) { setErr(asApiError(x)); } finally { setBusy(false); }
  };
  const general = err?.generalErrors(['currentPassword', 'newPassword']) ?? [];
  return (
    <section class="panel" aria-labelledby="pw-h">
      <h2 id="pw-h">パスワード変更</h2>
      <form class="panel-body" onSubmit={submit} noValidate style="max-width:420px">
        {done && <div class="alert success" role="status">パスワードを変更しました</div>}
        {general.map((m) => <div class="alert" role="alert">{m}</div>)}
        <Field id="pw-cur" label="現在のパスワード" error={req.error('currentPassword') ?? err?.fieldError('currentPassword')}>
          {(a) => <input {...a} type="password" autoComplete="current-password" value={cur} onInput={(e) => setCur((e.target as HTMLInputElement).value)} />}
        </Field>
        <Field id="pw-new" label="新しいパスワード" error={req.error('newPassword') ?? err?.fieldError('newPassword')} hint="8文字以上で、数字・英大文字・英小文字を含めてください。直近4回と同じものは使えません。">
          {(a) => <input {...a} type="password" autoComplete="new-password" value={next} onInput={(e) => setNext((e.target as HTMLInputElement).value)} />}
        </Field>
        <button class="btn primary" type="submit" disabled={busy}>変更</button>
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
  const req = useRequired({
    name: !name.trim() && 'キーの名前を入力してください（どの連携に使うか分かる名前）',
    scopes: scopes.length === 0 && '権限を1つ以上選んでください',
  });

  const load = () => gql(ApiKeys).then((d) => setKeys(d.apiKeys), (e) => setLoadErr(e.message));
  useEffect(() => { void load(); }, []);

  const create = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => (f === 'name' ? 'key-name' : 'key-scope-0'))) return;
    setBusy(true); setErr(null); setCopied(false);
    try {
      const d = await gql(CreateApiKey, { name: name.trim(), scopes });
      setCreated({ key: d.createApiKey.key, name: d.createApiKey.apiKey.name });
      setName(''); req.reset();
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
  const scopesErr = req.error('scopes') ?? err?.fieldError('scopes');

  return (
    <section class="panel" aria-labelledby="keys-h" data-testid="api-keys">
      <h2 id="keys-h">API キー</h2>
      <div class="panel-body">
        <form onSubmit={create} noValidate style="display:flex;gap:14px;align-items:flex-end;flex-wrap:wrap">
          <Field id="key-name" label="名前" error={req.error('name') ?? err?.fieldError('name')}>
            {(a) => <input {...a} value={name} placeholder="例: 決済端末連携" onInput={(e) => setName((e.target as HTMLInputElement).value)} />}
          </Field>
          <fieldset class="field checks" aria-describedby={scopesErr ? 'key-scopes-err' : undefined}>
            <legend>権限</legend>
            <div class="check-row">
              {SCOPES.map(([s, label], i) => (
                <label class="check">
                  <input type="checkbox" id={'key-scope-' + i} aria-invalid={!!scopesErr} checked={scopes.includes(s)} onChange={() => setScopes((x) => (x.includes(s) ? x.filter((y) => y !== s) : [...x, s]))} />
                  {label} <span class="hint mono">{s}</span>
                </label>
              ))}
            </div>
            {scopesErr && <FieldError id="key-scopes-err">{scopesErr}</FieldError>}
          </fieldset>
          <button class="btn primary" type="submit" style="margin-bottom:14px" disabled={busy}>キーを作成</button>
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
          <thead><tr><th>名前</th><th>キー</th><th>権限</th><th>作成</th><th>最終利用</th><th>状態</th><th><span class="sr-only">操作</span></th></tr></thead>
          <tbody>
            {keys.map((k) => {
              const expired = !!k.expiresAt && Date.parse(k.expiresAt) < Date.now();
              return (
                <tr>
                  <td data-label="名前">{k.name}</td>
                  <td data-label="キー" class="mono">rk_{k.prefix}_…</td>
                  <td data-label="権限" class="mono">{k.scopes.join(', ')}</td>
                  <td data-label="作成">{when(k.createdAt)}</td>
                  <td data-label="最終利用">{when(k.lastUsedAt)}</td>
                  <td data-label="状態">{k.revokedAt ? <span class="status-bad">失効 {when(k.revokedAt)}</span> : expired ? <span class="status-bad">期限切れ</span> : <span class="status-ok">有効</span>}</td>
                  <td class="row-actions">{!k.revokedAt && <button class="btn small danger" onClick={() => setRevoking(k)}>失効させる</button>}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {revoking && (
        <ConfirmDialog title="API キーの失効" action="失効させる" onConfirm={revoke} onClose={() => setRevoking(null)} testid="confirm-revoke">
          <p>「{revoking.name}」({revoking.prefix}…) を失効させますか？ このキーを使う連携はすぐに使えなくなります。</p>
        </ConfirmDialog>
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
  const req = useRequired({
    email: !form.email.trim() && 'メールアドレスを入力してください',
    password: !form.password && '初期パスワードを入力してください',
  });

  const load = () => gql(Users).then((d) => setUsers(d.users), (e) => setLoadErr(e.message));
  useEffect(() => { void load(); }, []);
  const set = (k: keyof typeof form) => (e: Event) => setForm((f) => ({ ...f, [k]: (e.target as HTMLInputElement).value }));

  const create = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => 'u-' + f)) return;
    setBusy(true); setErr(null);
    try {
      await gql(CreateUser, { input: { email: form.email.trim(), name: form.name.trim() || null, password: form.password, role: form.role } });
      setForm({ email: '', name: '', password: '', role: 'STAFF' }); req.reset();
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
          <thead><tr><th>メールアドレス</th><th>名前</th><th>権限</th><th>状態</th><th><span class="sr-only">操作</span></th></tr></thead>
          <tbody>
            {users.map((u) => {
              const locked = !!u.lockedUntil && Date.parse(u.lockedUntil) > Date.now();
              return (
                <tr>
                  <td data-label="メールアドレス">{u.email}{u.id === me && <span class="hint">（あなた）</span>}</td>
                  <td data-label="名前">{u.name || '—'}</td>
                  <td data-label="権限">
                    <select class="input" aria-label={`${u.email} の権限`} value={u.role} disabled={u.id === me}
                      onChange={(e) => act(() => gql(UpdateUserRole, { id: u.id, role: (e.target as HTMLSelectElement).value as UserRole }))}>
                      {ROLES.map(([r, label]) => <option value={r}>{label}</option>)}
                    </select>
                  </td>
                  <td data-label="状態">{locked ? <><span class="status-bad">ロック中 ({when(u.lockedUntil)} まで)</span> <button class="btn small" onClick={() => act(() => gql(UnlockUser, { id: u.id }))}>ロック解除</button></> : <span class="status-ok">有効</span>}</td>
                  <td class="row-actions">{u.id !== me && <button class="btn small danger" onClick={() => setDeleting(u)}>削除</button>}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <form class="panel-body" onSubmit={create} noValidate style="border-top:1px solid var(--line)">
        <h3 class="sub-h">ユーザーを追加</h3>
        {general.map((m) => <div class="alert" role="alert">{m}</div>)}
        <div class="form-grid">
          <Field id="u-email" label="メールアドレス" error={req.error('email') ?? err?.fieldError('email')}>
            {(a) => <input {...a} type="email" value={form.email} onInput={set('email')} autoComplete="off" />}
          </Field>
          <Field id="u-name" label="名前" error={err?.fieldError('name')}>
            {(a) => <input {...a} value={form.name} onInput={set('name')} autoComplete="off" />}
          </Field>
          <Field id="u-password" label="初期パスワード" error={req.error('password') ?? err?.fieldError('password')} hint="8文字以上・数字/英大文字/英小文字を含む">
            {(a) => <input {...a} type="password" value={form.password} onInput={set('password')} autoComplete="new-password" />}
          </Field>
          <Field id="u-role" label="権限" error={err?.fieldError('role')}>
            {(a) => <select {...a} value={form.role} onChange={set('role')}>{ROLES.map(([r, label]) => <option value={r}>{label}</option>)}</select>}
          </Field>
        </div>
        <button class="btn primary" type="submit" disabled={busy}>追加</button>
      </form>
      {deleting && (
        <ConfirmDialog title="ユーザーの削除" action="削除する" testid="confirm-delete-user" onClose={() => setDeleting(null)}
          onConfirm={() => { const u = deleting; setDeleting(null); void act(() => gql(DeleteUser, { id: u.id })); }}>
          <p>{deleting.email} を削除しますか？ ログイン中のセッションも終了します。</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
