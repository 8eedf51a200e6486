// The camera panel is a player: the live frame (refreshed every second from
// /cameras/{id}/live.jpg), or a recorded moment — a selected receipt's clip
// played from its lead-in with the receipt's second marked (components/
// Player.tsx), or the recording around a moment picked on the timeline.
// A receipt without a playable clip shows the camera's own full-resolution
// frame of its second, with zoom, the second it was taken and how far that
// is from the sale, and says why there is no video; 「静止画」 shows that
// frame for a receipt with a clip too. Badges sit in a bar above the picture,
// never on it: a camera writes its own caption into a corner of the frame
// (the simulated camera at the top left, camera/simulated.go), and that is
// evidence no overlay may hide.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Entry } from '../journalList';
import { japanesePart } from '../errors/messages';
import { correctedText, dateTime, hms, reasonText, skewOf } from '../format';
import { Persons, stillComing } from './ReceiptCard';
import { AddToCaseButton } from './AddToCase';
import { Player } from './Player';
import { ShareButton } from './ShareLinks';
import { playbackURL, type Win } from '../playback';
import '../styles/camera.css';

export interface CameraInfo {
  id: string;
  name: string;
  model: string;
  deviceID: string;
  status: { recording: boolean; online: boolean; lastSeenAt: string | null; lastError: string | null };
  /** CLOUD: a camera of the camera cloud (its recording, its person events). */
  sourceKind?: string | null;
  /** The cloud's word on whether it records (null: unknown or not a cloud camera). */
  streaming?: boolean | null;
}

export function cameraLabel(c: { name: string; model: string; deviceID: string; sourceKind?: string | null }): string {
  // A cloud camera's name is the cloud's label already (「名前 (機種 : シリアル)」).
  if (c.sourceKind === 'CLOUD') return c.name;
  return `${c.name} (${c.model} : ${c.deviceID})`;
}

/**
 * How a time in tz is labelled: 日本時間 for Tokyo, else the zone's short
 * name (PST, GMT+7), so a time beside a camera's own clock is never a guess.
 */
export function zoneLabel(tz: string): string {
  if (tz === 'Asia/Tokyo') return '日本時間';
  try {
    const p = new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: 'short' }).formatToParts(new Date());
    return p.find((x) => x.type === 'timeZoneName')?.value ?? tz;
  } catch {
    return tz;
  }
}

/** A moment of the recording picked on the timeline: the window played
 *  and where in it to be (seq: seek there again). */
export interface Moment { t: number; win: Win; seq: number }

interface Props {
  camera: CameraInfo;
  tz: string;
  selected: Entry | null;
  /** A moment picked on the timeline; it wins over a selected receipt. */
  moment?: Moment | null;
  onBackToLive: () => void;
  /** The moment on screen while a recording plays (the timeline's playhead). */
  onMoment?: (t: number) => void;
  /** A step or drag past what is loaded: play the recording at t. */
  onOutside?: (t: number) => void;
  /** The timeline's window was played to its end. */
  onEnded?: () => void;
  /** Refresh period of the live picture; tests set it long. */
  everyMs?: number;
}

export function CameraView({ camera, tz, selected, moment = null, onBackToLive, onMoment, onOutside, onEnded, everyMs = 1000 }: Props) {
  const recorded = !!moment || !!selected;
  return (
    <section class="panel camview" aria-label="カメラ">
      <div class="panel-head">
        <span class={'dot ' + (camera.status.online ? 'on' : camera.status.recording ? 'off' : '')} aria-hidden="true" />
        <span>{cameraLabel(camera)}</span>
        {camera.sourceKind === 'CLOUD' && <span class="badge cloud">クラウド</span>}
        {camera.sourceKind === 'CLOUD' && camera.streaming === false && <span class="badge warn">録画停止中</span>}
        {selected && <AddToCaseButton entry={selected} tz={tz} />}
        {recorded && (
          <button class="btn small back-live" style="margin-left:auto" data-testid="back-to-live" onClick={onBackToLive}>
            <span aria-hidden="true" class="live-dot">● </span>ライブに戻る
          </button>
        )}
      </div>
      {moment ? <RecordedMoment camera={camera} tz={tz} moment={moment} onMoment={onMoment} onOutside={onOutside} onEnded={onEnded} />
        : selected ? <ReceiptMoment key={selected.id} entry={selected} tz={tz} onMoment={onMoment} onOutside={onOutside} />
        : <LivePicture camera={camera} tz={tz} everyMs={everyMs} />}
    </section>
  );
}

