// カード端末・パートナー: a connection fed by signed webhooks (or a
// partner's ingestJournal). Its webhook URL and signing key are shown once,
// with copy buttons and a warning; registers then appear by themselves on
// the first correctly signed webhook, or are added here by 端末ID.
import { useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { CreatePosConnection, CreateTerminal } from '../gql/ops';
import type { CreatePosConnectionMutation, ManualPosProvider } from '../gql/types';
import { Field, useRequired } from './Field';

export type CreatedConnection = CreatePosConnectionMutation['createPosConnection'];
type Created = CreatedConnection;
interface ShopOption { id: string; name: string }

/** The form; the caller shows the created key (SigningKeyOnce) where it survives the form. */
export function WebhookConnectionForm({ shops, onCreated }: { shops: ShopOption[]; onCreated: (c: Created) => void }) {
  const [provider, setProvider] = useState<ManualPosProvider>('WEBHOOK');
  const [name, setName] = useState('');
  const [shopID, setShopID] = useState(shops[0]?.id ?? '');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const req = useRequired({
    name: !name.trim() && '連携の名前を入力してください',
    shopID: !shopID && '先に店舗を追加してください（②）',
  });

  const submit = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => (f === 'name' ? 'wh-name' : 'wh-shop'))) return;
    setBusy(true); setErr(null);
    try {
      const d = await gql(CreatePosConnection, { input: { provider, name: name.trim(), shopID } });
      setName(''); req.reset();
      onCreated(d.createPosConnection);
    } catch (x) {
      setErr(x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
    } finally { setBusy(false); }
  };
  const general = err?.generalErrors(['provider', 'name', 'shopID']) ?? [];

  return (
    <div class="stack" style="gap:8px">
      <form onSubmit={submit} noValidate data-testid="webhook-form">
        {general.map((m) => <div class="alert" role="alert">{m}</div>)}
        <fieldset class="field checks">
          <legend>種類</legend>
          <label class="check"><input type="radio" name="wh-provider" checked={provider === 'WEBHOOK'} onChange={() => setProvider('WEBHOOK')} />カード端末（署名付き Webhook で送信）</label>
          <label class="check"><input type="radio" name="wh-provider" checked={provider === 'PARTNER'} onChange={() => setProvider('PARTNER')} />パートナーのシステム（API キーで送信。Webhook も使えます）</label>
        </fieldset>
        <div class="form-grid">
          <Field id="wh-name" label="連携の名前" error={req.error('name') ?? err?.fieldError('name')} hint="例: 決済端末 渋谷店">
            {(a) => <input {...a} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} autoComplete="off" />}
          </Field>
          <Field id="wh-shop" label="店舗" error={req.error('shopID') ?? err?.fieldError('shopID')} hint={shops.length ? '新しいレジはこの店舗に入ります' : '先に店舗を追加してください'}>
            {(a) => (
              <select {...a} value={shopID} onChange={(e) => setShopID((e.target as HTMLSelectElement).value)}>
                {shops.map((s) => <option value={s.id}>{s.name}</option>)}
              </select>
            )}
          </Field>
        </div>
        <button type="submit" class="btn primary" disabled={busy}>{busy ? '作成中…' : '連携を作成'}</button>
      </form>
    </div>
  );
}

