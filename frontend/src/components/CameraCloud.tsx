// 設定 › カメラクラウド（Safie）: the account's camera-cloud connections.
// An API key (or an OAuth grant when the server has a Safie client) lets
// regicam read the cloud's devices; those with the POS option become
// cameras by themselves, named as the cloud names them, and their pictures
// of any past second come from the cloud's recording. The key is sealed on
// the server and never comes back: only its hint is shown.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { CameraCloud, ConnectCameraCloud, DisconnectCameraCloud, StartCameraCloudOAuth, SyncCameraCloud, UpdateCameraCloud } from '../gql/ops';
import type { CloudConnectionRowFragment } from '../gql/types';
import { ago, dateTime, DEFAULT_TZ } from '../format';
import { japanesePart, knownReason, messages } from '../errors/messages';
import { Field, FieldError, useRequired } from './Field';
import { ConfirmDialog, Modal } from './Modal';

type Conn = CloudConnectionRowFragment;
type CloudCamera = Conn['cameras'][number];

const asApiError = (x: unknown) => (x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));

/** The Safie key was refused: the owner fixes it at the API key field, even
 *  when the server did not name the field. */
function keyError(err: ApiError | null): string | undefined {
  if (!err) return undefined;
  return err.fieldError('apiKey') ?? err.errors.find((e) => e.extensions?.reason === 'SAFIE_AUTH' && !e.extensions?.field)?.message;
}
function generalOf(err: ApiError | null, fields: string[]): string[] {
  if (!err) return [];
  return err.errors
    .filter((e) => !(e.extensions?.reason === 'SAFIE_AUTH' && !e.extensions?.field))
    .filter((e) => !fields.some((f) => { const x = e.extensions?.field; return !!x && (x === f || x.endsWith('.' + f)); }))
    .map((e) => e.message);
}

/** What a connection's status means, in the owner's words. */
export function cloudStatus(c: Pick<Conn, 'status' | 'lastError'>): { ok: boolean; text: string; detail: string } {
  const detail = japanesePart(c.lastError);
  if (c.status === 'OK') return { ok: true, text: '正常', detail };
  if (c.status === 'NEEDS_REAUTH') return { ok: false, text: '要再設定', detail: detail || messages.SAFIE_AUTH };
  return { ok: false, text: 'エラー', detail: detail || messages.SAFIE_UNREACHABLE };
}

/** A cloud camera's marks: クラウド always, 録画停止中 while the cloud says it does not record. */
export function CloudBadges({ streaming, retired }: { streaming?: boolean | null; retired?: boolean }) {
  return (
    <>
      <span class="badge cloud">クラウド</span>
      {streaming === false && !retired && <span class="badge warn">録画停止中</span>}
      {retired && <span class="badge mark">撤去済</span>}
    </>
  );
}

