// The camera panel's recorded moment: a <video> of one window of the
// camera's recording (a receipt's clip, or a stretch around a moment picked
// on the timeline), its own scrub bar with the receipt's second marked, play
// / pause, and ← / → (a second while playing, a frame while paused). A step
// or a drag past the window asks the parent for another window there
// (onOutside); playing to its end asks for the next (onEnded).
//
// The video is fetched whole (the server builds an answer whole before its
// first byte anyway) so its X-Recording-Start is read: the moment video
// time 0 shows, which is the first recorded frame at or before `from`, not
// `from` itself. An answer that is not video says why in the server's
// words, with the nearest recorded spans one click away.
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { japanesePart } from '../errors/messages';
import { hms, wall } from '../format';
import { fraction, momentAt, stepMs, videoTime, type Win } from '../playback';
import '../styles/player.css';

export interface PlayerSource {
  /** The video: a clip URL or /cameras/{id}/playback?from&to. */
  url: string;
  /** The window the video covers (video time 0 is win.from). */
  win: Win;
  /** Where to start, and where to go when it changes (a pick inside the window). */
  start: number;
  /** Bumped to seek to `start` again although it did not change. */
  seq?: number;
  /** The receipt's second, marked on the scrub bar. */
  mark?: number | null;
}

interface Props {
  source: PlayerSource;
  tz: string;
  /** What the video shows, for screen readers (「レシート 0042 の前後の動画」). */
  label: string;
  /** The moment on screen, as it plays or is stepped (the timeline's playhead). */
  onMoment?: (t: number) => void;
  /** A step or drag past the window: open another window at t. */
  onOutside?: (t: number) => void;
  /** Played to the end of the window. */
  onEnded?: () => void;
  /** Shown in the bar under the video, after the time (download, share). */
  tools?: ComponentChildren;
}

const z2 = (n: number) => String(n).padStart(2, '0');
/** 14:03:21.4 — the moment on screen to a tenth of a second. */
export function clockText(t: number, tz: string): string {
  const w = wall(t, tz);
  return `${z2(w.h)}:${z2(w.mi)}:${z2(w.s)}.${Math.floor((((t % 1000) + 1000) % 1000) / 100)}`;
}

type VideoWithFrames = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: (now: number, meta: { mediaTime: number }) => void) => number;
  cancelVideoFrameCallback?: (id: number) => void;
};

/** The playback header: the moment video time 0 shows. */
export const HEADER_START = 'X-Recording-Start';

interface Failure { message: string; nearest: Win[] }

/** Why a video URL gave no video, in the server's words (apperr.WriteHTTP
 *  answers a GraphQL-shaped error; a span without recording lists the
 *  nearest recorded spans in extensions.nearest). */
export async function failureOf(res: Response): Promise<Failure> {
  try {
    const body = await res.json();
    const e = body?.errors?.[0];
    if (e) {
      const nearest = (Array.isArray(e.extensions?.nearest) ? e.extensions.nearest : [])
        .map((n: { from: string; to: string }) => ({ from: Date.parse(n.from), to: Date.parse(n.to) }))
        .filter((n: Win) => Number.isFinite(n.from) && Number.isFinite(n.to));
      return { message: japanesePart(e.message) || e.message, nearest };
    }
  } catch { /* not JSON */ }
  return { message: res.status === 404 ? 'この時間の録画はありません' : `動画を取得できません (HTTP ${res.status})`, nearest: [] };
}

