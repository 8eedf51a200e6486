// 設定 › メール・日報: the account's mail server (SMTP with STARTTLS or TLS;
// the password is write-only: 「保存済み」 when one is stored, never shown
// or prefilled), a test message, and the daily digests (who gets which
// shops' day at which local time) with their last status and 「今すぐ送る」.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { CreateDigestRule, DeleteDigestRule, DigestSettings as DigestSettingsOp, SendDigestNow, SetMailSettings, TestMailSettings, UpdateDigestRule } from '../gql/ops';
import type { DigestRuleRowFragment, MailSecurity, MailSettingsFieldsFragment, MailSettingsInput } from '../gql/types';
import { dateTime, DEFAULT_TZ } from '../format';
import { Field, FieldError, useRequired } from './Field';
import { ConfirmDialog } from './Modal';

const asApiError = (x: unknown) => (x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
const MAIL_FIELDS = ['host', 'port', 'security', 'username', 'password', 'fromAddress', 'fromName'];
const DIGEST_FIELDS = ['name', 'recipients', 'shopIDs', 'sendAt'];
const splitList = (s: string) => s.split(/[,、，\s]+/).map((x) => x.trim()).filter(Boolean);

export function DigestSettings({ tz = DEFAULT_TZ }: { tz?: string }) {
  const [mail, setMail] = useState<MailSettingsFieldsFragment | null | undefined>(undefined);
  const [rules, setRules] = useState<DigestRuleRowFragment[] | null>(null);
  const [shops, setShops] = useState<{ id: string; name: string }[]>([]);
  const [loadErr, setLoadErr] = useState<string | null>(null);
  const load = () => gql(DigestSettingsOp).then((d) => {
    setMail(d.mailSettings ?? null);
    setRules(d.digestRules);
    setShops(d.shops.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []);
    setLoadErr(null);
  }, (e) => setLoadErr(e.message));
  useEffect(() => { void load(); }, []);
  return (
    <section class="panel" aria-labelledby="mail-h" data-testid="mail-settings" id="mail">
      <h2 id="mail-h">メール・日報</h2>
      {loadErr && <div class="alert" role="alert" style="margin:8px 14px">{loadErr}</div>}
      {mail !== undefined && <MailForm mail={mail} onSaved={setMail} />}
      {rules && <DigestRules rules={rules} shops={shops} tz={tz} hasMail={!!mail} onChanged={() => void load()} />}
      {mail === undefined && !loadErr && <div class="loading"><span class="spinner" />読み込み中…</div>}
    </section>
  );
}

function MailForm({ mail, onSaved }: { mail: MailSettingsFieldsFragment | null; onSaved: (m: MailSettingsFieldsFragment) => void }) {
  const [f, setF] = useState({
    host: mail?.host ?? '', port: mail?.port ? String(mail.port) : '587', security: (mail?.security ?? 'STARTTLS') as MailSecurity,
    username: mail?.username ?? '', fromAddress: mail?.fromAddress ?? '', fromName: mail?.fromName ?? '',
  });
  // Write-only: empty means 「keep what is stored」; never filled from the server.
  const [password, setPassword] = useState('');
  const [removePw, setRemovePw] = useState(false);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [to, setTo] = useState('');
  const [testBusy, setTestBusy] = useState(false);
  const [testMsg, setTestMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const req = useRequired({
    host: !f.host.trim() && 'サーバー名を入力してください',
    port: !/^\d{1,5}$/.test(f.port.trim()) && 'ポート番号を数字で入力してください（例: 587）',
    fromAddress: !f.fromAddress.trim() && '差出人のメールアドレスを入力してください',
  });
  const set = (k: keyof typeof f) => (e: Event) => setF((x) => ({ ...x, [k]: (e.target as HTMLInputElement).value }));
  const pickSecurity = (s: MailSecurity) => setF((x) => ({ ...x, security: s, port: x.port === '587' && s === 'TLS' ? '465' : x.port === '465' && s === 'STARTTLS' ? '587' : x.port }));

  const save = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((k) => 'mail-' + k)) return;
    const input: MailSettingsInput = {
      host: f.host.trim(), port: Number(f.port.trim()), security: f.security, username: f.username.trim(),
      fromAddress: f.fromAddress.trim(), fromName: f.fromName.trim(),
    };
    if (password) input.password = password;
    else if (removePw) input.password = '';
    setBusy(true); setErr(null); setDone(null);
    try {
      const d = await gql(SetMailSettings, { input });
      setPassword(''); setRemovePw(false); req.reset();
      setDone('メールの設定を保存しました');
      onSaved(d.setMailSettings);
    } catch (x) { setErr(asApiError(x)); } finally { setBusy(false); }
  };
  const test = async () => {
    if (!to.trim()) { setTestMsg({ ok: false, text: '送り先のメールアドレスを入力してください' }); return; }
    setTestBusy(true); setTestMsg(null);
    try {
      await gql(TestMailSettings, { to: to.trim() });
      setTestMsg({ ok: true, text: `${to.trim()} にテストメールを送りました。届いたか確認してください。` });
    } catch (x) { setTestMsg({ ok: false, text: asApiError(x).message }); } finally { setTestBusy(false); }
  };
  const general = err?.generalErrors(MAIL_FIELDS) ?? [];
  return (
    <form class="panel-body" onSubmit={save} noValidate data-testid="mail-form">
      <h3 class="sub-h">送信に使うメールサーバー（SMTP）</h3>
      {done && <div class="alert success" role="status">{done}</div>}
      {general.map((m) => <div class="alert" role="alert">{m}</div>)}
      <div class="form-grid">
        <Field id="mail-host" label="サーバー名" error={req.error('host') ?? err?.fieldError('host')}>
          {(a) => <input {...a} value={f.host} onInput={set('host')} placeholder="例: smtp.example.jp" autoComplete="off" />}
        </Field>
        <Field id="mail-security" label="暗号化" error={err?.fieldError('security')}>
          {(a) => (
            <select {...a} value={f.security} onChange={(e) => pickSecurity((e.target as HTMLSelectElement).value as MailSecurity)}>
              <option value="STARTTLS">STARTTLS（通常 587 番）</option>
              <option value="TLS">TLS（通常 465 番）</option>
            </select>
          )}
        </Field>
        <Field id="mail-port" label="ポート" error={req.error('port') ?? err?.fieldError('port')}>
          {(a) => <input {...a} value={f.port} onInput={set('port')} inputMode="numeric" autoComplete="off" />}
        </Field>
        <Field id="mail-username" label="ユーザー名" error={err?.fieldError('username')}>
          {(a) => <input {...a} value={f.username} onInput={set('username')} autoComplete="off" />}
        </Field>
        <Field id="mail-password" label={<>パスワード{mail?.hasPassword && !removePw && <span class="badge mark" data-testid="password-saved" style="margin-left:6px">保存済み</span>}</>}
          error={err?.fieldError('password')} hint={mail?.hasPassword ? '変えるときだけ入力してください。空欄なら保存済みのパスワードを使います。' : undefined}>
          {(a) => <input {...a} type="password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} autoComplete="new-password" />}
        </Field>
        <Field id="mail-fromAddress" label="差出人アドレス" error={req.error('fromAddress') ?? err?.fieldError('fromAddress')}>
          {(a) => <input {...a} type="email" value={f.fromAddress} onInput={set('fromAddress')} placeholder="例: regicam@example.jp" autoComplete="off" />}
        </Field>
        <Field id="mail-fromName" label="差出人名" error={err?.fieldError('fromName')}>
          {(a) => <input {...a} value={f.fromName} onInput={set('fromName')} placeholder="例: regicam 日報" autoComplete="off" />}
        </Field>
      </div>
      {mail?.hasPassword && (
        <label class="check"><input type="checkbox" checked={removePw} onChange={() => { setRemovePw((x) => !x); setPassword(''); }} />保存済みのパスワードを消す</label>
      )}
      <div class="form-actions"><button class="btn primary" type="submit" disabled={busy}>{busy ? '保存中…' : '保存'}</button></div>
      {mail && (
        <div class="test-row" style="margin-top:14px">
          <label for="mail-test-to" style="font-weight:600;font-size:13px">テスト送信先</label>
          <input id="mail-test-to" class="input" type="email" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} placeholder="you@example.jp" autoComplete="email" />
          <button type="button" class="btn" disabled={testBusy} onClick={() => void test()}>{testBusy ? '送信中…' : 'テスト送信'}</button>
        </div>
      )}
      {testMsg && <div class={testMsg.ok ? 'alert success' : 'alert'} role={testMsg.ok ? 'status' : 'alert'} data-testid="mail-test-result">{testMsg.text}</div>}
    </form>
  );
}

