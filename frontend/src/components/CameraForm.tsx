// カメラを追加 / 編集: name, model, device id, the POS option and where the
// server reads its picture, with 接続テスト fetching one frame now (its
// preview, or the reason in plain Japanese). Errors of the API appear at
// the field they name (input.deviceID, input.source.url …).
import { useState } from 'preact/hooks';
import { ApiError, forOwner, gql } from '../api';
import { CreateCamera, TestCameraSource, UpdateCamera } from '../gql/ops';
import type { CameraRowFragment, CameraSourceInput, CameraSourceKind, CreateCameraInput, SourceTestFragment } from '../gql/types';
import { Field, FieldError, useRequired } from './Field';

export const SOURCE_KINDS: [CameraSourceKind, string, string][] = [
  ['SNAPSHOT', 'JPEG 静止画の URL', 'http://192.168.1.20/snapshot.jpg'],
  ['MJPEG', 'MJPEG 動画の URL', 'http://192.168.1.20/video.mjpg'],
  ['RTSP', 'RTSP 動画の URL', 'rtsp://192.168.1.20:554/stream1'],
  ['SIMULATED', '内蔵の模擬カメラ（試用）', ''],
];

/** Japanese for the reasons testCameraSource gives, when the server's own sentence is missing. */
export const TEST_REASONS: Record<string, string> = {
  UNREACHABLE: 'カメラに接続できませんでした。URL と、カメラの電源・ネットワークを確認してください。',
  TIMEOUT: 'カメラが時間内に応答しませんでした。',
  AUTH_REFUSED: 'カメラがユーザー名またはパスワードを受け付けませんでした。',
  NOT_JPEG: 'URL から届いたものが JPEG 画像ではありませんでした。静止画の URL か確認してください。',
  TLS: 'カメラの証明書を確認できませんでした。',
  URL_REFUSED: 'この URL は安全のため、サーバーから接続できない決まりになっています。',
  BAD_URL: 'URL の形式が正しくありません。',
  HTTP_STATUS: 'カメラがエラーを返しました。',
  RTSP: 'RTSP の映像を読み取れませんでした。URL と、カメラが H.264 で配信しているかを確認してください。',
};

const FIELDS = ['name', 'model', 'deviceID', 'posOption', 'kind', 'url', 'username', 'password', 'source', 'snapshotURL'];

interface Props {
  /** The camera to edit; omitted to add one. */
  camera?: CameraRowFragment;
  onSaved: (c: CameraRowFragment) => void;
  onCancel?: () => void;
  /** Prefix of the element ids (two forms on one page). */
  idPrefix?: string;
}

