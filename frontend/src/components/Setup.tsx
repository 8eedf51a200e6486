// 初期設定: the checklist a new owner follows from an empty account to the
// first receipt beside their own camera. Each step shows done / not done
// from Query.setupProgress; the first step not done is open.
//   ① カメラを追加 ② 店舗を追加 ③ POS を連携 ④ レジとカメラを紐づけ ⑤ 最初のレシートを待つ
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { ApiError, gql } from '../api';
import { FirstReceipt as FirstReceiptOp, LinkTerminal, SetupData } from '../gql/ops';
import type { EntryCardFragment, LinkRowFragment, ProgressFragment, SetupDataQuery } from '../gql/types';
import { cameraChoice, DEFAULT_TZ, dateTime, hms, reasonCode, reasonText, skewOf, yen } from '../format';
import { LiveFeed, type LiveOptions } from '../live';
import { navigate } from '../router';
import { CameraForm, CameraStatusText } from './CameraForm';
import { FieldError } from './Field';
import { ShopForm, hoursSummary } from './ShopForm';
import { AddSmaregiDialog, UbiregiButton } from './Portal';
import { SigningKeyOnce, TerminalForm, WebhookConnectionForm, type CreatedConnection } from './WebhookConnection';

export type StepKey = 'camera' | 'shop' | 'pos' | 'link' | 'receipt';
export const STEPS: [StepKey, string, string, keyof ProgressFragment][] = [
  ['camera', '①', 'カメラを追加', 'hasCamera'],
  ['shop', '②', '店舗を追加', 'hasShop'],
  ['pos', '③', 'POS を連携', 'hasConnection'],
  ['link', '④', 'レジとカメラを紐づけ', 'hasLink'],
  ['receipt', '⑤', '最初のレシートを待つ', 'hasReceipt'],
];

const PROVIDER_LABEL: Record<string, string> = { SMAREGI: 'スマレジ', UBIREGI: 'ユビレジ', WEBHOOK: 'カード端末', PARTNER: 'パートナー' };

/** The first step not done, or null when all are. */
export function nextStep(p: ProgressFragment): StepKey | null {
  return STEPS.find(([, , , k]) => !p[k])?.[0] ?? null;
}

interface Props {
  /** Called with each new progress (the shell hides the checklist once complete). */
  onProgress?: (p: ProgressFragment) => void;
  /** Interval of re-reading while waiting for a register to appear (tests shorten it). */
  pollMs?: number;
  /** The live feed's options (tests pass a fake websocket). */
  live?: LiveOptions;
}

