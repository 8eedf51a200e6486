// One case (#/cases/<id>): its title, status, assignee and tags; its
// receipts as the dashboard's cards and its alerts, each removable; the
// notes (append-only) and the history; and the evidence bundle's download.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { AddCaseNote, CaseAssignees, CaseView as CaseViewQuery, RemoveCaseEntries, UpdateCase } from '../gql/ops';
import type { CaseAlertFragment, CaseDetailFragment, CaseStatus, UpdateCaseInput } from '../gql/types';
import type { Entry } from '../journalList';
import { cardMatchLabel } from '../cardMatch';
import { DEFAULT_TZ, dateTime, yen } from '../format';
import { messages } from '../errors/messages';
import { isAdmin, type Session } from '../session';
import { Field, useRequired } from './Field';
import { ConfirmDialog, Modal } from './Modal';
import { ReceiptCard } from './ReceiptCard';
import { ACTION_LABEL, caseError, NOTE_MAX, parseTags, RESOLUTION_MAX, sizeHint, STATUS_LABEL, STATUSES, StatusBadge, TITLE_MAX, tooLong } from './CasesCommon';

type Case = CaseDetailFragment;
interface Person { id: string; name: string; email: string }

const asApiError = caseError;

export function CaseView({ id, session }: { id: string; session: Session }) {
  const [c, setC] = useState<Case | null>(null);
  const [tz, setTz] = useState(DEFAULT_TZ);
  const [error, setError] = useState<string | null>(null);
  const [people, setPeople] = useState<Person[]>([]);

  const reload = () => gql(CaseViewQuery, { id }).then((d) => {
    const node = d.cases.edges?.[0]?.node;
    setTz(d.shops.edges?.[0]?.node?.timezone || DEFAULT_TZ);
    if (node) setC(node);
    else setError(messages.NOT_FOUND);
  }, (e) => setError(e.message));

  useEffect(() => {
    void reload();
    // OWNER and ADMIN may give the case to anyone; others to themselves.
    const me = { id: session.user.id, name: session.user.name, email: session.user.email };
    if (isAdmin(session)) gql(CaseAssignees).then((d) => setPeople(d.users), () => setPeople([me]));
    else setPeople([me]);
  }, [id]);

  useEffect(() => { if (c) document.title = `${c.title} - ケース - regicam`; }, [c?.title]);

  if (error && !c) return <div class="stack"><BackLink /><div class="alert" role="alert">{error}</div></div>;
  if (!c) return <div class="loading"><span class="spinner" />読み込み中…</div>;

  const assignees = c.assignee && !people.some((p) => p.id === c.assignee!.id) ? [...people, c.assignee] : people;
  return (
    <div class="stack case-view" data-testid="case-view" data-case={c.id}>
      <BackLink />
      <div class="case-head">
        <h1 class="page-h" data-testid="case-title">{c.title}</h1>
        <StatusBadge status={c.status} />
        {c.tags?.map((t) => <span class="badge tag">{t}</span>)}
        <a class="btn evidence" href={c.evidenceURL} download data-testid="evidence-download"
          onClick={() => setTimeout(() => void reload(), 2000)}>証拠をダウンロード</a>
      </div>
      <p class="hint case-dates">
        作成 {dateTime(c.createdAt, tz).slice(0, 16)}・更新 {dateTime(c.updatedAt, tz).slice(0, 16)}
        {c.closedAt && <>・解決 {dateTime(c.closedAt, tz).slice(0, 16)}</>}
      </p>
      <SummaryForm key={c.id} c={c} people={assignees} onSaved={setC} />
      <Receipts c={c} tz={tz} onChanged={setC} />
      <div class="case-cols">
        <div class="case-col">
          <Alerts c={c} tz={tz} onChanged={setC} />
          <Notes c={c} tz={tz} onAdded={() => void reload()} />
        </div>
        <div class="case-col">
          <History c={c} tz={tz} />
        </div>
      </div>
    </div>
  );
}

function BackLink() {
  return <p class="back"><a href="#/cases" class="back-link"><span aria-hidden="true">‹ </span>ケース一覧</a></p>;
}