export function CameraCloudSettings({ tz = DEFAULT_TZ, onCamerasChanged }: { tz?: string; onCamerasChanged?: () => void }) {
  const [conns, setConns] = useState<Conn[] | null>(null);
  const [oauth, setOAuth] = useState(false);
  const [loadErr, setLoadErr] = useState<string | null>(null);
  const [rowErr, setRowErr] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [syncing, setSyncing] = useState<string | null>(null);
  const [rekey, setRekey] = useState<Conn | null>(null);
  const [removing, setRemoving] = useState<Conn | null>(null);

  // Back from Safie's consent page (camcloud's OAuth callback):
  // ?cameraCloud=connected, or ?cameraCloud=error&reason=…. The words come
  // only from our own table, as the address is anyone's to write.
  const [back] = useState(() => {
    const q = new URLSearchParams(location.search);
    const r = { connected: q.get('cameraCloud') === 'connected', reason: q.get('cameraCloud') === 'error' ? q.get('reason') ?? '' : null };
    // Read once: a reload does not say it again.
    if (q.has('cameraCloud')) history.replaceState(null, '', location.pathname + location.hash);
    return r;
  });

  const load = () => gql(CameraCloud).then((d) => { setConns(d.cameraCloudConnections); setOAuth(d.cameraCloudOAuthAvailable); setLoadErr(null); }, (e) => setLoadErr(e.message));
  useEffect(() => { void load(); }, []);

  const sync = async (c: Conn) => {
    setSyncing(c.id); setRowErr(null); setNotice(null);
    try {
      const d = await gql(SyncCameraCloud, { id: c.id });
      setConns((cs) => cs && cs.map((x) => (x.id === c.id ? d.syncCameraCloud : x)));
      setNotice(`「${c.name}」を同期しました`);
      onCamerasChanged?.();
    } catch (x) { setRowErr(asApiError(x).message); } finally { setSyncing(null); }
  };
  const disconnect = async () => {
    const c = removing;
    setRemoving(null);
    if (!c) return;
    setRowErr(null);
    try {
      await gql(DisconnectCameraCloud, { id: c.id });
      setNotice(`「${c.name}」の接続を解除しました`);
      onCamerasChanged?.();
      void load();
    } catch (x) { setRowErr(asApiError(x).message); }
  };

  return (
    <section class="panel" aria-labelledby="cloud-h" data-testid="camera-cloud">
      <h2 id="cloud-h">カメラクラウド（Safie）</h2>
      <div class="panel-body">
        <p class="hint" style="margin-top:0">Safie のカメラのうち POS オプションのあるものが、そのままカメラとして登録されます。レシートの画像は Safie の録画から、その秒のものを取り寄せます。</p>
        {back.connected && <div class="alert success" role="status">Safie と接続しました。</div>}
        {back.reason !== null && <div class="alert" role="alert">Safie との接続に失敗しました。{knownReason(back.reason) ? messages[back.reason] : messages.SAFIE_UNREACHABLE}</div>}
        {notice && <div class="alert success" role="status">{notice}</div>}
        {rowErr && <div class="alert" role="alert">{rowErr}</div>}
        {loadErr && <div class="alert" role="alert">{loadErr}</div>}
      </div>
      {!conns ? (!loadErr && <div class="loading"><span class="spinner" />読み込み中…</div>) : conns.length === 0 ? (
        <div class="empty">接続しているカメラクラウドはありません。下のフォームから API キーで接続してください。</div>
      ) : (
        <table class="grid" data-testid="cloud-connections">
          <thead><tr><th>名前</th><th class="nowrap">認証方式</th><th>キー</th><th>状態</th><th class="nowrap">最終同期</th><th>カメラ</th><th><span class="sr-only">操作</span></th></tr></thead>
          <tbody>
            {conns.map((c) => {
              const st = cloudStatus(c);
              const live = c.cameras.filter((k) => !k.retiredAt);
              return (
                <tr data-connection={c.id}>
                  <td data-label="名前"><b>{c.name}</b>{c.optionItemID != null && <div class="hint">POS オプション ID {c.optionItemID}</div>}<div class="hint">保存 {c.retentionDays} 日</div></td>
                  <td data-label="認証方式" class="nowrap">{c.authKind === 'OAUTH' ? 'OAuth' : 'APIキー'}</td>
                  <td data-label="キー" class="mono nowrap">{c.secretHint || '—'}</td>
                  <td data-label="状態" data-testid="cloud-status">
                    <span class={st.ok ? 'status-ok' : 'status-bad'}>{st.text}</span>
                    {!st.ok && <div class="hint">{st.detail}</div>}
                    {st.ok && st.detail && <div class="hint">{st.detail}</div>}
                  </td>
                  <td data-label="最終同期" class="nowrap" title={c.lastSyncAt ? dateTime(c.lastSyncAt, tz) : undefined}>{ago(c.lastSyncAt)}</td>
                  <td data-label="カメラ">
                    <div>{live.length} 台</div>
                    <ul class="cloud-cams" data-testid="cloud-cameras">
                      {c.cameras.map((k: CloudCamera) => (
                        <li data-device={k.deviceID}>{k.name} <CloudBadges streaming={k.streaming} retired={!!k.retiredAt} /></li>
                      ))}
                    </ul>
                  </td>
                  <td class="row-actions">
                    <button class="btn small" disabled={syncing === c.id} onClick={() => void sync(c)}>{syncing === c.id ? '同期中…' : '今すぐ同期'}</button>
                    {c.authKind === 'API_KEY' ? (
                      <button class="btn small" onClick={() => setRekey(c)}>キーを更新</button>
                    ) : (
                      oauth && <OAuthButton small name={c.name} label="Safie で再ログイン" />
                    )}
                    <button class="btn small danger" onClick={() => setRemoving(c)}>接続を解除</button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <ConnectForm oauth={oauth} onConnected={(c) => { setNotice(`「${c.name}」を接続しました（POS オプションのカメラ ${c.cameras.filter((k) => !k.retiredAt).length} 台）`); onCamerasChanged?.(); void load(); }} />
      {rekey && <RekeyDialog conn={rekey} onClose={() => setRekey(null)} onDone={(c) => { setRekey(null); setNotice(`「${c.name}」の API キーを更新しました`); void load(); }} />}
      {removing && (
        <ConfirmDialog title="カメラクラウドの接続解除" action="接続を解除する" onConfirm={() => void disconnect()} onClose={() => setRemoving(null)} testid="confirm-disconnect-cloud">
          <p>「{removing.name}」の接続を解除しますか？</p>
          <p class="hint">この接続のカメラは撤去され、レジとの紐づけも終わります。これまでのレシートと画像は残ります。保存した API キーは削除されます。</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function OAuthButton({ name, optionItemID, retentionDays, label = 'Safie でログインして接続', small }: { name?: string; optionItemID?: number | null; retentionDays?: number | null; label?: string; small?: boolean }) {
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const start = async () => {
    setBusy(true); setErr(null);
    try {
      const d = await gql(StartCameraCloudOAuth, { input: { name: name || null, optionItemID: optionItemID ?? null, retentionDays: retentionDays ?? null } });
      location.assign(d.startCameraCloudOAuth.authorizeURL);
    } catch (x) { setErr(asApiError(x).message); setBusy(false); }
  };
  return (
    <>
      <button type="button" class={'btn' + (small ? ' small' : '')} disabled={busy} onClick={() => void start()}>{label}</button>
      {err && <FieldError>{err}</FieldError>}
    </>
  );
}

const CONNECT_FIELDS = ['name', 'apiKey', 'optionItemID', 'retentionDays'];
const CONNECT_IDS: Record<string, string> = { name: 'cc-name', apiKey: 'cc-key', optionItemID: 'cc-option', retentionDays: 'cc-days' };

/** A whole number typed in a field: null when empty, NaN when not a number. */
function intOf(s: string): number | null {
  const t = s.trim().replace(/[０-９]/g, (d) => String.fromCharCode(d.charCodeAt(0) - 0xfee0));
  if (!t) return null;
  return /^\d+$/.test(t) ? Number(t) : NaN;
}

export function ConnectForm({ oauth, onConnected }: { oauth: boolean; onConnected: (c: Conn) => void }) {
  const [v, setV] = useState({ name: '', apiKey: '', optionItemID: '', retentionDays: '7' });
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const set = (k: keyof typeof v) => (e: Event) => setV((o) => ({ ...o, [k]: (e.target as HTMLInputElement).value }));
  const option = intOf(v.optionItemID);
  const days = intOf(v.retentionDays);
  const req = useRequired({
    apiKey: !v.apiKey.trim() && 'API キーを入力してください（Safie の開発者向けサイトで発行したキーです）',
    optionItemID: Number.isNaN(option) && 'POS オプション ID は数字で入力してください',
    retentionDays: (days === null || Number.isNaN(days) || days < 1 || days > 365) && '録画の保存日数は 1〜365 の数字で入力してください',
  });
  const submit = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => CONNECT_IDS[f])) return;
    setBusy(true); setErr(null);
    try {
      const d = await gql(ConnectCameraCloud, { input: { provider: 'SAFIE', name: v.name.trim() || null, apiKey: v.apiKey.trim(), optionItemID: option, retentionDays: days } });
      setV({ name: '', apiKey: '', optionItemID: '', retentionDays: '7' }); req.reset();
      onConnected(d.connectCameraCloud);
    } catch (x) { setErr(asApiError(x)); } finally { setBusy(false); }
  };
  const general = generalOf(err, CONNECT_FIELDS);
  return (
    <form class="panel-body" onSubmit={submit} noValidate style="border-top:1px solid var(--line)" data-testid="cloud-connect">
      <h3 class="sub-h">API キーで接続</h3>
      {general.map((m) => <div class="alert" role="alert">{m}</div>)}
      <div class="form-grid">
        <Field id="cc-name" label="名前" error={err?.fieldError('name')} hint="空欄なら「Safie」">
          {(a) => <input {...a} value={v.name} placeholder="Safie" onInput={set('name')} autoComplete="off" />}
        </Field>
        <Field id="cc-key" label="APIキー" error={req.error('apiKey') ?? keyError(err)} hint="暗号化して保存し、以後は末尾だけを表示します">
          {(a) => <input {...a} type="password" value={v.apiKey} onInput={set('apiKey')} autoComplete="new-password" />}
        </Field>
        <Field id="cc-option" label="POSオプションID（任意）" error={req.error('optionItemID') ?? err?.fieldError('optionItemID')} hint="空欄ならサーバーの既定値">
          {(a) => <input {...a} value={v.optionItemID} onInput={set('optionItemID')} inputMode="numeric" autoComplete="off" />}
        </Field>
        <Field id="cc-days" label="録画の保存日数" error={req.error('retentionDays') ?? err?.fieldError('retentionDays')} hint="Safie のプランの録画保存期間">
          {(a) => <input {...a} value={v.retentionDays} onInput={set('retentionDays')} inputMode="numeric" autoComplete="off" />}
        </Field>
      </div>
      <div class="form-actions">
        <button class="btn primary" type="submit" disabled={busy}>{busy ? '確認中…' : 'API キーで接続'}</button>
        {oauth && <OAuthButton name={v.name.trim()} optionItemID={Number.isNaN(option) ? null : option} retentionDays={days !== null && !Number.isNaN(days) ? days : null} />}
      </div>
    </form>
  );
}

function RekeyDialog({ conn, onClose, onDone }: { conn: Conn; onClose: () => void; onDone: (c: Conn) => void }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const req = useRequired({ apiKey: !key.trim() && '新しい API キーを入力してください' });
  const submit = async (e: Event) => {
    e.preventDefault();
    if (req.blocked(() => 'rk-key')) return;
    setBusy(true); setErr(null);
    try {
      const d = await gql(UpdateCameraCloud, { id: conn.id, input: { apiKey: key.trim() } });
      onDone(d.updateCameraCloud);
    } catch (x) { setErr(asApiError(x)); } finally { setBusy(false); }
  };
  const general = generalOf(err, ['apiKey']);
  return (
    <Modal title="API キーの更新" onClose={onClose} testid="cloud-rekey">
      <form class="body" onSubmit={submit} noValidate>
        <p class="hint">「{conn.name}」の新しい API キーを入力してください。Safie が受け付けたときだけ置き換え、受け付けなければ今のキーのままです。カメラと履歴はそのまま残ります。</p>
        {general.map((m) => <div class="alert" role="alert">{m}</div>)}
        <Field id="rk-key" label="APIキー" error={req.error('apiKey') ?? keyError(err)}>
          {(a) => <input {...a} type="password" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} autoComplete="new-password" autoFocus />}
        </Field>
        <div class="actions">
          <button type="button" class="btn" onClick={onClose}>キャンセル</button>
          <button type="submit" class="btn primary" disabled={busy}>{busy ? '確認中…' : '更新'}</button>
        </div>
      </form>
    </Modal>
  );
}
