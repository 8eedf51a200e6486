// The dialog behind 「ケースに追加」: a new case with this receipt, or the
// receipt added to a case still open. Loaded on the first tap (AddToCase.tsx).
import { render } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { AddCaseEntries, Cases, CreateCase } from '../gql/ops';
import type { CaseRowFragment } from '../gql/types';
import type { Entry } from '../journalList';
import { dateTime, yen } from '../format';
import { Field, FieldError, useRequired } from './Field';
import { focusInitial, Modal } from './Modal';
import { caseError, caseHref, sizeHint, STATUS_LABEL, TITLE_MAX, tooLong } from './CasesCommon';
import '../styles/cases.css';

export interface AddToCaseDialogProps {
  entry: Entry;
  tz: string;
  onClose: () => void;
}

/** The title a new case starts with: what and when, so the list reads. */
export function defaultTitle(e: Entry, tz: string): string {
  return `${e.kindLabel} レシート${e.receiptNo || '—'} ${dateTime(e.occurredAt, tz).slice(0, 16)}`;
}

/** Drawn in a root of its own at the end of the body, not inside the
 *  receipt sheet: the sheet's own Esc and arrow keys must not reach through
 *  to it. (Not preact/compat's createPortal: loading compat would change how
 *  every form control of the app reports its changes.) */
export function AddToCaseDialog(props: AddToCaseDialogProps) {
  const host = useRef<HTMLDivElement | null>(null);
  useLayoutEffect(() => {
    const el = document.createElement('div');
    document.body.appendChild(el);
    host.current = el;
    return () => { render(null, el); el.remove(); host.current = null; };
  }, []);
  useLayoutEffect(() => { if (host.current) render(<AddToCaseBody {...props} />, host.current); });
  return null;
}

function AddToCaseBody({ entry, tz, onClose }: AddToCaseDialogProps) {
  const [mode, setMode] = useState<'new' | 'existing'>('new');
  const [title, setTitle] = useState(() => defaultTitle(entry, tz));
  const [open, setOpen] = useState<CaseRowFragment[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [caseID, setCaseID] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState<{ id: string; title: string; created: boolean } | null>(null);
  const body = useRef<HTMLDivElement>(null);

  useEffect(() => {
    gql(Cases, { where: { statusIn: ['OPEN', 'INVESTIGATING'] }, first: 50 }).then(
      (d) => setOpen(d.cases.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []),
      (e) => setLoadError(e.message),
    );
  }, []);
  useEffect(() => { if (done) focusInitial(body.current); }, [done]);

  const titleLong = tooLong('件名', title.trim(), TITLE_MAX);
  const req = useRequired(mode === 'new'
    ? { title: !title.trim() && 'ケースの件名を入力してください' }
    : { case: !caseID && '追加するケースを選んでください' });

  const submit = async (ev: Event) => {
    ev.preventDefault();
    if (req.blocked((f) => (f === 'title' ? 'atc-title' : 'atc-case')) || (mode === 'new' && titleLong)) return;
    setBusy(true);
    setError(null);
    try {
      if (mode === 'new') {
        const d = await gql(CreateCase, { input: { title: title.trim(), entryIDs: [entry.id] } });
        setDone({ id: d.createCase.id, title: d.createCase.title, created: true });
      } else {
        const d = await gql(AddCaseEntries, { id: caseID, entryIDs: [entry.id] });
        setDone({ id: d.addCaseEntries.id, title: d.addCaseEntries.title, created: false });
      }
    } catch (e) {
      setError(caseError(e));
    } finally {
      setBusy(false);
    }
  };

  const titleError = req.error('title') ?? titleLong ?? error?.fieldError('title');
  const general = error?.generalErrors(['title']) ?? [];
  const has = (c: CaseRowFragment) => c.entries.some((x) => x.id === entry.id);

  return (
    <Modal title="ケースに追加" onClose={onClose} testid="add-to-case-dialog">
      <div class="body" ref={body}>
        <p class="atc-receipt" data-testid="atc-receipt">
          <span class={`badge k-${entry.kind}`}>{entry.kindLabel}</span>
          <span>{dateTime(entry.occurredAt, tz)}</span>
          <span>レシートNo. {entry.receiptNo || '—'}</span>
          <b>{yen(entry.total)}</b>
        </p>
        {done ? (
          <>
            <p class="alert success" role="status" data-testid="atc-done">
              {done.created ? `ケース「${done.title}」を作成し、このレシートを追加しました。` : `ケース「${done.title}」にこのレシートを追加しました。`}
            </p>
            <div class="actions">
              <button type="button" class="btn" onClick={onClose}>閉じる</button>
              <a class="btn primary" href={caseHref(done.id)} data-autofocus data-testid="atc-open">ケースを開く</a>
            </div>
          </>
        ) : (
          <form onSubmit={submit} noValidate>
            <fieldset class="atc-mode">
              <legend>追加先</legend>
              <label class="check"><input type="radio" name="atc-mode" checked={mode === 'new'} onChange={() => setMode('new')} />新しいケースを作る</label>
              <label class="check"><input type="radio" name="atc-mode" checked={mode === 'existing'} onChange={() => setMode('existing')} disabled={open !== null && open.length === 0} />
                進行中のケースに追加{open !== null && open.length === 0 && <span class="hint">（進行中のケースはありません）</span>}
              </label>
            </fieldset>
            {mode === 'new' ? (
              <Field id="atc-title" label="件名" error={titleError} hint={sizeHint(title.trim(), TITLE_MAX)}>
                {(a) => <input {...a} class="input" value={title} onInput={(e) => setTitle(e.currentTarget.value)} />}
              </Field>
            ) : (
              <Field id="atc-case" label="ケース" error={req.error('case') ?? error?.fieldError('id')}>
                {(a) => (
                  <select {...a} value={caseID} onChange={(e) => setCaseID((e.target as HTMLSelectElement).value)}>
                    <option value="">選んでください</option>
                    {(open ?? []).map((c) => (
                      <option value={c.id} disabled={has(c)}>
                        {c.title}（{STATUS_LABEL[c.status]}・{c.entries.length}件{has(c) ? '・追加済み' : ''}）
                      </option>
                    ))}
                  </select>
                )}
              </Field>
            )}
            {loadError && mode === 'existing' && <FieldError>{loadError}</FieldError>}
            {general.map((m) => <p class="alert" role="alert">{m}</p>)}
            <div class="actions">
              <button type="button" class="btn" data-autofocus onClick={onClose}>キャンセル</button>
              <button type="submit" class="btn primary" disabled={busy} data-testid="atc-submit">{busy ? '追加中…' : mode === 'new' ? '作成して追加' : '追加'}</button>
            </div>
          </form>
        )}
      </div>
    </Modal>
  );
}
