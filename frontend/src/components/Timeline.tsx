// The timeline bar under the camera: receipt counts per kind over 72H / 24H
// / 6H / 1H / 10M, the current time with its LIVE marker, drag to move
// through time, wheel or +/- to zoom, click to show the receipts of a moment.
import { useEffect, useRef, useState } from 'preact/hooks';
import { gql } from '../api';
import { Timeline as TimelineOp } from '../gql/ops';
import type { BucketSize, TimelineQuery } from '../gql/types';
import { tzOffset, wall } from '../format';

export interface Span { label: string; ms: number; bucket: BucketSize; bucketMs: number; tickMs: number }
const H = 3_600_000, M = 60_000;
export const SPANS: Span[] = [
  { label: '72H', ms: 72 * H, bucket: 'HOUR_1', bucketMs: H, tickMs: 12 * H },
  { label: '24H', ms: 24 * H, bucket: 'MINUTES_15', bucketMs: 15 * M, tickMs: 3 * H },
  { label: '6H', ms: 6 * H, bucket: 'MINUTES_5', bucketMs: 5 * M, tickMs: H },
  { label: '1H', ms: H, bucket: 'MINUTE_1', bucketMs: M, tickMs: 10 * M },
  { label: '10M', ms: 10 * M, bucket: 'SECONDS_10', bucketMs: 10_000, tickMs: 2 * M },
];

type Bucket = TimelineQuery['timelineBuckets'][number];
const KINDS = [
  ['payment', '支払い', 'var(--payment)'],
  ['cancel', 'キャンセル', 'var(--cancel)'],
  ['modify', '修正', 'var(--modify)'],
  ['delete', '削除', 'var(--delete)'],
  ['other', 'その他', 'var(--other)'],
] as const;

/** The window [from, to) shown for a span ending at end, on bar boundaries. */
export function windowFor(span: Span, end: number): { from: number; to: number } {
  const to = Math.floor(end / span.bucketMs) * span.bucketMs + span.bucketMs;
  return { from: to - span.ms, to };
}

/** Tick instants on the shop's wall-clock boundaries (every 3 h from 00:00 …). */
export function ticks(from: number, to: number, every: number, tz: string): number[] {
  const off = tzOffset(from, tz);
  const out: number[] = [];
  for (let t = Math.ceil((from + off) / every) * every - off; t <= to; t += every) out.push(t);
  return out;
}

const z2 = (n: number) => String(n).padStart(2, '0');
function tickLabel(t: number, span: Span, tz: string): string {
  const w = wall(t, tz);
  const hm = `${z2(w.h)}:${z2(w.mi)}`;
  return span.tickMs >= 12 * H || (w.h === 0 && w.mi === 0) ? `${w.mo}/${w.d} ${hm}` : hm;
}

interface Props {
  cameraID: string;
  tz: string;
  /** Bumped when live events arrive, to refresh the counts. */
  refresh: number;
  /** Occurred-at of the selected receipt, marked on the bar. */
  selectedAt: number | null;
  /** A click on the bar: show the receipts up to that moment. */
  onPick: (t: number) => void;
  now?: () => number;
}

