// 設定 › 録画: how long a receipt's clip runs before and after its second
// (per account), how the server keeps recordings (retention and disk budget,
// server flags, shown), and per camera whether it is being recorded, why
// not, its disk use and how far back it reaches.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { RecordingSettings as RecordingSettingsOp, RecordingStatuses, UpdateRecordingSettings } from '../gql/ops';
import type { RecordingSettingsFieldsFragment, RecordingStatusesQuery } from '../gql/types';
import { dateTime, DEFAULT_TZ } from '../format';
import { bytesText, hoursText, RECORDING_STATE } from '../playback';
import { Field } from './Field';
import '../styles/player.css';

const asApiError = (x: unknown) => (x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
type Cam = NonNullable<NonNullable<NonNullable<RecordingStatusesQuery['cameras']['edges']>[number]>['node']>;

const secondsErr = (v: string) => (!/^\d+$/.test(v.trim()) || +v > 300 ? '0〜300 秒で入力してください' : undefined);

export function RecordingSettings({ tz = DEFAULT_TZ }: { tz?: string }) {
  const [settings, setSettings] = useState<RecordingSettingsFieldsFragment | null>(null);
  const [settingsErr, setSettingsErr] = useState<string | null>(null);
  const [cams, setCams] = useState<Cam[] | null>(null);
  const [camsErr, setCamsErr] = useState<string | null>(null);
  useEffect(() => {
    gql(RecordingSettingsOp).then((d) => setSettings(d.recordingSettings), (e) => setSettingsErr(asApiError(e).message));
    gql(RecordingStatuses).then((d) => setCams(d.cameras.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []), (e) => setCamsErr(asApiError(e).message));
  }, []);
  return (
    <section class="panel" aria-labelledby="rec-h" data-testid="recording-settings" id="recording">
      <h2 id="rec-h">録画</h2>
      <div class="panel-body">
        {settingsErr && <div class="alert" role="alert">{settingsErr}</div>}
        {!settings && !settingsErr && <div class="loading"><span class="spinner" />読み込み中…</div>}
        {settings && <ClipForm settings={settings} onSaved={setSettings} />}
        {settings && (
          <dl class="rec-facts" data-testid="recording-facts">
            <div><dt>このサーバーの録画</dt><dd>{settings.recordingEnabled ? <span class="status-ok">録画しています</span> : <span class="status-bad">録画していません（--record=false）</span>}</dd></div>
            <div><dt>保存期間</dt><dd>{hoursText(settings.retentionHours)}<small class="hint">（共有リンクや未解決のケースのレシートの動画はそれより長く残ります）</small></dd></div>
            <div><dt>ディスク使用量</dt><dd>{bytesText(settings.usedBytes)} / 上限 {bytesText(settings.budgetBytes)}
              {settings.budgetBytes > 0 && <meter min={0} max={settings.budgetBytes} value={settings.usedBytes} high={settings.budgetBytes * 0.9} aria-label="ディスク使用量" />}
            </dd></div>
          </dl>
        )}
        {settings && <p class="hint">保存期間とディスクの上限はサーバーの起動オプション（--recording-retention、--recording-budget）で決まります。上限に達すると古い録画から消えます。</p>}
      </div>
      <h3 class="panel-head sub">カメラごとの録画</h3>
      {camsErr && <div class="alert" role="alert" style="margin:8px 14px">{camsErr}</div>}
      {cams && cams.length === 0 && <p class="empty">カメラがありません。</p>}
      {cams && cams.length > 0 && (
        <table class="grid" data-testid="recording-cameras">
          <thead><tr><th>カメラ</th><th>状態</th><th>ディスク</th><th>最も古い録画</th><th>最新</th></tr></thead>
          <tbody>
            {cams.map((c) => {
              const st = c.recordingStatus;
              return (
                <tr data-id={c.id} data-state={st.state}>
                  <td data-label="カメラ">{c.name}</td>
                  <td data-label="状態">
                    <span class={st.state === 'RECORDING' ? 'status-ok' : st.state === 'OFF' || st.state === 'STARTING' ? '' : 'status-bad'}>{RECORDING_STATE[st.state] ?? st.state}</span>
                    {st.since && <small class="hint"> {dateTime(st.since, tz)} から</small>}
                    {st.reason && <div class="hint">{st.reason}</div>}
                  </td>
                  <td data-label="ディスク">{bytesText(st.bytes)}</td>
                  <td data-label="最も古い録画">{st.oldest ? dateTime(st.oldest, tz) : '—'}</td>
                  <td data-label="最新">{st.newest ? dateTime(st.newest, tz) : '—'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function ClipForm({ settings, onSaved }: { settings: RecordingSettingsFieldsFragment; onSaved: (s: RecordingSettingsFieldsFragment) => void }) {
  const [lead, setLead] = useState(String(settings.clipLeadInSeconds));
  const [tail, setTail] = useState(String(settings.clipLeadOutSeconds));
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const [done, setDone] = useState(false);
  const leadErr = (tried && secondsErr(lead)) || err?.fieldError('clipLeadInSeconds');
  const tailErr = (tried && secondsErr(tail)) || err?.fieldError('clipLeadOutSeconds');
  const save = async (e: Event) => {
    e.preventDefault();
    setTried(true); setDone(false);
    if (secondsErr(lead)) { document.getElementById('rec-lead-in')?.focus(); return; }
    if (secondsErr(tail)) { document.getElementById('rec-lead-out')?.focus(); return; }
    setBusy(true); setErr(null);
    try {
      const d = await gql(UpdateRecordingSettings, { input: { clipLeadInSeconds: +lead, clipLeadOutSeconds: +tail } });
      onSaved(d.updateRecordingSettings);
      setDone(true);
    } catch (x) { setErr(asApiError(x)); } finally { setBusy(false); }
  };
  const general = err?.generalErrors(['clipLeadInSeconds', 'clipLeadOutSeconds']) ?? [];
  return (
    <form onSubmit={save} noValidate data-testid="clip-form">
      <p class="hint" style="margin-top:0">レシートをクリックすると、その時刻の前後を再生します。</p>
      <div class="form-grid">
        <Field id="rec-lead-in" label="レシートの前（秒）" hint="0〜300秒。既定は10秒" error={leadErr || undefined}>
          {(a) => <input {...a} type="number" min={0} max={300} inputMode="numeric" value={lead} onInput={(e) => setLead((e.target as HTMLInputElement).value)} />}
        </Field>
        <Field id="rec-lead-out" label="レシートの後（秒）" hint="0〜300秒。既定は20秒" error={tailErr || undefined}>
          {(a) => <input {...a} type="number" min={0} max={300} inputMode="numeric" value={tail} onInput={(e) => setTail((e.target as HTMLInputElement).value)} />}
        </Field>
      </div>
      {general.map((m) => <div class="alert" role="alert">{m}</div>)}
      <div class="form-actions">
        <button type="submit" class="btn primary" disabled={busy}>{busy ? '保存中…' : '保存'}</button>
        {done && <span class="status-ok" role="status">保存しました</span>}
      </div>
    </form>
  );
}