export function CameraForm({ camera, onSaved, onCancel, idPrefix = 'cam' }: Props) {
  const [v, setV] = useState({
    name: camera?.name ?? '',
    model: camera?.model ?? '',
    deviceID: camera?.deviceID ?? '',
    posOption: camera?.posOption ?? true,
    kind: (camera?.sourceKind ?? 'SNAPSHOT') as CameraSourceKind,
    url: camera?.sourceURL ?? '',
    username: '',
    password: '',
    snapshotURL: camera?.snapshotURL ?? '',
  });
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const [testing, setTesting] = useState(false);
  const [test, setTest] = useState<SourceTestFragment | null>(null);
  const [testErr, setTestErr] = useState<ApiError | null>(null);
  const set = (k: keyof typeof v) => (e: Event) => {
    const t = e.target as HTMLInputElement;
    setV((o) => ({ ...o, [k]: t.type === 'checkbox' ? t.checked : t.value }));
    if (k === 'kind' || k === 'url' || k === 'username' || k === 'password') { setTest(null); setTestErr(null); }
    if (k === 'kind' || k === 'url') setURLMissing(false);
  };
  const needsURL = v.kind !== 'SIMULATED';
  const req = useRequired({
    name: !v.name.trim() && 'カメラ名を入力してください',
    deviceID: !v.deviceID.trim() && 'デバイスID・シリアル番号を入力してください',
    url: needsURL && !v.url.trim() && 'カメラの映像の URL を入力してください',
  });
  const fieldID: Record<string, string> = { name: 'name', deviceID: 'device', url: 'url' };
  // 接続テスト needs only the URL; its message sits at the URL field too.
  const [urlMissing, setURLMissing] = useState(false);
  const source = (): CameraSourceInput => {
    const s: CameraSourceInput = { kind: v.kind };
    if (needsURL) s.url = v.url.trim();
    if (needsURL && (v.username || v.password)) { s.username = v.username; s.password = v.password; }
    return s;
  };

  const runTest = async () => {
    if (needsURL && !v.url.trim()) {
      setURLMissing(true);
      document.getElementById(`${idPrefix}-url`)?.focus();
      return;
    }
    setTesting(true); setTest(null); setTestErr(null);
    try {
      const d = await gql(TestCameraSource, { input: source() });
      setTest(d.testCameraSource);
    } catch (x) {
      setTestErr(x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
    } finally { setTesting(false); }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => `${idPrefix}-${fieldID[f]}`)) return;
    setBusy(true); setErr(null);
    try {
      if (camera) {
        const input: Record<string, unknown> = { name: v.name.trim(), model: v.model.trim(), deviceID: v.deviceID.trim(), posOption: v.posOption };
        const sourceChanged = v.kind !== camera.sourceKind || (needsURL && v.url.trim() !== (camera.sourceURL ?? '')) || v.password !== '';
        if (sourceChanged) {
          const s: CameraSourceInput = { kind: v.kind };
          if (needsURL) s.url = v.url.trim();
          // Empty password: keep the stored credentials (omit both).
          if (needsURL && v.password) { s.username = v.username; s.password = v.password; }
          input.source = s;
        }
        // Sent only when changed: '' removes it, omitted keeps it (and the
        // login stored for it).
        if (v.kind === 'RTSP' && v.snapshotURL.trim() !== (camera.snapshotURL ?? '')) input.snapshotURL = v.snapshotURL.trim();
        const d = await gql(UpdateCamera, { id: camera.id, input });
        req.reset();
        onSaved(d.updateCamera);
      } else {
        const input: CreateCameraInput = { name: v.name.trim(), model: v.model.trim() || null, deviceID: v.deviceID.trim(), posOption: v.posOption, source: source() };
        if (v.kind === 'RTSP' && v.snapshotURL.trim()) input.snapshotURL = v.snapshotURL.trim();
        const d = await gql(CreateCamera, { input });
        req.reset();
        onSaved(d.createCamera);
      }
    } catch (x) {
      setErr(x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
    } finally { setBusy(false); }
  };

  const fe = (f: string) => req.error(f) ?? err?.fieldError(f) ?? testErr?.fieldError(f);
  const urlError = fe('url') ?? fe('source') ?? (urlMissing && needsURL && !v.url.trim() ? '接続テストの前に、カメラの映像の URL を入力してください' : undefined);
  const general = [...(err?.generalErrors(FIELDS) ?? [])];
  const testGeneral = testErr?.generalErrors(FIELDS) ?? [];
  const id = (s: string) => `${idPrefix}-${s}`;
  const kindInfo = SOURCE_KINDS.find((k) => k[0] === v.kind)!;
  const testMessage = test && !test.ok ? (forOwner(test.message) || TEST_REASONS[test.reason ?? ''] || '接続できませんでした。') : null;

  return (
    <form class="camera-form" onSubmit={submit} noValidate data-testid="camera-form">
      {general.map((m) => <div class="alert" role="alert">{m}</div>)}
      <div class="form-grid">
        <Field id={id('name')} label="カメラ名" error={fe('name')} hint="例: 自宅カメラ、レジ前カメラ">
          {(a) => <input {...a} value={v.name} onInput={set('name')} autoComplete="off" required />}
        </Field>
        <Field id={id('model')} label="機種" error={fe('model')} hint="例: CC-2L_SF（任意）">
          {(a) => <input {...a} value={v.model} onInput={set('model')} autoComplete="off" />}
        </Field>
        <Field id={id('device')} label="デバイスID・シリアル番号" error={fe('deviceID')} hint="カメラ本体や管理画面に書かれている番号です">
          {(a) => <input {...a} value={v.deviceID} onInput={set('deviceID')} autoComplete="off" required />}
        </Field>
      </div>
      <label class="check">
        <input type="checkbox" checked={v.posOption} onChange={set('posOption')} aria-describedby={fe('posOption') ? id('pos-err') : undefined} />
        POS オプションあり（レジと紐づけて、レシートの瞬間の画像を残します）
      </label>
      {fe('posOption') && <FieldError id={id('pos-err')}>{fe('posOption')}</FieldError>}

      <fieldset class="source">
        <legend>映像の取得元</legend>
        <Field id={id('kind')} label="種類" error={fe('kind')}>
          {(a) => (
            <select {...a} value={v.kind} onChange={set('kind')}>
              {SOURCE_KINDS.map(([k, label]) => <option value={k}>{label}</option>)}
            </select>
          )}
        </Field>
        {needsURL && (
          <>
            <Field id={id('url')} label="URL" error={urlError} hint={v.kind === 'RTSP' ? 'RTSP の映像をそのまま録画し、クリップの再生に使います' : undefined}>
              {(a) => <input {...a} type="url" value={v.url} onInput={set('url')} placeholder={kindInfo[2]} autoComplete="off" spellcheck={false} />}
            </Field>
            <div class="form-grid">
              <Field id={id('user')} label="ユーザー名" error={fe('username')} hint="カメラにログインが必要なときだけ">
                {(a) => <input {...a} value={v.username} onInput={set('username')} autoComplete="off" />}
              </Field>
              <Field id={id('password')} label="パスワード" error={fe('password')}
                hint={camera?.hasSourceCredentials ? '保存済みです。変更するときだけ入力してください' : '暗号化して保存し、画面には表示しません'}>
                {(a) => <input {...a} type="password" value={v.password} onInput={set('password')} autoComplete="new-password" />}
              </Field>
            </div>
            {v.kind === 'RTSP' && (
              <Field id={id('snapshot')} label="静止画URL（任意）" error={fe('snapshotURL')}
                hint={'カメラの JPEG 静止画の URL（例: http://192.168.1.20/ISAPI/Streaming/channels/101/picture）。設定すると、サムネイルとライブ映像をここから取得します（録画は RTSP のままです）。同じカメラなら上のユーザー名・パスワードを使います。別のログインは http://ユーザー名:パスワード@… の形で入力してください'
                  + (camera?.hasSnapshotCredentials ? '（静止画URLのログインは保存済みです）' : '')}>
                {(a) => <input {...a} type="url" value={v.snapshotURL} onInput={set('snapshotURL')} placeholder="http://192.168.1.20/cgi-bin/snapshot.cgi" autoComplete="off" spellcheck={false} />}
              </Field>
            )}
          </>
        )}
        <div class="test-row">
          <button type="button" class="btn" onClick={runTest} disabled={testing} data-testid="camera-test">
            {testing ? <><span class="spinner" />接続テスト中…</> : '接続テスト'}
          </button>
          {!testing && !test && !testErr && <span class="hint">保存の前に、1枚の画像を取得して確かめます</span>}
        </div>
        <div aria-live="polite" data-testid="camera-test-result" data-ok={test ? String(test.ok) : undefined}>
          {test?.ok && (
            <div class="test-ok">
              {test.previewDataURL && <img src={test.previewDataURL} alt="接続テストで取得した画像" class="preview" />}
              <span class="status-ok">接続できました</span>
              <span class="hint">{test.width && test.height ? `${test.width}×${test.height}、` : ''}{test.elapsedMs} ミリ秒</span>
            </div>
          )}
          {testMessage && <div class="alert" role="alert">{testMessage}</div>}
          {testGeneral.map((m) => <div class="alert" role="alert">{m}</div>)}
        </div>
      </fieldset>

      <div class="actions">
        {onCancel && <button type="button" class="btn" onClick={onCancel}>キャンセル</button>}
        <button type="submit" class="btn primary" disabled={busy}>
          {busy ? '保存中…' : camera ? '保存' : 'カメラを追加'}
        </button>
      </div>
    </form>
  );
}

