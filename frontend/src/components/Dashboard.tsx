// The dashboard of one camera: its player (live, a receipt's clip, or the
// recording at a moment picked on the timeline), the timeline under it and
// the receipt list beside it; on a narrow screen the list under the
// timeline, and the clip of a tapped receipt in a sheet over it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { gql } from '../api';
import { DashboardCameras } from '../gql/ops';
import type { DashboardCamerasQuery } from '../gql/types';
import { DEFAULT_TZ, startOfDay } from '../format';
import type { Entry } from '../journalList';
import type { LiveOptions } from '../live';
import { navigate } from '../router';
import { CameraView, cameraLabel, type CameraInfo, type Moment } from './CameraView';
import { inWindow, isLiveMoment, nextWindow, windowAt } from '../playback';
import { ClockBanner } from './ClockOffset';
import { ReceiptList } from './ReceiptList';
import { ReceiptSheet } from './ReceiptSheet';
import { Timeline } from './Timeline';
import '../styles/dashboard.css';

/** Below this width there is no room for the list beside the picture
 *  (dashboard.css draws the same line). */
export const NARROW = '(max-width: 899.98px)';

function useMedia(query: string): boolean {
  const get = () => typeof matchMedia === 'function' && matchMedia(query).matches;
  const [on, setOn] = useState(get);
  useEffect(() => {
    if (typeof matchMedia !== 'function') return;
    const mq = matchMedia(query);
    const changed = () => setOn(mq.matches);
    changed();
    mq.addEventListener?.('change', changed);
    return () => mq.removeEventListener?.('change', changed);
  }, [query]);
  return on;
}

/** What tests replace: the clock, the live feed, the live picture's period. */
export interface DashboardTestHooks {
  now?: () => number;
  liveOptions?: LiveOptions;
  everyMs?: number;
}

type Data = DashboardCamerasQuery;

let early: Promise<Data> | null = null;
/** Starts reading the cameras while the session is still being checked, so
 *  the first receipt list is one round trip nearer. */
export function prefetchCameras() {
  early = gql(DashboardCameras);
  early.catch(() => {}); // an unauthenticated answer is simply not used
}

export function Dashboard({ cameraID, onUnauthenticated, ...hooks }: { cameraID?: string; onUnauthenticated?: () => void } & DashboardTestHooks) {
  const [data, setData] = useState<Data | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const p = early ?? gql(DashboardCameras);
    early = null;
    p.catch(() => gql(DashboardCameras)).then(setData, (e) => setError(e.message));
  }, []);

  if (error) return <div class="alert" role="alert">{error}</div>;
  if (!data) return <div class="loading"><span class="spinner" />読み込み中…</div>;
  const cams = data.cameras.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];
  const tz = data.shops.edges?.[0]?.node?.timezone || DEFAULT_TZ;
  if (cams.length === 0) return <div class="panel empty">カメラが登録されていません。<a href="#/setup">初期設定</a>からカメラを追加してください。</div>;
  const cam = cams.find((c) => c.id === cameraID) ?? cams[0];
  return (
    <>
      <ClockBanner />
      {cams.length > 1 && (
        <div class="cam-tabs" role="tablist" aria-label="カメラ" style="margin-bottom:12px">
          {cams.map((c) => (
            <button role="tab" aria-selected={c.id === cam.id} onClick={() => navigate('/camera/' + encodeURIComponent(c.id))} title={cameraLabel(c)}>
              <span class={'dot ' + (c.status.online ? 'on' : c.status.recording ? 'off' : '')} aria-hidden="true" />{c.name}
            </button>
          ))}
        </div>
      )}
      <CameraDashboard key={cam.id} camera={cam} tz={tz} onUnauthenticated={onUnauthenticated} {...hooks} />
    </>
  );
}