/** The recording around a moment picked on the timeline. */
function RecordedMoment({ camera, tz, moment, onMoment, onOutside, onEnded }: { camera: CameraInfo; tz: string; moment: Moment } & Pick<Props, 'onMoment' | 'onOutside' | 'onEnded'>) {
  const url = playbackURL(camera.id, moment.win);
  return (
    <>
      <div class="picbar">
        <span class="badge rec">録画</span>
        <span class="bar-time">{dateTime(moment.t, tz)} <small>({zoneLabel(tz)})</small></span>
      </div>
      <Player
        source={{ url, win: moment.win, start: moment.t, seq: moment.seq }}
        tz={tz}
        label={`${camera.name} の録画 ${dateTime(moment.t, tz)} から`}
        onMoment={onMoment}
        onOutside={onOutside}
        onEnded={onEnded}
        tools={<a class="btn small" href={url} download data-testid="moment-download">ダウンロード</a>}
      />
    </>
  );
}

/** A selected receipt: its clip when the recording has one (unless the
 *  owner asked for the still frame), else its picture. */
function ReceiptMoment({ entry, tz, onMoment, onOutside }: { entry: Entry; tz: string } & Pick<Props, 'onMoment' | 'onOutside'>) {
  const clip = entry.clip;
  const [still, setStill] = useState(false);
  if (!clip?.url || still) return <ReceiptPicture entry={entry} tz={tz} toVideo={clip?.url ? () => setStill(false) : undefined} />;
  const win = { from: Date.parse(clip.from), to: Date.parse(clip.to) };
  const mark = clip.mark ? Date.parse(clip.mark) : Date.parse(entry.correctedAt ?? entry.occurredAt);
  return (
    <>
      <div class="picbar">
        <span class={'badge k-' + entry.kind}>{entry.kindLabel}</span>
        <span class="bar-time">{dateTime(entry.occurredAt, tz)} <small>({zoneLabel(tz)})</small></span>
        <span class="bar-tools">
          <button type="button" class="btn small" data-testid="show-still" onClick={() => setStill(true)}>静止画</button>
        </span>
      </div>
      <Player
        source={{ url: clip.url, win, start: win.from, mark }}
        tz={tz}
        label={`レシート ${entry.receiptNo || ''} の前後の動画`}
        onMoment={onMoment}
        onOutside={onOutside}
        tools={<>
          {clip.downloadURL && <a class="btn small" href={clip.downloadURL} download data-testid="clip-download">ダウンロード</a>}
          <ShareButton entryID={entry.id} receiptNo={entry.receiptNo} tz={tz} />
        </>}
      />
      <div class="caption" data-testid="picture-caption">
        <span>レシートNo. <b>{entry.receiptNo || '—'}</b></span>
        {entry.correctedAt && <span data-testid="corrected-time" title="レジの時計のずれを補正した時刻で動画の位置を決めています">{correctedText(entry, tz)}</span>}
        <span class="hint"><i class="mark-key" aria-hidden="true" />レシートの時刻 {hms(mark, tz)}</span>
        <Persons n={entry.personsNearby} />
      </div>
    </>
  );
}