export function Setup({ onProgress, pollMs = 3000, live }: Props) {
  const [data, setData] = useState<SetupDataQuery | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<StepKey | null>(null);
  // A card terminal's signing key, shown once: kept above the steps while
  // the checklist moves on, until the owner closes it.
  const [created, setCreated] = useState<CreatedConnection | null>(null);
  const opened = useRef(false);

  const load = () => gql(SetupData).then((d) => {
    setData(d);
    setError(null);
    onProgress?.(d.setupProgress);
    // Open the first step not done; after a step is done, move on.
    // When all are done, the step that was open stays open (⑤ shows the receipt).
    const doneNow = (o: StepKey) => d.setupProgress[STEPS.find((s) => s[0] === o)![3]];
    setOpen((o) => (!opened.current ? nextStep(d.setupProgress) : o && doneNow(o) ? nextStep(d.setupProgress) ?? o : o));
    opened.current = true;
    return d;
  }, (e) => setError(e.message));
  useEffect(() => { void load(); }, []);

  // A register of a card terminal appears by itself on its first signed
  // webhook: while that is awaited, read again now and then.
  const waitingForRegister = !!data && data.setupProgress.hasConnection && !data.setupProgress.hasLink;
  useEffect(() => {
    if (!waitingForRegister) return;
    const id = setInterval(() => { void load(); }, pollMs);
    return () => clearInterval(id);
  }, [waitingForRegister, pollMs]);

  if (error && !data) return <div class="alert" role="alert">{error}</div>;
  if (!data) return <div class="loading"><span class="spinner" />読み込み中…</div>;
  const p = data.setupProgress;
  const done = STEPS.filter(([, , , k]) => p[k]).length;
  const cams = data.cameras.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];
  const shops = data.shops.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];
  const tz = shops[0]?.timezone || DEFAULT_TZ;

  const step = (key: StepKey, body: ComponentChildren) => {
    const [, num, title, k] = STEPS.find((s) => s[0] === key)!;
    const isDone = p[k];
    const isOpen = open === key;
    return (
      <li class={'panel step' + (isDone ? ' done' : '')} data-testid={'step-' + key} data-done={String(isDone)}>
        <h2 class="step-head">
          <button type="button" aria-expanded={isOpen} aria-controls={'step-body-' + key} onClick={() => setOpen(isOpen ? null : key)}>
            <span class="step-num">{num}</span>
            <span class="step-title">{title}</span>
            <span class={isDone ? 'status-ok' : 'hint'}>{isDone ? '完了' : '未完了'}</span>
          </button>
        </h2>
        {isOpen && <div class="step-body" id={'step-body-' + key}>{body}</div>}
      </li>
    );
  };

  return (
    <div class="stack setup">
      <div>
        <h1 class="page-h">初期設定</h1>
        <p class="hint" style="margin:0" data-testid="setup-count">
          {p.complete ? 'すべて完了しました。ダッシュボードにレシートと画像が届きます。' : `5 ステップ中 ${done} ステップ完了。上から順に進めてください。`}
        </p>
      </div>
      {error && <div class="alert" role="alert">{error}</div>}
      {created && <SigningKeyOnce created={created} onClose={() => setCreated(null)} />}
      <ol class="steps">
        {step('camera', (
          <>
            {cams.length > 0 && (
              <ul class="mini-list" aria-label="登録済みのカメラ">
                {cams.map((c) => <li><b>{cameraChoice(c)}</b> <CameraStatusText c={c} tz={tz} /></li>)}
              </ul>
            )}
            <p class="hint">お店のカメラを登録します。カメラの管理画面で「静止画（スナップショット）の URL」を確認して入力し、「接続テスト」で画像が出ることを確かめてください。</p>
            <CameraForm key={cams.length} idPrefix="setup-cam" onSaved={() => void load()} />
          </>
        ))}
        {step('shop', (
          <>
            {shops.length > 0 && (
              <ul class="mini-list" aria-label="登録済みの店舗">
                {shops.map((s) => <li><b>{s.name}</b> <span class="hint">{s.timezone}・{hoursSummary(s.businessHours)}</span></li>)}
              </ul>
            )}
            <ShopForm key={shops.length} idPrefix="setup-shop" onSaved={() => void load()} />
          </>
        ))}
        {step('pos', <PosStep data={data} shops={shops} onChanged={() => void load()} onCreated={(c) => { setCreated(c); void load(); }} />)}
        {step('link', <LinkStep data={data} shops={shops} onChanged={() => void load()} />)}
        {step('receipt', <FirstReceiptStep tz={tz} cameraIDs={cams.map((c) => c.id)} hasReceipt={p.hasReceipt} live={live} onArrived={() => void load()} />)}
      </ol>
      {p.complete && (
        <div><button class="btn primary" onClick={() => navigate('/')}>ダッシュボードを開く</button></div>
      )}
    </div>
  );
}

type Shop = { id: string; name: string };

