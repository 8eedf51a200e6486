// 「共有リンク」 of a receipt's clip: an expiring, revocable address that
// shows the clip with the receipt to someone without an account (the
// police, the head office). The address is shown once, when it is made
// (only its hash is stored); the receipt's links are listed with their
// state, views and 失効させる.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { CreateShareLink, RevokeShareLink, ShareLinks as ShareLinksOp } from '../gql/ops';
import type { ShareLinkRowFragment } from '../gql/types';
import { dateTime } from '../format';
import { Field } from './Field';
import { Modal } from './Modal';

const asApiError = (x: unknown) => (x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));

/** 有効 / 期限切れ / 失効 of a link. */
export function linkState(l: Pick<ShareLinkRowFragment, 'active' | 'revokedAt'>): string {
  if (l.revokedAt) return '失効';
  return l.active ? '有効' : '期限切れ';
}

export function ShareButton({ entryID, receiptNo, tz }: { entryID: string; receiptNo: string; tz: string }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" class="btn small" data-testid="share-open" onClick={() => setOpen(true)}>共有リンク</button>
      {open && <ShareDialog entryID={entryID} receiptNo={receiptNo} tz={tz} onClose={() => setOpen(false)} />}
    </>
  );
}

function ShareDialog({ entryID, receiptNo, tz, onClose }: { entryID: string; receiptNo: string; tz: string; onClose: () => void }) {
  const [links, setLinks] = useState<ShareLinkRowFragment[] | null>(null);
  const [loadErr, setLoadErr] = useState<string | null>(null);
  const [hours, setHours] = useState('72');
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const [made, setMade] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const [confirm, setConfirm] = useState<string | null>(null);
  const [revokeErr, setRevokeErr] = useState<string | null>(null);

  const load = () => gql(ShareLinksOp, { entryID }).then(
    (d) => { setLinks(d.shareLinks.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []); setLoadErr(null); },
    (e) => setLoadErr(asApiError(e).message),
  );
  useEffect(() => { void load(); }, [entryID]);

  const h = Number(hours);
  const hoursErr = !/^\d+$/.test(hours.trim()) || h < 1 || h > 720 ? '1〜720 の時間数を入力してください' : null;
  const create = async (e: Event) => {
    e.preventDefault();
    if (hoursErr) { document.getElementById('share-hours')?.focus(); setErr(new ApiError([{ message: hoursErr, extensions: { field: 'expiresInHours' } }])); return; }
    setBusy(true); setErr(null); setCopied(false);
    try {
      const d = await gql(CreateShareLink, { input: { entryID, expiresInHours: h, note: note.trim() || undefined } });
      setMade(new URL(d.createShareLink.url, location.origin).href);
      setNote('');
      setLinks((ls) => [d.createShareLink.link, ...(ls ?? []).filter((l) => l.id !== d.createShareLink.link.id)]);
    } catch (x) { setErr(asApiError(x)); } finally { setBusy(false); }
  };
  const copy = async () => {
    if (!made) return;
    try { await navigator.clipboard.writeText(made); setCopied(true); } catch {
      // No clipboard permission (http, an old browser): select it to copy by hand.
      const el = document.getElementById('share-url') as HTMLInputElement | null;
      el?.select();
    }
  };
  const revoke = async (id: string) => {
    setRevokeErr(null);
    try {
      const d = await gql(RevokeShareLink, { id });
      setLinks((ls) => (ls ?? []).map((l) => (l.id === id ? d.revokeShareLink : l)));
      setConfirm(null);
    } catch (x) { setRevokeErr(asApiError(x).message); }
  };

  const general = err?.generalErrors(['expiresInHours', 'note']) ?? [];
  return (
    <Modal title={`共有リンク（レシートNo. ${receiptNo || '—'}）`} onClose={onClose} testid="share-dialog">
      <div class="body share">
        <p class="hint">リンクを知っている人は、ログインせずにこのレシートと前後の動画だけを見られます。期限が来るか失効させると開けなくなります。</p>
        {made ? (
          <div data-testid="share-made">
            <p class="share-once">このURLは今だけ表示されます。コピーして渡してください。</p>
            <div class="secret-once">
              <input id="share-url" class="input" readOnly value={made} aria-label="共有リンクのURL" data-testid="share-url" onFocus={(e) => (e.currentTarget as HTMLInputElement).select()} />
              <button type="button" class="btn primary" data-autofocus onClick={copy}>{copied ? 'コピーしました' : 'コピー'}</button>
            </div>
            <button type="button" class="btn small" onClick={() => { setMade(null); setCopied(false); }}>別のリンクを作成</button>
          </div>
        ) : (
          <form onSubmit={create} class="share-form" noValidate>
            <div class="form-grid">
              <Field id="share-hours" label="有効期間（時間）" hint="1〜720時間。既定は72時間（3日）" error={err?.fieldError('expiresInHours')}>
                {(a) => <input {...a} type="number" min={1} max={720} inputMode="numeric" value={hours} data-autofocus onInput={(e) => setHours((e.target as HTMLInputElement).value)} />}
              </Field>
              <Field id="share-note" label="メモ（渡す相手など）" error={err?.fieldError('note')}>
                {(a) => <input {...a} type="text" maxLength={500} value={note} onInput={(e) => setNote((e.target as HTMLInputElement).value)} />}
              </Field>
            </div>
            {general.map((m) => <div class="alert" role="alert">{m}</div>)}
            <button type="submit" class="btn primary" disabled={busy} data-testid="share-create">{busy ? '作成中…' : 'リンクを作成'}</button>
          </form>
        )}
        <h3 class="sub-h share-list-h">このレシートの共有リンク</h3>
        {loadErr && <div class="alert" role="alert">{loadErr}</div>}
        {revokeErr && <div class="alert" role="alert">{revokeErr}</div>}
        {links === null && !loadErr && <div class="loading"><span class="spinner" />読み込み中…</div>}
        {links && links.length === 0 && <p class="hint">まだありません。</p>}
        {links && links.length > 0 && (
          <div class="table-scroll">
            <table class="grid share-links" data-testid="share-links">
              <thead><tr><th>作成</th><th>期限</th><th>メモ</th><th>閲覧</th><th>状態</th><th><span class="sr-only">操作</span></th></tr></thead>
              <tbody>
                {links.map((l) => (
                  <tr data-id={l.id} data-state={linkState(l)}>
                    <td data-label="作成">{dateTime(l.createdAt, tz)}<br /><small class="hint">{l.createdByName}</small></td>
                    <td data-label="期限">{dateTime(l.expiresAt, tz)}</td>
                    <td class="share-note" data-label="メモ">{l.note || '—'}</td>
                    <td data-label="閲覧">{l.views}回{l.lastViewedAt && <><br /><small class="hint">最終 {dateTime(l.lastViewedAt, tz)}</small></>}</td>
                    <td data-label="状態"><span class={'badge ' + (l.active ? 'new' : 'mark')}>{linkState(l)}</span></td>
                    <td class="row-actions">
                      {l.active && (confirm === l.id ? (
                        <span class="share-confirm">
                          <button type="button" class="btn small" onClick={() => setConfirm(null)}>やめる</button>
                          <button type="button" class="btn small danger-solid" data-testid="share-revoke-confirm" onClick={() => void revoke(l.id)}>失効させる</button>
                        </span>
                      ) : (
                        <button type="button" class="btn small danger" data-testid="share-revoke" onClick={() => setConfirm(l.id)}>失効させる</button>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <div class="actions">
          <button type="button" class="btn" onClick={onClose}>閉じる</button>
        </div>
      </div>
    </Modal>
  );
}
