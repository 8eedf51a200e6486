// The timeline bar under the camera: receipt counts per kind over 72H / 24H
// / 6H / 1H / 10M, the current time with its LIVE marker, drag to move
// through time, wheel or +/- to zoom, click to jump the receipt list to a
// moment: the camera panel plays the recording there (and the receipt list
// jumps to it). The same works from the keyboard once the bar has the focus.
// While a recording plays, its moment is the playhead; dragging the playhead
// scrubs the recording. The stretches with no recording — regicam's own
// (LOCAL) or the camera cloud's — are hatched 録画なし (Camera.recordings,
// asked when the window moves and at most once a minute while it follows
// the clock).
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { gql } from '../api';
import { CameraRecordings, Timeline as TimelineOp } from '../gql/ops';
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

/** Tick steps a span may fall back to when its own would crowd the labels. */
const STEPS = [2 * M, 5 * M, 10 * M, 15 * M, 30 * M, H, 2 * H, 3 * H, 6 * H, 12 * H, 24 * H, 48 * H];

/** The tick step for a span drawn width px wide: the span's own step, or the
 *  next wider one whose labels have room (「2/21 00:00」 needs more than
 *  「03:00」), so a phone's 360 px bar never draws labels over each other. */
export function tickEvery(span: Span, width: number): number {
  const room = span.tickMs >= 12 * H ? 84 : 64;
  for (const step of [span.tickMs, ...STEPS.filter((s) => s > span.tickMs)]) {
    if ((step / span.ms) * width >= room) return step;
  }
  return STEPS[STEPS.length - 1];
}

export interface TickLabel { t: number; x: number; text: string; anchor: 'start' | 'middle' | 'end'; shown: boolean }

/** Places the tick labels of a bar width px wide: kept inside the bar, and
 *  a label that would touch one already placed is left out (its tick line
 *  stays). Dated labels (a new day) are placed first, so the day is never
 *  the one that gives way. */
export function placeLabels(items: { t: number; x: number; text: string }[], width: number): TickLabel[] {
  // 10 px digits are about 5.6 px wide; a little more keeps clear of fonts.
  const w = (text: string) => text.length * 6;
  const out: TickLabel[] = items.map(({ t, x, text }) => {
    const half = w(text) / 2;
    return { t, x, text, anchor: x > width - half ? 'end' : x < half ? 'start' : 'middle', shown: false };
  });
  const span = (l: TickLabel): [number, number] => {
    const left = l.anchor === 'start' ? l.x : l.anchor === 'end' ? l.x - w(l.text) : l.x - w(l.text) / 2;
    return [left, left + w(l.text)];
  };
  const placed: [number, number][] = [];
  const order = [...out].sort((a, b) => Number(b.text.includes('/')) - Number(a.text.includes('/')) || a.x - b.x);
  for (const l of order) {
    const [a, b] = span(l);
    if (placed.some(([c, d]) => a < d + 8 && c < b + 8)) continue;
    placed.push([a, b]);
    l.shown = true;
  }
  return out;
}

const z2 = (n: number) => String(n).padStart(2, '0');
function tickLabel(t: number, every: number, tz: string): string {
  const w = wall(t, tz);
  const hm = `${z2(w.h)}:${z2(w.mi)}`;
  return every >= 12 * H || (w.h === 0 && w.mi === 0) ? `${w.mo}/${w.d} ${hm}` : hm;
}
const dated = (t: number, tz: string) => tickLabel(t, 12 * H, tz);

/** 「6時間」「10分」: a span as the instructions read it. */
const spanWords = (s: Span) => (s.ms >= H ? `${s.ms / H}時間` : `${s.ms / M}分`);

/** The span the bar opens with and goes back to. */
export const DEFAULT_SPAN = 1;

interface Props {
  cameraID: string;
  tz: string;
  /** Bumped when live events arrive, to refresh the counts. */
  refresh: number;
  /** Occurred-at of the selected receipt, marked on the bar. */
  selectedAt: number | null;
  /** The moment the list was jumped to, marked on the bar (null: none). */
  pickedAt?: number | null;
  /** A click on the bar (or Enter): play that moment (and jump the list there). */
  onPick: (t: number) => void;
  /** The moment the player shows (null: live); drawn as the playhead. */
  playheadAt?: number | null;
  /** The playhead dragged: play the recording at t. */
  onSeek?: (t: number) => void;
  /** Bumped to go back to now with the default span. */
  reset?: number;
  /** Whether the bar follows the current time (false once moved back). */
  onLiveChange?: (live: boolean) => void;
  /** Shown at the end of the bar's header (the dashboard's 「今に戻る」). */
  actions?: ComponentChildren;
  now?: () => number;
  /** A camera of the camera cloud (its recording list costs cloud calls). */
  cloud?: boolean;
}

