// The link portal's レジの時計と受信状況: per POS connection its last
// reconciliation (re-reading the provider's recent days: sales that had
// vanished became 削除, changes the poller missed were recorded) with
// 今すぐ照合; per register its clock (ClockOffset.tsx), its last receipt,
// its receipts in 24 hours and the ranges of its own receipt numbers that
// never arrived (schema/feedtruth.graphql). Read by queries of their own
// (connections, then registers 20 at a time), so the link tables above stay
// usable when this part cannot be read.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { FeedHealth as FeedHealthOp, FeedTerminals, ReconcileConnection } from '../gql/ops';
import type { ConnectionCheckFragment, FeedHealthQuery, FeedTerminalPageFragment, PosConnectionProvider } from '../gql/types';
import { ago, dateTime, DEFAULT_TZ, hm } from '../format';
import { japanesePart } from '../errors/messages';
import { ClockOffsetLine, registerName } from './ClockOffset';
import '../styles/feed.css';

type Connection = NonNullable<NonNullable<NonNullable<FeedHealthQuery['posConnections']['edges']>[number]>['node']>;
type Terminal = NonNullable<NonNullable<NonNullable<FeedTerminalPageFragment['edges']>[number]>['node']>;
const nodes = <T,>(edges: ({ node: T | null } | null)[] | null): T[] => edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];
type Range = Terminal['feedHealth']['missingRanges'][number];
type Reconciliation = ConnectionCheckFragment['reconciliation'];

const PROVIDER: Record<PosConnectionProvider, string> = { SMAREGI: 'スマレジ', UBIREGI: 'ユビレジ', WEBHOOK: 'Webhook 連携', PARTNER: 'パートナー連携' };
/** Providers the server reads from (and so can read again): the others
 *  send their receipts to us, and there is nothing to re-read. */
const READABLE: ReadonlySet<PosConnectionProvider> = new Set<PosConnectionProvider>(['SMAREGI', 'UBIREGI']);
/** At most this many pages of 20 registers. */
const MAX_PAGES = 25;

/** 「レシート番号 1021〜1025 の 5 件が届いていません」; a lost range
 *  「…の 5 件は届きませんでした」. */
export function missingText(r: Pick<Range, 'from' | 'to' | 'count' | 'lost'>): string {
  const nums = r.from === r.to ? r.from : `${r.from}〜${r.to}`;
  return `レシート番号 ${nums} の ${r.count} 件${r.lost ? 'は届きませんでした' : 'が届いていません'}`;
}

/** What the last sweep found, in a sentence. */
export function reconciliationText(r: Reconciliation): string {
  if (!r.lastAt) return 'まだ照合していません。';
  const found: string[] = [];
  if (r.vanished) found.push(`連携先から消えていた取引 ${r.vanished} 件を「削除」として記録しました`);
  if (r.changed) found.push(`見落としていた修正・取消 ${r.changed} 件を記録しました`);
  const read = `直近 ${r.windowHours} 時間の ${r.checked} 件を確認し、`;
  return read + (found.length ? found.join('。') : '食い違いはありませんでした') + '。';
}

/** The sweep's error for the owner: Japanese only, never a provider's raw text. */
function errorText(e: string): string {
  return japanesePart(e) || '連携先から読み込めませんでした';
}

interface Group { c: Connection; terminals: Terminal[] }

/** The portal's order: スマレジ, ユビレジ (as its tables), then the others;
 *  oldest first within a provider. */
const ORDER: PosConnectionProvider[] = ['SMAREGI', 'UBIREGI', 'WEBHOOK', 'PARTNER'];

function groups(conns: Connection[], terminals: Terminal[]): Group[] {
  const byID = new Map<string, Group>(conns.map((c) => [c.id, { c, terminals: [] }]));
  for (const t of terminals) byID.get(t.connection.id)?.terminals.push(t);
  const rank = (p: PosConnectionProvider) => { const i = ORDER.indexOf(p); return i < 0 ? ORDER.length : i; };
  // Array.prototype.sort is stable: created order stays within a provider.
  return [...byID.values()].sort((a, b) => rank(a.c.provider) - rank(b.c.provider));
}

