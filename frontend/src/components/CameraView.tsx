// The camera picture: the live frame (refreshed every second from
// /cameras/{id}/live.jpg) or, when a receipt is selected, its own picture
// large with the second it was taken and how far that is from the sale.
import { useEffect, useState } from 'preact/hooks';
import type { Entry } from '../journalList';
import { dateTime, hms, skew } from '../format';

export interface CameraInfo {
  id: string;
  name: string;
  model: string;
  deviceID: string;
  status: { recording: boolean; online: boolean; lastSeenAt: string | null; lastError: string | null };
}

export function cameraLabel(c: { name: string; model: string; deviceID: string }): string {
  return `${c.name} (${c.model} : ${c.deviceID})`;
}

interface Props {
  camera: CameraInfo;
  tz: string;
  selected: Entry | null;
  onBackToLive: () => void;
  /** Refresh period of the live picture; tests set it long. */
  everyMs?: number;
}

export function CameraView({ camera, tz, selected, onBackToLive, everyMs = 1000 }: Props) {
  return (
    <section class="panel camview" aria-label="カメラ">
      <div class="panel-head">
        <span class={'dot ' + (camera.status.online ? 'on' : camera.status.recording ? 'off' : '')} aria-hidden="true" />
        <span>{cameraLabel(camera)}</span>
        {selected && (
          <button class="btn small" style="margin-left:auto" onClick={onBackToLive}>ライブ映像に戻る</button>
        )}
      </div>
      {selected ? <ReceiptPicture entry={selected} tz={tz} /> : <LivePicture camera={camera} tz={tz} everyMs={everyMs} />}
    </section>
  );
}

function ReceiptPicture({ entry, tz }: { entry: Entry; tz: string }) {
  const th = entry.thumbnail;
  return (
    <>
      <div class="stage">
        {th ? (
          <img src={th.url} alt={`レシート ${entry.receiptNo} の撮影画像`} width={th.width} height={th.height} />
        ) : (
          <div class="nopic">画像なし{entry.thumbnailReason ? `: ${entry.thumbnailReason}` : ''}</div>
        )}
        <div class="overlay"><span class="badge dark">{entry.kindLabel} {dateTime(entry.occurredAt, tz)}</span></div>
      </div>
      <div class="caption" data-testid="picture-caption">
        <span>レシートNo. <b>{entry.receiptNo || '—'}</b></span>
        {th && <span>撮影 <b>{hms(th.capturedAt, tz)}</b></span>}
        {th && <span>ずれ <b>{skew(th.skewMs)}</b></span>}
      </div>
    </>
  );
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
    const tick = async () => {
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
          } else if (!stopped) {
            setFailed(res.status === 404 ? 'まだ映像がありません' : `映像を取得できません (HTTP ${res.status})`);
          }
        } catch {
          if (stopped) return;
          setFailed('映像を取得できません');
        }
      }
      if (!stopped) timer = setTimeout(tick, everyMs);
    };
    void tick();
    return () => {
      stopped = true;
      ctl.abort();
      clearTimeout(timer);
      if (url) URL.revokeObjectURL(url);
      setSrc(null);
    };
  }, [camera.id, everyMs]);

  return (
    <>
      <div class="stage">
        {src ? <img src={src} alt={`${camera.name} のライブ映像`} /> : <div class="nopic">{failed ?? <><span class="spinner" />映像を読み込み中…</>}</div>}
        <div class="overlay">
          <span class="badge live">● LIVE</span>
          {at && <span class="badge dark">{dateTime(at, tz)}</span>}
        </div>
      </div>
      <div class="caption">
        {failed && src ? <span class="status-bad">{failed}</span> : <span class="hint">レシートを選ぶとその瞬間の画像を表示します</span>}
        {camera.status.lastError && <span class="status-bad">{camera.status.lastError}</span>}
      </div>
    </>
  );
}