function PosStep({ data, shops, onChanged, onCreated }: { data: SetupDataQuery; shops: Shop[]; onChanged: () => void; onCreated: (c: CreatedConnection) => void }) {
  const [kind, setKind] = useState<'SMAREGI' | 'UBIREGI' | 'WEBHOOK'>('SMAREGI');
  const [adding, setAdding] = useState(false);
  const conns = new Map<string, LinkRowFragment>();
  for (const r of data.links) if (!conns.has(r.connection.id)) conns.set(r.connection.id, r);
  const tabs: [typeof kind, string][] = [['SMAREGI', 'スマレジ'], ['UBIREGI', 'ユビレジ'], ['WEBHOOK', 'カード端末・パートナー']];
  return (
    <>
      {conns.size > 0 && (
        <ul class="mini-list" aria-label="連携済みの POS">
          {[...conns.values()].map((r) => (
            <li><b>{PROVIDER_LABEL[r.provider] ?? r.provider}</b> {r.connection.name || r.contractID} <span class={r.status === 'OK' ? 'status-ok' : 'status-bad'}>{r.status === 'OK' ? '正常' : r.status === 'NEEDS_REAUTH' ? '要再設定' : 'エラー'}</span></li>
          ))}
        </ul>
      )}
      <div class="seg" role="tablist" aria-label="POS の種類">
        {tabs.map(([k, label]) => <button type="button" role="tab" aria-selected={kind === k} onClick={() => setKind(k)}>{label}</button>)}
      </div>
      <div class="seg-body" role="tabpanel">
        {kind === 'SMAREGI' && (
          <>
            <p class="hint">スマレジの「プラットフォーム API 設定」にある契約ID・クライアントID・クライアントシークレットと、カメラで映すレジの端末ID を入力します。レジとカメラの紐づけ（④）も同時に済みます。</p>
            <button class="btn primary" disabled={data.linkableCameras.length === 0} onClick={() => setAdding(true)}>スマレジを連携</button>
            {data.linkableCameras.length === 0 && <p class="hint">先に POS オプションのあるカメラを追加してください（①）。</p>}
            {adding && (
              <AddSmaregiDialog cameras={data.linkableCameras} onClose={() => setAdding(false)} onAdded={() => { setAdding(false); onChanged(); }} />
            )}
          </>
        )}
        {kind === 'UBIREGI' && (
          <>
            <p class="hint">ユビレジのログイン画面で連携を許可します。戻ってきたら、④でレジにカメラを選んでください。</p>
            <UbiregiButton available={data.ubiregiAvailable} returnTo="/#/setup" />
          </>
        )}
        {kind === 'WEBHOOK' && (
          <>
            <p class="hint">カード決済端末や、自社のシステムからレシートを送る連携です。作成すると送信先 URL と署名キーが表示されます。</p>
            {shops.length === 0 ? <p class="hint">先に店舗を追加してください（②）。</p> : <WebhookConnectionForm shops={shops} onCreated={onCreated} />}
          </>
        )}
      </div>
    </>
  );
}

function LinkStep({ data, shops, onChanged }: { data: SetupDataQuery; shops: Shop[]; onChanged: () => void }) {
  const rows = data.links.filter((r) => r.terminal);
  const manual = new Map<string, { id: string; name: string }>();
  for (const r of data.links) if (r.provider === 'WEBHOOK' || r.provider === 'PARTNER') manual.set(r.connection.id, { id: r.connection.id, name: r.connection.name || PROVIDER_LABEL[r.provider] });
  return (
    <>
      {rows.length === 0 ? (
        <p class="hint" data-testid="no-registers">
          まだレジがありません。{manual.size > 0 ? 'カード端末から最初の取引が届くと、ここに自動で表示されます。端末ID が分かっていれば下で追加することもできます。' : '③で POS を連携してください。'}
        </p>
      ) : (
        <table class="grid" data-testid="register-links">
          <thead><tr><th>POS</th><th>端末ID</th><th>カメラ</th><th><span class="sr-only">操作</span></th></tr></thead>
          <tbody>{rows.map((r) => <RegisterRow key={r.id} row={r} cameras={data.linkableCameras} onChanged={onChanged} />)}</tbody>
        </table>
      )}
      {manual.size > 0 && (
        <details class="add-terminal" open={rows.length === 0}>
          <summary>レジを端末ID で追加</summary>
          <TerminalForm connections={[...manual.values()]} shops={shops} onCreated={onChanged} />
        </details>
      )}
      <p class="hint">紐づけは後から<a href="#/portal">連携ポータル</a>で変更できます。</p>
    </>
  );
}

function RegisterRow({ row, cameras, onChanged }: { row: LinkRowFragment; cameras: SetupDataQuery['linkableCameras']; onChanged: () => void }) {
  const [cam, setCam] = useState(row.camera?.id ?? cameras[0]?.id ?? '');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const link = async () => {
    setBusy(true); setErr(null);
    try {
      await gql(LinkTerminal, { terminalID: row.terminal!.id, cameraID: cam });
      onChanged();
    } catch (x) {
      setErr(x instanceof ApiError ? x.message : String(x));
    } finally { setBusy(false); }
  };
  return (
    <tr data-terminal={row.terminalExternalID}>
      <td data-label="POS">{PROVIDER_LABEL[row.provider] ?? row.provider} <span class="hint">{row.connection.name || row.contractID}</span></td>
      <td data-label="端末ID" class="mono">{row.terminalExternalID}{row.terminalName && row.terminalName !== row.terminalExternalID && <span class="hint"> {row.terminalName}</span>}</td>
      <td data-label="カメラ">
        {row.link ? <span class="status-ok">{row.cameraLabel}</span> : (
          <select class="input" aria-label={`端末 ${row.terminalExternalID} のカメラ`} aria-invalid={!!err} aria-describedby={err ? `reg-err-${row.id}` : undefined} value={cam} onChange={(e) => setCam((e.target as HTMLSelectElement).value)}>
            {cameras.map((c) => <option value={c.id}>{cameraChoice(c)}</option>)}
          </select>
        )}
        {err && <div><FieldError id={`reg-err-${row.id}`}>{err}</FieldError></div>}
      </td>
      <td class="row-actions">{row.link ? <span class="hint">紐づけ済み</span> : <button class="btn primary small" disabled={busy || !cam} onClick={link}>紐づける</button>}</td>
    </tr>
  );
}

