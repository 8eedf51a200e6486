// A modal dialog on the native <dialog>: focus stays inside, Esc closes it,
// and focus goes back to what opened it.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

interface Props {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  testid?: string;
}

/** The element a dialog (or a step inside it) starts on: marked data-autofocus,
 *  else autofocus. showModal() alone would pick the first focusable element,
 *  which in a confirmation is not always the safe one. */
export function focusInitial(root: ParentNode | null) {
  root?.querySelector<HTMLElement>('[data-autofocus], [autofocus]')?.focus();
}

export function Modal({ title, onClose, children, testid }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  useEffect(() => {
    const d = ref.current!;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (typeof d.showModal === 'function' && !d.open) d.showModal();
    else d.setAttribute('open', '');
    focusInitial(d);
    const onCancel = (e: Event) => { e.preventDefault(); closeRef.current(); };
    d.addEventListener('cancel', onCancel);
    return () => {
      d.removeEventListener('cancel', onCancel);
      if (d.open && typeof d.close === 'function') d.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  const titleId = 'dlg-' + title.replace(/\s+/g, '');
  return (
    <dialog ref={ref} class="modal" aria-labelledby={titleId} data-testid={testid}>
      <h2 id={titleId}>{title}</h2>
      {children}
    </dialog>
  );
}

interface ConfirmProps {
  title: string;
  /** The words of the red button (削除する, 失効させる …). */
  action: string;
  onConfirm: () => void;
  onClose: () => void;
  busy?: boolean;
  testid?: string;
  children: ComponentChildren;
}

/** A destructive confirmation: キャンセル has the focus, so Enter or a
 *  stray tap keeps things as they are, and the action is red. */
export function ConfirmDialog({ title, action, onConfirm, onClose, busy, testid, children }: ConfirmProps) {
  return (
    <Modal title={title} onClose={onClose} testid={testid}>
      <div class="body">
        {children}
        <div class="actions">
          <button type="button" class="btn" data-autofocus onClick={onClose}>キャンセル</button>
          <button type="button" class="btn danger-solid" disabled={busy} onClick={onConfirm}>{action}</button>
        </div>
      </div>
    </Modal>
  );
}
