// 設定 › アラート, 「条件を組み合わせる」: the builder sends the rows the owner
// set, the server's field errors show at the input they name, 試す shows
// the hits, the bars per day and example receipts, a preset fills the rows.
import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { AlertSettings } from '../src/components/AlertSettings';
import { conditionsOf, conditionsSummary, draftOf, emptyDraft } from '../src/components/RuleBuilder';
import { mockGraphQL } from './helpers';

const none = { kinds: [], amountMin: null, amountMax: null, item: null, paymentMethods: [], staff: [], shopIDs: [], terminalIDs: [], staySecondsMin: null, staySecondsMax: null, timeFrom: '', timeTo: '', weekdays: [], outsideHours: false, unlinkedTerminal: false, burst: null, quickCancel: null, silence: null };
const customRule = { id: 'AR9', name: '高額キャンセル', kind: 'CUSTOM', enabled: true, entryKinds: [], amount: 0, windowSeconds: 0, count: 0, opensAt: '', closesAt: '', webhookURL: '', preset: '', createdAt: '2030-01-01T00:00:00Z', conditions: { ...none, kinds: ['CANCEL'], amountMin: 1000 } };
const builderData = {
  alertRulePresets: [
    { name: 'CANCEL_BURST', label: '短時間の連続取消', conditions: { ...none, kinds: ['CANCEL'], burst: { count: 3, windowSeconds: 600 } } },
    { name: 'OUTSIDE_HOURS', label: '営業時間外の記録', conditions: { ...none, outsideHours: true } },
    { name: 'FEED_SILENT', label: '営業時間中に記録が届かない', conditions: { ...none, silence: { windowSeconds: 1800 } } },
  ],
  shops: { edges: [{ node: { id: 'SH1', name: '渋谷店' } }] },
  terminals: { edges: [{ node: { id: 'TE1', name: 'レジ1', externalID: '1', shopID: 'SH1' } }] },
};
const example = (i: number) => ({
  id: 'JE' + i, kind: 'CANCEL', kindLabel: 'キャンセル', occurredAt: '2030-01-0' + (1 + (i % 7)) + 'T03:00:00Z', receiptNo: 'R' + i, registerNo: '1',
  staffName: '山田', total: 1200 + i, paymentMethod: '現金', thumbnail: { id: 'TH' + i, url: '/thumbnails/TH' + i, width: 320, height: 180 },
});

function setup(extra: (op: string, v: any) => unknown = () => undefined) {
  return mockGraphQL((op, v) => {
    const r = extra(op, v);
    if (r) return r;
    if (op === 'AlertSettings') return { data: { alertRules: [customRule], alerts: { edges: [] } } };
    if (op === 'RuleBuilderData') return { data: builderData };
    throw new Error('unexpected ' + op);
  });
}

async function openBuilder() {
  render(<AlertSettings />);
  await screen.findByTestId('alert-rules');
  const form = within(screen.getByTestId('rule-form'));
  fireEvent.change(form.getByLabelText('種類'), { target: { value: 'CUSTOM' } });
  await form.findByLabelText('ひな形から始める');
  return form;
}

