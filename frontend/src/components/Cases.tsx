// 「ケース」: the cases of the account, most recently changed first, by
// status (#/cases?status=…), and one case (#/cases/<id>, CasesView.tsx).
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { Cases as CasesQuery, CreateCase } from '../gql/ops';
import type { CaseRowFragment, CaseStatus } from '../gql/types';
import { DEFAULT_TZ, dateTime } from '../format';
import { navigate } from '../router';
import type { Session } from '../session';
import { caseError, caseHref, sizeHint, STATUS_LABEL, StatusBadge, TITLE_MAX, tooLong } from './CasesCommon';
import { Field, useRequired } from './Field';
import { Modal } from './Modal';
import { CaseView } from './CasesView';
import '../styles/cases.css';

export const PAGE_SIZE = 20;

/** The list's filters: key in the address, words, statuses asked for. */
export const FILTERS: [string, string, CaseStatus[] | null][] = [
  ['open', '未解決', ['OPEN', 'INVESTIGATING']],
  ['OPEN', STATUS_LABEL.OPEN, ['OPEN']],
  ['INVESTIGATING', STATUS_LABEL.INVESTIGATING, ['INVESTIGATING']],
  ['CLOSED', STATUS_LABEL.CLOSED, ['CLOSED']],
  ['all', 'すべて', null],
];

export function Cases({ id, query, session }: { id?: string; query?: URLSearchParams; session: Session }) {
  if (id) return <CaseView key={id} id={id} session={session} />;
  return <CasesList status={query?.get('status') ?? 'open'} />;
}

interface ListState {
  rows: CaseRowFragment[];
  total: number;
  endCursor: string | null;
  hasNext: boolean;
}

export function CasesList({ status }: { status: string }) {
  const filter = FILTERS.find((f) => f[0] === status) ?? FILTERS[0];
  const [list, setList] = useState<ListState | null>(null);
  const [tz, setTz] = useState(DEFAULT_TZ);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [adding, setAdding] = useState(false);

  const load = (after: string | null) => {
    setBusy(true);
    setError(null);
    const where = filter[2] ? { statusIn: filter[2] } : undefined;
    return gql(CasesQuery, { where, first: PAGE_SIZE, after }).then((d) => {
      const rows = d.cases.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];
      setTz(d.shops.edges?.[0]?.node?.timezone || DEFAULT_TZ);
      setList((l) => ({
        rows: after && l ? [...l.rows, ...rows.filter((r) => !l.rows.some((x) => x.id === r.id))] : rows,
        total: d.cases.totalCount,
        endCursor: d.cases.pageInfo.endCursor,
        hasNext: d.cases.pageInfo.hasNextPage,
      }));
    }, (e) => setError(e.message)).finally(() => setBusy(false));
  };

  useEffect(() => { setList(null); void load(null); }, [filter[0]]);

  return (
    <div class="stack cases">
      <div class="cases-head">
        <h1 class="page-h">ケース</h1>
        <button type="button" class="btn primary" data-testid="new-case" onClick={() => setAdding(true)}>新しいケース</button>
        <div class="case-filter" role="group" aria-label="状態で絞り込み">
          {FILTERS.map(([key, label]) => (
            <button type="button" class="btn" aria-pressed={key === filter[0]} data-filter={key}
              onClick={() => navigate(key === 'open' ? '/cases' : '/cases?status=' + key)}>{label}</button>
          ))}
        </div>
      </div>
      <section class="panel" aria-labelledby="cases-list-h" data-testid="cases-list" aria-busy={busy}>
        <div class="panel-head">
          <h2 id="cases-list-h">{filter[1]}のケース</h2>
          {list && <span class="hint" data-testid="cases-total">{list.total} 件</span>}
        </div>
        {error && <div class="alert" role="alert">{error}</div>}
        {!list && !error && <div class="loading"><span class="spinner" />読み込み中…</div>}
        {list && list.rows.length === 0 && (
          <p class="empty">
            {filter[0] === 'open' || filter[0] === 'all'
              ? 'ケースはまだありません。ダッシュボードでレシートを選び、「ケースに追加」から作れます。'
              : `${filter[1]}のケースはありません。`}
          </p>
        )}
        {list && list.rows.length > 0 && (
          <table class="grid cases-table">
            <thead>
              <tr><th scope="col">タイトル</th><th scope="col">状態</th><th scope="col">レシート</th><th scope="col">更新</th><th scope="col">担当</th></tr>
            </thead>
            <tbody>
              {list.rows.map((c) => (
                <tr data-case={c.id}>
                  <td data-label="タイトル" class="case-title">
                    <a href={caseHref(c.id)}>{c.title}</a>
                    {c.tags && c.tags.length > 0 && <span class="case-tags">{c.tags.map((t) => <span class="badge tag">{t}</span>)}</span>}
                  </td>
                  <td data-label="状態"><StatusBadge status={c.status} /></td>
                  <td data-label="レシート" class="num-cell" data-testid="case-count">{c.entries.length} 件</td>
                  <td data-label="更新" class="nowrap">{dateTime(c.updatedAt, tz).slice(0, 16)}</td>
                  <td data-label="担当">{c.assignee ? (c.assignee.name || c.assignee.email) : <span class="hint">未割り当て</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {list?.hasNext && (
          <div class="table-foot">
            <span class="hint">{list.rows.length} / {list.total} 件を表示</span>
            <button type="button" class="btn" data-testid="cases-more" disabled={busy} onClick={() => load(list.endCursor)}>さらに表示</button>
          </div>
        )}
      </section>
      {adding && <NewCaseDialog onClose={() => setAdding(false)} />}
    </div>
  );
}

/** A case with a title only; receipts are added from the dashboard. */
function NewCaseDialog({ onClose }: { onClose: () => void }) {
  const [title, setTitle] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const req = useRequired({ title: !title.trim() && 'ケースの件名を入力してください' });
  const long = tooLong('件名', title.trim(), TITLE_MAX);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    if (req.blocked(() => 'nc-title') || long) return;
    setBusy(true);
    setError(null);
    try {
      const d = await gql(CreateCase, { input: { title: title.trim() } });
      onClose();
      navigate('/cases/' + encodeURIComponent(d.createCase.id));
    } catch (e) {
      setError(caseError(e));
      setBusy(false);
    }
  };
  return (
    <Modal title="新しいケース" onClose={onClose} testid="new-case-dialog">
      <form onSubmit={submit} noValidate>
        <Field id="nc-title" label="件名" hint={sizeHint(title.trim(), TITLE_MAX)} error={req.error('title') ?? long ?? error?.fieldError('title')}>
          {(a) => <input {...a} class="input" value={title} onInput={(e) => setTitle(e.currentTarget.value)} />}
        </Field>
        <p class="hint">レシートは、ダッシュボードでレシートを選び「ケースに追加」から加えます。</p>
        {error?.generalErrors(['title']).map((m) => <p class="alert" role="alert">{m}</p>)}
        <div class="actions">
          <button type="button" class="btn" data-autofocus onClick={onClose}>キャンセル</button>
          <button type="submit" class="btn primary" disabled={busy}>{busy ? '作成中…' : '作成'}</button>
        </div>
      </form>
    </Modal>
  );
}
