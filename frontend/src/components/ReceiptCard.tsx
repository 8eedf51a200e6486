import type { Entry } from '../journalList';
import { dateTime, hm, yen } from '../format';

interface Props {
  entry: Entry;
  tz: string;
  selected: boolean;
  fresh: boolean;
  missed: boolean;
  onSelect: (e: Entry) => void;
}

/** One receipt: when and what, the amounts, and the camera picture of its second. */
export function ReceiptCard({ entry: e, tz, selected, fresh, missed, onSelect }: Props) {
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
        <span>{dateTime(e.occurredAt, tz)}</span>
        <span class={`badge k-${e.kind}`}>{e.kindLabel}</span>
        {marks.map((m) => <span class="badge mark">{m}</span>)}
        {missed ? <span class="badge missed">切断中に受信</span> : fresh && <span class="badge new">新着</span>}
      </div>
      {th ? (
        <img class="thumb" src={th.url} alt={`レシート ${e.receiptNo} の撮影画像`} loading="lazy" width={112} height={63} />
      ) : (
        <div class="thumb" title={e.thumbnailReason}>{e.thumbnailReason ? '画像なし' : '撮影待ち…'}</div>
      )}
      <dl class="ids">
        <div class="wide"><dt>レシートNo.</dt><dd>{e.receiptNo || '—'}</dd></div>
        <div><dt>レジNo.</dt><dd>{e.registerNo || '—'}</dd></div>
        <div><dt>担当</dt><dd>{e.staffName || '—'}</dd></div>
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
