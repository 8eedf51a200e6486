// カメラ - POS 認証連携ポータル: which camera watches which register.
// スマレジ設定 (add a link in one step, re-enter credentials), ユビレジ
// (OAuth2, a camera per register), both with a camera choice per register
// saved by 更新 and checkboxes + trash to end links.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { AddSmaregiLink, ConnectSmaregi, DeleteLinks, Portal as PortalOp, SetTerminalCameras, StartUbiregiOAuth } from '../gql/ops';
import type { LinkRowFragment, PortalQuery } from '../gql/types';
import { ago, cameraChoice, dateTime, DEFAULT_TZ } from '../format';
import { japanesePart, knownReason, messages } from '../errors/messages';
import { useRoute } from '../router';
import { Field, FieldError, useRequired } from './Field';
import { ConfirmDialog, Modal } from './Modal';
import { PlusIcon, TrashIcon } from './Icons';
import { FeedHealth } from './FeedHealth';

type Row = LinkRowFragment;
type Camera = PortalQuery['linkableCameras'][number];

export function Portal() {
  const route = useRoute();
  const [data, setData] = useState<PortalQuery | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [reauth, setReauth] = useState<Row | null>(null);

  // Each load remounts the tables (key), dropping checks and unsaved choices.
  const [version, setVersion] = useState(0);
  const load = () => gql(PortalOp).then((d) => { setData(d); setVersion((v) => v + 1); setError(null); }, (e) => setError(e.message));
  useEffect(() => { void load(); }, []);

  // Back from Ubiregi's consent page: /?connected=<id>#/portal or ?error=…
  // (read once, then dropped from the address so a reload does not repeat it).
  const [back] = useState(() => {
    const q = new URLSearchParams(location.search);
    const r = {
      connected: route.query.get('connected') ?? q.get('connected'),
      error: route.query.get('error') ?? q.get('error'),
      reason: route.query.get('reason') ?? q.get('reason') ?? undefined,
    };
    if (location.search) history.replaceState(null, '', location.pathname + location.hash);
    return r;
  });
  const connected = back.connected;
  // The way back from Ubiregi names its failure by reason. The words come
  // only from our own table: ?error= is part of an address anyone can
  // write, so showing its text would let a crafted link speak in our alert.
  const oauthError = back.error || back.reason
    ? (back.reason && knownReason(back.reason) ? messages[back.reason] : messages.UBIREGI_TOKEN_FAILED)
    : null;

  if (error && !data) return <div class="alert" role="alert">{error}</div>;
  if (!data) return <div class="loading"><span class="spinner" />読み込み中…</div>;
  return (
    <div class="stack">
      <h1 class="page-h">カメラ - POS 認証連携ポータル</h1>
      {connected && <div class="alert success" role="status">ユビレジと連携しました。端末ごとにカメラを選んで「更新」してください。</div>}
      {oauthError && <div class="alert" role="alert">ユビレジ連携に失敗しました。{oauthError}</div>}
      {error && <div class="alert" role="alert">{error}</div>}
      <LinkTable
        key={'s' + version}
        title="スマレジ設定"
        provider="SMAREGI"
        rows={data.smaregi}
        cameras={data.linkableCameras}
        onChanged={(msg) => { setNotice(msg); void load(); }}
        onReauth={setReauth}
        actions={<button class="btn primary icon" aria-label="新規設定追加" title="新規設定追加" onClick={() => setAdding(true)}><PlusIcon /></button>}
      />
      <LinkTable
        key={'u' + version}
        title="ユビレジ"
        provider="UBIREGI"
        rows={data.ubiregi}
        cameras={data.linkableCameras}
        onChanged={(msg) => { setNotice(msg); void load(); }}
        onReauth={() => void startUbiregi()}
        actions={<UbiregiButton available={data.ubiregiAvailable} />}
      />
      <FeedHealth key={'f' + version} />
      {adding && (
        <AddSmaregiDialog
          cameras={data.linkableCameras}
          onClose={() => setAdding(false)}
          onAdded={() => { setAdding(false); setNotice('スマレジ連携を追加しました'); void load(); }}
        />
      )}
      {reauth && (
        <ReauthDialog row={reauth} onClose={() => setReauth(null)}
          onDone={() => { setReauth(null); setNotice('認証情報を更新しました'); void load(); }} />
      )}
      {notice && (
        <Modal title="完了" onClose={() => setNotice(null)} testid="success">
          <div class="body">
            <p role="status">{notice}</p>
            <div class="actions"><button class="btn primary" data-autofocus onClick={() => setNotice(null)}>OK</button></div>
          </div>
        </Modal>
      )}
    </div>
  );
}

