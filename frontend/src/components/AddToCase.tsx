// 「ケースに追加」 on the selected receipt (the camera panel on a wide screen,
// the receipt sheet on a phone). The button is all the dashboard carries;
// the dialog's code loads on the first tap.
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Entry } from '../journalList';
import type { AddToCaseDialogProps } from './AddToCaseDialog';
import '../styles/addtocase.css';

let Dialog: ComponentType<AddToCaseDialogProps> | null = null;

export function AddToCaseButton({ entry, tz }: { entry: Entry; tz: string }) {
  const [open, setOpen] = useState(false);
  const [C, setC] = useState<ComponentType<AddToCaseDialogProps> | null>(() => Dialog);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    if (!open || C) return;
    import('./AddToCaseDialog').then((m) => { Dialog = m.AddToCaseDialog; setC(() => m.AddToCaseDialog); }, () => { setFailed(true); setOpen(false); });
  }, [open]);
  return (
    <>
      <button type="button" class="btn small add-to-case" data-testid="add-to-case" aria-haspopup="dialog" onClick={() => { setFailed(false); setOpen(true); }}>
        ケースに追加
      </button>
      {failed && <span class="field-error" role="alert">画面を読み込めませんでした。もう一度押してください</span>}
      {open && C && <C entry={entry} tz={tz} onClose={() => setOpen(false)} />}
    </>
  );
}