/** The webhook URL and signing key, shown this once. */
export function SigningKeyOnce({ created, onClose }: { created: Created; onClose: () => void }) {
  const url = location.origin + created.webhook.path;
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async (what: string, text: string) => {
    try { await navigator.clipboard.writeText(text); setCopied(what); } catch { setCopied(null); }
  };
  return (
    <div role="status" data-testid="signing-key" class="panel-inset">
      <div class="alert info">
        「{created.connection.name}」を作成しました。<b>署名キーはこの一度しか表示されません。</b>
        今すぐコピーして、カード端末またはパートナーの管理画面に設定してください。なくした場合は新しいキーを作り直します（古いキーは使えなくなります）。
      </div>
      <div class="kv">
        <span class="kv-label">Webhook の送信先 URL</span>
        <div class="secret-once">
          <code class="mono" style="flex:1" data-testid="webhook-url">{url}</code>
          <button type="button" class="btn" onClick={() => copy('url', url)}>{copied === 'url' ? 'コピーしました' : 'コピー'}</button>
        </div>
        <span class="kv-label">署名キー</span>
        <div class="secret-once">
          <code class="mono" style="flex:1" data-testid="webhook-secret">{created.webhook.secret}</code>
          <button type="button" class="btn" onClick={() => copy('secret', created.webhook.secret)}>{copied === 'secret' ? 'コピーしました' : 'コピー'}</button>
        </div>
        <p class="hint">送信側は本文と時刻に HMAC-SHA256 で署名し、ヘッダー X-Regicam-Timestamp と X-Regicam-Signature を付けて送ります。送信データの terminalId が新しいレジのときは、最初に正しく署名された送信でそのレジが自動で登録されます。</p>
      </div>
      <button type="button" class="btn" onClick={onClose}>保管したので閉じる</button>
    </div>
  );
}

interface ConnOption { id: string; name: string }

/** レジを追加: a register of a card-terminal / partner connection by its 端末ID. */
export function TerminalForm({ connections, shops, onCreated }: { connections: ConnOption[]; shops: ShopOption[]; onCreated: () => void }) {
  const [connectionID, setConnectionID] = useState(connections[0]?.id ?? '');
  const [externalID, setExternalID] = useState('');
  const [name, setName] = useState('');
  const [shopID, setShopID] = useState(shops[0]?.id ?? '');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const req = useRequired({
    connectionID: !connectionID && '連携を選んでください',
    externalID: !externalID.trim() && '端末IDを入力してください',
    shopID: !shopID && '店舗を選んでください',
  });
  const submit = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => ({ connectionID: 'term-conn', externalID: 'term-ext', shopID: 'term-shop' })[f]!)) return;
    setBusy(true); setErr(null);
    try {
      await gql(CreateTerminal, { input: { connectionID, externalID: externalID.trim(), name: name.trim() || null, shopID } });
      setExternalID(''); setName(''); req.reset();
      onCreated();
    } catch (x) {
      setErr(x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
    } finally { setBusy(false); }
  };
  const general = err?.generalErrors(['connectionID', 'externalID', 'name', 'shopID']) ?? [];
  return (
    <form onSubmit={submit} noValidate data-testid="terminal-form">
      {general.map((m) => <div class="alert" role="alert">{m}</div>)}
      <div class="form-grid">
        <Field id="term-conn" label="連携" error={req.error('connectionID') ?? err?.fieldError('connectionID')}>
          {(a) => <select {...a} value={connectionID} onChange={(e) => setConnectionID((e.target as HTMLSelectElement).value)}>{connections.map((c) => <option value={c.id}>{c.name}</option>)}</select>}
        </Field>
        <Field id="term-ext" label="端末ID" error={req.error('externalID') ?? err?.fieldError('externalID')} hint="送信データの terminalId に入る、そのレジの ID">
          {(a) => <input {...a} value={externalID} onInput={(e) => setExternalID((e.target as HTMLInputElement).value)} autoComplete="off" />}
        </Field>
        <Field id="term-name" label="レジの名前" error={err?.fieldError('name')} hint="任意">
          {(a) => <input {...a} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} autoComplete="off" />}
        </Field>
        <Field id="term-shop" label="店舗" error={req.error('shopID') ?? err?.fieldError('shopID')}>
          {(a) => <select {...a} value={shopID} onChange={(e) => setShopID((e.target as HTMLSelectElement).value)}>{shops.map((s) => <option value={s.id}>{s.name}</option>)}</select>}
        </Field>
      </div>
      <button type="submit" class="btn" disabled={busy}>レジを追加</button>
    </form>
  );
}