async function startUbiregi(returnTo = '/#/portal'): Promise<string | null> {
  try {
    const d = await gql(StartUbiregiOAuth, { returnTo });
    location.assign(d.startUbiregiOAuth.authorizeURL);
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

export function UbiregiButton({ available, returnTo }: { available: boolean; returnTo?: string }) {
  const [err, setErr] = useState<string | null>(null);
  return (
    <>
      {err && <FieldError>{err}</FieldError>}
      <button class="btn primary" disabled={!available} title={available ? undefined : 'このサーバーにはユビレジの OAuth クライアントが設定されていません'}
        onClick={async () => setErr(await startUbiregi(returnTo))}>Ubiregi OAuth2 連携</button>
    </>
  );
}

interface TableProps {
  title: string;
  provider: 'SMAREGI' | 'UBIREGI';
  rows: Row[];
  cameras: Camera[];
  actions: preact.ComponentChildren;
  onChanged: (message: string) => void;
  onReauth: (r: Row) => void;
}

function LinkTable({ title, provider, rows, cameras, actions, onChanged, onReauth }: TableProps) {
  const [checked, setChecked] = useState<Set<string>>(new Set());
  const [choice, setChoice] = useState<Record<string, string>>({});
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);

  const linkIDs = rows.flatMap((r) => (r.link ? [r.link.id] : []));
  const allChecked = linkIDs.length > 0 && linkIDs.every((id) => checked.has(id));
  const toggle = (id: string) => setChecked((s) => { const n = new Set(s); if (n.has(id)) n.delete(id); else n.add(id); return n; });
  const changed = rows.filter((r) => r.terminal && choice[r.id] !== undefined && choice[r.id] !== (r.camera?.id ?? ''));
  const rowsByTerminal = rows.filter((r) => r.terminal);

  const save = async () => {
    setBusy(true); setErr(null);
    try {
      await gql(SetTerminalCameras, { input: changed.map((r) => ({ terminalID: r.terminal!.id, cameraID: choice[r.id] || null })) });
      onChanged(`${changed.length} 件の端末のカメラを更新しました`);
    } catch (e) {
      setErr(e instanceof ApiError ? e : new ApiError([{ message: String(e) }]));
    } finally { setBusy(false); }
  };
  const remove = async () => {
    setBusy(true); setErr(null);
    try {
      const ids = [...checked];
      await gql(DeleteLinks, { ids });
      setConfirming(false);
      onChanged(`${ids.length} 件の連携を削除しました`);
    } catch (e) {
      setConfirming(false);
      setErr(e instanceof ApiError ? e : new ApiError([{ message: String(e) }]));
    } finally { setBusy(false); }
  };
  // setTerminalCameras names the item at fault: input[2].cameraID.
  const rowError = (r: Row) => {
    const i = changed.indexOf(r);
    if (!err || i < 0) return undefined;
    return err.errors.find((e) => e.extensions?.field?.startsWith(`input[${i}]`))?.message;
  };
  const headId = 'tbl-' + provider;

  return (
    <section class="panel" aria-labelledby={headId} data-testid={`table-${provider}`}>
      <div class="panel-head">
        <h2 id={headId}>{title}</h2>
        <div class="toolbar">
          <button class="btn danger icon" aria-label="選択した連携を削除" title="選択した連携を削除" disabled={checked.size === 0 || busy}
            onClick={() => setConfirming(true)}><TrashIcon /></button>
          {actions}
        </div>
      </div>
      {err && !changed.some(rowError) && err.errors.map((e) => <div class="alert" role="alert" style="margin:8px 14px">{e.message}</div>)}
      {rows.length === 0 ? (
        <div class="empty">{provider === 'SMAREGI' ? '設定がありません。「＋」(新規設定追加) から追加してください。' : '連携しているユビレジのアカウントはありません。'}</div>
      ) : (
        <div class="grid-scroll">
        <table class="grid">
          <thead>
            <tr>
              <th class="pick"><label class="tap"><input type="checkbox" aria-label="すべて選択" checked={allChecked} disabled={linkIDs.length === 0}
                onClick={() => setChecked(allChecked ? new Set() : new Set(linkIDs))} /></label></th>
              <th>{provider === 'SMAREGI' ? '契約ID' : 'アカウント'}</th>
              {provider === 'SMAREGI' && <th>クライアントシークレット</th>}
              <th>端末ID</th>
              <th>カメラ</th>
              <th>状態</th>
              <th>最終同期</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => {
              const rerr = rowError(r);
              const sel = choice[r.id] ?? r.camera?.id ?? '';
              return (
                <tr data-terminal={r.terminalExternalID} data-row={r.id}>
                  <td class="pick" data-label="選択">{r.link && <label class="tap"><input type="checkbox" aria-label={`端末 ${r.terminalExternalID} の連携を選択`} checked={checked.has(r.link.id)} onClick={() => toggle(r.link!.id)} /></label>}</td>
                  <td data-label={provider === 'SMAREGI' ? '契約ID' : 'アカウント'} class="mono">{r.contractID}</td>
                  {provider === 'SMAREGI' && <td data-label="クライアントシークレット" class="mono">{r.secretHint || '—'}</td>}
                  <td data-label="端末ID" class="mono">{r.terminal ? <>{r.terminalExternalID}{r.terminalName && !r.terminalName.endsWith(r.terminalExternalID) ? <span class="hint"> {r.terminalName}</span> : null}</> : <span class="hint">端末なし</span>}</td>
                  <td data-label="カメラ">
                    {r.terminal ? (
                      <>
                        <select class="input" aria-label={`端末 ${r.terminalExternalID} のカメラ`} aria-invalid={!!rerr} aria-describedby={rerr ? `row-err-${r.id}` : undefined} value={sel}
                          onChange={(e) => setChoice((c) => ({ ...c, [r.id]: (e.target as HTMLSelectElement).value }))}>
                          <option value="">（未連携）</option>
                          {cameras.map((c) => <option value={c.id}>{cameraChoice(c)}</option>)}
                          {r.camera && !cameras.some((c) => c.id === r.camera!.id) && <option value={r.camera.id}>{r.cameraLabel}</option>}
                        </select>
                        <ChosenCloud camera={cameras.find((c) => c.id === sel)} />
                        {rerr && <div><FieldError id={`row-err-${r.id}`}>{rerr}</FieldError></div>}
                      </>
                    ) : '—'}
                  </td>
                  <td data-label="状態">
                    {r.status === 'OK' ? <span class="status-ok">OK</span> : (
                      <span class="status-bad" title={japanesePart(r.lastError) || undefined}>{r.status === 'NEEDS_REAUTH' ? '要再設定' : 'エラー'} </span>
                    )}
                    {r.status !== 'OK' && <button class="btn small" onClick={() => onReauth(r)}>{provider === 'SMAREGI' ? '認証情報を更新' : '再連携'}</button>}
                    {r.status === 'ERROR' && japanesePart(r.lastError) && <div class="hint">{japanesePart(r.lastError)}</div>}
                  </td>
                  <td data-label="最終同期" title={r.lastSyncAt ? dateTime(r.lastSyncAt, DEFAULT_TZ) : undefined}>{ago(r.lastSyncAt)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        </div>
      )}
      {rowsByTerminal.length > 0 && (
        <div class="table-foot">
          {changed.length > 0 && <span class="hint">{changed.length} 件の変更</span>}
          <button class="btn primary" disabled={changed.length === 0 || busy} onClick={save}>更新</button>
        </div>
      )}
      {confirming && (
        <ConfirmDialog title="連携の削除" action="削除する" busy={busy} onConfirm={remove} onClose={() => setConfirming(false)} testid="confirm-delete">
          <p>選択した {checked.size} 件の連携を削除しますか？</p>
          <p class="hint">カメラとレジの紐付けだけを終了します。POS の契約、端末、これまでのジャーナルと画像は残ります。</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

/** The marks of a cloud camera chosen for a register: クラウド, and
 *  録画停止中 while the cloud says it does not record (its pictures then
 *  have gaps). */
function ChosenCloud({ camera }: { camera?: Camera }) {
  if (camera?.sourceKind !== 'CLOUD') return null;
  return (
    <div class="cloud-marks" data-testid="chosen-cloud">
      <span class="badge cloud">クラウド</span>
      {camera.streaming === false && <span class="badge warn">録画停止中</span>}
    </div>
  );
}

const ADD_FIELDS = ['contractID', 'clientID', 'clientSecret', 'terminalID', 'cameraID'] as const;
const ADD_IDS: Record<(typeof ADD_FIELDS)[number], string> = { contractID: 'add-contract', clientID: 'add-client', clientSecret: 'add-secret', terminalID: 'add-terminal', cameraID: 'add-camera' };

export function AddSmaregiDialog({ cameras, onClose, onAdded }: { cameras: Camera[]; onClose: () => void; onAdded: () => void }) {
  const [v, setV] = useState<Record<(typeof ADD_FIELDS)[number], string>>({ contractID: '', clientID: '', clientSecret: '', terminalID: '', cameraID: cameras[0]?.id ?? '' });
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const set = (k: keyof typeof v) => (e: Event) => setV((o) => ({ ...o, [k]: (e.target as HTMLInputElement).value }));
  const req = useRequired({
    contractID: !v.contractID.trim() && '契約IDを入力してください（スマレジの管理画面の右上に表示されています）',
    clientID: !v.clientID.trim() && 'クライアントIDを入力してください',
    clientSecret: !v.clientSecret && 'クライアントシークレットを入力してください',
    terminalID: !v.terminalID.trim() && '端末IDを入力してください（スマレジの「端末」一覧の番号です）',
    cameraID: !v.cameraID && (cameras.length ? 'カメラを選んでください' : 'POS オプションのあるカメラを先に追加してください'),
  });
  const submit = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => ADD_IDS[f as (typeof ADD_FIELDS)[number]])) return;
    setBusy(true); setErr(null);
    try {
      await gql(AddSmaregiLink, { input: { contractID: v.contractID.trim(), clientID: v.clientID.trim(), clientSecret: v.clientSecret, terminalID: v.terminalID.trim(), cameraID: v.cameraID } });
      onAdded();
    } catch (x) {
      setErr(x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
    } finally { setBusy(false); }
  };
  const general = err?.generalErrors([...ADD_FIELDS]) ?? [];
  const num = (n: string) => <span class="num" aria-hidden="true">{n}</span>;
  return (
    <Modal title="新規設定追加" onClose={onClose} testid="add-smaregi">
      <form onSubmit={submit} noValidate>
        {general.map((m) => <div class="alert" role="alert">{m}</div>)}
        <Field id="add-contract" label={<>{num('1')}契約ID</>} error={req.error('contractID') ?? err?.fieldError('contractID')}>
          {(a) => <input {...a} value={v.contractID} onInput={set('contractID')} autoComplete="off" autoFocus required />}
        </Field>
        <Field id="add-client" label={<>{num('2')}クライアントID</>} error={req.error('clientID') ?? err?.fieldError('clientID')}>
          {(a) => <input {...a} value={v.clientID} onInput={set('clientID')} autoComplete="off" required />}
        </Field>
        <Field id="add-secret" label={<>{num('3')}クライアントシークレット</>} error={req.error('clientSecret') ?? err?.fieldError('clientSecret')} hint="暗号化して保存し、以後は末尾4文字だけを表示します">
          {(a) => <input {...a} type="password" value={v.clientSecret} onInput={set('clientSecret')} autoComplete="new-password" required />}
        </Field>
        <Field id="add-terminal" label={<>{num('4')}端末ID</>} error={req.error('terminalID') ?? err?.fieldError('terminalID')}>
          {(a) => <input {...a} value={v.terminalID} onInput={set('terminalID')} autoComplete="off" inputMode="numeric" required />}
        </Field>
        <Field id="add-camera" label={<>{num('5')}カメラ</>} error={req.error('cameraID') ?? err?.fieldError('cameraID')} hint={cameras.length ? undefined : 'POS オプションのあるカメラがありません'}>
          {(a) => (
            <select {...a} value={v.cameraID} onChange={set('cameraID')} required>
              {cameras.map((c) => <option value={c.id}>{cameraChoice(c)}</option>)}
            </select>
          )}
        </Field>
        <div class="actions">
          <button type="button" class="btn" onClick={onClose}>キャンセル</button>
          <button type="submit" class="btn primary" disabled={busy}>{busy ? '確認中…' : '追加'}</button>
        </div>
      </form>
    </Modal>
  );
}

function ReauthDialog({ row, onClose, onDone }: { row: Row; onClose: () => void; onDone: () => void }) {
  const [clientID, setClientID] = useState('');
  const [secret, setSecret] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const req = useRequired({
    clientID: !clientID.trim() && 'クライアントIDを入力してください',
    clientSecret: !secret && 'クライアントシークレットを入力してください',
  });
  const submit = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => (f === 'clientID' ? 're-client' : 're-secret'))) return;
    setBusy(true); setErr(null);
    try {
      await gql(ConnectSmaregi, { input: { contractID: row.contractID, clientID: clientID.trim(), clientSecret: secret } });
      onDone();
    } catch (x) {
      setErr(x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
    } finally { setBusy(false); }
  };
  const general = err?.generalErrors(['contractID', 'clientID', 'clientSecret']) ?? [];
  return (
    <Modal title="認証情報の更新" onClose={onClose} testid="reauth">
      <form onSubmit={submit} noValidate>
        <p class="hint">スマレジの旧 API は 2026年1月24日に終了しました。スマレジ・プラットフォーム API のクライアントID とクライアントシークレットを入力してください。端末、連携、履歴はそのまま残ります。</p>
        {general.map((m) => <div class="alert" role="alert">{m}</div>)}
        <Field id="re-contract" label="契約ID" error={err?.fieldError('contractID')}>
          {(a) => <input {...a} value={row.contractID} readOnly />}
        </Field>
        <Field id="re-client" label="クライアントID" error={req.error('clientID') ?? err?.fieldError('clientID')}>
          {(a) => <input {...a} value={clientID} onInput={(e) => setClientID((e.target as HTMLInputElement).value)} autoFocus autoComplete="off" />}
        </Field>
        <Field id="re-secret" label="クライアントシークレット" error={req.error('clientSecret') ?? err?.fieldError('clientSecret')}>
          {(a) => <input {...a} type="password" value={secret} onInput={(e) => setSecret((e.target as HTMLInputElement).value)} autoComplete="new-password" />}
        </Field>
        <div class="actions">
          <button type="button" class="btn" onClick={onClose}>キャンセル</button>
          <button type="submit" class="btn primary" disabled={busy}>{busy ? '確認中…' : '更新'}</button>
        </div>
      </form>
    </Modal>
  );
}