/** Camera.recordings answers for at most this long a window. */
export const RECORDINGS_MAX_MS = 72 * H;
/** A live bar asks the cloud for its recording list at most this often. */
export const RECORDINGS_EVERY_MS = 60_000;

interface Recs { cameraID: string; spanMs: number; source: string | null; gaps: { from: number; to: number }[]; message: string | null }

/** The recording gaps of the window [from, to) (at most 72 h): asked at once
 *  when the window is moved or zoomed, and while the bar follows the clock
 *  at most once a minute (a cloud camera's list costs cloud calls). */
function useRecordingGaps(cameraID: string, from: number, to: number, spanMs: number, live: boolean, now: () => number) {
  const [recs, setRecs] = useState<Recs | null>(null);
  const [tick, setTick] = useState(0);
  const last = useRef(-Infinity);
  const latest = useRef(recs);
  latest.current = recs;
  useEffect(() => {
    if (!live) return;
    const id = setInterval(() => setTick((n) => n + 1), RECORDINGS_EVERY_MS);
    return () => clearInterval(id);
  }, [live]);
  useEffect(() => {
    const r = latest.current;
    const same = !!r && r.cameraID === cameraID && r.spanMs === spanMs;
    const wait = live && same ? Math.max(0, last.current + RECORDINGS_EVERY_MS - now()) : 250;
    const ctl = new AbortController();
    const t = setTimeout(() => {
      last.current = now();
      const qFrom = Math.max(from, to - RECORDINGS_MAX_MS);
      gql(CameraRecordings, { cameraID, from: new Date(qFrom).toISOString(), to: new Date(to).toISOString() }, ctl.signal)
        .then((d) => {
          const rec = d.cameras.edges?.[0]?.node?.recordings;
          // NONE: nothing is recorded for this camera; no 録画なし marks then.
          const none = rec?.source === 'NONE';
          setRecs({
            cameraID, spanMs, source: rec?.source ?? null,
            gaps: none ? [] : (rec?.gaps ?? []).map((g) => ({ from: Date.parse(g.from), to: Date.parse(g.to) })),
            message: rec?.message ?? null,
          });
        })
        .catch((e) => { if (!ctl.signal.aborted) setRecs({ cameraID, spanMs, source: latest.current?.source ?? null, gaps: latest.current?.gaps ?? [], message: e.message }); });
    }, wait);
    return () => { clearTimeout(t); ctl.abort(); };
  }, [cameraID, from, to, spanMs, tick]);
  return recs && recs.cameraID === cameraID ? recs : null;
}