/** ⑤: waits live for the first receipt and shows it with its picture. */
export function FirstReceiptStep({ tz, cameraIDs, hasReceipt, live, onArrived }: {
  tz: string;
  /** The account's cameras: the receipt awaited is one with a camera's picture. */
  cameraIDs: string[];
  hasReceipt: boolean;
  live?: LiveOptions;
  onArrived: () => void;
}) {
  const [entry, setEntry] = useState<EntryCardFragment | null>(null);
  const [state, setState] = useState<string>('connecting');
  const arrived = useRef(false);

  useEffect(() => {
    let stopped = false;
    const where = { cameraIDs };
    if (hasReceipt) {
      gql(FirstReceiptOp, { where }).then((d) => { if (!stopped) setEntry((e) => e ?? d.journal.edges[0]?.node ?? null); }, () => {});
    }
    const feed = new LiveFeed(where, {
      event: (ev) => {
        setEntry((cur) => (!cur || cur.id === ev.entry.id ? { ...ev.entry, thumbnail: ev.entry.thumbnail ?? cur?.thumbnail ?? null } : cur));
        if (!arrived.current) { arrived.current = true; onArrived(); }
      },
      state: (s) => setState(s.kind),
    }, live).start();
    return () => { stopped = true; feed.stop(); };
  }, []);

  if (!entry) {
    return (
      <div class="waiting" data-testid="first-receipt-waiting" data-state={state} role="status">
        <span class="spinner" />最初のレシートを待っています…
        <p class="hint">紐づけたレジで会計すると、数秒でここにレシートとその瞬間のカメラ画像が表示されます。{state === 'reconnecting' && ' 接続が切れたため再接続しています。'}</p>
      </div>
    );
  }
  const th = entry.thumbnail;
  return (
    <div class="first-receipt" data-testid="first-receipt" data-id={entry.id} data-receipt={entry.receiptNo}>
      <div class="alert success" role="status">最初のレシートが届きました。</div>
      <div class="first-receipt-body">
        {th ? (
          <img class="first-pic" src={th.url} alt={`レシート ${entry.receiptNo} の撮影画像`} width={th.width} height={th.height} data-thumbnail={th.id} />
        ) : <div class="first-pic nopic">{entry.thumbnailReason && reasonCode(entry.thumbnailReason) !== 'PENDING' ? `画像なし: ${reasonText(entry.thumbnailReason)}` : <><span class="spinner" />画像を撮影中…</>}</div>}
        <dl class="kv-list">
          <div><dt>日時</dt><dd>{dateTime(entry.occurredAt, tz)}</dd></div>
          <div><dt>種類</dt><dd>{entry.kindLabel}</dd></div>
          <div><dt>レシートNo.</dt><dd>{entry.receiptNo || '—'}</dd></div>
          <div><dt>レジNo.</dt><dd>{entry.registerNo || '—'}</dd></div>
          <div><dt>合計</dt><dd>{yen(entry.total)}</dd></div>
          <div><dt>支払い方法</dt><dd>{entry.paymentMethod || '—'}</dd></div>
          {th && <div><dt>撮影</dt><dd>{hms(th.capturedAt, tz)}（ずれ{th.skewKnown === false ? ': ' : ' '}{skewOf(th)}）</dd></div>}
        </dl>
      </div>
    </div>
  );
}

/** The owner's way back to the checklist while it is not complete. */
export function SetupReminder({ progress }: { progress: ProgressFragment }) {
  const left = STEPS.filter(([, , , k]) => !progress[k]);
  if (progress.complete || left.length === 0) return null;
  return (
    <section class="panel" aria-labelledby="setup-h" data-testid="setup-reminder">
      <h2 id="setup-h">初期設定</h2>
      <div class="panel-body" style="display:flex;gap:12px;align-items:center;flex-wrap:wrap">
        <span>あと {left.length} ステップです: {left.map(([, n, t]) => `${n} ${t}`).join('、')}</span>
        <a class="btn primary" href="#/setup">初期設定を続ける</a>
      </div>
    </section>
  );
}
