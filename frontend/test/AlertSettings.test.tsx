// 設定 › アラート: the two camera-cloud kinds in the rule form with their
// parameters (NO_PERSON: kinds + seconds; CAMERA_NOT_RECORDING: none), and
// an episode alert that recovered says 復旧 hh:mm.
import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { AlertSettings, alertState, RULE_KINDS } from '../src/components/AlertSettings';
import { mockGraphQL } from './helpers';

const rule = { id: 'AR1', name: '客のいないキャンセル', kind: 'NO_PERSON', enabled: true, entryKinds: ['CANCEL'], amount: 0, windowSeconds: 30, count: 0, opensAt: '', closesAt: '', webhookURL: '', createdAt: '2030-01-01T00:00:00Z' };
const stopped = { id: 'AL1', ruleKind: 'CAMERA_NOT_RECORDING', message: 'レジ前カメラが録画を止めました', occurredAt: '2030-01-01T01:00:00Z', createdAt: '2030-01-01T01:00:05Z', acknowledgedAt: null, resolvedAt: '2030-01-01T01:42:00Z', rule: { id: 'AR2', name: '録画停止' } };
const ongoing = { ...stopped, id: 'AL2', resolvedAt: null };
const noPerson = { ...stopped, id: 'AL3', ruleKind: 'NO_PERSON', message: 'キャンセルの前後に人が映っていません', resolvedAt: null, rule: { id: 'AR1', name: rule.name } };

function alerts(extra: (op: string, v: any) => unknown = () => undefined) {
  return mockGraphQL((op, v) => {
    const r = extra(op, v);
    if (r) return r;
    if (op === 'AlertSettings') return { data: { alertRules: [rule], alerts: { edges: [stopped, ongoing, noPerson].map((n) => ({ node: n })) } } };
    throw new Error('unexpected ' + op);
  });
}

describe('AlertSettings', () => {
  it('labels the new kinds in Japanese', () => {
    expect(RULE_KINDS.find((k) => k[0] === 'NO_PERSON')![1]).toBe('人がいないキャンセル');
    expect(RULE_KINDS.find((k) => k[0] === 'CAMERA_NOT_RECORDING')![1]).toBe('カメラの録画停止');
    expect(alertState({ ruleKind: 'CAMERA_NOT_RECORDING', resolvedAt: '2030-01-01T01:42:00Z' }, 'Asia/Tokyo')).toBe('復旧 10:42');
    expect(alertState({ ruleKind: 'CAMERA_NOT_RECORDING', resolvedAt: null }, 'Asia/Tokyo')).toBe('継続中');
    expect(alertState({ ruleKind: 'NO_PERSON', resolvedAt: null }, 'Asia/Tokyo')).toBe('');
  });

  it('lists rules with their condition and the alerts, a recovered one with 復旧 hh:mm', async () => {
    alerts();
    render(<AlertSettings />);
    const rules = within(await screen.findByTestId('alert-rules'));
    expect(rules.getByText('人がいないキャンセル')).toBeTruthy();
    expect(rules.getByText('キャンセル の前後 30 秒に人の検知がないとき')).toBeTruthy();
    const list = screen.getByTestId('alerts');
    const state = (id: string) => list.querySelector(`tr[data-alert=${id}] [data-testid=alert-state]`)?.textContent;
    expect(state('AL1')).toBe('復旧 10:42');
    expect(state('AL2')).toBe('継続中');
    expect(state('AL3')).toBeUndefined();
  });

  it('asks NO_PERSON for the kinds and the seconds, CAMERA_NOT_RECORDING for nothing, and sends only those', async () => {
    const calls = alerts((op) => (op === 'CreateAlertRule' ? { data: { createAlertRule: { rule } } } : undefined));
    render(<AlertSettings />);
    await screen.findByTestId('alert-rules');
    const form = within(screen.getByTestId('rule-form'));
    const kind = form.getByLabelText('種類') as HTMLSelectElement;
    expect(kind.value).toBe('NO_PERSON');
    expect((form.getByLabelText('キャンセル') as HTMLInputElement).checked).toBe(true);
    expect((form.getByLabelText('前後の秒数') as HTMLInputElement).value).toBe('30');
    fireEvent.click(form.getByLabelText('削除'));
    fireEvent.input(form.getByLabelText('前後の秒数'), { target: { value: '45' } });
    fireEvent.input(form.getByLabelText('名前'), { target: { value: '客のいない取消' } });
    fireEvent.click(form.getByRole('button', { name: 'ルールを追加' }));
    expect(await form.findByText('ルール「客のいない取消」を追加しました')).toBeTruthy();
    expect(calls.find((c) => c.op === 'CreateAlertRule')!.variables.input).toEqual({ name: '客のいない取消', kind: 'NO_PERSON', enabled: true, entryKinds: ['CANCEL', 'DELETE'], windowSeconds: 45 });

    fireEvent.change(kind, { target: { value: 'CAMERA_NOT_RECORDING' } });
    expect(form.getByTestId('rule-no-params')).toBeTruthy();
    expect(form.queryByLabelText('前後の秒数')).toBeNull();
    fireEvent.input(form.getByLabelText('名前'), { target: { value: '録画停止' } });
    fireEvent.click(form.getByRole('button', { name: 'ルールを追加' }));
    await waitFor(() => expect(calls.filter((c) => c.op === 'CreateAlertRule').length).toBe(2));
    expect(calls.filter((c) => c.op === 'CreateAlertRule')[1].variables.input).toEqual({ name: '録画停止', kind: 'CAMERA_NOT_RECORDING', enabled: true });
  });

  it('names a missing rule name and unticked kinds at their fields', async () => {
    const calls = alerts();
    render(<AlertSettings />);
    await screen.findByTestId('alert-rules');
    const form = within(screen.getByTestId('rule-form'));
    fireEvent.click(form.getByLabelText('キャンセル'));
    fireEvent.click(form.getByRole('button', { name: 'ルールを追加' }));
    expect(await form.findByText('ルールの名前を入力してください')).toBeTruthy();
    expect(form.getByText('対象の種類を1つ以上選んでください').id).toBe('rule-ek-err');
    expect(calls.some((c) => c.op === 'CreateAlertRule')).toBe(false);
  });
});