export function Timeline({ cameraID, tz, refresh, selectedAt, pickedAt = null, onPick, playheadAt = null, onSeek, reset = 0, onLiveChange, actions, now = Date.now, cloud = false }: Props) {
  const [spanIdx, setSpanIdx] = useState(DEFAULT_SPAN);
  const [live, setLive] = useState(true);
  const [end, setEnd] = useState(now());
  const [clock, setClock] = useState(now());
  const [loaded, setLoaded] = useState<{ bucket: BucketSize; rows: Bucket[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const svgRef = useRef<SVGSVGElement>(null);
  const helpID = useId();
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

  useEffect(() => {
    if (reset === 0) return;
    setSpanIdx(DEFAULT_SPAN);
    setLive(true);
    setEnd(now());
  }, [reset]);

  const recs = useRecordingGaps(cameraID, from, to, span.ms, live, now);
  // Whether this camera has a recording whose gaps are marked.
  const recorded = cloud || (!!recs?.source && recs.source !== 'NONE');
  const patternID = 'nomark-' + useId().replace(/[^A-Za-z0-9_-]/g, '');
  const gapsShown = (recs?.gaps ?? []).filter((g) => g.to > from && g.from < Math.min(to, clock));
  const gapWords = (g: { from: number; to: number }) => `録画なし ${tickLabel(Math.max(g.from, from), 12 * H, tz)} から ${tickLabel(Math.min(g.to, to), 12 * H, tz)} まで`;

  const liveCb = useRef(onLiveChange);
  liveCb.current = onLiveChange;
  useEffect(() => { liveCb.current?.(live); }, [live]);

  // Draw in real pixels so labels are not stretched, and choose the ticks by
  // the width actually there.
  const [W, setW] = useState(1000);
  useLayoutEffect(() => {
    const el = svgRef.current;
    if (!el) return;
    const w0 = Math.round(el.getBoundingClientRect().width);
    if (w0 > 0) setW(w0);
    if (typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(([e]) => { if (e.contentRect.width > 0) setW(Math.round(e.contentRect.width)); });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const TOP = 14, BOTTOM = 72, HGT = 92;
  const x = (t: number) => ((t - from) / span.ms) * W;
  const max = Math.max(1, ...(buckets ?? []).map((b) => b.total));
  const bw = Math.max(1, (span.bucketMs / span.ms) * W - 1);
  const every = tickEvery(span, W);

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

  const drag = useRef<{ x: number; end: number; moved: boolean; width: number; scrub?: boolean } | null>(null);
  const timeAt = (clientX: number) => {
    const r = svgRef.current!.getBoundingClientRect();
    return Math.min(now(), from + Math.min(1, Math.max(0, (clientX - r.left) / (r.width || W))) * span.ms);
  };
  const onPointerDown = (e: PointerEvent) => {
    const el = svgRef.current!;
    el.setPointerCapture?.(e.pointerId);
    const r = el.getBoundingClientRect();
    const width = r.width || W;
    // Grabbing the playhead scrubs the recording; anywhere else drags the bar.
    const scrub = playheadAt !== null && !!onSeek && Math.abs(e.clientX - (r.left + (x(playheadAt) / W) * width)) <= 12;
    drag.current = { x: e.clientX, end: live ? clock : end, moved: false, width, scrub };
    if (scrub) setDragging(true);
  };
  const onPointerMove = (e: PointerEvent) => {
    const d = drag.current;
    if (!d) return;
    if (d.scrub) { d.moved = true; onSeek?.(timeAt(e.clientX)); return; }
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
    if (!d || (d.moved && !d.scrub)) return;
    if (d.scrub) { onSeek?.(timeAt(e.clientX)); return; }
    onPick(timeAt(e.clientX));
  };
  const onKey = (e: KeyboardEvent) => {
    const step = span.ms / 4;
    if (e.key === 'ArrowLeft') pan(-step);
    else if (e.key === 'ArrowRight') pan(step);
    else if (e.key === '+' || e.key === '=') zoom(1);
    else if (e.key === '-') zoom(-1);
    else if (e.key === 'End') pan(Infinity);
    else if (e.key === 'Enter' || e.key === ' ') onPick(Math.min(now(), (from + to) / 2));
    else return;
    e.preventDefault();
  };

  const nowX = x(clock);
  const midX = x((from + to) / 2);
  const shownTo = Math.min(to, clock);
  const minute = (t: number) => Math.floor(t / M);
  // The svg's tabindex is written in lower case: Preact sets an SVG
  // attribute as it is spelt, and SVG ignores "tabIndex".
  return (
    <section class="panel timeline" aria-label="タイムライン">
      <div class="bar-head">
        <div class="spans" role="radiogroup" aria-label="表示期間">
          {SPANS.map((s, i) => (
            <button role="radio" aria-checked={i === spanIdx} tabIndex={i === spanIdx ? 0 : -1} onClick={() => setSpanIdx(i)}
              onKeyDown={(e) => {
                const n = e.key === 'ArrowRight' || e.key === 'ArrowDown' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowUp' ? -1 : 0;
                if (!n) return;
                e.preventDefault();
                const j = (i + n + SPANS.length) % SPANS.length;
                setSpanIdx(j);
                ((e.currentTarget as HTMLElement).parentElement?.children[j] as HTMLElement | undefined)?.focus();
              }}>{s.label}</button>
          ))}
        </div>
        <span class="range">{dated(from, tz)} – {dated(shownTo, tz)}</span>
        {error && <span class="field-error">{error}</span>}
        {actions}
      </div>
      <p id={helpID} class="sr-only">
        ←→キーで前後に移動、+と−キーで表示期間を拡大・縮小、Enterキーで真ん中の時刻の録画を再生（一覧もその時刻へ移動）、Endキーで今に戻ります。クリックした時刻の録画を再生し、再生位置の線をドラッグすると録画を早送り・巻き戻しできます。
      </p>
      <svg
        ref={svgRef}
        class={dragging ? 'dragging' : ''}
        viewBox={`0 0 ${W} ${HGT}`}
        data-from={new Date(from).toISOString()}
        data-to={new Date(to).toISOString()}
        tabindex={0}
        role="slider"
        aria-label="タイムライン"
        aria-describedby={helpID}
        aria-valuemin={0}
        aria-valuemax={minute(clock)}
        aria-valuenow={minute(shownTo)}
        aria-valuetext={`${dated(from, tz)} から ${dated(shownTo, tz)} まで (${spanWords(span)}表示${live ? '、現在' : ''})`}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={() => { drag.current = null; setDragging(false); }}
        onKeyDown={onKey}
      >
        {recorded && (
          <defs>
            <pattern id={patternID} width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
              <rect width="2" height="6" fill="#868e96" />
            </pattern>
          </defs>
        )}
        {gapsShown.map((g) => {
          const gx = Math.max(0, x(g.from));
          const gw = Math.max(2, Math.min(W, x(Math.min(g.to, clock))) - gx);
          return (
            <g class="nomark" data-testid="nomark" data-from={new Date(g.from).toISOString()} data-to={new Date(g.to).toISOString()}>
              <title>{gapWords(g)}</title>
              <rect x={gx} y={TOP} width={gw} height={BOTTOM - TOP} fill={`url(#${patternID})`} opacity="0.45" />
              <rect x={gx} y={BOTTOM - 4} width={gw} height={4} fill="#868e96" />
              {gw >= 48 && <text x={gx + gw / 2} y={TOP + 12} font-size="10" fill="#495057" text-anchor="middle">録画なし</text>}
            </g>
          );
        })}
        <line x1={0} x2={W} y1={BOTTOM} y2={BOTTOM} stroke="#c5d0dc" vector-effect="non-scaling-stroke" />
        {placeLabels(ticks(from, to, every, tz).map((t) => ({ t, x: x(t), text: tickLabel(t, every, tz) })), W).map((l) => (
          <g class="tick">
            <line x1={l.x} x2={l.x} y1={TOP} y2={BOTTOM + 3} stroke="#e3e8ee" vector-effect="non-scaling-stroke" />
            {l.shown && <text x={l.x} y={HGT - 4} font-size="10" fill="#5f6b7a" text-anchor={l.anchor}>{l.text}</text>}
          </g>
        ))}
        {(buckets ?? []).map((b) => {
          if (b.total === 0) return null;
          const bx = x(Date.parse(b.start));
          let y = BOTTOM;
          return (
            <g data-kind-total={b.total}>
              <title>{tickLabel(Date.parse(b.start), every, tz)} 計{b.total}件 (支払い{b.payment} キャンセル{b.cancel} 修正{b.modify} 削除{b.delete} その他{b.other})</title>
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
        {pickedAt !== null && pickedAt >= from && pickedAt <= to && (
          <line class="picked" x1={x(pickedAt)} x2={x(pickedAt)} y1={TOP - 4} y2={BOTTOM} stroke="var(--navy)" stroke-width="2" stroke-dasharray="4 3" vector-effect="non-scaling-stroke" />
        )}
        {selectedAt !== null && selectedAt >= from && selectedAt <= to && (
          <line x1={x(selectedAt)} x2={x(selectedAt)} y1={TOP - 4} y2={BOTTOM} stroke="var(--accent)" stroke-width="2" vector-effect="non-scaling-stroke" />
        )}
        {playheadAt !== null && playheadAt >= from && playheadAt <= to && (
          <g class="playhead" data-testid="playhead" data-at={new Date(playheadAt).toISOString()}>
            <line x1={x(playheadAt)} x2={x(playheadAt)} y1={TOP - 6} y2={BOTTOM} stroke="#f08c00" stroke-width="3" vector-effect="non-scaling-stroke" />
            <path d={`M${x(playheadAt) - 6} ${TOP - 10} h12 l-6 7 z`} fill="#f08c00" />
          </g>
        )}
        {nowX >= 0 && nowX <= W && (
          <g class="now-marker">
            <line x1={nowX} x2={nowX} y1={2} y2={BOTTOM} stroke="var(--live)" stroke-width="2" vector-effect="non-scaling-stroke" />
            {live && <text x={Math.min(nowX - 3, W - 3)} y={11} font-size="10" font-weight="700" fill="var(--live)" text-anchor="end">LIVE</text>}
          </g>
        )}
        {/* Where Enter jumps to; drawn only while the bar has the keyboard focus. */}
        <line class="kbd-cursor" x1={midX} x2={midX} y1={TOP - 4} y2={BOTTOM} stroke="#1c7ed6" stroke-width="2" vector-effect="non-scaling-stroke" />
      </svg>
      <div class="legend" aria-hidden="true">
        {KINDS.map(([, label, color]) => <span><i style={{ background: color }} />{label}</span>)}
        {recorded && <span><i class="nomark-legend" />録画なし</span>}
        {playheadAt !== null && <span><i class="playhead-legend" />再生位置</span>}
        {buckets && buckets.every((b) => b.total === 0) && <span>この期間のレシートはありません</span>}
      </div>
      {recorded && (
        // The slider's children are not read out: the gaps are listed here for screen readers.
        <div class="sr-only" data-testid="nomark-list">
          {gapsShown.length === 0 ? (recs && !recs.message ? 'この期間に録画なしの時間はありません' : '') : gapsShown.map((g) => <span>{gapWords(g)}。</span>)}
        </div>
      )}
      {(recorded || cloud) && recs?.message && <p class="hint" data-testid="recordings-message" style="margin:2px 10px 6px">{recs.message}</p>}
    </section>
  );
}
