// A register's clock as the owner reads it (Terminal.clockOffset,
// schema/feedtruth.graphql): 「レジの時計が 42 秒進んでいます」, 「…遅れています」,
// 「正確です」 or 「推定中」 while too few receipts came to tell, with the
// estimate's ± bound. The link portal shows it per register; the dashboard
// names the registers whose clock is off by more than CLOCK_WARN_MS.
import { useEffect, useState } from 'preact/hooks';
import { gql } from '../api';
import { RegisterClocks } from '../gql/ops';
import type { RegisterClockFragment } from '../gql/types';
import { hm } from '../format';

/** Fewer samples than this: the estimate is not trusted (shown 推定中).
 *  The server answers null while it has too few; this also covers an
 *  estimate it gives with fewer. */
export const MIN_SAMPLES = 3;

/** Beyond this the dashboard warns: a till seconds apart from the camera
 *  is what the correction is for, and the owner should set the clock. */
export const CLOCK_WARN_MS = 10_000;

export type ClockState = 'ahead' | 'behind' | 'right' | 'unknown';

/** A length of time in plain Japanese: 0.4 秒, 42 秒, 1 分 30 秒, 9 時間, 1 日 2 時間. */
export function durationJa(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 9_950) return `${(abs / 1000).toFixed(1)} 秒`;
  const s = Math.round(abs / 1000);
  if (s < 60) return `${s} 秒`;
  if (s < 3600) return join(Math.floor(s / 60), '分', s % 60, '秒');
  const m = Math.round(s / 60);
  if (m < 24 * 60) return join(Math.floor(m / 60), '時間', m % 60, '分');
  const h = Math.round(m / 60);
  return join(Math.floor(h / 24), '日', h % 24, '時間');
}
const join = (a: number, ua: string, b: number, ub: string) => (b ? `${a} ${ua} ${b} ${ub}` : `${a} ${ua}`);

export function clockState(c: RegisterClockFragment | null | undefined): ClockState {
  if (!c || c.samples < MIN_SAMPLES) return 'unknown';
  // Inside the server's dead band the register is left alone: right.
  if (!c.correcting || c.offsetMs === 0) return 'right';
  return c.offsetMs > 0 ? 'ahead' : 'behind';
}

/** The sentence: 「レジの時計が 42 秒進んでいます」 and the like. */
export function clockText(c: RegisterClockFragment | null | undefined): string {
  switch (clockState(c)) {
    case 'ahead': return `レジの時計が ${durationJa(c!.offsetMs)}進んでいます`;
    case 'behind': return `レジの時計が ${durationJa(c!.offsetMs)}遅れています`;
    case 'right': return 'レジの時計は正確です';
    case 'unknown': return c ? `推定中（サンプル ${c.samples} 件）` : '推定中（レシートがまだ足りません）';
  }
}

/** Whether the dashboard should warn about this clock. */
export function clockOff(c: RegisterClockFragment | null | undefined, limitMs = CLOCK_WARN_MS): boolean {
  const st = clockState(c);
  return (st === 'ahead' || st === 'behind') && Math.abs(c!.offsetMs) > limitMs;
}

/** One register's clock: the sentence, the ± bound, and whether its
 *  receipts' pictures are chosen at the corrected time. */
export function ClockOffsetLine({ clock, tz }: { clock: RegisterClockFragment | null; tz: string }) {
  const st = clockState(clock);
  const off = clockOff(clock);
  return (
    <div class={'clock clock-' + st} data-testid="clock" data-state={st}>
      <span class={off ? 'status-bad' : st === 'right' ? 'status-ok' : undefined} data-testid="clock-text">{clockText(clock)}</span>
      {clock && st !== 'unknown' && <span class="hint" data-testid="clock-bound">（誤差 ±{durationJa(clock.uncertaintyMs)}）</span>}
      {clock && (st === 'ahead' || st === 'behind') && <span class="badge warn">補正中</span>}
      <div class="hint">
        {st === 'unknown'
          ? 'レシートが数件届くと推定します。それまで時刻の補正はしません。'
          : st === 'right'
            ? `レシートの時刻はそのまま使います（${hm(clock!.updatedAt, tz)} 時点・サンプル ${clock!.samples} 件）。`
            : `画像は時計のずれを補正した時刻で選んでいます（${hm(clock!.updatedAt, tz)} 時点・サンプル ${clock!.samples} 件）。`}
      </div>
    </div>
  );
}

/** A register's name as the owner knows it. */
export function registerName(t: { name: string; externalID: string }): string {
  if (t.name) return t.name;
  return t.externalID ? `端末 ${t.externalID}` : 'レジ';
}

/**
 * The dashboard's warning: each register whose clock is off by more than
 * limitMs, by name. Read on its own and quietly: a dashboard never waits for
 * it or fails because of it. Read again every few minutes.
 */
export function ClockBanner({ limitMs = CLOCK_WARN_MS, everyMs = 5 * 60_000 }: { limitMs?: number; everyMs?: number }) {
  const [off, setOff] = useState<{ id: string; name: string; clock: RegisterClockFragment }[]>([]);
  useEffect(() => {
    let stopped = false;
    const load = () => gql(RegisterClocks).then((d) => {
      if (stopped) return;
      const ts = d.terminals.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];
      setOff(ts.filter((t) => clockOff(t.clockOffset, limitMs)).map((t) => ({ id: t.id, name: registerName(t), clock: t.clockOffset! })));
    }, () => {}); // no banner is the right answer when the clocks cannot be read
    void load();
    const id = setInterval(load, everyMs);
    return () => { stopped = true; clearInterval(id); };
  }, [limitMs, everyMs]);
  if (off.length === 0) return null;
  return (
    <div class="alert warn clock-banner" role="status" data-testid="clock-banner">
      <ul>
        {off.map((t) => (
          <li data-terminal={t.id}>
            「{t.name}」の時計が {durationJa(t.clock.offsetMs)}{t.clock.offsetMs > 0 ? '進んで' : '遅れて'}います
          </li>
        ))}
      </ul>
      <span>画像は補正した時刻で選んでいます。レジの時計を合わせてください。</span>
    </div>
  );
}