export function Timeline({ cameraID, tz, refresh, selectedAt, onPick, now = Date.now }: Props) {
  const [spanIdx, setSpanIdx] = useState(1);
  const [live, setLive] = useState(true);
  const [end, setEnd] = useState(now());
  const [clock, setClock] = useState(now());
  const [loaded, setLoaded] = useState<{ bucket: BucketSize; rows: Bucket[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const svgRef = useRef<SVGSVGElement>(null);
  const span = SPANS[spanIdx];
  // Bars of another width (the answer for the span before) are not drawn.
  const buckets = loaded && loaded.bucket === span.bucket ? loaded.rows : null;
  const shownEnd = live ? clock : end;
  const { from, to } = windowFor(span, shownEnd);

  // The clock moves the LIVE marker; 10M needs seconds, wider spans less.
  useEffect(() => {
    const id = setInterval(() => setClock(now()), span.ms <= 10 * M ? 1000 : 5000);
    return () => clearInterval(id);
  }, [span.ms]);

  // A slow refresh catches what no live event reported (other tabs' kinds).
  const [poll, setPoll] = useState(0);
  useEffect(() => {
    if (!live) return;
    const id = setInterval(() => setPoll((p) => p + 1), 30_000);
    return () => clearInterval(id);
  }, [live]);

  useEffect(() => {
    const ctl = new AbortController();
    const t = setTimeout(() => {
      gql(TimelineOp, { cameraID, from: new Date(from).toISOString(), to: new Date(to).toISOString(), bucket: span.bucket }, ctl.signal)
        .then((d) => { setLoaded({ bucket: span.bucket, rows: d.timelineBuckets }); setError(null); })
        .catch((e) => { if (!ctl.signal.aborted) setError(e.message); });
    }, loaded ? 150 : 0);
    return () => { clearTimeout(t); ctl.abort(); };
  }, [cameraID, from, to, span.bucket, refresh, poll]);

  // Draw in real pixels so labels are not stretched.
  const [W, setW] = useState(1000);
  useEffect(() => {
    const el = svgRef.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(([e]) => { if (e.contentRect.width > 0) setW(Math.round(e.contentRect.width)); });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const TOP = 14, BOTTOM = 72, HGT = 92;
  const x = (t: number) => ((t - from) / span.ms) * W;
  const max = Math.max(1, ...(buckets ?? []).map((b) => b.total));
  const bw = Math.max(1, (span.bucketMs / span.ms) * W - 1);

  const zoom = (dir: number) => setSpanIdx((i) => Math.min(SPANS.length - 1, Math.max(0, i + dir)));
  const pan = (ms: number) => {
    const base = live ? clock : end;
    const next = Math.min(now(), base + ms);
    if (next >= now() - 1000) { setLive(true); setEnd(now()); } else { setLive(false); setEnd(next); }
  };

  useEffect(() => {
    const el = svgRef.current;
    if (!el) return;
    const onWheel = (e: WheelEvent) => { e.preventDefault(); zoom(e.deltaY > 0 ? -1 : 1); };
    el.addEventListener('wheel', onWheel, { passive: false });
    return () => el.removeEventListener('wheel', onWheel);
  }, []);

  const drag = useRef<{ x: number; end: number; moved: boolean; width: number } | null>(null);
  const onPointerDown = (e: PointerEvent) => {
    const el = svgRef.current!;
    el.setPointerCapture?.(e.pointerId);
    drag.current = { x: e.clientX, end: live ? clock : end, moved: false, width: el.getBoundingClientRect().width || W };
  };
  const onPointerMove = (e: PointerEvent) => {
    const d = drag.current;
    if (!d) return;
    const dx = e.clientX - d.x;
    if (!d.moved && Math.abs(dx) < 4) return;
    d.moved = true;
    setDragging(true);
    const next = Math.min(now(), d.end - (dx / d.width) * span.ms);
    if (next >= now() - 1000) { setLive(true); setEnd(now()); } else { setLive(false); setEnd(next); }
  };
  const onPointerUp = (e: PointerEvent) => {
    const d = drag.current;
    drag.current = null;
    setDragging(false);
    if (!d || d.moved) return;
    const r = svgRef.current!.getBoundingClientRect();
    const t = from + ((e.clientX - r.left) / (r.width || W)) * span.ms;
    onPick(Math.min(now(), t));
  };
  const onKey = (e: KeyboardEvent) => {
    const step = span.ms / 4;
    if (e.key === 'ArrowLeft') pan(-step);
    else if (e.key === 'ArrowRight') pan(step);
    else if (e.key === '+' || e.key === '=') zoom(1);
    else if (e.key === '-') zoom(-1);
    else if (e.key === 'End') pan(Infinity);
    else if (e.key === 'Enter') onPick(Math.min(now(), (from + to) / 2));
    else return;
    e.preventDefault();
  };

  const nowX = x(clock);
  return (
    <section class="panel timeline" aria-label="タイムライン">
      <div class="bar-head">
        <div class="spans" role="radiogroup" aria-label="表示期間">
          {SPANS.map((s, i) => (
            <button role="radio" aria-checked={i === spanIdx} onClick={() => setSpanIdx(i)}>{s.label}</button>
          ))}
        </div>
        <span class="range">{tickLabel(from, { ...span, tickMs: 12 * H }, tz)} – {tickLabel(Math.min(to, clock), { ...span, tickMs: 12 * H }, tz)}</span>
        {!live && <button class="btn small" onClick={() => { setLive(true); setEnd(now()); }}>● LIVE に戻る</button>}
        {error && <span class="field-error">{error}</span>}
      </div>
      <svg
        ref={svgRef}
        class={dragging ? 'dragging' : ''}
        viewBox={`0 0 ${W} ${HGT}`}
        tabIndex={0}
        role="slider"
        aria-label="タイムライン (←→で移動、+−で拡大縮小、Enterでその時刻のレシート)"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={live ? 100 : 50}
        aria-valuetext={`${tickLabel(from, { ...span, tickMs: 12 * H }, tz)} から ${span.label}`}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={() => { drag.current = null; setDragging(false); }}
        onKeyDown={onKey}
      >
        <line x1={0} x2={W} y1={BOTTOM} y2={BOTTOM} stroke="#c5d0dc" vector-effect="non-scaling-stroke" />
        {ticks(from, to, span.tickMs, tz).map((t) => (
          <g>
            <line x1={x(t)} x2={x(t)} y1={TOP} y2={BOTTOM + 3} stroke="#e3e8ee" vector-effect="non-scaling-stroke" />
            <text x={x(t)} y={HGT - 4} font-size="10" fill="#5f6b7a" text-anchor={x(t) > W - 24 ? 'end' : x(t) < 24 ? 'start' : 'middle'}>{tickLabel(t, span, tz)}</text>
          </g>
        ))}
        {(buckets ?? []).map((b) => {
          if (b.total === 0) return null;
          const bx = x(Date.parse(b.start));
          let y = BOTTOM;
          return (
            <g data-kind-total={b.total}>
              <title>{tickLabel(Date.parse(b.start), span, tz)} 計{b.total}件 (支払い{b.payment} キャンセル{b.cancel} 修正{b.modify} 削除{b.delete} その他{b.other})</title>
              {KINDS.map(([k, , color]) => {
                const n = b[k];
                if (!n) return null;
                const h = ((BOTTOM - TOP) * n) / max;
                y -= h;
                return <rect class={`mark-${k}`} x={bx} y={y} width={bw} height={h} fill={color} />;
              })}
            </g>
          );
        })}
        {selectedAt !== null && selectedAt >= from && selectedAt <= to && (
          <line x1={x(selectedAt)} x2={x(selectedAt)} y1={TOP - 4} y2={BOTTOM} stroke="var(--accent)" stroke-width="2" vector-effect="non-scaling-stroke" />
        )}
        {nowX >= 0 && nowX <= W && (
          <g class="now-marker">
            <line x1={nowX} x2={nowX} y1={2} y2={BOTTOM} stroke="var(--live)" stroke-width="2" vector-effect="non-scaling-stroke" />
            {live && <text x={Math.min(nowX - 3, W - 3)} y={11} font-size="10" font-weight="700" fill="var(--live)" text-anchor="end">LIVE</text>}
          </g>
        )}
      </svg>
      <div class="legend" aria-hidden="true">
        {KINDS.map(([, label, color]) => <span><i style={{ background: color }} />{label}</span>)}
        {buckets && buckets.every((b) => b.total === 0) && <span>この期間のレシートはありません</span>}
      </div>
    </section>
  );
}
