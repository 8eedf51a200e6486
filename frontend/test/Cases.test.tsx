// 「ケース」 and 「ケースに追加」: what the owner notices — a new case carries
// the tapped receipt, 解決済み asks for the resolution before anything is
// sent, a note's counter and limit, the server's refusal in plain Japanese,
// the list's filter and its next page.
import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { AddToCaseDialog } from '../src/components/AddToCaseDialog';
import { Cases } from '../src/components/Cases';
import { CameraView } from '../src/components/CameraView';
import type { Session } from '../src/session';
import { entry, mockGraphQL } from './helpers';

const owner: Session = { user: { id: 'US1', email: 'owner@example.jp', name: 'オーナー', role: 'OWNER' } };
const tzShops = { edges: [{ node: { id: 'SH1', timezone: 'Asia/Tokyo' } }] };

const row = (over: Record<string, unknown> = {}) => ({
  id: 'CS1', title: '取消の多い日', status: 'OPEN', updatedAt: '2030-01-01T01:00:00Z', tags: [], assignee: null, entries: [{ id: 'JE1' }, { id: 'JE2' }], ...over,
});

const detail = (over: Record<string, unknown> = {}) => ({
  id: 'CS1', title: '取消の多い日', status: 'OPEN', resolution: '', tags: ['取消'], createdAt: '2030-01-01T00:00:00Z', updatedAt: '2030-01-01T01:00:00Z',
  closedAt: null, assigneeID: null, assignee: null, evidenceURL: '/cases/CS1/evidence.zip',
  entries: [entry({ id: 'JE1', receiptNo: '0042' })], alerts: [],
  notes: [{ id: 'CN1', text: '店長に確認済み', authorName: 'オーナー', createdAt: '2030-01-01T00:30:00Z' }],
  history: [{ id: 'CV1', action: 'CREATED', detail: '', actorName: 'オーナー', at: '2030-01-01T00:00:00Z' }],
  ...over,
});

const users = [{ id: 'US1', name: 'オーナー', email: 'owner@example.jp' }, { id: 'US2', name: '防犯 担当', email: 'lp@example.jp' }];

function caseServer(extra: (op: string, v: any) => unknown = () => undefined, c = detail()) {
  return mockGraphQL((op, v) => {
    const r = extra(op, v);
    if (r) return r;
    if (op === 'CaseView') return { data: { cases: { edges: [{ node: c }] }, shops: tzShops } };
    if (op === 'CaseAssignees') return { data: { users } };
    throw new Error('unexpected ' + op);
  });
}