describe('RuleBuilder', () => {
  it('lists a builder rule with its conditions in words', async () => {
    setup();
    render(<AlertSettings />);
    const rules = within(await screen.findByTestId('alert-rules'));
    expect(rules.getByText('条件を組み合わせる')).toBeTruthy();
    expect(rules.getByText('キャンセル かつ 金額 1,000 円以上')).toBeTruthy();
  });

  it('sends the kinds and the amount the owner set, nothing else', async () => {
    const calls = setup((op) => (op === 'CreateAlertRule' ? { data: { createAlertRule: { rule: customRule } } } : undefined));
    const form = await openBuilder();
    expect((form.getByLabelText('キャンセル') as HTMLInputElement).checked).toBe(true);
    fireEvent.change(form.getByLabelText('追加する条件'), { target: { value: 'amount' } });
    fireEvent.click(form.getByRole('button', { name: '条件を追加' }));
    fireEvent.input(form.getByLabelText('下限（円以上）'), { target: { value: '1,000' } });
    fireEvent.input(form.getByLabelText('名前'), { target: { value: '高額キャンセル' } });
    fireEvent.click(form.getByRole('button', { name: 'ルールを追加' }));
    expect(await form.findByText('ルール「高額キャンセル」を追加しました')).toBeTruthy();
    expect(calls.find((c) => c.op === 'CreateAlertRule')!.variables.input).toEqual({
      name: '高額キャンセル', kind: 'CUSTOM', enabled: true, conditions: { kinds: ['CANCEL'], amountMin: 1000 },
    });
  });

  it('shows the server\'s min > max error at 下限, not at 上限, and a typed word at its field', async () => {
    const calls = setup((op) => (op === 'CreateAlertRule' ? { errors: [{ message: '金額の下限 (5000) が上限 (100) より大きくなっています', extensions: { code: 'BAD_USER_INPUT', reason: 'VALUE_OUT_OF_RANGE', field: 'input.conditions.amountMin' } }] } : undefined));
    const form = await openBuilder();
    fireEvent.change(form.getByLabelText('追加する条件'), { target: { value: 'amount' } });
    fireEvent.click(form.getByRole('button', { name: '条件を追加' }));
    fireEvent.input(form.getByLabelText('下限（円以上）'), { target: { value: 'たくさん' } });
    fireEvent.input(form.getByLabelText('名前'), { target: { value: '逆' } });
    fireEvent.click(form.getByRole('button', { name: 'ルールを追加' }));
    expect(await form.findByText('金額の下限は数字で入力してください')).toBeTruthy();
    expect(calls.some((c) => c.op === 'CreateAlertRule')).toBe(false);

    fireEvent.input(form.getByLabelText('下限（円以上）'), { target: { value: '5000' } });
    fireEvent.input(form.getByLabelText('上限（円以下）'), { target: { value: '100' } });
    fireEvent.click(form.getByRole('button', { name: 'ルールを追加' }));
    const msg = await form.findByText('金額の下限 (5000) が上限 (100) より大きくなっています');
    const min = form.getByLabelText('下限（円以上）');
    expect(min.getAttribute('aria-invalid')).toBe('true');
    expect(min.getAttribute('aria-describedby')).toBe(msg.id);
    expect(form.getByLabelText('上限（円以下）').getAttribute('aria-invalid')).toBe('false');
    // Not repeated above the form.
    expect(form.getAllByText(/下限 \(5000\)/).length).toBe(1);
  });

  it('試す shows the hits, a bar per day and up to 20 receipts with their pictures', async () => {
    const calls = setup((op) => (op === 'PreviewAlertRule' ? { data: { previewAlertRule: {
      days: 7, hits: 23, perDay: [1, 0, 4, 2, 8, 5, 3], scanned: 1840, examples: Array.from({ length: 20 }, (_, i) => example(i)),
    } } } : undefined));
    const form = await openBuilder();
    fireEvent.click(form.getByRole('button', { name: '過去 7 日で試す' }));
    const preview = within(await form.findByTestId('rule-preview'));
    expect(preview.getByTestId('preview-hits').textContent).toBe('23');
    expect(preview.getByText(/1,840 件の取引を確認/)).toBeTruthy();
    expect(document.querySelectorAll('[data-testid=rule-preview] rect.bar').length).toBe(7);
    expect(preview.getByRole('img', { name: /日ごとの件数/ }).getAttribute('aria-label')).toMatch(/ 8件/);
    const pics = preview.getAllByRole('img', { name: /レシート R\d+ の画像/ }) as HTMLImageElement[];
    expect(pics.length).toBe(20);
    expect(pics[0].getAttribute('src')).toBe('/thumbnails/TH0');
    const p = calls.find((c) => c.op === 'PreviewAlertRule')!.variables;
    expect(p.days).toBe(7);
    expect(p.input.kind).toBe('CUSTOM');
    expect(p.input.conditions).toEqual({ kinds: ['CANCEL'] });

    // A changed condition is not what was tried: the result goes.
    fireEvent.click(form.getByLabelText('削除'));
    await waitFor(() => expect(form.queryByTestId('rule-preview')).toBeNull());
  });

  it('a preset fills the rows it stands for', async () => {
    setup();
    const form = await openBuilder();
    fireEvent.change(form.getByLabelText('ひな形から始める'), { target: { value: 'CANCEL_BURST' } });
    expect((form.getByLabelText('回以上') as HTMLInputElement).value).toBe('3');
    expect((form.getByLabelText('分以内に') as HTMLInputElement).value).toBe('10');
    expect(form.getByRole('button', { name: '条件「短時間の連続取消」を外す' })).toBeTruthy();
    fireEvent.click(form.getByRole('button', { name: '条件「種類」を外す' }));
    expect(form.queryByRole('button', { name: '条件「種類」を外す' })).toBeNull();
  });

  it('turns rows into conditions: minutes to seconds, lists split, a night window kept', () => {
    const d = { ...emptyDraft(), rows: ['staff', 'stay', 'time', 'weekdays', 'burst'] as const, staff: '山田、 佐藤,', stayMin: '1.5', weekdays: [6, 0], burstCount: '4', burstWindow: '5' };
    const { conditions, problems } = conditionsOf({ ...d, rows: [...d.rows] });
    expect(problems).toEqual({});
    expect(conditions).toEqual({ staff: ['山田', '佐藤'], staySecondsMin: 90, timeFrom: '22:00', timeTo: '06:00', weekdays: [0, 6], burst: { count: 4, windowSeconds: 300 } });
    const back = draftOf({ ...none, ...(conditions as any), staff: conditions.staff!, weekdays: conditions.weekdays!, timeFrom: '22:00', timeTo: '06:00', burst: { count: 4, windowSeconds: 300 }, kinds: [], paymentMethods: [], shopIDs: [], terminalIDs: [] });
    expect(back.rows).toEqual(['staff', 'stay', 'time', 'weekdays', 'burst']);
    expect(back.burstWindow).toBe('5');
    expect(conditionsSummary({ ...none, timeFrom: '22:00', timeTo: '06:00', weekdays: [0, 6] })).toBe('22:00〜06:00 かつ 日土曜日');
  });
  it('「N 分間 記録がない（営業時間中）」: the FEED_SILENT preset fills it, minutes go as seconds, and the server\'s refusal of 種類 shows at 種類', async () => {
    const calls = setup((op, v) => (op !== 'CreateAlertRule' ? undefined : v.input.conditions.kinds
      ? { errors: [{ message: '「記録がない（営業時間中）」の条件と「記録の種類」は同じルールに指定できません。', extensions: { code: 'BAD_USER_INPUT', reason: 'INVALID_CHOICE', field: 'input.conditions.kinds' } }] }
      : { data: { createAlertRule: { rule: { ...customRule, name: 'レジの沈黙', conditions: { ...none, silence: { windowSeconds: 0 } } } } } }));
    const form = await openBuilder();
    fireEvent.change(form.getByLabelText('ひな形から始める'), { target: { value: 'FEED_SILENT' } });
    expect(form.getByRole('button', { name: '条件「N 分間 記録がない（営業時間中）」を外す' })).toBeTruthy();
    expect((form.getByLabelText('分間 記録がない') as HTMLInputElement).value).toBe('30');
    expect(form.queryByRole('button', { name: '条件「種類」を外す' })).toBeNull();
    fireEvent.input(form.getByLabelText('分間 記録がない'), { target: { value: '１５' } });
    fireEvent.change(form.getByLabelText('追加する条件'), { target: { value: 'kinds' } });
    fireEvent.click(form.getByRole('button', { name: '条件を追加' }));
    fireEvent.click(form.getByLabelText('キャンセル'));
    fireEvent.input(form.getByLabelText('名前'), { target: { value: 'レジの沈黙' } });
    fireEvent.click(form.getByRole('button', { name: 'ルールを追加' }));
    expect(await form.findByText(/「記録の種類」は同じルールに指定できません/)).toBeTruthy();
    expect(calls.find((c) => c.op === 'CreateAlertRule')!.variables.input.conditions).toEqual({ silence: { windowSeconds: 900 }, kinds: ['CANCEL'] });

    // Without 種類 it goes; an empty window asks the server to learn it.
    fireEvent.click(form.getByRole('button', { name: '条件「種類」を外す' }));
    fireEvent.input(form.getByLabelText('分間 記録がない'), { target: { value: '' } });
    fireEvent.click(form.getByRole('button', { name: 'ルールを追加' }));
    expect(await form.findByText('ルール「レジの沈黙」を追加しました')).toBeTruthy();
    expect(calls.filter((c) => c.op === 'CreateAlertRule').at(-1)!.variables.input.conditions).toEqual({ silence: {} });
    expect(conditionsOf({ ...emptyDraft(), rows: ['silence'], silenceWindow: '' }).conditions).toEqual({ silence: {} });
    expect(conditionsSummary({ ...none, silence: { windowSeconds: 900 } })).toBe('15 分間 記録がない（営業時間中）');
    expect(draftOf({ ...none, silence: { windowSeconds: 0 } }).silenceWindow).toBe('');
  });
});
