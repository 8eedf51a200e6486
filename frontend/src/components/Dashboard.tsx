// The dashboard of one camera: its picture, the timeline under it and the
// receipt list beside it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { gql } from '../api';
import { DashboardCameras } from '../gql/ops';
import type { DashboardCamerasQuery } from '../gql/types';
import { DEFAULT_TZ, startOfDay } from '../format';
import type { Entry } from '../journalList';
import { navigate } from '../router';
import { CameraView, cameraLabel, type CameraInfo } from './CameraView';
import { ReceiptList } from './ReceiptList';
import { Timeline } from './Timeline';

type Data = DashboardCamerasQuery;

let early: Promise<Data> | null = null;
/** Starts reading the cameras while the session is still being checked, so
 *  the first receipt list is one round trip nearer. */
export function prefetchCameras() {
  early = gql(DashboardCameras);
  early.catch(() => {}); // an unauthenticated answer is simply not used
}

export function Dashboard({ cameraID, onUnauthenticated }: { cameraID?: string; onUnauthenticated?: () => void }) {
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
      {cams.length > 1 && (
        <div class="cam-tabs" role="tablist" aria-label="カメラ" style="margin-bottom:12px">
          {cams.map((c) => (
            <button role="tab" aria-selected={c.id === cam.id} onClick={() => navigate('/camera/' + encodeURIComponent(c.id))} title={cameraLabel(c)}>
              <span class={'dot ' + (c.status.online ? 'on' : c.status.recording ? 'off' : '')} aria-hidden="true" />{c.name}
            </button>
          ))}
        </div>
      )}
      <CameraDashboard key={cam.id} camera={cam} tz={tz} onUnauthenticated={onUnauthenticated} />
    </>
  );
}

function CameraDashboard({ camera, tz, onUnauthenticated }: { camera: CameraInfo; tz: string; onUnauthenticated?: () => void }) {
  const [day, setDay] = useState(() => startOfDay(Date.now(), tz));
  const [until, setUntil] = useState<number | null>(null);
  const [selected, setSelected] = useState<Entry | null>(null);
  const [refresh, setRefresh] = useState(0);
  const pending = useRef<ReturnType<typeof setTimeout>>();

  // Follow midnight: a dashboard left open on "today" moves to the new day.
  useEffect(() => {
    const id = setInterval(() => {
      const today = startOfDay(Date.now(), tz);
      setDay((d) => (d !== today && until === null && d === startOfDay(Date.now() - 60_000, tz) ? today : d));
    }, 60_000);
    return () => clearInterval(id);
  }, [tz, until]);

  const onLive = (e: Entry) => {
    setSelected((s) => (s && s.id === e.id ? { ...e, thumbnail: e.thumbnail ?? s.thumbnail } : s));
    if (pending.current) return;
    pending.current = setTimeout(() => { pending.current = undefined; setRefresh((n) => n + 1); }, 1000);
  };
  useEffect(() => () => clearTimeout(pending.current), []);

  return (
    <div class="dash">
      <div class="dash-main">
        <CameraView camera={camera} tz={tz} selected={selected} onBackToLive={() => setSelected(null)} />
        <Timeline
          cameraID={camera.id}
          tz={tz}
          refresh={refresh}
          selectedAt={selected ? Date.parse(selected.occurredAt) : null}
          onPick={(t) => { setDay(startOfDay(t, tz)); setUntil(t); }}
        />
      </div>
      <ReceiptList
        cameraID={camera.id}
        tz={tz}
        day={day}
        until={until}
        selectedID={selected?.id ?? null}
        onSelect={(e) => setSelected((s) => (s?.id === e.id ? null : e))}
        onDay={(d) => { setDay(d); setUntil(null); }}
        onClearUntil={() => setUntil(null)}
        onLive={onLive}
        onUnauthenticated={onUnauthenticated}
      />
    </div>
  );
}
