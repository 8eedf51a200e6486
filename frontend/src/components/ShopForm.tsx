// 店舗を追加 / 編集: name, timezone (Asia/Tokyo unless the shop is
// elsewhere) and opening hours per weekday (closing before opening crosses
// midnight). A weekday's error sits on its own row (input.businessHours[i]).
import { useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { CreateShop, UpdateShop } from '../gql/ops';
import type { BusinessDayInput, ShopRowFragment } from '../gql/types';
import { DEFAULT_TZ } from '../format';
import { Field, FieldError, useRequired } from './Field';

export const WEEKDAYS = ['日', '月', '火', '水', '木', '金', '土'];
const ZONES = ['Asia/Tokyo', 'Asia/Seoul', 'Asia/Shanghai', 'Asia/Taipei', 'Asia/Singapore', 'America/Los_Angeles', 'Europe/London', 'UTC'];

interface Day { open: boolean; from: string; to: string }

function daysOf(shop?: ShopRowFragment): { days: Day[]; useHours: boolean } {
  const hours = shop?.businessHours ?? [];
  const days = WEEKDAYS.map((_, wd) => {
    const h = hours.find((x) => x.weekday === wd);
    return h ? { open: true, from: h.open, to: h.close } : { open: !shop || hours.length === 0, from: '10:00', to: '20:00' };
  });
  return { days, useHours: !shop || hours.length > 0 };
}

/** 月–金 10:00–20:00 … — a short summary for the shop list. */
export function hoursSummary(hours: ShopRowFragment['businessHours']): string {
  if (hours.length === 0) return '設定なし（終日）';
  const byTime = new Map<string, number[]>();
  for (const h of [...hours].sort((a, b) => a.weekday - b.weekday)) {
    const k = `${h.open}〜${h.close}`;
    byTime.set(k, [...(byTime.get(k) ?? []), h.weekday]);
  }
  const parts = [...byTime].map(([t, wds]) => `${wds.map((w) => WEEKDAYS[w]).join('')} ${t}`);
  const closed = WEEKDAYS.filter((_, i) => !hours.some((h) => h.weekday === i));
  if (closed.length) parts.push(`${closed.join('')} 定休`);
  return parts.join('、');
}

interface Props {
  shop?: ShopRowFragment;
  onSaved: (s: ShopRowFragment) => void;
  onCancel?: () => void;
  idPrefix?: string;
}

export function ShopForm({ shop, onSaved, onCancel, idPrefix = 'shop' }: Props) {
  const init = daysOf(shop);
  const [name, setName] = useState(shop?.name ?? '');
  const [tz, setTz] = useState(shop?.timezone ?? DEFAULT_TZ);
  const [useHours, setUseHours] = useState(init.useHours);
  const [days, setDays] = useState<Day[]>(init.days);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const req = useRequired({ name: !name.trim() && '店舗名を入力してください' });
  const setDay = (i: number, p: Partial<Day>) => setDays((ds) => ds.map((d, j) => (j === i ? { ...d, ...p } : d)));

  const sent: number[] = []; // input index → weekday, for the errors
  const hours = (): BusinessDayInput[] => {
    sent.length = 0;
    if (!useHours) return [];
    return days.flatMap((d, wd) => (d.open ? [(sent.push(wd), { weekday: wd, open: d.from, close: d.to })] : []));
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => `${idPrefix}-${f}`)) return;
    setBusy(true); setErr(null);
    try {
      const input = { name: name.trim(), timezone: tz.trim() || DEFAULT_TZ, businessHours: hours() };
      const saved = shop ? (await gql(UpdateShop, { id: shop.id, input })).updateShop : (await gql(CreateShop, { input })).createShop;
      req.reset();
      onSaved(saved);
    } catch (x) {
      setErr(x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
    } finally { setBusy(false); }
  };

  // input.businessHours[2].close → the row of the weekday sent at index 2.
  const dayError = (wd: number): string | undefined => {
    const i = sent.indexOf(wd);
    if (!err || i < 0) return undefined;
    return err.errors.find((e) => new RegExp(`businessHours\\[${i}\\]`).test(e.extensions?.field ?? ''))?.message;
  };
  hours(); // keeps `sent` in step with what the last submit sent
  const general = (err?.errors ?? []).filter((e) => {
    const f = e.extensions?.field ?? '';
    return !/(^|\.)(name|timezone)$/.test(f) && !/businessHours\[\d+\]/.test(f);
  }).map((e) => e.message);
  const hoursErr = err?.errors.find((e) => /businessHours$/.test(e.extensions?.field ?? ''))?.message;
  const id = (s: string) => `${idPrefix}-${s}`;

  return (
    <form onSubmit={submit} noValidate data-testid="shop-form">
      {general.filter((m) => m !== hoursErr).map((m) => <div class="alert" role="alert">{m}</div>)}
      <div class="form-grid">
        <Field id={id('name')} label="店舗名" error={req.error('name') ?? err?.fieldError('name')} hint="例: 渋谷店">
          {(a) => <input {...a} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} autoComplete="off" required />}
        </Field>
        <Field id={id('tz')} label="タイムゾーン" error={err?.fieldError('timezone')} hint="日本の店舗は Asia/Tokyo のままで大丈夫です">
          {(a) => (
            <>
              <input {...a} value={tz} list={id('zones')} onInput={(e) => setTz((e.target as HTMLInputElement).value)} autoComplete="off" spellcheck={false} />
              <datalist id={id('zones')}>{ZONES.map((z) => <option value={z} />)}</datalist>
            </>
          )}
        </Field>
      </div>
      <fieldset class="hours">
        <legend>営業時間</legend>
        <label class="check">
          <input type="checkbox" checked={useHours} onChange={(e) => setUseHours((e.target as HTMLInputElement).checked)} />
          曜日ごとに営業時間を設定する（アラートと集計で営業時間外を区別します）
        </label>
        {hoursErr && <FieldError>{hoursErr}</FieldError>}
        {useHours && (
          <table class="hours-table">
            <tbody>
              {days.map((d, wd) => {
                const e = dayError(wd);
                return (
                  <tr data-weekday={wd}>
                    <th scope="row">{WEEKDAYS[wd]}曜</th>
                    <td><label class="check"><input type="checkbox" aria-label={`${WEEKDAYS[wd]}曜は営業`} checked={d.open} onChange={(ev) => setDay(wd, { open: (ev.target as HTMLInputElement).checked })} />営業</label></td>
                    <td>
                      {d.open ? (
                        <span class="hours-times">
                          <input class="input" type="time" aria-label={`${WEEKDAYS[wd]}曜の開店`} value={d.from} aria-invalid={!!e} aria-describedby={e ? id(`day${wd}-err`) : undefined} onInput={(ev) => setDay(wd, { from: (ev.target as HTMLInputElement).value })} />
                          〜
                          <input class="input" type="time" aria-label={`${WEEKDAYS[wd]}曜の閉店`} value={d.to} aria-invalid={!!e} aria-describedby={e ? id(`day${wd}-err`) : undefined} onInput={(ev) => setDay(wd, { to: (ev.target as HTMLInputElement).value })} />
                          {d.to < d.from && <span class="hint">翌日まで</span>}
                        </span>
                      ) : <span class="hint">定休日</span>}
                      {e && <div><FieldError id={id(`day${wd}-err`)}>{e}</FieldError></div>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </fieldset>
      <div class="actions">
        {onCancel && <button type="button" class="btn" onClick={onCancel}>キャンセル</button>}
        <button type="submit" class="btn primary" disabled={busy}>{busy ? '保存中…' : shop ? '保存' : '店舗を追加'}</button>
      </div>
    </form>
  );
}
