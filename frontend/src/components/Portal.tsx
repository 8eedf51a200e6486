// カメラ - POS 認証連携ポータル: which camera watches which register.
// スマレジ設定 (add a link in one step, re-enter credentials), ユビレジ
// (OAuth2, a camera per register), both with a camera choice per register
// saved by 更新 and checkboxes + trash to end links.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { AddSmaregiLink, ConnectSmaregi, DeleteLinks, Portal as PortalOp, SetTerminalCameras, StartUbiregiOAuth } from '../gql/ops';
import type { LinkRowFragment, PortalQuery } from '../gql/types';
import { ago, dateTime, DEFAULT_TZ } from '../format';
import { useRoute } from '../router';
import { Field } from './Field';
import { Modal } from './Modal';
import { PlusIcon, TrashIcon } from './Icons';

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
    const r = { connected: route.query.get('connected') ?? q.get('connected'), error: route.query.get('error') ?? q.get('error') };
    if (location.search) history.replaceState(null, '', location.pathname + location.hash);
    return r;
  });
  const connected = back.connected, oauthError = back.error;

  if (error && !data) return <div class="alert" role="alert">{error}</div>;
  if (!data) return <div class="loading"><span class="spinner" />読み込み中…</div>;
  return (
    <div class="stack">
      <h1 style="margin:0;font-size:18px">カメラ - POS 認証連携ポータル</h1>
      {connected && <div class="alert success" role="status">ユビレジと連携しました。端末ごとにカメラを選んで「更新」してください。</div>}
      {oauthError && <div class="alert" role="alert">ユビレジ連携に失敗しました: {oauthError}</div>}
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
            <div class="actions"><button class="btn primary" autoFocus onClick={() => setNotice(null)}>OK</button></div>
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
      {err && <span class="field-error">{err}</span>}
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
        <h2 id={headId} style="margin:0;font-size:15px">{title}</h2>
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
        <table class="grid">
          <thead>
            <tr>
              <th style="width:36px"><input type="checkbox" aria-label="すべて選択" checked={allChecked} disabled={linkIDs.length === 0}
                onClick={() => setChecked(allChecked ? new Set() : new Set(linkIDs))} /></th>
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
                  <td>{r.link && <input type="checkbox" aria-label={`端末 ${r.terminalExternalID} の連携を選択`} checked={checked.has(r.link.id)} onClick={() => toggle(r.link!.id)} />}</td>
                  <td class="mono">{r.contractID}</td>
                  {provider === 'SMAREGI' && <td class="mono">{r.secretHint || '—'}</td>}
                  <td class="mono">{r.terminal ? <>{r.terminalExternalID}{r.terminalName && !r.terminalName.endsWith(r.terminalExternalID) ? <span class="hint"> {r.terminalName}</span> : null}</> : <span class="hint">端末なし</span>}</td>
                  <td>
                    {r.terminal ? (
                      <>
                        <select class="input" aria-label={`端末 ${r.terminalExternalID} のカメラ`} aria-invalid={!!rerr} value={sel}
                          onChange={(e) => setChoice((c) => ({ ...c, [r.id]: (e.target as HTMLSelectElement).value }))}>
                          <option value="">（未連携）</option>
                          {cameras.map((c) => <option value={c.id}>{c.label}</option>)}
                          {r.camera && !cameras.some((c) => c.id === r.camera!.id) && <option value={r.camera.id}>{r.cameraLabel}</option>}
                        </select>
                        {rerr && <div class="field-error" role="alert">{rerr}</div>}
                      </>
                    ) : '—'}
                  </td>
                  <td>
                    {r.status === 'OK' ? <span class="status-ok">OK</span> : (
                      <span class="status-bad" title={r.lastError}>{r.status === 'NEEDS_REAUTH' ? '要再設定' : 'エラー'} </span>
                    )}
                    {r.status !== 'OK' && <button class="btn small" onClick={() => onReauth(r)}>{provider === 'SMAREGI' ? '認証情報を更新' : '再連携'}</button>}
                    {r.status === 'ERROR' && r.lastError && <div class="hint">{r.lastError}</div>}
                  </td>
                  <td title={r.lastSyncAt ? dateTime(r.lastSyncAt, DEFAULT_TZ) : undefined}>{ago(r.lastSyncAt)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {rowsByTerminal.length > 0 && (
        <div style="padding:10px 14px;display:flex;justify-content:flex-end;gap:8px;align-items:center;border-top:1px solid var(--line)">
          {changed.length > 0 && <span class="hint">{changed.length} 件の変更</span>}
          <button class="btn primary" disabled={changed.length === 0 || busy} onClick={save}>更新</button>
        </div>
      )}
      {confirming && (
        <Modal title="連携の削除" onClose={() => setConfirming(false)} testid="confirm-delete">
          <div class="body">
            <p>選択した {checked.size} 件の連携を削除しますか？</p>
            <p class="hint">カメラとレジの紐付けだけを終了します。POS の契約、端末、これまでのジャーナルと画像は残ります。</p>
            <div class="actions">
              <button class="btn" onClick={() => setConfirming(false)}>キャンセル</button>
              <button class="btn primary" disabled={busy} onClick={remove} autoFocus>削除する</button>
            </div>
          </div>
        </Modal>
      )}
    </section>
  );
}