describe('AlertSettings: feed-truth kinds (issue 17)', () => {
  const clockRule = { ...rule, id: 'AR3', name: 'レジの時計', kind: 'REGISTER_CLOCK_OFF', entryKinds: [], windowSeconds: 20 };
  const notRecordedRule = { ...rule, id: 'AR4', name: '録画なしのレシート', kind: 'RECEIPTS_NOT_RECORDED', entryKinds: [], windowSeconds: 0 };
  const clockOff = { ...stopped, id: 'AL4', ruleKind: 'REGISTER_CLOCK_OFF', message: '端末 9 の時計が 42 秒進んでいます', resolvedAt: null, rule: { id: 'AR3', name: 'レジの時計' } };
  const clockBack = { ...clockOff, id: 'AL5', resolvedAt: '2030-01-01T02:05:00Z' };
  const unrecorded = { ...stopped, id: 'AL6', ruleKind: 'RECEIPTS_NOT_RECORDED', message: 'レジ前カメラが録画していない間にレシートが 3 件届きました', resolvedAt: null, rule: { id: 'AR4', name: '録画なしのレシート' } };

  it('names both kinds in Japanese and treats their alerts as episodes', () => {
    expect(RULE_KINDS.find((k) => k[0] === 'REGISTER_CLOCK_OFF')![1]).toBe('レジの時計のずれ');
    expect(RULE_KINDS.find((k) => k[0] === 'RECEIPTS_NOT_RECORDED')![1]).toBe('録画されていないレシート');
    expect(alertState({ ruleKind: 'REGISTER_CLOCK_OFF', resolvedAt: null }, 'Asia/Tokyo')).toBe('継続中');
    expect(alertState({ ruleKind: 'RECEIPTS_NOT_RECORDED', resolvedAt: '2030-01-01T02:05:00Z' }, 'Asia/Tokyo')).toBe('復旧 11:05');
  });

  it('lists their rules and their alerts, ongoing and recovered', async () => {
    mockGraphQL((op) => {
      if (op === 'AlertSettings') return { data: { alertRules: [clockRule, notRecordedRule], alerts: { edges: [clockOff, clockBack, unrecorded].map((n) => ({ node: n })) } } };
      throw new Error('unexpected ' + op);
    });
    render(<AlertSettings />);
    const rules = within(await screen.findByTestId('alert-rules'));
    expect(rules.getByText('レジの時計が 20 秒より大きくずれたとき')).toBeTruthy();
    expect(rules.getByText('カメラが録画していない間にレシートが届いたとき')).toBeTruthy();
    const list = screen.getByTestId('alerts');
    const row = (id: string) => within(list.querySelector<HTMLElement>(`tr[data-alert=${id}]`)!);
    expect(row('AL4').getByText('レジの時計のずれ')).toBeTruthy();
    expect(row('AL4').getByTestId('alert-state').textContent).toBe('継続中');
    expect(row('AL4').getByText('端末 9 の時計が 42 秒進んでいます')).toBeTruthy();
    expect(row('AL5').getByTestId('alert-state').textContent).toBe('復旧 11:05');
    expect(row('AL5').getByTestId('alert-state').className).toBe('status-ok');
    expect(row('AL6').getByText('録画されていないレシート')).toBeTruthy();
    expect(row('AL6').getByTestId('alert-state').textContent).toBe('継続中');
  });

  it('asks REGISTER_CLOCK_OFF for its seconds (30 unless changed) and RECEIPTS_NOT_RECORDED for nothing', async () => {
    const calls = alerts((op) => (op === 'CreateAlertRule' ? { data: { createAlertRule: { rule } } } : undefined));
    render(<AlertSettings />);
    await screen.findByTestId('alert-rules');
    const form = within(screen.getByTestId('rule-form'));
    const kind = form.getByLabelText('種類') as HTMLSelectElement;

    fireEvent.change(kind, { target: { value: 'REGISTER_CLOCK_OFF' } });
    const secs = form.getByLabelText('許せるずれ（秒）') as HTMLInputElement;
    expect(secs.value).toBe('30');
    expect(form.getByText(/進んだり遅れたりしたときに一度だけ知らせ/)).toBeTruthy();
    expect(form.queryByText('対象の取引')).toBeNull();
    fireEvent.input(form.getByLabelText('名前'), { target: { value: 'レジの時計' } });
    fireEvent.input(secs, { target: { value: '0' } });
    fireEvent.click(form.getByRole('button', { name: 'ルールを追加' }));
    expect(await form.findByText('秒数は1以上にしてください')).toBeTruthy();
    expect(calls.some((c) => c.op === 'CreateAlertRule')).toBe(false);
    fireEvent.input(secs, { target: { value: '15' } });
    fireEvent.click(form.getByRole('button', { name: 'ルールを追加' }));
    expect(await form.findByText('ルール「レジの時計」を追加しました')).toBeTruthy();
    expect(calls.find((c) => c.op === 'CreateAlertRule')!.variables.input).toEqual({ name: 'レジの時計', kind: 'REGISTER_CLOCK_OFF', enabled: true, windowSeconds: 15 });

    fireEvent.change(kind, { target: { value: 'RECEIPTS_NOT_RECORDED' } });
    expect(form.getByTestId('rule-no-params')).toBeTruthy();
    expect(form.queryByLabelText(/秒/)).toBeNull();
    expect(form.getByText(/カメラごとに一度だけ知らせます/)).toBeTruthy();
    fireEvent.input(form.getByLabelText('名前'), { target: { value: '録画なし' } });
    fireEvent.click(form.getByRole('button', { name: 'ルールを追加' }));
    await waitFor(() => expect(calls.filter((c) => c.op === 'CreateAlertRule').length).toBe(2));
    expect(calls.filter((c) => c.op === 'CreateAlertRule')[1].variables.input).toEqual({ name: '録画なし', kind: 'RECEIPTS_NOT_RECORDED', enabled: true });
  });
});
