// On a narrow screen (a phone, an iPad upright) the camera picture sits above
// the receipt list, out of sight once the list is scrolled: a tapped receipt
// opens its picture here instead, over the list, with the receipts before
// and after it one tap away.
import { useEffect, useRef } from 'preact/hooks';
import type { Entry } from '../journalList';
import { dateTime, yen } from '../format';
import { CameraView, type CameraInfo } from './CameraView';
import { Persons } from './ReceiptCard';

interface Props {
  camera: CameraInfo;
  tz: string;
  entry: Entry;
  /** The list's entries in list order (newest first). */
  entries: Entry[];
  onSelect: (e: Entry) => void;
  onClose: () => void;
}

/** Neighbours of an entry in a newest-first list: older is the receipt
 *  rung up before it (前), newer the one after it (次). */
export function neighbours(entries: Entry[], id: string): { older: Entry | null; newer: Entry | null } {
  const i = entries.findIndex((e) => e.id === id);
  if (i < 0) return { older: null, newer: null };
  return { older: entries[i + 1] ?? null, newer: i > 0 ? entries[i - 1] : null };
}

/** The card of a receipt in the list, to give the focus back to. */
function cardOf(id: string): HTMLElement | null {
  for (const el of document.querySelectorAll<HTMLElement>('.card[data-id]')) {
    if (el.dataset.id === id) return el;
  }
  return null;
}

export function ReceiptSheet({ camera, tz, entry, entries, onSelect, onClose }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const closeBtn = useRef<HTMLButtonElement>(null);
  const shown = useRef(entry.id);
  shown.current = entry.id;
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  const { older, newer } = neighbours(entries, entry.id);

  useEffect(() => {
    const d = ref.current!;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    // showModal keeps the focus inside and the list behind out of reach.
    if (typeof d.showModal === 'function' && !d.open) {
      try { d.showModal(); } catch { d.setAttribute('open', ''); }
    } else d.setAttribute('open', '');
    closeBtn.current?.focus();
    const onCancel = (e: Event) => { e.preventDefault(); closeRef.current(); };
    // Some browsers close on a second Esc whatever the page says.
    const onClosed = () => closeRef.current();
    d.addEventListener('cancel', onCancel);
    d.addEventListener('close', onClosed);
    return () => {
      d.removeEventListener('cancel', onCancel);
      d.removeEventListener('close', onClosed);
      if (d.open && typeof d.close === 'function') d.close();
      // Back to the card of the receipt last shown (prev/next may have moved
      // on from the one tapped), so the list is where the owner left it.
      const back = cardOf(shown.current) ?? (opener?.isConnected ? opener : null);
      back?.focus();
    };
  }, []);

  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape') { e.preventDefault(); onClose(); return; }
    // A picture shown at 100% pans with the arrow keys; they must not turn
    // the page to another receipt under the owner's eyes.
    if ((e.target as Element | null)?.closest?.('.stage, input, select, textarea')) return;
    if (e.key === 'ArrowLeft' && older) { e.preventDefault(); onSelect(older); }
    else if (e.key === 'ArrowRight' && newer) { e.preventDefault(); onSelect(newer); }
  };

  return (
    <dialog ref={ref} class="sheet" role="dialog" aria-modal="true" aria-labelledby="receipt-sheet-title" data-testid="receipt-sheet" onKeyDown={onKey}>
      <div class="sheet-head">
        <h2 id="receipt-sheet-title">
          <span class={`badge k-${entry.kind}`}>{entry.kindLabel}</span>
          <span>{dateTime(entry.occurredAt, tz)}</span>
          <span class="sheet-total">{yen(entry.total)}</span>
          <Persons n={entry.personsNearby} />
        </h2>
        <button ref={closeBtn} type="button" class="btn" data-testid="sheet-close" onClick={onClose}>閉じる</button>
      </div>
      <div class="sheet-body">
        <CameraView camera={camera} tz={tz} selected={entry} onBackToLive={onClose} />
      </div>
      <div class="sheet-nav">
        <button type="button" class="btn" data-testid="sheet-prev" disabled={!older} onClick={() => older && onSelect(older)}>
          <span aria-hidden="true">‹ </span>前のレシート
        </button>
        <button type="button" class="btn" data-testid="sheet-next" disabled={!newer} onClick={() => newer && onSelect(newer)}>
          次のレシート<span aria-hidden="true"> ›</span>
        </button>
      </div>
    </dialog>
  );
}