const ADD_FIELDS = ['contractID', 'clientID', 'clientSecret', 'terminalID', 'cameraID'] as const;

export function AddSmaregiDialog({ cameras, onClose, onAdded }: { cameras: Camera[]; onClose: () => void; onAdded: () => void }) {
  const [v, setV] = useState<Record<(typeof ADD_FIELDS)[number], string>>({ contractID: '', clientID: '', clientSecret: '', terminalID: '', cameraID: cameras[0]?.id ?? '' });
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const set = (k: keyof typeof v) => (e: Event) => setV((o) => ({ ...o, [k]: (e.target as HTMLInputElement).value }));
  const submit = async (e: Event) => {
    e.preventDefault();
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
        <Field id="add-contract" label={<>{num('1')}契約ID</>} error={err?.fieldError('contractID')}>
          {(a) => <input {...a} value={v.contractID} onInput={set('contractID')} autoComplete="off" autoFocus required />}
        </Field>
        <Field id="add-client" label={<>{num('2')}クライアントID</>} error={err?.fieldError('clientID')}>
          {(a) => <input {...a} value={v.clientID} onInput={set('clientID')} autoComplete="off" required />}
        </Field>
        <Field id="add-secret" label={<>{num('3')}クライアントシークレット</>} error={err?.fieldError('clientSecret')} hint="暗号化して保存し、以後は末尾4文字だけを表示します">
          {(a) => <input {...a} type="password" value={v.clientSecret} onInput={set('clientSecret')} autoComplete="new-password" required />}
        </Field>
        <Field id="add-terminal" label={<>{num('4')}端末ID</>} error={err?.fieldError('terminalID')}>
          {(a) => <input {...a} value={v.terminalID} onInput={set('terminalID')} autoComplete="off" inputMode="numeric" required />}
        </Field>
        <Field id="add-camera" label={<>{num('5')}カメラ</>} error={err?.fieldError('cameraID')} hint={cameras.length ? undefined : 'POS オプションのあるカメラがありません'}>
          {(a) => (
            <select {...a} value={v.cameraID} onChange={set('cameraID')} required>
              {cameras.map((c) => <option value={c.id}>{c.label}</option>)}
            </select>
          )}
        </Field>
        <div class="actions">
          <button type="button" class="btn" onClick={onClose}>キャンセル</button>
          <button type="submit" class="btn primary" disabled={busy || ADD_FIELDS.some((k) => !v[k])}>{busy ? '確認中…' : '追加'}</button>
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
  const submit = async (e: Event) => {
    e.preventDefault();
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
        <Field id="re-client" label="クライアントID" error={err?.fieldError('clientID')}>
          {(a) => <input {...a} value={clientID} onInput={(e) => setClientID((e.target as HTMLInputElement).value)} autoFocus autoComplete="off" />}
        </Field>
        <Field id="re-secret" label="クライアントシークレット" error={err?.fieldError('clientSecret')}>
          {(a) => <input {...a} type="password" value={secret} onInput={(e) => setSecret((e.target as HTMLInputElement).value)} autoComplete="new-password" />}
        </Field>
        <div class="actions">
          <button type="button" class="btn" onClick={onClose}>キャンセル</button>
          <button type="submit" class="btn primary" disabled={busy || !clientID || !secret}>{busy ? '確認中…' : '更新'}</button>
        </div>
      </form>
    </Modal>
  );
}