describe('ケースに追加', () => {
  const e = entry({ id: 'JE42', receiptNo: '0042', kind: 'CANCEL', kindLabel: 'キャンセル' });
  const camera = { id: 'CA1', name: 'レジ前', model: 'M', deviceID: 'D', status: { recording: true, online: true, lastSeenAt: null, lastError: null } };

  it('is offered on the selected receipt (not on the live picture) and opens its dialog', async () => {
    mockGraphQL((op) => {
      if (op === 'Cases') return { data: { cases: { totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } }, shops: tzShops } };
      throw new Error('unexpected ' + op);
    });
    const { rerender } = render(<CameraView camera={camera} tz="Asia/Tokyo" selected={null} onBackToLive={() => {}} everyMs={60_000} />);
    expect(screen.queryByRole('button', { name: 'ケースに追加' })).toBeNull();
    rerender(<CameraView camera={camera} tz="Asia/Tokyo" selected={e} onBackToLive={() => {}} everyMs={60_000} />);
    fireEvent.click(screen.getByRole('button', { name: 'ケースに追加' }));
    // Its code loads on the first tap.
    const dlg = within(await screen.findByRole('dialog', { name: 'ケースに追加' }));
    expect(dlg.getByTestId('atc-receipt').textContent).toContain('レシートNo. 0042');
    fireEvent.click(dlg.getByRole('button', { name: 'キャンセル' }));
    await waitFor(() => expect(screen.queryByTestId('add-to-case-dialog')).toBeNull());
  });

  it('creates a new case carrying the receipt, and offers to open it', async () => {
    const calls = mockGraphQL((op) => {
      if (op === 'Cases') return { data: { cases: { totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } }, shops: tzShops } };
      if (op === 'CreateCase') return { data: { createCase: row({ id: 'CS9', title: 'レジ2の取消', entries: [{ id: 'JE42' }] }) } };
      throw new Error('unexpected ' + op);
    });
    render(<AddToCaseDialog entry={e} tz="Asia/Tokyo" onClose={() => {}} />);
    const dlg = within(await screen.findByTestId('add-to-case-dialog'));
    // Starts on the safe button.
    expect(document.activeElement?.textContent).toBe('キャンセル');
    const title = dlg.getByLabelText('件名') as HTMLInputElement;
    expect(title.value).toContain('0042');
    fireEvent.input(title, { target: { value: 'レジ2の取消' } });
    fireEvent.click(dlg.getByRole('button', { name: '作成して追加' }));
    expect((await dlg.findByTestId('atc-done')).textContent).toContain('ケース「レジ2の取消」を作成し');
    expect(calls.find((c) => c.op === 'CreateCase')!.variables.input).toEqual({ title: 'レジ2の取消', entryIDs: ['JE42'] });
    expect(dlg.getByRole('link', { name: 'ケースを開く' }).getAttribute('href')).toBe('#/cases/CS9');
  });

  it('names an empty title at the field and sends nothing', async () => {
    const calls = mockGraphQL((op) => {
      if (op === 'Cases') return { data: { cases: { totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } }, shops: tzShops } };
      throw new Error('unexpected ' + op);
    });
    render(<AddToCaseDialog entry={e} tz="Asia/Tokyo" onClose={() => {}} />);
    const dlg = within(await screen.findByTestId('add-to-case-dialog'));
    fireEvent.input(dlg.getByLabelText('件名'), { target: { value: '  ' } });
    fireEvent.click(dlg.getByRole('button', { name: '作成して追加' }));
    expect(await dlg.findByText('ケースの件名を入力してください')).toBeTruthy();
    expect(calls.some((c) => c.op === 'CreateCase')).toBe(false);
  });

  it('adds the receipt to an open case; a case that has it already cannot be picked', async () => {
    const calls = mockGraphQL((op, v) => {
      if (op === 'Cases') {
        expect(v.where).toEqual({ statusIn: ['OPEN', 'INVESTIGATING'] });
        return { data: { cases: { totalCount: 2, edges: [{ cursor: 'a', node: row() }, { cursor: 'b', node: row({ id: 'CS2', title: '既にある', entries: [{ id: 'JE42' }] }) }], pageInfo: { hasNextPage: false, endCursor: 'b' } }, shops: tzShops } };
      }
      if (op === 'AddCaseEntries') return { data: { addCaseEntries: row({ entries: [{ id: 'JE1' }, { id: 'JE2' }, { id: 'JE42' }] }) } };
      throw new Error('unexpected ' + op);
    });
    render(<AddToCaseDialog entry={e} tz="Asia/Tokyo" onClose={() => {}} />);
    const dlg = within(await screen.findByTestId('add-to-case-dialog'));
    await waitFor(() => expect(calls.some((c) => c.op === 'Cases')).toBe(true));
    fireEvent.click(dlg.getByLabelText(/進行中のケースに追加/));
    const sel = dlg.getByLabelText('ケース') as HTMLSelectElement;
    await waitFor(() => expect(sel.options.length).toBe(3));
    expect(sel.options[1].textContent).toBe('取消の多い日（未着手・2件）');
    expect(sel.options[2].disabled).toBe(true);
    expect(sel.options[2].textContent).toContain('追加済み');
    fireEvent.click(dlg.getByRole('button', { name: '追加' }));
    expect(await dlg.findByText('追加するケースを選んでください')).toBeTruthy();
    fireEvent.change(sel, { target: { value: 'CS1' } });
    fireEvent.click(dlg.getByRole('button', { name: '追加' }));
    expect((await dlg.findByTestId('atc-done')).textContent).toBe('ケース「取消の多い日」にこのレシートを追加しました。');
    expect(calls.find((c) => c.op === 'AddCaseEntries')!.variables).toEqual({ id: 'CS1', entryIDs: ['JE42'] });
  });

  it('shows the server\'s refusal in plain Japanese', async () => {
    mockGraphQL((op) => {
      if (op === 'Cases') return { data: { cases: { totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } }, shops: tzShops } };
      if (op === 'CreateCase') throw { errors: [{ message: 'レシートが見つかりません (entry not found)', extensions: { code: 'NOT_FOUND', reason: 'NOT_FOUND', field: 'input.entryIDs' } }] };
      throw new Error('unexpected ' + op);
    });
    render(<AddToCaseDialog entry={e} tz="Asia/Tokyo" onClose={() => {}} />);
    const dlg = within(await screen.findByTestId('add-to-case-dialog'));
    fireEvent.click(dlg.getByRole('button', { name: '作成して追加' }));
    expect((await dlg.findByRole('alert')).textContent).toBe('レシートが見つかりません');
  });
});