interface Loaded { conns: Connection[]; terminals: Terminal[] }

async function loadAll(): Promise<Loaded> {
  const d = await gql(FeedHealthOp);
  const conns = nodes(d.posConnections.edges);
  const terminals = nodes(d.terminals.edges);
  let page = d.terminals.pageInfo;
  for (let n = 1; page.hasNextPage && page.endCursor && n < MAX_PAGES; n++) {
    const more = await gql(FeedTerminals, { after: page.endCursor });
    terminals.push(...nodes(more.terminals.edges));
    page = more.terminals.pageInfo;
  }
  return { conns, terminals };
}

export function FeedHealth({ now = Date.now }: { now?: () => number }) {
  const [data, setData] = useState<Loaded | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () => loadAll().then((d) => { setData(d); setError(null); }, (e) => setError(e.message));
  useEffect(() => { void load(); }, []);

  if (!data && !error) return null; // the tables above are the page; this comes when it comes
  if (error && !data) {
    return (
      <section class="panel feed" aria-labelledby="feed-h" data-testid="feed-health">
        <div class="panel-head"><h2 id="feed-h">レジの時計と受信状況</h2></div>
        <div class="alert" role="alert" style="margin:8px 14px">受信状況を読み込めませんでした。{error}</div>
      </section>
    );
  }
  const gs = groups(data!.conns, data!.terminals);
  if (gs.length === 0) return null;
  return (
    <section class="panel feed" aria-labelledby="feed-h" data-testid="feed-health">
      <div class="panel-head"><h2 id="feed-h">レジの時計と受信状況</h2></div>
      {/* After a sweep the registers' missing ranges may have changed too: read again. */}
      {gs.map((g) => <ConnectionHealth key={g.c.id} group={g} now={now} onReconciled={() => void load()} />)}
    </section>
  );
}

function ConnectionHealth({ group: g, now, onReconciled }: { group: Group; now: () => number; onReconciled: () => void }) {
  // The sweep's own answer until the list is read again.
  const [fresh, setFresh] = useState<ConnectionCheckFragment | null>(null);
  const check = fresh ?? g.c;
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  // Seconds since 今すぐ照合: the sweep is paced to the provider's limits
  // and may take a minute; a counter says it has not hung.
  const [elapsed, setElapsed] = useState(0);
  useEffect(() => {
    if (!busy) return;
    setElapsed(0);
    const started = Date.now();
    const id = setInterval(() => setElapsed(Math.floor((Date.now() - started) / 1000)), 1000);
    return () => clearInterval(id);
  }, [busy]);
  const tz = g.terminals[0]?.shop.timezone || DEFAULT_TZ;
  const r = check.reconciliation;
  const head = `conn-${g.c.id}`;
  const provider = PROVIDER[g.c.provider] ?? g.c.provider;
  const readable = READABLE.has(g.c.provider);

  const reconcile = async () => {
    setBusy(true); setErr(null); setDone(false);
    try {
      const d = await gql(ReconcileConnection, { id: g.c.id });
      setFresh(d.reconcileConnection);
      setDone(true);
      onReconciled();
    } catch (x) {
      setErr(x instanceof ApiError ? x.message : String(x));
    } finally { setBusy(false); }
  };

  return (
    <article class="feed-conn" aria-labelledby={head} data-connection={g.c.id}>
      <div class="feed-conn-head">
        <h3 id={head}>{provider} <span class="mono">{g.c.contractID}</span>{g.c.name && g.c.name !== g.c.contractID && <span class="hint"> {g.c.name}</span>}</h3>
        {readable && <button type="button" class="btn primary" data-testid="reconcile" disabled={busy} aria-busy={busy} onClick={reconcile}>
          {busy ? <><span class="spinner" aria-hidden="true" />照合中…</> : '今すぐ照合'}
        </button>}
      </div>
      {readable ? <div class="recon" data-testid="reconciliation">
        {r.lastAt && <p><b>最終照合</b> {dateTime(r.lastAt, tz)}（{ago(r.lastAt, now())}）</p>}
        <p>
          <span data-testid="recon-text">{reconciliationText(r)}</span>
          {r.nextAt && <span class="hint">次回は {hm(r.nextAt, tz)} ごろです。</span>}
        </p>
        {r.lastError && !err && (done
          ? <div class="alert" role="alert" data-testid="recon-error">照合できませんでした。{errorText(r.lastError)}</div>
          : <div class="alert" data-testid="recon-error">前回の照合はできませんでした。{errorText(r.lastError)}</div>)}
        {check.missingReceipts > 0 && <p class="status-bad" data-testid="missing-total">届いていないレシートが {check.missingReceipts} 件あります</p>}
        <div aria-live="polite">
          {busy && <p class="hint" data-testid="recon-progress">{provider}から直近 {r.windowHours} 時間の取引を読み直しています。連携先の混み具合によって数十秒かかります。{elapsed >= 5 && <span data-testid="recon-elapsed">（{elapsed} 秒経過）</span>}</p>}
          {done && !r.lastError && <p class="status-ok" data-testid="recon-done">照合が終わりました。</p>}
        </div>
        {err && <div class="alert" role="alert" data-testid="recon-failed">照合できませんでした。{err}</div>}
      </div> : (
        <div class="recon" data-testid="reconciliation">
          <p class="hint">この連携は取引が送られてくる方式のため、連携先を読み直す照合はありません。</p>
          {check.missingReceipts > 0 && <p class="status-bad" data-testid="missing-total">届いていないレシートが {check.missingReceipts} 件あります</p>}
        </div>
      )}
      {g.terminals.length === 0 ? <p class="hint feed-none">この連携にはまだレジがありません。</p> : (
        <ul class="feed-terms">
          {g.terminals.map((t) => <TerminalHealth key={t.id} t={t} now={now} />)}
        </ul>
      )}
    </article>
  );
}