function ReceiptPicture({ entry, tz, toVideo }: { entry: Entry; tz: string; toVideo?: () => void }) {
  const th = entry.thumbnail;
  const pic = entry.picture;
  const zone = zoneLabel(tz);
  const [full, setFull] = useState(false);
  const stage = useRef<HTMLDivElement>(null);
  const drag = useRef<{ x: number; y: number; left: number; top: number } | null>(null);

  // At 100% the view starts on the middle of the frame, where the till is,
  // rather than its top-left corner.
  useEffect(() => {
    const s = stage.current;
    if (!s || !full || !pic) return;
    s.scrollLeft = Math.max(0, (pic.width - s.clientWidth) / 2);
    s.scrollTop = Math.max(0, (pic.height - s.clientHeight) / 2);
  }, [full, pic]);

  const onPointerDown = (e: PointerEvent) => {
    const s = stage.current;
    if (!full || !s) return;
    drag.current = { x: e.clientX, y: e.clientY, left: s.scrollLeft, top: s.scrollTop };
    (e.currentTarget as HTMLElement).setPointerCapture?.(e.pointerId);
    e.preventDefault();
  };
  const onPointerMove = (e: PointerEvent) => {
    const s = stage.current;
    const d = drag.current;
    if (!s || !d) return;
    s.scrollLeft = d.left - (e.clientX - d.x);
    s.scrollTop = d.top - (e.clientY - d.y);
  };
  const onPointerUp = () => { drag.current = null; };

  const alt = `レシート ${entry.receiptNo} の撮影画像`;
  return (
    <>
      <div class="picbar">
        <span class={'badge k-' + entry.kind}>{entry.kindLabel}</span>
        <span class="bar-time">{dateTime(entry.occurredAt, tz)} <small>({zone})</small></span>
        {(pic || toVideo) && (
          <span class="bar-tools">
            {toVideo && <button type="button" class="btn small" data-testid="show-video" onClick={toVideo}>動画</button>}
            {pic && <button type="button" class="btn small" data-testid="picture-zoom" aria-pressed={full} onClick={() => setFull(!full)}>
              {full ? '全体を表示' : '100%で表示'}
            </button>}
            {pic && <a class="btn small" href={pic.url} target="_blank" rel="noopener">別タブで開く</a>}
          </span>
        )}
      </div>
      <div
        ref={stage}
        class={'stage' + (full ? ' zoomed' : '')}
        data-zoom={pic ? (full ? '100' : 'fit') : undefined}
        // At 100% the stage scrolls: focusable, so arrow keys pan it too.
        tabIndex={full ? 0 : undefined}
        role={full ? 'group' : undefined}
        aria-label={full ? '等倍の画像 (ドラッグ・スクロール・矢印キーで移動)' : undefined}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={onPointerUp}
      >
        {pic ? (
          <img data-testid="receipt-picture" data-source="picture" src={pic.url} alt={alt} width={pic.width} height={pic.height} draggable={false} />
        ) : th ? (
          <img data-testid="receipt-picture" data-source="thumbnail" src={th.url} alt={alt} width={th.width} height={th.height} />
        ) : (
          // The sentence without its code; a picture still to come is not 画像なし.
          <div class="nopic">{entry.thumbnailReason && stillComing(entry.thumbnailReason) ? reasonText(entry.thumbnailReason) : `画像なし${entry.thumbnailReason ? `: ${reasonText(entry.thumbnailReason)}` : ''}`}</div>
        )}
      </div>
      <div class="caption" data-testid="picture-caption">
        <span>レシートNo. <b>{entry.receiptNo || '—'}</b></span>
        {/* The register's clock was off: the picture is of the corrected
            second, and its skew is measured against that (schema/ent.graphql
            JournalEntry.correctedAt). */}
        {entry.correctedAt && <span data-testid="corrected-time" title="レジの時計のずれを補正した時刻で画像を選んでいます">{correctedText(entry, tz)}</span>}
        {(pic || th) && <span>撮影 <b>{hms((pic ?? th)!.capturedAt, tz)}</b> ({zone})</span>}
        {th && (th.skewKnown === false ? <span data-testid="picture-skew">ずれ: 不明（クラウド録画）</span> : <span data-testid="picture-skew">{entry.correctedAt ? '補正後の時刻との' : ''}ずれ <b>{skewOf(th)}</b></span>)}
        <Persons n={entry.personsNearby} />
        {pic && <span class="hint">{pic.width}×{pic.height}</span>}
        {!toVideo && <ClipLine clip={entry.clip} />}
        {!pic && th && <span class="hint" data-testid="picture-fallback">高解像度の画像が残っていないため、縮小画像 ({th.width}×{th.height}) を拡大して表示しています</span>}
      </div>
    </>
  );
}

/** Why the seconds around the receipt cannot be played (a cloud camera's
 *  API has no video, nothing was recorded then …). */