/** 録画中 / オンライン / 最終確認 / why not, from Camera.status. */
export function CameraStatusText({ c, tz }: { c: Pick<CameraRowFragment, 'status' | 'sourceStatus' | 'sourceKind'> & { streaming?: boolean | null }; tz: string }) {
  const s = c.status;
  // The cloud records a cloud camera; regicam only asks it for pictures.
  if (c.sourceKind === 'CLOUD') {
    return (
      <span class="cam-status">
        {c.streaming === false ? <span class="status-bad">録画停止中（クラウド）</span> : c.streaming ? <span class="status-ok">クラウドで録画中</span> : <span class="hint">クラウドの録画状態は次の同期で分かります</span>}
      </span>
    );
  }
  const last = s.lastSeenAt ? new Date(s.lastSeenAt) : null;
  const lastText = last ? last.toLocaleString('ja-JP', { timeZone: tz, month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' }) : 'まだありません';
  return (
    <span class="cam-status">
      {!s.recording ? <span class="status-bad">録画していません</span> : s.online ? <span class="status-ok">録画中・オンライン</span> : <span class="status-bad">録画中・オフライン</span>}
      <span class="hint">最終確認 {lastText}</span>
      {s.lastError && <span class="field-error">{forOwner(s.lastError)}</span>}
      {!s.recording && c.sourceStatus && <span class="hint">{forOwner(c.sourceStatus)}</span>}
    </span>
  );
}
