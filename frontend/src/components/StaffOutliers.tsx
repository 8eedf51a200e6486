// スタッフ分析 (#/staff): per staff member the cancels, corrections,
// deletions, refunds and discounts per 100 sales against their peers
// (median and MAD, schema/investigate.graphql); a flagged rate is marked and
// says its score. A staff member's name opens their receipts of the period.
// Below, card ↔ register mismatches still unexplained.
import { useEffect, useState } from 'preact/hooks';
import { gql } from '../api';
import { AnalysisShops, CardMismatches, StaffEntries, StaffOutliers as StaffOutliersOp } from '../gql/ops';
import type { CardMatchRowFragment, JournalWhere, PreviewExampleFragment, StaffMetric, StaffOutliersQuery, StaffRowFragment } from '../gql/types';
import { cardMismatchText } from '../cardMatch';
import { DEFAULT_TZ, parseIsoDay, isoDay, startOfDay, addDays, dateTime, yen } from '../format';
import { ExampleRow } from './RuleBuilder';
import '../styles/rules.css';
import '../styles/staff.css';

export const METRICS: [StaffMetric, string][] = [['CANCEL', 'キャンセル'], ['MODIFY', '修正'], ['DELETE', '削除'], ['REFUND', '返金'], ['DISCOUNT', '値引き']];
const metricLabel = (m: StaffMetric) => METRICS.find((x) => x[0] === m)?.[1] ?? m;
type Report = StaffOutliersQuery['staffOutliers'];
const f1 = (n: number) => n.toLocaleString('ja-JP', { maximumFractionDigits: 1, minimumFractionDigits: 1 });

export function StaffOutliers({ now = Date.now }: { now?: () => number }) {
  const [shops, setShops] = useState<{ id: string; name: string; timezone: string }[] | null>(null);
  const [picked, setPicked] = useState<string[]>([]);
  const [period, setPeriod] = useState<'7' | '30' | 'range'>('7');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [report, setReport] = useState<Report | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [metric, setMetric] = useState<StaffMetric>('CANCEL');
  const [open, setOpen] = useState<StaffRowFragment | null>(null);
  const tz = shops?.[0]?.timezone || DEFAULT_TZ;

  useEffect(() => { gql(AnalysisShops).then((d) => setShops(d.shops.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []), (e) => setErr(e.message)); }, []);

  const range = (): { from: string; to: string } | string => {
    const today = startOfDay(now(), tz);
    if (period !== 'range') return { from: new Date(addDays(today, -Number(period) + 1, tz)).toISOString(), to: new Date(addDays(today, 1, tz)).toISOString() };
    const a = parseIsoDay(from, tz), b = parseIsoDay(to, tz);
    if (a === null || b === null) return '開始日と終了日を選んでください';
    if (a > b) return '開始日が終了日より後になっています';
    return { from: new Date(a).toISOString(), to: new Date(addDays(b, 1, tz)).toISOString() };
  };
  const load = async () => {
    const r = range();
    if (typeof r === 'string') { setErr(r); return; }
    setBusy(true); setErr(null); setOpen(null);
    try {
      const d = await gql(StaffOutliersOp, { input: { ...r, shopIDs: picked.length ? picked : undefined } });
      setReport(d.staffOutliers);
    } catch (x) { setErr((x as Error).message); setReport(null); } finally { setBusy(false); }
  };
  useEffect(() => { if (shops) void load(); }, [shops, period, picked.join()]);

  return (
    <div class="stack" data-testid="staff-outliers">
      <h1 class="page-h">スタッフ分析</h1>
      <section class="panel" aria-labelledby="staff-h">
        <h2 id="staff-h">担当者ごとの取消・修正の多さ</h2>
        <div class="panel-body">
          <div class="staff-controls">
            <div class="seg" role="group" aria-label="期間">
              {([['7', '過去 7 日'], ['30', '過去 30 日'], ['range', '日付を指定']] as const).map(([v, l]) => (
                <button type="button" aria-pressed={period === v} onClick={() => { setPeriod(v); if (v === 'range' && !from) { const t = startOfDay(now(), tz); setFrom(isoDay(addDays(t, -13, tz), tz)); setTo(isoDay(t, tz)); } }}>{l}</button>
              ))}
            </div>
            {period === 'range' && (
              <div class="staff-dates">
                <label>開始日 <input class="input" type="date" value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} /></label>
                <label>終了日 <input class="input" type="date" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} /></label>
                <button type="button" class="btn primary" onClick={() => void load()}>集計する</button>
              </div>
            )}
            {shops && shops.length > 1 && (
              <div class="check-row" role="group" aria-label="店舗">
                {shops.map((s) => (
                  <label class="check"><input type="checkbox" checked={picked.includes(s.id)} onChange={() => setPicked((p) => (p.includes(s.id) ? p.filter((x) => x !== s.id) : [...p, s.id]))} />{s.name}</label>
                ))}
              </div>
            )}
          </div>
          <p class="hint">売上 100 件あたりの件数です。同じ店舗の担当者の中央値から大きく離れた値に印がつきます（印にマウスを重ねるとスコア）。売上が少ない担当者には印をつけません。</p>
          {err && <div class="alert" role="alert">{err}</div>}
          {busy && !report && <div class="loading"><span class="spinner" />集計中…</div>}
        </div>
        {report && (report.staff.length === 0 ? <div class="empty">この期間の取引はありません。</div> : (
          <>
            <StaffTable report={report} onOpen={setOpen} />
            <div class="panel-body">
              <StaffChart report={report} metric={metric} onMetric={setMetric} />
            </div>
          </>
        ))}
      </section>
      {open && <StaffReceipts staff={open} tz={tz} onClose={() => setOpen(null)} />}
      <CardMismatchList tz={tz} shopIDs={picked} />
    </div>
  );
}

