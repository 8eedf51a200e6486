// Amounts and times as a Japanese shop reads them, in the shop's time zone
// (not the browser's: a head office abroad still sees Tokyo's till times).

export const DEFAULT_TZ = 'Asia/Tokyo';

/** ¥35,000 (negative amounts: -¥500). */
export function yen(n: number | null | undefined): string {
  if (n == null) return '—';
  const s = Math.abs(n).toLocaleString('ja-JP');
  return (n < 0 ? '-¥' : '¥') + s;
}

const partsCache = new Map<string, Intl.DateTimeFormat>();
function fmt(tz: string): Intl.DateTimeFormat {
  let f = partsCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'short',
    });
    partsCache.set(tz, f);
  }
  return f;
}

export interface Wall {
  y: number; mo: number; d: number; h: number; mi: number; s: number; wd: number;
}
const WD: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const WD_JA = ['日', '月', '火', '水', '木', '金', '土'];

/** The wall clock of instant t in tz. */
export function wall(t: Date | string | number, tz: string): Wall {
  const p: Record<string, string> = {};
  for (const x of fmt(tz).formatToParts(new Date(t))) p[x.type] = x.value;
  return { y: +p.year, mo: +p.month, d: +p.day, h: +p.hour % 24, mi: +p.minute, s: +p.second, wd: WD[p.weekday] };
}

const z2 = (n: number) => String(n).padStart(2, '0');

/** 2019/2/21(木) — the receipt list's day header. */
export function dayHeader(t: Date | string | number, tz: string): string {
  const w = wall(t, tz);
  return `${w.y}/${w.mo}/${w.d}(${WD_JA[w.wd]})`;
}

/** 2019/02/21 11:22:17 — a receipt's date-time. */
export function dateTime(t: Date | string | number, tz: string): string {
  const w = wall(t, tz);
  return `${w.y}/${z2(w.mo)}/${z2(w.d)} ${z2(w.h)}:${z2(w.mi)}:${z2(w.s)}`;
}

/** 11:18 */
export function hm(t: Date | string | number | null | undefined, tz: string): string {
  if (t == null) return '—';
  const w = wall(t, tz);
  return `${z2(w.h)}:${z2(w.mi)}`;
}

/** 11:18:05 */
export function hms(t: Date | string | number, tz: string): string {
  const w = wall(t, tz);
  return `${z2(w.h)}:${z2(w.mi)}:${z2(w.s)}`;
}

/** Offset of tz from UTC at instant t, in ms (Tokyo: +9h). */
export function tzOffset(t: number, tz: string): number {
  const w = wall(t, tz);
  const asUTC = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);
  return asUTC - Math.floor(t / 1000) * 1000;
}

/** The instant the shop's day containing t starts (00:00 in tz). */
export function startOfDay(t: number, tz: string): number {
  const w = wall(t, tz);
  const guess = Date.UTC(w.y, w.mo - 1, w.d) - tzOffset(t, tz);
  // Around a DST change the offset at midnight differs from the one at t.
  return Date.UTC(w.y, w.mo - 1, w.d) - tzOffset(guess, tz);
}

/** The start of the shop's day n days after the one containing t. */
export function addDays(dayStart: number, n: number, tz: string): number {
  return startOfDay(dayStart + n * 86_400_000 + 12 * 3_600_000, tz);
}

/** YYYY-MM-DD of the shop's day (for <input type=date>). */
export function isoDay(t: number, tz: string): string {
  const w = wall(t, tz);
  return `${w.y}-${z2(w.mo)}-${z2(w.d)}`;
}

/** Parses YYYY-MM-DD as the start of that day in tz. */
export function parseIsoDay(s: string, tz: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return null;
  const noonUTC = Date.UTC(+m[1], +m[2] - 1, +m[3], 12);
  return startOfDay(noonUTC - tzOffset(noonUTC, tz), tz);
}

/** +0.3秒 / -1.2秒: how far a picture is from the receipt's second. */
export function skew(ms: number): string {
  const s = (Math.abs(ms) / 1000).toFixed(1);
  if (s === '0.0') return '±0.0秒';
  return `${ms < 0 ? '-' : '+'}${s}秒`;
}

/** "3分前" style age, for last sync. */
export function ago(t: string | null | undefined, now = Date.now()): string {
  if (!t) return '未同期';
  const s = Math.max(0, Math.round((now - new Date(t).getTime()) / 1000));
  if (s < 60) return `${s}秒前`;
  if (s < 3600) return `${Math.floor(s / 60)}分前`;
  if (s < 86400) return `${Math.floor(s / 3600)}時間前`;
  return `${Math.floor(s / 86400)}日前`;
}

/** A camera as a choice in a list: its label; for a camera of the camera
 *  cloud its name (the cloud's own label) and 「（クラウド）」, or
 *  「（クラウド・録画停止中）」 while the cloud says it does not record. */
export function cameraChoice(c: { label: string; name?: string; sourceKind?: string | null; streaming?: boolean | null }): string {
  if (c.sourceKind !== 'CLOUD') return c.label;
  // A cloud camera's name is the cloud's own label (「名前 (機種 : シリアル)」).
  return `${c.name || c.label}（クラウド${c.streaming === false ? '・録画停止中' : ''}）`;
}

/** The skew of a picture as shown: the number, or for a picture from the
 *  camera cloud, whose frame carries no capture time, 不明 — never a guess. */
export const SKEW_UNKNOWN = '不明（クラウド録画）';
export function skewOf(th: { skewMs: number; skewKnown?: boolean | null }): string {
  return th.skewKnown === false ? SKEW_UNKNOWN : skew(th.skewMs);
}

/** 「人検知 2人」 / 「人検知なし」 for an entry whose camera's person events
 *  were counted; null while not counted (or not countable). */
export function personsText(n: number | null | undefined): string | null {
  if (n === null || n === undefined) return null;
  return n === 0 ? '人検知なし' : `人検知 ${n}人`;
}

/** A receipt whose register clock was off: 「レジ時刻 15:05:21（補正後 15:04:36）」
 *  in the shop's zone (the date too when the correction crosses midnight);
 *  null when no correction was made. */
export function correctedText(e: { occurredAt: string; correctedAt?: string | null }, tz: string): string | null {
  if (!e.correctedAt) return null;
  const sameDay = startOfDay(Date.parse(e.occurredAt), tz) === startOfDay(Date.parse(e.correctedAt), tz);
  const f = sameDay ? hms : dateTime;
  return `レジ時刻 ${f(e.occurredAt, tz)}（補正後 ${f(e.correctedAt, tz)}）`;
}

/** Why an entry has no picture, as the server stores it: 「CODE: sentence」
 *  (ingest/thumbreason.go), or free text from before the codes. */
export function reasonCode(reason: string): string {
  return /^([A-Z][A-Z0-9_]*): /.exec(reason)?.[1] ?? '';
}

/** The sentence of a thumbnailReason, without its code: what the owner reads. */
export function reasonText(reason: string): string {
  return reasonCode(reason) ? reason.slice(reason.indexOf(': ') + 2) : reason;
}
