// The player's arithmetic, apart from the DOM: which stretch of a camera's
// recording to ask for when the owner picks a moment on the timeline, where
// a moment lies in the video that came back, and how far ← / → step.
//
// A recorded moment is played as a window [from, to) of the recording
// (GET /cameras/{id}/playback?from&to, or a receipt's clip URL); the
// server's fMP4 starts its timeline at `from`, so video time 0 is `from`.

/** How far before the picked moment a window starts: the seconds leading up
 *  to it are what the owner wants to see. */
export const LEAD_MS = 5_000;
/** How long a window is: long enough to watch on, short enough to come fast. */
export const WINDOW_MS = 60_000;
/** A moment this near now is the live picture, not a recording. */
export const LIVE_EDGE_MS = 3_000;
/** ← / → while playing. */
export const STEP_MS = 1_000;
/** ← / → while paused, until the video has told its frame interval. */
export const DEFAULT_FRAME_MS = 200;

export interface Win { from: number; to: number }

/** The window that plays moment t: from LEAD_MS before it, WINDOW_MS long,
 *  never past now (nothing is recorded there yet); on whole seconds, so the
 *  same pick asks the same URL. */
export function windowAt(t: number, now: number, lead = LEAD_MS): Win {
  const end = Math.floor(now / 1000) * 1000;
  let from = Math.floor((t - lead) / 1000) * 1000;
  let to = from + WINDOW_MS;
  if (to > end) {
    to = end;
    from = Math.min(from, to - WINDOW_MS / 2);
  }
  return { from, to };
}

/** Whether t can be shown from the window already loaded (the last second is
 *  left out: a frame there may not be in the file yet). */
export function inWindow(w: Win, t: number): boolean {
  return t >= w.from && t < w.to - 500;
}

/** A moment at the live edge: the live picture shows it. */
export function isLiveMoment(t: number, now: number): boolean {
  return t >= now - LIVE_EDGE_MS;
}

/** The window that follows w once it has been played to its end (playing on
 *  through the timeline): starts where w ended, minus a second of overlap. */
export function nextWindow(w: Win, now: number): Win | null {
  if (w.to >= Math.floor(now / 1000) * 1000 - 1000) return null;
  return windowAt(w.to - 1000, now, 0);
}

/** Seconds into the window's video of moment t. */
export function videoTime(w: Win, t: number): number {
  return Math.max(0, (t - w.from) / 1000);
}

/** The moment shown at video time s. */
export function momentAt(w: Win, s: number): number {
  return w.from + s * 1000;
}

/** Where a moment sits on a bar of the window, 0…1. */
export function fraction(w: Win, t: number): number {
  if (w.to <= w.from) return 0;
  return Math.min(1, Math.max(0, (t - w.from) / (w.to - w.from)));
}

/** How far ← / → move: a second while playing; one frame while paused (the
 *  frame interval the video showed, else DEFAULT_FRAME_MS). */
export function stepMs(paused: boolean, frameMs: number | null): number {
  if (!paused) return STEP_MS;
  return frameMs && frameMs > 5 && frameMs <= 2000 ? frameMs : DEFAULT_FRAME_MS;
}

/** /cameras/{id}/playback?from&to (RFC 3339, UTC). */
export function playbackURL(cameraID: string, w: Win): string {
  const iso = (t: number) => new Date(t).toISOString().replace('.000Z', 'Z');
  return `/cameras/${encodeURIComponent(cameraID)}/playback?from=${encodeURIComponent(iso(w.from))}&to=${encodeURIComponent(iso(w.to))}`;
}

/** Whether moment t falls into one of the gaps (録画なし). */
export function inGap(gaps: readonly Win[], t: number): boolean {
  return gaps.some((g) => t >= g.from && t < g.to);
}

/** 1.2 GB, 350 MB, 12 KB (decimal units, as disks are sold). */
export function bytesText(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** 72時間 → 「3日」; hours as the retention reads. */
export function hoursText(h: number): string {
  if (h >= 48 && h % 24 === 0) return `${h / 24}日`;
  return `${h}時間`;
}

/** A camera's recording state as the owner reads it. */
export const RECORDING_STATE: Record<string, string> = {
  RECORDING: '録画中',
  STARTING: '接続中',
  OFFLINE: 'オフライン（再接続中）',
  AUTH_FAILED: '認証エラー',
  DISK_FULL: 'ディスクがいっぱい',
  ERROR: 'エラー',
  OFF: '録画していません',
};
