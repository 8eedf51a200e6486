// A modal dialog on the native <dialog>: focus stays inside, Esc closes it.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

interface Props {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  testid?: string;
}

export function Modal({ title, onClose, children, testid }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  useEffect(() => {
    const d = ref.current!;
    if (typeof d.showModal === 'function' && !d.open) d.showModal();
    else d.setAttribute('open', '');
    const onCancel = (e: Event) => { e.preventDefault(); closeRef.current(); };
    d.addEventListener('cancel', onCancel);
    return () => { d.removeEventListener('cancel', onCancel); if (d.open && typeof d.close === 'function') d.close(); };
  }, []);
  const titleId = 'dlg-' + title.replace(/\s+/g, '');
  return (
    <dialog ref={ref} class="modal" aria-labelledby={titleId} data-testid={testid}>
      <h3 id={titleId}>{title}</h3>
      {children}
    </dialog>
  );
}