export function Player({ source, tz, label, onMoment, onOutside, onEnded, tools }: Props) {
  const video = useRef<VideoWithFrames>(null);
  const bar = useRef<HTMLDivElement>(null);
  const [pos, setPos] = useState(source.start);
  const [paused, setPaused] = useState(false);
  const [ready, setReady] = useState(false);
  const [error, setError] = useState<Failure | null>(null);
  // The fetched video and the moment its time 0 shows.
  const [media, setMedia] = useState<{ url: string; src: string; origin: number } | null>(null);
  const origin = useRef(source.win.from);
  const frameMs = useRef<number | null>(null);
  const scrubbing = useRef(false);
  const win = source.win;
  const winRef = useRef(win);
  winRef.current = win;
  const cb = useRef({ onMoment, onOutside, onEnded });
  cb.current = { onMoment, onOutside, onEnded };
  const helpID = useId();

  /** The window as the video counts it: time 0 at the recording's start. */
  const zero = (): Win => ({ from: origin.current, to: winRef.current.to });
  // The moment on screen, also between renders (keys repeat faster).
  const posRef = useRef(source.start);
  const show = (t: number) => {
    posRef.current = t;
    setPos(t);
    cb.current.onMoment?.(t);
  };

  // A new URL: fetch it whole, then play it from `start` (muted: a browser
  // plays a muted video without a gesture; cameras here have no sound).
  useEffect(() => {
    const ctl = new AbortController();
    let obj: string | null = null;
    setReady(false);
    setError(null);
    setMedia(null);
    (async () => {
      try {
        const res = await fetch(source.url, { credentials: 'same-origin', signal: ctl.signal });
        if (!res.ok) { setError(await failureOf(res)); return; }
        const type = res.headers.get('Content-Type') ?? '';
        if (type && !type.startsWith('video/')) { setError({ message: 'この録画はブラウザーで再生できない形式です。ダウンロードしてご覧ください', nearest: [] }); return; }
        const start = Date.parse(res.headers.get(HEADER_START) ?? '');
        const blob = await res.blob();
        if (ctl.signal.aborted) return;
        obj = URL.createObjectURL(blob);
        origin.current = Number.isFinite(start) ? start : source.win.from;
        setMedia({ url: source.url, src: obj, origin: origin.current });
      } catch {
        if (!ctl.signal.aborted) setError({ message: 'サーバーに接続できません。ネットワークを確認してください', nearest: [] });
      }
    })();
    return () => { ctl.abort(); if (obj) URL.revokeObjectURL(obj); };
  }, [source.url]);

  // Each frame painted: where the video is, and how far apart frames are.
  useEffect(() => {
    const v = video.current;
    if (!v || !media) return;
    frameMs.current = null;
    let lastMedia = -1;
    let rvfc = 0;
    const onFrame = (_: number, meta: { mediaTime: number }) => {
      if (lastMedia >= 0 && meta.mediaTime > lastMedia) {
        const d = (meta.mediaTime - lastMedia) * 1000;
        // The smallest step seen is the frame interval (drops only widen it).
        if (d > 5 && (frameMs.current === null || d < frameMs.current)) frameMs.current = d;
      }
      lastMedia = meta.mediaTime;
      setReady(true);
      if (!scrubbing.current) show(momentAt(zero(), meta.mediaTime));
      rvfc = v.requestVideoFrameCallback!(onFrame);
    };
    if (v.requestVideoFrameCallback) rvfc = v.requestVideoFrameCallback(onFrame);
    else setReady(true);
    return () => { if (rvfc) v.cancelVideoFrameCallback?.(rvfc); };
  }, [media]);

  // Start (or jump, for a pick inside the same window) at `start`.
  useEffect(() => {
    const v = video.current;
    if (!v || !media) return;
    const go = () => {
      const s = videoTime(zero(), source.start);
      // Video time 0 already: no seek, so the first frame comes at once.
      if (Math.abs(v.currentTime - s) > 0.01) v.currentTime = s;
      show(source.start);
      v.play()?.catch?.(() => setPaused(true));
    };
    if (v.readyState >= 1) go();
    else {
      v.addEventListener('loadedmetadata', go, { once: true });
      return () => v.removeEventListener('loadedmetadata', go);
    }
  }, [media, source.start, source.seq]);

  const seek = (t: number) => {
    const v = video.current;
    if (!v) return;
    const w = winRef.current;
    if (t < Math.max(w.from, origin.current) || t > w.to) {
      cb.current.onOutside?.(t);
      return;
    }
    v.currentTime = videoTime(zero(), t);
    show(t);
  };
  const step = (dir: 1 | -1) => {
    const v = video.current;
    seek(posRef.current + dir * stepMs(!!v?.paused, frameMs.current));
  };
  const toggle = () => {
    const v = video.current;
    if (!v) return;
    if (v.paused) void v.play()?.catch?.(() => {});
    else v.pause();
  };

  const onKey = (e: KeyboardEvent) => {
    const tag = (e.target as HTMLElement | null)?.tagName;
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return;
    if (e.key === 'ArrowLeft') step(-1);
    else if (e.key === 'ArrowRight') step(1);
    else if ((e.key === ' ' || e.key === 'k') && tag !== 'BUTTON' && tag !== 'A') toggle();
    else return;
    e.preventDefault();
    // The receipt sheet turns to the next receipt on ← / →: not from here.
    e.stopPropagation();
  };

  const at = (e: PointerEvent) => {
    const r = bar.current!.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (e.clientX - r.left) / (r.width || 1)));
    return win.from + f * (win.to - win.from);
  };
  const onBarDown = (e: PointerEvent) => {
    (e.currentTarget as HTMLElement).setPointerCapture?.(e.pointerId);
    scrubbing.current = true;
    seek(at(e));
  };
  const onBarMove = (e: PointerEvent) => { if (scrubbing.current) seek(at(e)); };
  const onBarUp = () => { scrubbing.current = false; };

  const mark = source.mark ?? null;
  const markIn = mark !== null && mark >= win.from && mark <= win.to;
  const durS = Math.round((win.to - win.from) / 1000);
  return (
    <div class="player" onKeyDown={onKey} data-testid="player-root">
      <div class="stage" onClick={() => video.current?.focus()}>
        <video
          ref={video}
          data-testid="player"
          data-from={new Date(win.from).toISOString()}
          data-to={new Date(win.to).toISOString()}
          data-start={media ? new Date(media.origin).toISOString() : undefined}
          data-mark={mark !== null ? new Date(mark).toISOString() : undefined}
          data-ready={ready ? 'true' : 'false'}
          src={media?.src}
          muted
          autoplay
          playsInline
          preload="auto"
          tabIndex={0}
          aria-label={label}
          aria-describedby={helpID}
          onPlay={() => setPaused(false)}
          onPause={() => setPaused(true)}
          onSeeked={(e) => { if (!scrubbing.current) show(momentAt(zero(), (e.currentTarget as HTMLVideoElement).currentTime)); }}
          onEnded={() => cb.current.onEnded?.()}
          onError={() => { if (media) setError({ message: 'この動画を再生できません（ブラウザーが対応していない形式です）。ダウンロードしてご覧ください', nearest: [] }); }}
        />
        {error ? (
          <div class="nopic player-error" role="alert" data-testid="player-error">
            <p>{error.message}</p>
            {error.nearest.length > 0 && onOutside && (
              <p class="player-nearest">近くの録画:{' '}
                {error.nearest.slice(0, 3).map((n) => (
                  <button type="button" class="btn small" onClick={() => cb.current.onOutside?.(n.from)}>{hms(n.from, tz)}〜{hms(n.to, tz)}</button>
                ))}
              </p>
            )}
          </div>
        ) : !ready && <div class="nopic player-wait" aria-hidden="true"><span class="spinner" />動画を読み込み中…</div>}
      </div>
      <p id={helpID} class="sr-only">←→キーで再生中は1秒、一時停止中は1コマずつ移動、スペースキーで再生と一時停止を切り替えます。</p>
      <div class="player-controls">
        <button type="button" class="btn icon" data-testid="player-play" aria-label={paused ? '再生' : '一時停止'} onClick={toggle}>
          <span aria-hidden="true">{paused ? '▶' : '❚❚'}</span>
        </button>
        <button type="button" class="btn icon" data-testid="player-back" aria-label={paused ? '1コマ戻る' : '1秒戻る'} onClick={() => step(-1)}><span aria-hidden="true">‹</span></button>
        <button type="button" class="btn icon" data-testid="player-fwd" aria-label={paused ? '1コマ進む' : '1秒進む'} onClick={() => step(1)}><span aria-hidden="true">›</span></button>
        <span class="player-time" data-testid="player-time" data-at={new Date(pos).toISOString()}>{clockText(pos, tz)}</span>
        <div
          ref={bar}
          class="scrub"
          role="slider"
          tabIndex={0}
          aria-label="再生位置"
          aria-valuemin={0}
          aria-valuemax={durS}
          aria-valuenow={Math.round((pos - win.from) / 1000)}
          aria-valuetext={clockText(pos, tz)}
          onPointerDown={onBarDown}
          onPointerMove={onBarMove}
          onPointerUp={onBarUp}
          onPointerCancel={onBarUp}
        >
          <div class="scrub-track"><div class="scrub-fill" style={{ width: `${fraction(win, pos) * 100}%` }} /></div>
          {markIn && <div class="scrub-mark" data-testid="scrub-mark" style={{ left: `${fraction(win, mark!) * 100}%` }} title={`レシートの時刻 ${clockText(mark!, tz)}`} />}
          <div class="scrub-head" style={{ left: `${fraction(win, pos) * 100}%` }} />
        </div>
        {tools && <span class="player-tools">{tools}</span>}
      </div>
    </div>
  );
}