describe('ケースに追加: a receipt already in another case', () => {
  it('says so in the server\'s words, not 「ほかの変更と重なりました」', async () => {
    mockGraphQL((op) => {
      if (op === 'Cases') return { data: { cases: { totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } }, shops: tzShops } };
      if (op === 'CreateCase') throw { errors: [{ message: 'この取引は既に別の事件に入っています', extensions: { code: 'CONFLICT', reason: 'CONFLICT', field: 'input.entryIDs[0]' } }] };
      throw new Error('unexpected ' + op);
    });
    render(<AddToCaseDialog entry={entry({ id: 'JE7' })} tz="Asia/Tokyo" onClose={() => {}} />);
    const dlg = within(await screen.findByTestId('add-to-case-dialog'));
    fireEvent.click(dlg.getByRole('button', { name: '作成して追加' }));
    expect((await dlg.findByRole('alert')).textContent).toBe('この取引は既に別の事件に入っています');
  });
});

describe('ケース一覧', () => {
  it('lists open cases with their receipts count, filters by status and reads the next page', async () => {
    const calls = mockGraphQL((op, v) => {
      if (op !== 'Cases') throw new Error('unexpected ' + op);
      if (v.after) return { data: { cases: { totalCount: 2, edges: [{ cursor: 'c2', node: row({ id: 'CS2', title: '二件目', assignee: users[1], entries: [] }) }], pageInfo: { hasNextPage: false, endCursor: 'c2' } }, shops: tzShops } };
      return { data: { cases: { totalCount: 2, edges: [{ cursor: 'c1', node: row() }], pageInfo: { hasNextPage: true, endCursor: 'c1' } }, shops: tzShops } };
    });
    location.hash = '#/cases';
    const { rerender } = render(<Cases session={owner} query={new URLSearchParams()} />);
    const list = await screen.findByTestId('cases-list');
    await within(list).findByText('取消の多い日');
    expect(calls[0].variables).toEqual({ where: { statusIn: ['OPEN', 'INVESTIGATING'] }, first: 20, after: null });
    const r1 = list.querySelector('tr[data-case=CS1]')!;
    expect(within(r1 as HTMLElement).getByTestId('case-count').textContent).toBe('2 件');
    expect(r1.textContent).toContain('未割り当て');
    expect(r1.textContent).toContain('2030/01/01 10:00');
    fireEvent.click(within(list).getByRole('button', { name: 'さらに表示' }));
    await within(list).findByText('二件目');
    expect(calls[1].variables.after).toBe('c1');
    expect(list.querySelector('tr[data-case=CS2]')!.textContent).toContain('防犯 担当');
    expect(within(list).queryByRole('button', { name: 'さらに表示' })).toBeNull();

    fireEvent.click(screen.getByRole('button', { name: '解決済み' }));
    expect(location.hash).toBe('#/cases?status=CLOSED');
    rerender(<Cases session={owner} query={new URLSearchParams('status=CLOSED')} />);
    await waitFor(() => expect(calls.at(-1)!.variables.where).toEqual({ statusIn: ['CLOSED'] }));
    expect(screen.getByRole('button', { name: '解決済み' }).getAttribute('aria-pressed')).toBe('true');
  });
});

describe('新しいケース', () => {
  it('creates a case with its title and opens it', async () => {
    const calls = mockGraphQL((op) => {
      if (op === 'Cases') return { data: { cases: { totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } }, shops: tzShops } };
      if (op === 'CreateCase') return { data: { createCase: row({ id: 'CS5', title: '月末の棚卸', entries: [] }) } };
      throw new Error('unexpected ' + op);
    });
    location.hash = '#/cases';
    render(<Cases session={owner} />);
    await screen.findByText(/ケースはまだありません/);
    fireEvent.click(screen.getByRole('button', { name: '新しいケース' }));
    const dlg = within(await screen.findByTestId('new-case-dialog'));
    expect(document.activeElement?.textContent).toBe('キャンセル');
    fireEvent.click(dlg.getByRole('button', { name: '作成' }));
    expect(await dlg.findByText('ケースの件名を入力してください')).toBeTruthy();
    fireEvent.input(dlg.getByLabelText('件名'), { target: { value: ' 月末の棚卸 ' } });
    fireEvent.click(dlg.getByRole('button', { name: '作成' }));
    await waitFor(() => expect(location.hash).toBe('#/cases/CS5'));
    expect(calls.filter((c) => c.op === 'CreateCase').map((c) => c.variables.input)).toEqual([{ title: '月末の棚卸' }]);
  });
});