function CameraDashboard({ camera, tz, onUnauthenticated, now = Date.now, liveOptions, everyMs }: { camera: CameraInfo; tz: string; onUnauthenticated?: () => void } & DashboardTestHooks) {
  const [day, setDay] = useState(() => startOfDay(now(), tz));
  // The moment picked on the timeline: the list jumps there (null: the top).
  const [until, setUntil] = useState<number | null>(null);
  const [selected, setSelected] = useState<Entry | null>(null);
  // The recording played at a moment picked on the timeline (null: live or
  // the selected receipt), and the moment the player shows (the playhead).
  const [moment, setMoment] = useState<Moment | null>(null);
  const [playhead, setPlayhead] = useState<number | null>(null);
  const lastHead = useRef(0);
  const [entries, setEntries] = useState<Entry[]>([]);
  const [refresh, setRefresh] = useState(0);
  const [timelineLive, setTimelineLive] = useState(true);
  const [reset, setReset] = useState(0);
  const narrow = useMedia(NARROW);
  const pending = useRef<ReturnType<typeof setTimeout>>();
  const root = useRef<HTMLDivElement>(null);

  // Follow midnight: a dashboard left open on "today" moves to the new day.
  useEffect(() => {
    const id = setInterval(() => {
      const today = startOfDay(now(), tz);
      setDay((d) => (d !== today && until === null && d === startOfDay(now() - 60_000, tz) ? today : d));
    }, 60_000);
    return () => clearInterval(id);
  }, [tz, until]);

  const onLive = (e: Entry) => {
    setSelected((s) => (s && s.id === e.id ? { ...e, thumbnail: e.thumbnail ?? s.thumbnail } : s));
    if (pending.current) return;
    pending.current = setTimeout(() => { pending.current = undefined; setRefresh((n) => n + 1); }, 1000);
  };
  useEffect(() => () => clearTimeout(pending.current), []);

  // "Now": the live picture, the timeline following the clock, today's list
  // from its newest receipt. Anything else offers the one way back.
  const atNow = selected === null && moment === null && until === null && timelineLive && day === startOfDay(now(), tz);
  const backToNow = (e: MouseEvent) => {
    const hadFocus = e.currentTarget === document.activeElement;
    toLive();
    setUntil(null);
    setDay(startOfDay(now(), tz));
    setReset((n) => n + 1);
    // The button goes away with the click: the focus stays on the timeline.
    if (hadFocus) root.current?.querySelector<SVGElement>('.timeline svg')?.focus();
  };

  const toLive = () => { setSelected(null); setMoment(null); setPlayhead(null); };

  // Play the recording at t: inside the window already loaded the player
  // seeks; elsewhere it loads the window around t; at the live edge, live.
  const seek = (t: number) => {
    if (isLiveMoment(t, now())) { toLive(); return; }
    setSelected(null);
    setPlayhead(t);
    setMoment((m) => (m && inWindow(m.win, t) ? { ...m, t, seq: m.seq + 1 } : { t, win: windowAt(t, now()), seq: 0 }));
  };
  // The player's moment, for the timeline's playhead: a few times a second
  // is enough for a bar that wide, and spares a render per frame.
  const onMoment = (t: number) => {
    if (Math.abs(t - lastHead.current) < 250) return;
    lastHead.current = t;
    setPlayhead(t);
  };
  // Played to the end of the window: on to the next, or live at now.
  const onEnded = () => {
    const m = moment;
    if (!m) return;
    const next = nextWindow(m.win, now());
    if (!next) { toLive(); return; }
    setMoment({ t: next.from, win: next, seq: 0 });
  };

  const onPick = (t: number) => {
    seek(t);
    setDay(startOfDay(t, tz));
    setUntil(t);
    // On one column the list is below the timeline: bring it up as far as
    // the timeline allows, so the jump is seen and the bar can be tapped again.
    if (narrow) {
      const still = typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
      root.current?.querySelector('section.receipts')?.scrollIntoView?.({ block: 'nearest', behavior: still ? 'auto' : 'smooth' });
    }
  };

  // The list from its newest receipt, once it has drawn what the reset asked.
  useEffect(() => {
    if (reset) root.current?.querySelector('[data-testid=receipts]')?.scrollTo?.({ top: 0 });
  }, [reset]);

  return (
    <div class={'dash' + (narrow ? ' narrow' : '')} ref={root}>
      <div class="dash-main">
        {/* On a narrow screen the sheet shows the selected receipt; here stays live. */}
        <CameraView
          camera={camera}
          tz={tz}
          selected={narrow ? null : selected}
          moment={moment}
          onBackToLive={toLive}
          onMoment={onMoment}
          onOutside={seek}
          onEnded={onEnded}
          everyMs={everyMs}
        />
        <Timeline
          cameraID={camera.id}
          cloud={camera.sourceKind === 'CLOUD'}
          tz={tz}
          refresh={refresh}
          selectedAt={selected ? Date.parse(selected.occurredAt) : null}
          pickedAt={until}
          onPick={onPick}
          playheadAt={moment || (selected && !narrow) ? playhead : null}
          onSeek={seek}
          reset={reset}
          onLiveChange={setTimelineLive}
          now={now}
          actions={!atNow && (
            <button type="button" class="btn back-to-now" data-testid="back-to-now" onClick={backToNow}>
              <span aria-hidden="true">● </span>今に戻る
            </button>
          )}
        />
      </div>
      <ReceiptList
        cameraID={camera.id}
        tz={tz}
        day={day}
        until={until}
        selectedID={selected?.id ?? null}
        onSelect={(e) => { setMoment(null); setPlayhead(null); setSelected((s) => (s?.id === e.id ? null : e)); }}
        onDay={(d) => { setDay(d); setUntil(null); }}
        onClearUntil={() => setUntil(null)}
        onEntries={setEntries}
        onLive={onLive}
        onUnauthenticated={onUnauthenticated}
        now={now}
        liveOptions={liveOptions}
      />
      {narrow && selected && (
        <ReceiptSheet camera={camera} tz={tz} entry={selected} entries={entries} onSelect={setSelected} onClose={() => setSelected(null)} />
      )}
    </div>
  );
}