/** Title, status (解決済み asks why), assignee and tags; sends what changed. */
export function SummaryForm({ c, people, onSaved }: { c: Case; people: Person[]; onSaved: (c: Case) => void }) {
  const [title, setTitle] = useState(c.title);
  const [status, setStatus] = useState<CaseStatus>(c.status);
  const [resolution, setResolution] = useState(c.resolution);
  const [assignee, setAssignee] = useState(c.assigneeID ?? '');
  const [tags, setTags] = useState((c.tags ?? []).join('、'));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState(false);

  const closing = status === 'CLOSED';
  const req = useRequired({
    title: !title.trim() && '件名を入力してください',
    resolution: closing && !resolution.trim() && '解決済みにするには、解決内容を入力してください',
  });
  const long = {
    title: tooLong('件名', title.trim(), TITLE_MAX),
    resolution: closing ? tooLong('解決内容', resolution.trim(), RESOLUTION_MAX) : undefined,
  };

  const changes = (): UpdateCaseInput => {
    const input: UpdateCaseInput = {};
    if (title.trim() !== c.title) input.title = title.trim();
    if (status !== c.status) input.status = status;
    if (closing && (status !== c.status || resolution.trim() !== c.resolution)) input.resolution = resolution.trim();
    if (assignee !== (c.assigneeID ?? '')) {
      if (assignee) input.assigneeID = assignee;
      else input.clearAssignee = true;
    }
    const t = parseTags(tags);
    if (t.join('\n') !== (c.tags ?? []).join('\n')) input.tags = t;
    return input;
  };

  const submit = async (ev: Event) => {
    ev.preventDefault();
    setSaved(false);
    if (req.blocked((f) => 'case-' + f) || long.title || long.resolution) return;
    const input = changes();
    if (Object.keys(input).length === 0) { setSaved(true); return; }
    setBusy(true);
    setError(null);
    try {
      const d = await gql(UpdateCase, { id: c.id, input });
      const n = d.updateCase;
      onSaved(n);
      setTitle(n.title); setStatus(n.status); setResolution(n.resolution); setAssignee(n.assigneeID ?? ''); setTags((n.tags ?? []).join('、'));
      req.reset();
      setSaved(true);
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };

  const fields = ['title', 'status', 'resolution', 'assigneeID', 'clearAssignee', 'tags'];
  return (
    <section class="panel" aria-labelledby="case-summary-h">
      <div class="panel-head"><h2 id="case-summary-h">概要</h2></div>
      <form class="panel-body case-summary" onSubmit={submit} noValidate data-testid="case-summary">
        <div class="form-grid">
          <Field id="case-title" label="件名" error={req.error('title') ?? long.title ?? error?.fieldError('title')}>
            {(a) => <input {...a} class="input" value={title} onInput={(e) => { setTitle(e.currentTarget.value); setSaved(false); }} />}
          </Field>
          <Field id="case-status" label="状態" error={error?.fieldError('status')}>
            {(a) => (
              <select {...a} value={status} onChange={(e) => { setStatus((e.target as HTMLSelectElement).value as CaseStatus); setSaved(false); }}>
                {STATUSES.map((s) => <option value={s}>{STATUS_LABEL[s]}</option>)}
              </select>
            )}
          </Field>
          <Field id="case-assignee" label="担当" error={error?.fieldError('assigneeID')}>
            {(a) => (
              <select {...a} value={assignee} onChange={(e) => { setAssignee((e.target as HTMLSelectElement).value); setSaved(false); }}>
                <option value="">未割り当て</option>
                {people.map((p) => <option value={p.id}>{p.name || p.email}</option>)}
              </select>
            )}
          </Field>
          <Field id="case-tags" label="タグ" hint="読点・カンマ・空白で区切ります" error={error?.fieldError('tags')}>
            {(a) => <input {...a} class="input" value={tags} onInput={(e) => { setTags(e.currentTarget.value); setSaved(false); }} />}
          </Field>
        </div>
        {closing && (
          <Field id="case-resolution" label="解決内容" hint={sizeHint(resolution.trim(), RESOLUTION_MAX)}
            error={req.error('resolution') ?? long.resolution ?? error?.fieldError('resolution')}>
            {(a) => <textarea {...a} class="input" rows={3} value={resolution} onInput={(e) => { setResolution(e.currentTarget.value); setSaved(false); }} />}
          </Field>
        )}
        {error?.generalErrors(fields).map((m) => <p class="alert" role="alert">{m}</p>)}
        <div class="form-actions">
          <button type="submit" class="btn primary" disabled={busy} data-testid="case-save">{busy ? '保存中…' : '保存'}</button>
          {saved && <span class="status-ok" role="status" data-testid="case-saved">保存しました</span>}
        </div>
      </form>
    </section>
  );
}

function Receipts({ c, tz, onChanged }: { c: Case; tz: string; onChanged: (c: Case) => void }) {
  const [shown, setShown] = useState<Entry | null>(null);
  const [removing, setRemoving] = useState<Entry | null>(null);
  return (
    <section class="panel" aria-labelledby="case-receipts-h" data-testid="case-receipts">
      <div class="panel-head"><h2 id="case-receipts-h">レシート（{c.entries.length}件）</h2></div>
      {c.entries.length === 0 ? <p class="empty">レシートはありません。ダッシュボードでレシートを選び、「ケースに追加」から追加できます。</p> : (
        <ul class="case-cards">
          {c.entries.map((e) => (
            <li>
              <ReceiptCard entry={e} tz={tz} selected={shown?.id === e.id} fresh={false} missed={false} onSelect={setShown} />
              {e.cardMatch && <CardMatchBadge m={e.cardMatch} />}
              <button type="button" class="btn small danger" data-testid="remove-entry" onClick={() => setRemoving(e)}
                aria-label={`レシート ${e.receiptNo || '—'} をケースから外す`}>ケースから外す</button>
            </li>
          ))}
        </ul>
      )}
      {shown && <PictureDialog entry={shown} tz={tz} onClose={() => setShown(null)} />}
      {removing && (
        <RemoveDialog what={`レシート ${removing.receiptNo || '—'}（${dateTime(removing.occurredAt, tz)}・${yen(removing.total)}）`}
          run={() => gql(RemoveCaseEntries, { id: c.id, entryIDs: [removing.id] }).then((d) => onChanged(d.removeCaseEntries))}
          onClose={() => setRemoving(null)} />
      )}
    </section>
  );
}

/** A receipt's card ↔ register match: a mismatch in red, saying which side
 * is missing; a match quietly; 照合待ち while it is still open. */
export function CardMatchBadge({ m }: { m: NonNullable<Case['entries'][number]['cardMatch']> }) {
  const cls = m.state === 'UNMATCHED' ? 'unmatched' : m.state === 'MATCHED' ? 'matched' : 'pending';
  return <span class={`badge card-match ${cls}`} data-testid="card-match" data-state={m.state}>{cardMatchLabel(m)}</span>;
}

/** The receipt's picture, large: the full frame when it is kept, else the thumbnail. */
function PictureDialog({ entry, tz, onClose }: { entry: Entry; tz: string; onClose: () => void }) {
  const pic = entry.picture ?? entry.thumbnail;
  return (
    <Modal title={`レシート ${entry.receiptNo || '—'} の画像`} onClose={onClose} testid="case-picture">
      <div class="body">
        <p class="hint">{entry.kindLabel}・{dateTime(entry.occurredAt, tz)}・{yen(entry.total)}・担当 {entry.staffName || '—'}</p>
        {pic ? <img class="case-picture" src={pic.url} width={pic.width} height={pic.height} alt={`レシート ${entry.receiptNo} の撮影画像`} /> : <p class="empty">画像はありません</p>}
        <div class="actions">
          {pic && <a class="btn" href={pic.url} target="_blank" rel="noopener">別タブで開く</a>}
          <button type="button" class="btn" data-autofocus onClick={onClose}>閉じる</button>
        </div>
      </div>
    </Modal>
  );
}

function RemoveDialog({ what, run, onClose }: { what: string; run: () => Promise<unknown>; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const go = () => {
    setBusy(true);
    setError(null);
    run().then(onClose, (e) => { setError(asApiError(e).message); setBusy(false); });
  };
  return (
    <ConfirmDialog title="ケースから外す" action="外す" onConfirm={go} onClose={onClose} busy={busy} testid="confirm-remove">
      <p>{what} をこのケースから外します。外したことは履歴に残ります。</p>
      {error && <p class="alert" role="alert">{error}</p>}
    </ConfirmDialog>
  );
}

function Alerts({ c, tz, onChanged }: { c: Case; tz: string; onChanged: (c: Case) => void }) {
  const [removing, setRemoving] = useState<CaseAlertFragment | null>(null);
  return (
    <section class="panel" aria-labelledby="case-alerts-h" data-testid="case-alerts">
      <div class="panel-head"><h2 id="case-alerts-h">アラート（{c.alerts.length}件）</h2></div>
      {c.alerts.length === 0 ? <p class="empty">アラートはありません。</p> : (
        <ul class="case-alerts">
          {c.alerts.map((a) => (
            <li data-alert={a.id}>
              {a.thumbnail ? <img class="thumb" src={a.thumbnail.url} width={112} height={63} alt={`${a.rule?.name ?? 'アラート'} の撮影画像`} loading="lazy" /> : <span class="thumb" aria-hidden="true" />}
              <div class="case-alert-text">
                <b>{a.rule?.name ?? a.message}</b>
                <span>{a.message}</span>
                <span class="hint">{dateTime(a.occurredAt, tz)}{a.staffName && `・担当 ${a.staffName}`}{a.amount ? `・${yen(a.amount)}` : ''}</span>
              </div>
              <button type="button" class="btn small danger" onClick={() => setRemoving(a)} aria-label={`アラート「${a.rule?.name ?? a.message}」をケースから外す`}>ケースから外す</button>
            </li>
          ))}
        </ul>
      )}
      {removing && (
        <RemoveDialog what={`アラート「${removing.rule?.name ?? removing.message}」（${dateTime(removing.occurredAt, tz)}）`}
          run={() => gql(RemoveCaseEntries, { id: c.id, alertIDs: [removing.id] }).then((d) => onChanged(d.removeCaseEntries))}
          onClose={() => setRemoving(null)} />
      )}
    </section>
  );
}

/** The notes, oldest first, and the box to add one (notes are never edited). */
export function Notes({ c, tz, onAdded }: { c: Case; tz: string; onAdded: () => void }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [added, setAdded] = useState<Case['notes']>([]);
  const notes = [...c.notes, ...added.filter((n) => !c.notes.some((x) => x.id === n.id))];
  const over = tooLong('メモ', text.trim(), NOTE_MAX);
  const req = useRequired({ text: !text.trim() && 'メモを入力してください' });

  const submit = async (ev: Event) => {
    ev.preventDefault();
    if (req.blocked(() => 'case-note') || over) return;
    setBusy(true);
    setError(null);
    try {
      const d = await gql(AddCaseNote, { caseID: c.id, text: text.trim() });
      setAdded((a) => [...a, d.addCaseNote]);
      setText('');
      req.reset();
      onAdded();
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="panel" aria-labelledby="case-notes-h" data-testid="case-notes">
      <div class="panel-head"><h2 id="case-notes-h">メモ（{notes.length}件）</h2></div>
      <div class="panel-body">
        {notes.length === 0 ? <p class="hint">メモはまだありません。</p> : (
          <ol class="case-notes">
            {notes.map((x) => (
              <li data-note={x.id}>
                <div class="note-meta"><b>{x.authorName || '—'}</b><span class="hint">{dateTime(x.createdAt, tz)}</span></div>
                <p class="note-text">{x.text}</p>
              </li>
            ))}
          </ol>
        )}
        <form onSubmit={submit} noValidate data-testid="note-form">
          <Field id="case-note" label="メモを追加" hint={`${sizeHint(text.trim(), NOTE_MAX)}・追加したメモは変更も削除もできません`}
            error={req.error('text') ?? over ?? error?.fieldError('text')}>
            {(a) => <textarea {...a} class={'input' + (over ? ' over' : '')} rows={4} value={text} onInput={(e) => setText(e.currentTarget.value)} />}
          </Field>
          {error?.generalErrors(['text']).map((m) => <p class="alert" role="alert">{m}</p>)}
          <div class="form-actions">
            <button type="submit" class="btn primary" disabled={busy} data-testid="note-submit">{busy ? '追加中…' : 'メモを追加'}</button>
          </div>
        </form>
      </div>
    </section>
  );
}

function History({ c, tz }: { c: Case; tz: string }) {
  return (
    <section class="panel" aria-labelledby="case-history-h" data-testid="case-history">
      <div class="panel-head"><h2 id="case-history-h">履歴</h2></div>
      <ol class="case-history">
        {c.history.map((h) => (
          <li data-action={h.action}>
            <span class="hint nowrap">{dateTime(h.at, tz).slice(0, 16)}</span>
            <span><b>{ACTION_LABEL[h.action] ?? h.action}</b>{h.detail && <>：{h.detail}</>}</span>
            <span class="hint">{h.actorName || '—'}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