describe('ケース', () => {
  it('shows the receipts, notes, history and the evidence link', async () => {
    caseServer();
    render(<Cases id="CS1" session={owner} />);
    expect((await screen.findByTestId('case-title')).textContent).toBe('取消の多い日');
    expect(screen.getByTestId('case-receipts').querySelector('.card[data-receipt="0042"]')).toBeTruthy();
    expect(screen.getByText('店長に確認済み')).toBeTruthy();
    expect(screen.getByTestId('case-history').textContent).toContain('作成');
    const dl = screen.getByRole('link', { name: '証拠をダウンロード' });
    expect(dl.getAttribute('href')).toBe('/cases/CS1/evidence.zip');
  });

  it('marks each receipt\'s card ↔ register match: a mismatch in red by its side, a match quietly, none when it has none', async () => {
    caseServer(undefined, detail({
      entries: [
        { ...entry({ id: 'JE1', receiptNo: '0042' }), cardMatch: { state: 'UNMATCHED', side: 'CARD' } },
        { ...entry({ id: 'JE2', receiptNo: '0043' }), cardMatch: { state: 'MATCHED', side: 'REGISTER' } },
        { ...entry({ id: 'JE3', receiptNo: '0044' }), cardMatch: { state: 'UNMATCHED', side: 'REGISTER' } },
        { ...entry({ id: 'JE4', receiptNo: '0045' }), cardMatch: null },
      ],
    }));
    render(<Cases id="CS1" session={owner} />);
    const receipts = await screen.findByTestId('case-receipts');
    const badgeOf = (no: string) => receipts.querySelector(`.card[data-receipt="${no}"]`)!.closest('li')!.querySelector<HTMLElement>('[data-testid="card-match"]');
    const card = badgeOf('0042')!;
    expect(card.textContent).toBe('カード照合: 不一致（カード端末で返金されたのに、レジに取消がありません）');
    expect(card.classList.contains('unmatched')).toBe(true);
    const matched = badgeOf('0043')!;
    expect(matched.textContent).toBe('カード照合: 一致');
    expect(matched.classList.contains('matched')).toBe(true);
    expect(badgeOf('0044')!.textContent).toBe('カード照合: 不一致（レジでカード払いを取り消したのに、カード端末の返金がありません）');
    expect(badgeOf('0045')).toBeNull();
    expect(within(receipts).getAllByText(/^カード照合:/)).toHaveLength(3);
  });

  it('解決済み asks for the resolution before anything is sent, then sends status and resolution', async () => {
    const calls = caseServer((op, v) => (op === 'UpdateCase' ? { data: { updateCase: detail({ status: 'CLOSED', resolution: v.input.resolution, closedAt: '2030-01-02T00:00:00Z' }) } } : undefined));
    render(<Cases id="CS1" session={owner} />);
    const form = within(await screen.findByTestId('case-summary'));
    expect(form.queryByLabelText('解決内容')).toBeNull();
    fireEvent.change(form.getByLabelText('状態'), { target: { value: 'CLOSED' } });
    fireEvent.click(form.getByRole('button', { name: '保存' }));
    expect(await form.findByText('解決済みにするには、解決内容を入力してください')).toBeTruthy();
    expect(document.activeElement?.id).toBe('case-resolution');
    expect(calls.some((c) => c.op === 'UpdateCase')).toBe(false);
    fireEvent.input(form.getByLabelText('解決内容'), { target: { value: '打ち間違いと確認' } });
    fireEvent.click(form.getByRole('button', { name: '保存' }));
    await form.findByText('保存しました');
    expect(calls.find((c) => c.op === 'UpdateCase')!.variables).toEqual({ id: 'CS1', input: { status: 'CLOSED', resolution: '打ち間違いと確認' } });
    expect(screen.getByTestId('case-status').textContent).toBe('解決済み');
  });

  it('sends only what changed: the assignee, cleared as clearAssignee, and tags', async () => {
    const calls = caseServer((op, v) => (op === 'UpdateCase' ? { data: { updateCase: detail({ assigneeID: v.input.assigneeID ?? null, assignee: v.input.assigneeID ? users[1] : null, tags: v.input.tags ?? ['取消'] }) } } : undefined),
      detail({ assigneeID: 'US1', assignee: users[0] }));
    render(<Cases id="CS1" session={owner} />);
    const form = within(await screen.findByTestId('case-summary'));
    const who = form.getByLabelText('担当') as HTMLSelectElement;
    await waitFor(() => expect(who.options.length).toBe(3));
    fireEvent.change(who, { target: { value: '' } });
    fireEvent.input(form.getByLabelText('タグ'), { target: { value: '取消、 深夜,取消' } });
    fireEvent.click(form.getByRole('button', { name: '保存' }));
    await form.findByText('保存しました');
    expect(calls.find((c) => c.op === 'UpdateCase')!.variables.input).toEqual({ clearAssignee: true, tags: ['取消', '深夜'] });
  });

  it('counts a note in the server\'s bytes, refuses one over 4000 without sending, and adds one', async () => {
    const calls = caseServer((op, v) => (op === 'AddCaseNote' ? { data: { addCaseNote: { id: 'CN2', text: v.text, authorName: 'オーナー', createdAt: '2030-01-02T00:00:00Z' } } } : undefined));
    render(<Cases id="CS1" session={owner} />);
    const notes = within(await screen.findByTestId('case-notes'));
    const box = notes.getByLabelText('メモを追加') as HTMLTextAreaElement;
    expect(notes.getByText(/^0 \/ 4000 バイト（全角で約1333文字まで）/)).toBeTruthy();
    fireEvent.input(box, { target: { value: 'レジ2 ok' } });
    expect(notes.getByText(/^10 \/ 4000 バイト/)).toBeTruthy();
    // 1334 kana: 4002 bytes, two over.
    fireEvent.input(box, { target: { value: 'あ'.repeat(1334) } });
    expect(notes.getByText(/^4002 \/ 4000 バイト/)).toBeTruthy();
    expect(notes.getByText('メモは 4000 バイト（全角で約1333文字）以内にしてください。あと 2 バイト減らしてください')).toBeTruthy();
    fireEvent.click(notes.getByRole('button', { name: 'メモを追加' }));
    expect(calls.some((c) => c.op === 'AddCaseNote')).toBe(false);
    fireEvent.input(box, { target: { value: 'あ'.repeat(1333) } });
    expect(notes.queryByText(/バイト減らしてください/)).toBeNull();
    fireEvent.input(box, { target: { value: '  レジ2の防犯カメラを確認した\n次回は店長と  ' } });
    fireEvent.click(notes.getByRole('button', { name: 'メモを追加' }));
    await notes.findByText(/レジ2の防犯カメラを確認した/);
    expect(calls.find((c) => c.op === 'AddCaseNote')!.variables).toEqual({ caseID: 'CS1', text: 'レジ2の防犯カメラを確認した\n次回は店長と' });
    expect(box.value).toBe('');
  });

  it('shows a refused note at the box in plain Japanese', async () => {
    caseServer((op) => {
      if (op === 'AddCaseNote') throw { errors: [{ message: 'メモは 4000 バイト (全角で約 1333 文字) 以内で入力してください', extensions: { code: 'BAD_USER_INPUT', reason: 'VALUE_TOO_LONG', field: 'text' } }] };
      return undefined;
    });
    render(<Cases id="CS1" session={owner} />);
    const notes = within(await screen.findByTestId('case-notes'));
    fireEvent.input(notes.getByLabelText('メモを追加'), { target: { value: 'メモ' } });
    fireEvent.click(notes.getByRole('button', { name: 'メモを追加' }));
    const err = await notes.findByText('メモは 4000 バイト (全角で約 1333 文字) 以内で入力してください');
    expect(err.getAttribute('role')).toBe('alert');
  });

  it('removes a receipt after a confirmation that starts on キャンセル', async () => {
    const calls = caseServer((op) => (op === 'RemoveCaseEntries' ? { data: { removeCaseEntries: detail({ entries: [] }) } } : undefined));
    render(<Cases id="CS1" session={owner} />);
    const receipts = within(await screen.findByTestId('case-receipts'));
    fireEvent.click(receipts.getByRole('button', { name: 'レシート 0042 をケースから外す' }));
    const dlg = within(await screen.findByTestId('confirm-remove'));
    expect(document.activeElement?.textContent).toBe('キャンセル');
    fireEvent.click(dlg.getByRole('button', { name: '外す' }));
    await receipts.findByText(/レシートはありません/);
    expect(calls.find((c) => c.op === 'RemoveCaseEntries')!.variables).toEqual({ id: 'CS1', entryIDs: ['JE1'] });
  });

  it('says a case it cannot see is not found', async () => {
    mockGraphQL((op) => (op === 'CaseView' ? { data: { cases: { edges: [] }, shops: tzShops } } : { data: { users } }));
    render(<Cases id="CS404" session={owner} />);
    expect((await screen.findByRole('alert')).textContent).toContain('見つかりません');
  });
});
