import type { ComponentChildren } from 'preact';
import type { Entry } from '../journalList';
import { correctedText, dateTime, hm, personsText, reasonCode, reasonText, yen } from '../format';

interface Props {
  entry: Entry;
  tz: string;
  selected: boolean;
  fresh: boolean;
  missed: boolean;
  onSelect: (e: Entry) => void;
  /** The search words: their matches are marked. */
  highlight?: string;
}

/** What その他 means, wherever an OTHER entry shows. */
export const OTHER_EXPLAINED = '入金・出金・与信など、支払い以外のレジ操作';

/** Folds width and case the way the search does (journal/filter.go tries
 *  NFKC, half-width and full-width spellings): ９ and 9, ｶ and カ, ﾀﾞ and ダ. */
function fold(s: string): string {
  return s.normalize('NFKD').toLowerCase();
}

/** text with each match of q wrapped in <mark>; the match is found on the
 *  folded text and mapped back to the characters as stored. */
export function marked(text: string, q: string | undefined): ComponentChildren {
  const fq = q ? fold(q.trim()) : '';
  if (!fq || !text) return text || '—';
  // Folded text one source character at a time, remembering where each
  // folded piece came from.
  const chars = [...text];
  let folded = '';
  const from: number[] = []; // folded index -> source char index
  chars.forEach((c, i) => { const f = fold(c); folded += f; for (let k = 0; k < f.length; k++) from.push(i); });
  const out: ComponentChildren[] = [];
  let at = 0, pos = 0;
  for (let i = folded.indexOf(fq); i >= 0; i = folded.indexOf(fq, i + fq.length)) {
    const a = from[i], b = from[i + fq.length - 1] + 1;
    if (a < pos) continue;
    if (a > pos) out.push(chars.slice(pos, a).join(''));
    out.push(<mark key={at++}>{chars.slice(a, b).join('')}</mark>);
    pos = b;
  }
  if (pos < chars.length) out.push(chars.slice(pos).join(''));
  return out;
}

/** Whether anyone was seen at the counter around the receipt (the camera's
 *  person events, counted a minute or two later): nothing until counted,
 *  and 人検知なし stands out. */
export function Persons({ n }: { n: number | null | undefined }) {
  const text = personsText(n);
  if (!text) return null;
  return <span class={'badge persons' + (n === 0 ? ' none' : '')} data-testid="persons" title="取引の前後に、カメラが人を検知した数">{text}</span>;
}

/** Whether a reason says the picture is still to come: being taken, or the
 *  camera cloud could not give it yet, or wants a new key, and it will be
 *  asked again (ingest/thumbreason.go PENDING, CLOUD_RETRY, CLOUD_AUTH; the
 *  words of older reasons). */
export function stillComing(reason: string): boolean {
  if (['PENDING', 'CLOUD_RETRY', 'CLOUD_AUTH'].includes(reasonCode(reason))) return true;
  return reason.includes('再試行します') || reason.includes('再接続してください');
}

/** One receipt: when and what, the amounts, and the camera picture of its second. */
export function ReceiptCard({ entry: e, tz, selected, fresh, missed, onSelect, highlight }: Props) {
  const th = e.thumbnail;
  const marks = [e.canceledAt && '取消済', e.modifiedAt && '修正あり', e.deletedAt && '削除済'].filter(Boolean) as string[];
  return (
    <div
      class={`card k-${e.kind}${fresh ? ' fresh' : ''}`}
      role="button"
      tabIndex={0}
      aria-pressed={selected}
      data-id={e.id}
      data-kind={e.kind}
      data-receipt={e.receiptNo}
      onClick={() => onSelect(e)}
      onKeyDown={(ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); onSelect(e); } }}
    >
      <div class="when">
        <span class="at">{dateTime(e.occurredAt, tz)}</span>
        <span class="tags">
          <span class={`badge k-${e.kind}`} title={e.kind === 'OTHER' ? OTHER_EXPLAINED : undefined}>{e.kindLabel}</span>
          {marks.map((m) => <span class="badge mark">{m}</span>)}
          {e.correctedAt && <span class="badge mark" data-testid="corrected" title={correctedText(e, tz) ?? undefined}>時刻補正</span>}
        </span>
        <Persons n={e.personsNearby} />
        {missed ? <span class="badge missed">切断中に受信</span> : fresh && <span class="badge new">新着</span>}
      </div>
      {th ? (
        <img class="thumb" src={th.url} alt={`レシート ${e.receiptNo} の撮影画像`} loading="lazy" width={112} height={63} />
      ) : (
        <div class="thumb" title={reasonText(e.thumbnailReason) || undefined}>
          {!e.thumbnailReason || reasonCode(e.thumbnailReason) === 'PENDING' ? '撮影待ち…' : stillComing(e.thumbnailReason) ? '取得中…' : '画像なし'}
        </div>
      )}
      <dl class="ids">
        <div class="wide"><dt>レシートNo.</dt><dd>{marked(e.receiptNo, highlight)}</dd></div>
        <div><dt>レジNo.</dt><dd>{marked(e.registerNo, highlight)}</dd></div>
        <div><dt>担当</dt><dd>{marked(e.staffName, highlight)}</dd></div>
      </dl>
      <dl>
        <div><dt>合計</dt><dd class="yen">{yen(e.total)}</dd></div>
        <div><dt>預かり金</dt><dd>{yen(e.deposit)}</dd></div>
        <div><dt>釣り銭</dt><dd>{yen(e.change)}</dd></div>
        <div><dt>入店時間</dt><dd>{hm(e.enteredAt, tz)}</dd></div>
        <div class="wide"><dt>支払い方法</dt><dd>{e.paymentMethod || '—'}</dd></div>
      </dl>
    </div>
  );
}
