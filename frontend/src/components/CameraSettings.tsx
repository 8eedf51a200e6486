// 設定 › カメラ: the account's cameras with what the recorder knows of them
// (recording, online, last seen, why not), add / edit / test, and retire —
// refused while a camera still watches registers, which the dialog lists
// before the owner ends those links with it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, forOwner, gql } from '../api';
import { CameraList, RetireCamera, TestCameraSourceOf } from '../gql/ops';
import type { CameraRowFragment, RetireCameraMutation, SourceTestFragment } from '../gql/types';
import { DEFAULT_TZ } from '../format';
import { CameraForm, CameraStatusText, SOURCE_KINDS, TEST_REASONS } from './CameraForm';
import { Modal } from './Modal';
import { PlusIcon } from './Icons';

type Watched = RetireCameraMutation['retireCamera']['watchedTerminals'];

export function CameraSettings({ tz = DEFAULT_TZ }: { tz?: string }) {
  const [cams, setCams] = useState<CameraRowFragment[] | null>(null);
  const [loadErr, setLoadErr] = useState<string | null>(null);
  const [editing, setEditing] = useState<CameraRowFragment | 'new' | null>(null);
  const [retiring, setRetiring] = useState<CameraRowFragment | null>(null);
  const [tests, setTests] = useState<Record<string, SourceTestFragment | 'busy' | string>>({});

  const load = () => gql(CameraList).then((d) => setCams(d.cameras.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []), (e) => setLoadErr(e.message));
  useEffect(() => { void load(); }, []);

  const test = async (c: CameraRowFragment) => {
    setTests((t) => ({ ...t, [c.id]: 'busy' }));
    try {
      const d = await gql(TestCameraSourceOf, { id: c.id });
      setTests((t) => ({ ...t, [c.id]: d.testCameraSourceOf }));
    } catch (x) {
      setTests((t) => ({ ...t, [c.id]: x instanceof Error ? x.message : String(x) }));
    }
  };

  return (
    <section class="panel" aria-labelledby="cams-h" data-testid="cameras">
      <div class="panel-head">
        <h2 id="cams-h">カメラ</h2>
        <div class="toolbar">
          <button class="btn primary" onClick={() => setEditing('new')}><PlusIcon /> カメラを追加</button>
        </div>
      </div>
      {loadErr && <div class="alert" role="alert">{loadErr}</div>}
      {!cams ? <div class="loading"><span class="spinner" />読み込み中…</div> : cams.length === 0 ? <div class="empty">カメラはまだありません。「カメラを追加」から登録してください。</div> : (
        <table class="grid">
          <thead><tr><th>カメラ</th><th>映像の取得元</th><th>POS</th><th>状態</th><th><span class="sr-only">操作</span></th></tr></thead>
          <tbody>
            {cams.map((c) => {
              const t = tests[c.id];
              // A cloud camera is kept in step with the cloud: changed there, not here.
              const cloud = c.sourceKind === 'CLOUD';
              return (
                <tr data-camera={c.deviceID}>
                  <td data-label="カメラ"><b>{c.name}</b>{cloud ? <div class="cloud-marks"><span class="badge cloud">クラウド</span>{c.streaming === false && <span class="badge warn">録画停止中</span>}</div> : <div class="hint">{c.model || '機種未設定'} : {c.deviceID}</div>}</td>
                  <td data-label="映像の取得元">{cloud ? 'カメラクラウド（Safie）の録画' : SOURCE_KINDS.find((k) => k[0] === c.sourceKind)?.[1] ?? '未設定'}{c.sourceURL && <div class="hint mono" style="word-break:break-all">{c.sourceURL}</div>}{c.hasSourceCredentials && <div class="hint">認証情報あり</div>}</td>
                  <td data-label="POS">{c.posOption ? 'あり' : 'なし'}</td>
                  <td data-label="状態">
                    <CameraStatusText c={c} tz={tz} />
                    {t === 'busy' && <div class="hint"><span class="spinner" />テスト中…</div>}
                    {t && typeof t === 'object' && (t.ok ? <div class="status-ok">接続できました（{t.elapsedMs} ミリ秒）</div> : <div class="field-error" role="alert">{forOwner(t.message) || TEST_REASONS[t.reason ?? ''] || '接続できませんでした'}</div>)}
                    {typeof t === 'string' && t !== 'busy' && <div class="field-error" role="alert">{t}</div>}
                  </td>
                  <td class="row-actions">
                    {cloud ? <span class="hint">Safie で管理（カメラクラウドの接続から同期）</span> : (
                      <>
                        <button class="btn small" onClick={() => setEditing(c)}>編集</button>
                        <button class="btn small" disabled={!c.sourceKind || t === 'busy'} onClick={() => void test(c)}>接続テスト</button>
                        <button class="btn small danger" onClick={() => setRetiring(c)}>撤去</button>
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {editing && (
        <Modal title={editing === 'new' ? 'カメラを追加' : 'カメラを編集'} onClose={() => setEditing(null)} testid="camera-dialog">
          <div class="body">
            <CameraForm camera={editing === 'new' ? undefined : editing} idPrefix="dlg-cam" onCancel={() => setEditing(null)}
              onSaved={() => { setEditing(null); void load(); }} />
          </div>
        </Modal>
      )}
      {retiring && <RetireDialog camera={retiring} onClose={() => setRetiring(null)} onDone={() => { setRetiring(null); void load(); }} />}
    </section>
  );
}

function RetireDialog({ camera, onClose, onDone }: { camera: CameraRowFragment; onClose: () => void; onDone: () => void }) {
  const [watched, setWatched] = useState<Watched | null>(null);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  // The second question replaces the first: its キャンセル takes the focus.
  const keep = useRef<HTMLButtonElement>(null);
  useEffect(() => { if (watched) keep.current?.focus(); }, [watched]);
  const retire = async (force: boolean) => {
    setBusy(true); setErr(null);
    try {
      const d = await gql(RetireCamera, { id: camera.id, force });
      if (d.retireCamera.camera) onDone();
      else setWatched(d.retireCamera.watchedTerminals);
    } catch (x) {
      setErr(x instanceof ApiError ? x.message : String(x));
    } finally { setBusy(false); }
  };
  return (
    <Modal title="カメラの撤去" onClose={onClose} testid="retire-camera">
      <div class="body">
        {err && <div class="alert" role="alert">{err}</div>}
        {!watched ? (
          <>
            <p>「{camera.label}」を撤去しますか？</p>
            <p class="hint">録画を止めて一覧から外します。これまでのレシート、画像、紐づけの履歴は削除されず、そのまま見られます。</p>
            <div class="actions">
              <button class="btn" data-autofocus onClick={onClose}>キャンセル</button>
              <button class="btn danger-solid" disabled={busy} onClick={() => void retire(false)}>撤去する</button>
            </div>
          </>
        ) : (
          <>
            <p role="alert">このカメラはまだ次のレジを映しています。撤去すると、これらのレジとの紐づけを今の時点で終了します。</p>
            <ul data-testid="watched-terminals">
              {watched.map((t) => <li>端末ID {t.externalID}{t.name && t.name !== t.externalID ? `（${t.name}）` : ''}</li>)}
            </ul>
            <div class="actions">
              <button class="btn" ref={keep} onClick={onClose}>キャンセル</button>
              <button class="btn danger-solid" disabled={busy} onClick={() => void retire(true)}>紐づけを終了して撤去する</button>
            </div>
          </>
        )}
      </div>
    </Modal>
  );
}