function TerminalHealth({ t, now }: { t: Terminal; now: () => number }) {
  const tz = t.shop.timezone || DEFAULT_TZ;
  const h = t.feedHealth;
  const name = t.name && t.externalID && !t.name.endsWith(t.externalID) ? `${t.name}（端末 ${t.externalID}）` : registerName(t);
  return (
    <li class="feed-term" data-terminal={t.externalID}>
      <h4>{name}</h4>
      <ClockOffsetLine clock={t.clockOffset} tz={tz} />
      <dl class="kv-list">
        <div>
          <dt>最後のレシート</dt>
          <dd data-testid="last-receipt">{h.lastReceiptAt ? `${dateTime(h.lastReceiptAt, tz)}（${ago(h.lastReceiptAt, now())}）` : h.receiptsLast24h ? '—' : 'まだありません'}</dd>
        </div>
        <div><dt>24 時間のレシート</dt><dd data-testid="receipts-24h">{h.receiptsLast24h} 件</dd></div>
      </dl>
      {h.missingRanges.length === 0 ? <p class="hint" data-testid="no-missing">抜けているレシート番号はありません</p> : (
        <ul class="missing" aria-label={`${name} の届いていないレシート`}>
          {h.missingRanges.map((m) => (
            <li data-testid="missing-range" data-lost={m.lost ? 'true' : 'false'}>
              {m.lost && <span class="badge lost">紛失</span>}
              <span class={m.lost ? undefined : 'status-bad'}>{missingText(m)}</span>
              <div class="hint">
                {m.lost
                  ? `${dateTime(m.firstNoticedAt, tz)} に気づき、${m.checks} 回探しましたが見つかりませんでした。`
                  : m.checks === 0
                    ? `${dateTime(m.firstNoticedAt, tz)} に気づきました。次の照合から探します。届きしだい記録します。`
                    : `${dateTime(m.firstNoticedAt, tz)} に気づき、照合のたびに探しています（${m.checks} 回）。届きしだい記録します。`}
              </div>
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}