function ClipLine({ clip }: { clip?: Entry['clip'] | null }) {
  if (!clip || clip.url || !clip.unavailableReason) return null;
  // A JPEG camera on a server without ffmpeg: its frames still download (ZIP).
  if (clip.downloadURL) {
    return (
      <span class="hint clip-none" data-testid="clip">動画: {clip.unavailableReason}{' '}
        <a class="btn small" href={clip.downloadURL} download data-testid="clip-download">ダウンロード</a>
      </span>
    );
  }
  return <span class="hint clip-none" data-testid="clip">動画: {clip.unavailableReason}</span>;
}

/** How often a CLOUD camera's live frame is asked for. */
export const CLOUD_LIVE_MS = 5000;

function retryAfterMs(h: string | null): number {
  const s = Number(h);
  return Number.isFinite(s) && s > 0 ? Math.min(s, 60) * 1000 : 0;
}

function LivePicture({ camera, tz, everyMs }: { camera: CameraInfo; tz: string; everyMs: number }) {
  const [src, setSrc] = useState<string | null>(null);
  const [at, setAt] = useState<string | null>(null);
  const [failed, setFailed] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    let url: string | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ctl = new AbortController();
    // A cloud camera's live frame is the cloud's thumbnail, fetched within
    // a per-viewer budget of cloud calls (20 a minute, shared with the
    // timeline's recorded spans): every 5 s keeps one open dashboard well
    // inside it. A refusal (429) keeps the last frame and waits as told.
    const period = camera.sourceKind === 'CLOUD' ? Math.max(everyMs, CLOUD_LIVE_MS) : everyMs;
    const tick = async () => {
      let wait = period;
      if (document.visibilityState !== 'hidden') {
        try {
          const res = await fetch(`/cameras/${encodeURIComponent(camera.id)}/live.jpg`, { credentials: 'same-origin', cache: 'no-store', signal: ctl.signal });
          if (res.ok) {
            const blob = await res.blob();
            if (stopped) return;
            const next = URL.createObjectURL(blob);
            if (url) URL.revokeObjectURL(url);
            url = next;
            setSrc(next);
            setAt(res.headers.get('X-Captured-At'));
            setFailed(null);
          } else if (res.status === 429) {
            wait = Math.max(period, retryAfterMs(res.headers.get('Retry-After')));
            if (!stopped && !url) setFailed('映像の取得が混み合っています。少し待つと表示されます');
          } else if (res.status === 503) {
            // 「まだ映像がありません」: no frame yet (a new camera, an RTSP
            // camera's newest seconds not decoded yet). A picture already
            // shown stays; ask again when the server says.
            wait = Math.max(period, retryAfterMs(res.headers.get('Retry-After')));
            if (!stopped && !url) setFailed('まだ映像がありません');
          } else if (!stopped) {
            setFailed(res.status === 404 ? 'まだ映像がありません' : `映像を取得できません (HTTP ${res.status})`);
          }
        } catch {
          if (stopped) return;
          setFailed('映像を取得できません');
        }
      }
      if (!stopped) timer = setTimeout(tick, wait);
    };
    void tick();
    return () => {
      stopped = true;
      ctl.abort();
      clearTimeout(timer);
      if (url) URL.revokeObjectURL(url);
      setSrc(null);
    };
  }, [camera.id, camera.sourceKind, everyMs]);

  return (
    <>
      <div class="picbar">
        <span class="badge live">● LIVE</span>
        {at && <span class="bar-time" data-testid="live-time">撮影 {dateTime(at, tz)} <small>({zoneLabel(tz)})</small></span>}
      </div>
      <div class="stage">
        {src ? <img src={src} alt={`${camera.name} のライブ映像`} /> : <div class="nopic">{failed ?? <><span class="spinner" />映像を読み込み中…</>}</div>}
      </div>
      <div class="caption">
        {failed && src ? <span class="status-bad">{failed}</span> : <span class="hint">レシートを選ぶとその瞬間の画像を表示します</span>}
        {camera.status.lastError && <span class="status-bad">{japanesePart(camera.status.lastError) || '映像を取得できません'}</span>}
      </div>
    </>
  );
}