/** The table: one row per staff member, a cell per metric; flagged cells marked. */
export function StaffTable({ report, onOpen }: { report: Report; onOpen: (s: StaffRowFragment) => void }) {
  const peer = (m: StaffMetric) => report.peers.find((p) => p.metric === m);
  return (
    <div class="table-scroll">
      <table class="grid staff-table" data-testid="staff-table">
        <thead><tr><th>担当</th><th class="r">売上件数</th>{METRICS.map(([m, l]) => <th class="r">{l}<span class="hint th-sub">（中央値 {f1(peer(m)?.median ?? 0)}）</span></th>)}</tr></thead>
        <tbody>
          {report.staff.map((s) => (
            <tr data-staff={s.staffName} class={s.flagged ? 'flagged-row' : undefined}>
              <td data-label="担当">
                <button type="button" class="linkish" onClick={() => onOpen(s)} aria-label={`${s.staffName || '（担当なし）'} の取引を見る`}>{s.staffName || '（担当なし）'}</button>
                {s.flagged && <span class="badge warn">要確認</span>}
              </td>
              <td data-label="売上件数" class="r">{s.sales.toLocaleString('ja-JP')}</td>
              {METRICS.map(([m, l]) => {
                const r = s.rates.find((x) => x.metric === m);
                if (!r) return <td data-label={l} class="r">—</td>;
                const tip = `スコア ${f1(r.score)}（基準 ${f1(report.threshold)}）・${r.count} 件`;
                return (
                  <td data-label={l} class={'r' + (r.flagged ? ' flagged' : '')} data-metric={m} title={tip} data-flagged={r.flagged || undefined}>
                    {f1(r.per100)}{r.flagged && <span class="flag-mark"> ▲<span class="sr-only">目立って多い、{tip}</span></span>}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Each staff member's rate of one metric as a bar, the peers' median as a line. */
export function StaffChart({ report, metric, onMetric }: { report: Report; metric: StaffMetric; onMetric: (m: StaffMetric) => void }) {
  const rows = report.staff.map((s) => ({ s, r: s.rates.find((x) => x.metric === metric) }));
  const median = report.peers.find((p) => p.metric === metric)?.median ?? 0;
  const max = Math.max(median, ...rows.map((x) => x.r?.per100 ?? 0), 0.1);
  const W = 400, bar = 18, gap = 8, left = 90, H = rows.length * (bar + gap) + 20;
  const x = (v: number) => left + (v / max) * (W - left - 50);
  return (
    <figure class="staff-chart">
      <div class="field" style="max-width:240px">
        <label for="staff-metric">グラフの項目</label>
        <select id="staff-metric" value={metric} onChange={(e) => onMetric((e.target as HTMLSelectElement).value as StaffMetric)}>
          {METRICS.map(([m, l]) => <option value={m}>{l}</option>)}
        </select>
      </div>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${metricLabel(metric)}（売上 100 件あたり）: ` + rows.map(({ s, r }) => `${s.staffName || '担当なし'} ${f1(r?.per100 ?? 0)}`).join('、') + `。中央値 ${f1(median)}`}>
        {rows.map(({ s, r }, i) => {
          const y = i * (bar + gap) + 4;
          return (
            <g>
              <text x={left - 6} y={y + bar - 5} text-anchor="end" class="lbl">{(s.staffName || "担当なし").slice(0, 6)}</text>
              <rect x={left} y={y} width={Math.max(0, x(r?.per100 ?? 0) - left)} height={bar} class={r?.flagged ? 'bar flagged' : 'bar'} />
              <text x={x(r?.per100 ?? 0) + 4} y={y + bar - 5} class="val">{f1(r?.per100 ?? 0)}</text>
            </g>
          );
        })}
        <line x1={x(median)} x2={x(median)} y1={0} y2={H - 14} class="median" />
        <text x={x(median)} y={H - 2} text-anchor="middle" class="val">中央値 {f1(median)}</text>
      </svg>
    </figure>
  );
}

/** A staff member's receipts of the period (StaffOutlier.entriesWhere). */
function StaffReceipts({ staff, tz, onClose }: { staff: StaffRowFragment; tz: string; onClose: () => void }) {
  const [entries, setEntries] = useState<PreviewExampleFragment[] | null>(null);
  const [more, setMore] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    setEntries(null);
    gql(StaffEntries, { where: staff.entriesWhere as JournalWhere, first: 50 }).then((d) => {
      setEntries(d.journal.edges.map((e) => e.node)); setMore(d.journal.pageInfo.hasNextPage);
    }, (e) => setErr(e.message));
  }, [staff.staffName]);
  return (
    <section class="panel" aria-labelledby="staff-entries-h" data-testid="staff-entries">
      <div class="panel-head">
        <h2 id="staff-entries-h">{staff.staffName || '（担当なし）'} の取引</h2>
        <button type="button" class="btn small" style="margin-left:auto" onClick={onClose}>閉じる</button>
      </div>
      <div class="panel-body">
        {err && <div class="alert" role="alert">{err}</div>}
        {!entries ? !err && <div class="loading"><span class="spinner" />読み込み中…</div> : entries.length === 0 ? <div class="empty">取引はありません。</div> : (
          <ul class="examples">{entries.map((e) => <ExampleRow e={e} tz={tz} />)}</ul>
        )}
        {more && <p class="hint">新しい 50 件を表示しています。</p>}
      </div>
    </section>
  );
}

/** Card ↔ register mismatches (CardMatch UNMATCHED), newest first. */
export function CardMismatchList({ tz, shopIDs }: { tz: string; shopIDs: string[] }) {
  const [rows, setRows] = useState<CardMatchRowFragment[] | null>(null);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    gql(CardMismatches, { shopIDs: shopIDs.length ? shopIDs : undefined, first: 20 }).then((d) => setRows(d.cardMatches), (e) => setErr(e.message));
  }, [shopIDs.join()]);
  return (
    <section class="panel" aria-labelledby="card-mm-h" data-testid="card-mismatches">
      <h2 id="card-mm-h">カード端末とレジの不一致</h2>
      {err && <div class="alert" role="alert" style="margin:8px 14px">{err}</div>}
      {!rows ? !err && <div class="loading"><span class="spinner" />読み込み中…</div> : rows.length === 0 ? <div class="empty">不一致はありません。</div> : (
        <table class="grid">
          <thead><tr><th>日時</th><th>金額</th><th>内容</th><th>取引</th></tr></thead>
          <tbody>
            {rows.map((m) => (
              <tr data-match={m.id}>
                <td data-label="日時">{dateTime(m.occurredAt, tz)}</td>
                <td data-label="金額">{yen(m.amount)}</td>
                <td data-label="内容">{cardMismatchText(m.side)}</td>
                <td data-label="取引">No.{m.entry.receiptNo} レジ {m.entry.registerNo}{m.entry.staffName && ` ・ 担当 ${m.entry.staffName}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