function DigestRules({ rules, shops, tz, hasMail, onChanged }: { rules: DigestRuleRowFragment[]; shops: { id: string; name: string }[]; tz: string; hasMail: boolean; onChanged: () => void }) {
  const [rowErr, setRowErr] = useState<string | null>(null);
  const [rowMsg, setRowMsg] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<DigestRuleRowFragment | null>(null);
  const act = async (f: () => Promise<unknown>, ok?: string) => {
    setRowErr(null); setRowMsg(null);
    try { await f(); if (ok) setRowMsg(ok); onChanged(); } catch (x) { setRowErr(asApiError(x).message); }
  };
  const inputOf = (r: DigestRuleRowFragment) => ({ name: r.name, recipients: r.recipients, shopIDs: r.shops.map((s) => s.id), sendAt: r.sendAt, enabled: r.enabled });
  return (
    <div class="panel-body" style="border-top:1px solid var(--line)" data-testid="digest-rules">
      <h3 class="sub-h">日報</h3>
      <p class="hint">毎日決まった時刻（各店舗の時刻）に、その日の売上・返金・件数と、アラートになった取引（画像つき）、未解決のケースをメールで送ります。</p>
      {!hasMail && <div class="alert info">日報を送るには、先に上のメールサーバーを保存してください。</div>}
      {rowErr && <div class="alert" role="alert">{rowErr}</div>}
      {rowMsg && <div class="alert success" role="status">{rowMsg}</div>}
      {rules.length === 0 ? <p class="hint">日報はまだありません。</p> : (
        <table class="grid">
          <thead><tr><th>名前</th><th>送り先</th><th>店舗</th><th>時刻</th><th>状態</th><th>有効</th><th><span class="sr-only">操作</span></th></tr></thead>
          <tbody>
            {rules.map((r) => (
              <tr data-digest={r.id}>
                <td data-label="名前">{r.name}</td>
                <td data-label="送り先">{r.recipients.join('、')}</td>
                <td data-label="店舗">{r.shops.length ? r.shops.map((s) => s.name).join('、') : 'すべての店舗'}</td>
                <td data-label="時刻">{r.sendAt}</td>
                <td data-label="状態" data-testid="digest-status">
                  {r.status === 'ERROR' ? <span class="status-bad">送信エラー</span> : r.lastSentAt ? <span class="status-ok">送信済み</span> : <span class="hint">未送信</span>}
                  {r.lastSentAt && <div class="hint">最終 {dateTime(r.lastSentAt, tz)}</div>}
                  {r.status === 'ERROR' && r.lastError && <div class="field-error">{r.lastError}</div>}
                </td>
                <td data-label="有効"><label class="tap"><input type="checkbox" aria-label={`日報「${r.name}」を有効にする`} checked={r.enabled} onChange={() => void act(() => gql(UpdateDigestRule, { id: r.id, input: { ...inputOf(r), enabled: !r.enabled } }))} /></label></td>
                <td class="row-actions">
                  <button type="button" class="btn small" disabled={!hasMail} onClick={() => void act(() => gql(SendDigestNow, { id: r.id }), `日報「${r.name}」の送信を始めました（前日分）`)}>今すぐ送る</button>
                  <button type="button" class="btn small danger" onClick={() => setDeleting(r)}>削除</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <DigestForm shops={shops} onCreated={onChanged} />
      {deleting && (
        <ConfirmDialog title="日報の削除" action="削除する" testid="confirm-delete-digest" onClose={() => setDeleting(null)}
          onConfirm={() => { const r = deleting; setDeleting(null); void act(() => gql(DeleteDigestRule, { id: r.id })); }}>
          <p>日報「{deleting.name}」を削除しますか？ 以後は送られません。</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function DigestForm({ shops, onCreated }: { shops: { id: string; name: string }[]; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [recipients, setRecipients] = useState('');
  const [shopIDs, setShopIDs] = useState<string[]>([]);
  const [sendAt, setSendAt] = useState('22:00');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const req = useRequired({
    name: !name.trim() && '日報の名前を入力してください',
    recipients: splitList(recipients).length === 0 && '送り先のメールアドレスを入力してください',
    sendAt: !/^([01]\d|2[0-3]):[0-5]\d$/.test(sendAt.trim()) && '送る時刻を「22:00」のように入力してください',
  });
  const submit = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => 'dg-' + f)) return;
    setBusy(true); setErr(null); setDone(null);
    try {
      await gql(CreateDigestRule, { input: { name: name.trim(), recipients: splitList(recipients), shopIDs, sendAt: sendAt.trim(), enabled: true } });
      setDone(`日報「${name.trim()}」を追加しました`);
      setName(''); setRecipients(''); setShopIDs([]); req.reset();
      onCreated();
    } catch (x) { setErr(asApiError(x)); } finally { setBusy(false); }
  };
  const general = err?.generalErrors(DIGEST_FIELDS) ?? [];
  // recipients.2: the third address.
  const recErr = req.error('recipients') ?? err?.errors.find((x) => /(^|\.)recipients(\.\d+)?$/.test(x.extensions?.field ?? ''))?.message;
  const shopErr = err?.fieldError('shopIDs');
  return (
    <form onSubmit={submit} noValidate style="margin-top:14px" data-testid="digest-form">
      <h3 class="sub-h">日報を追加</h3>
      {done && <div class="alert success" role="status">{done}</div>}
      {general.filter((m) => m !== recErr).map((m) => <div class="alert" role="alert">{m}</div>)}
      <div class="form-grid">
        <Field id="dg-name" label="名前" error={req.error('name') ?? err?.fieldError('name')}>
          {(a) => <input {...a} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} placeholder="例: 店長あて日報" autoComplete="off" />}
        </Field>
        <Field id="dg-recipients" label="送り先（「、」で区切る）" error={recErr}>
          {(a) => <input {...a} value={recipients} onInput={(e) => setRecipients((e.target as HTMLInputElement).value)} placeholder="例: tencho@example.jp" autoComplete="off" />}
        </Field>
        <Field id="dg-sendAt" label="送る時刻（店舗の時刻）" error={req.error('sendAt') ?? err?.fieldError('sendAt')}>
          {(a) => <input {...a} type="time" value={sendAt} onInput={(e) => setSendAt((e.target as HTMLInputElement).value)} />}
        </Field>
      </div>
      {shops.length > 0 && (
        <fieldset class="field checks" aria-describedby={shopErr ? 'dg-shops-err' : undefined}>
          <legend>店舗（選ばなければすべて）</legend>
          <div class="check-row">
            {shops.map((s) => (
              <label class="check"><input type="checkbox" checked={shopIDs.includes(s.id)} onChange={() => setShopIDs((x) => (x.includes(s.id) ? x.filter((y) => y !== s.id) : [...x, s.id]))} />{s.name}</label>
            ))}
          </div>
          {shopErr && <FieldError id="dg-shops-err">{shopErr}</FieldError>}
        </fieldset>
      )}
      <div class="form-actions"><button class="btn primary" type="submit" disabled={busy}>日報を追加</button></div>
    </form>
  );
}
