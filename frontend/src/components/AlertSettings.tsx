// 設定 › アラート: the exception rules (which receipts or cameras raise an
// alert) and the newest alerts, acknowledged here. An episode alert (a
// camera that stopped recording, a register clock that is off, receipts
// arriving while the camera does not record) says when it recovered.
// 「条件を組み合わせる」 opens the rule builder (RuleBuilder.tsx) with its
// try-out over stored history; a card terminal's refund that the register
// does not show (or the other way round) is CARD_MISMATCH.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { AcknowledgeAlert, AlertSettings as AlertSettingsOp, CreateAlertRule, DeleteAlertRule, UpdateAlertRule } from '../gql/ops';
import type { AlertRowFragment, AlertRuleInput, AlertRuleKind, AlertRuleRowFragment, JournalEntryKind } from '../gql/types';
import { dateTime, DEFAULT_TZ, hm } from '../format';
import { Field, FieldError, useRequired } from './Field';
import { ConfirmDialog } from './Modal';
import { ConditionEditor, conditionsInput, conditionsOf, conditionsSummary, type Draft, emptyDraft, PreviewButtons, type Problems } from './RuleBuilder';

const asApiError = (x: unknown) => (x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));

/** Each kind as the owner reads it, in the order the form offers them. */
export const RULE_KINDS: [AlertRuleKind, string][] = [
  ['CUSTOM', '条件を組み合わせる'],
  ['AMOUNT_OVER', '高額の取消・修正・削除'],
  ['QUICK_CANCEL', '直後のキャンセル'],
  ['CANCEL_BURST', 'キャンセルの連続'],
  ['OUTSIDE_HOURS', '営業時間外の取引'],
  ['FEED_SILENT', 'レジからのデータが途絶'],
  ['UNLINKED_TERMINAL', 'カメラのないレジ'],
  ['NO_PERSON', '人がいないキャンセル'],
  ['CAMERA_NOT_RECORDING', 'カメラの録画停止'],
  ['REGISTER_CLOCK_OFF', 'レジの時計のずれ'],
  ['RECEIPTS_NOT_RECORDED', '録画されていないレシート'],
  ['CARD_MISMATCH', 'カード端末とレジの不一致'],
];
export const kindLabel = (k: AlertRuleKind) => RULE_KINDS.find((x) => x[0] === k)?.[1] ?? k;

const ENTRY_KINDS: [JournalEntryKind, string][] = [['CANCEL', 'キャンセル'], ['DELETE', '削除'], ['MODIFY', '修正'], ['PAYMENT', '支払い']];

/** Which parameters each kind takes (the others are not sent). */
const PARAMS: Record<AlertRuleKind, ('entryKinds' | 'amount' | 'windowSeconds' | 'count' | 'hours')[]> = {
  AMOUNT_OVER: ['entryKinds', 'amount'],
  QUICK_CANCEL: ['windowSeconds'],
  CANCEL_BURST: ['count', 'windowSeconds'],
  OUTSIDE_HOURS: ['hours'],
  FEED_SILENT: ['windowSeconds', 'hours'],
  UNLINKED_TERMINAL: [],
  NO_PERSON: ['entryKinds', 'windowSeconds'],
  CAMERA_NOT_RECORDING: [],
  REGISTER_CLOCK_OFF: ['windowSeconds'],
  RECEIPTS_NOT_RECORDED: [],
  CUSTOM: [],
  CARD_MISMATCH: ['windowSeconds'],
};

/** Kinds whose alert is an episode: raised once, 復旧 when it is over
 *  (Alert.resolvedAt). */
export const EPISODE_KINDS: ReadonlySet<AlertRuleKind> = new Set<AlertRuleKind>(['CAMERA_NOT_RECORDING', 'REGISTER_CLOCK_OFF', 'RECEIPTS_NOT_RECORDED']);
const DEFAULTS: Partial<Record<AlertRuleKind, { entryKinds?: JournalEntryKind[]; windowSeconds?: string }>> = {
  AMOUNT_OVER: { entryKinds: ['CANCEL', 'DELETE', 'MODIFY'] },
  QUICK_CANCEL: { windowSeconds: '120' },
  CANCEL_BURST: { windowSeconds: '600' },
  FEED_SILENT: { windowSeconds: '' },
  NO_PERSON: { entryKinds: ['CANCEL'], windowSeconds: '30' },
  // schema/alerts.graphql: 30 seconds when none is given.
  REGISTER_CLOCK_OFF: { windowSeconds: '30' },
  // schema/alerts.graphql: 600 seconds when none is given.
  CARD_MISMATCH: { windowSeconds: '600' },
};
const HINTS: Partial<Record<AlertRuleKind, string>> = {
  NO_PERSON: '選んだ種類の取引の前後（秒数）に、カメラが人を検知しなかったときに知らせます。人検知のあるカメラ（Safie など）だけが対象で、判定は取引の1〜2分後です。',
  CAMERA_NOT_RECORDING: 'レジとつながっているクラウドカメラが録画を止めたときに一度だけ知らせ、録画が戻ると「復旧」と表示します。',
  REGISTER_CLOCK_OFF: 'レジの時計が、ここで決めた秒数より進んだり遅れたりしたときに一度だけ知らせ、時計が合うと「復旧」と表示します。ずれている間も、画像は補正した時刻で選びます。',
  CARD_MISMATCH: 'カード端末の返金にレジの取消がないとき、またはカードで払われた取引をレジで取り消したのにカードの返金がないときに知らせます。決めた秒数だけ相手を待ってから判定します。',
  CUSTOM: '金額・商品・担当・時間帯などの条件を組み合わせます。保存する前に、過去の取引で何件当てはまるかを試せます。',
  RECEIPTS_NOT_RECORDED: 'カメラが録画していない（オフライン、映像が届かない、録画が途切れている）間にレシートが届いたとき、カメラごとに一度だけ知らせます。画像つきのレシートがまた届くと「復旧」と表示します。',
};

/** What a rule watches for, in a line. */
export function ruleSummary(r: AlertRuleRowFragment): string {
  const kinds = r.entryKinds.map((k) => ENTRY_KINDS.find((x) => x[0] === k)?.[1] ?? k).join('・');
  switch (r.kind) {
    case 'AMOUNT_OVER': return `${kinds} が ${r.amount.toLocaleString('ja-JP')} 円を超えたとき`;
    case 'QUICK_CANCEL': return `支払いから ${r.windowSeconds} 秒以内のキャンセル`;
    case 'CANCEL_BURST': return `${r.windowSeconds} 秒に ${r.count} 回以上のキャンセル`;
    case 'OUTSIDE_HOURS': return `${r.opensAt}〜${r.closesAt} 以外の取引`;
    case 'FEED_SILENT': return `営業時間 ${r.opensAt}〜${r.closesAt} に${r.windowSeconds ? ` ${r.windowSeconds} 秒` : 'いつもより長く'}データがないとき`;
    case 'UNLINKED_TERMINAL': return 'カメラと紐づいていないレジの取引';
    case 'NO_PERSON': return `${kinds || 'キャンセル'} の前後 ${r.windowSeconds || 30} 秒に人の検知がないとき`;
    case 'CAMERA_NOT_RECORDING': return 'レジのカメラが録画を止めたとき';
    case 'REGISTER_CLOCK_OFF': return `レジの時計が ${r.windowSeconds || 30} 秒より大きくずれたとき`;
    case 'RECEIPTS_NOT_RECORDED': return 'カメラが録画していない間にレシートが届いたとき';
    case 'CUSTOM': return conditionsSummary(r.conditions);
    case 'CARD_MISMATCH': return `カード端末とレジが ${r.windowSeconds || 600} 秒たっても合わないとき`;
  }
  return '';
}

/** An alert's state: 復旧 hh:mm once what it reported is over. */
export function alertState(a: Pick<AlertRowFragment, 'ruleKind' | 'resolvedAt'>, tz: string): string {
  if (a.resolvedAt) return `復旧 ${hm(a.resolvedAt, tz)}`;
  return EPISODE_KINDS.has(a.ruleKind) ? '継続中' : '';
}

export function AlertSettings({ tz = DEFAULT_TZ }: { tz?: string }) {
  const [rules, setRules] = useState<AlertRuleRowFragment[] | null>(null);
  const [alerts, setAlerts] = useState<AlertRowFragment[]>([]);
  const [loadErr, setLoadErr] = useState<string | null>(null);
  const [rowErr, setRowErr] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<AlertRuleRowFragment | null>(null);

  const load = () => gql(AlertSettingsOp).then((d) => {
    setRules(d.alertRules);
    setAlerts(d.alerts.edges.map((e) => e.node));
    setLoadErr(null);
  }, (e) => setLoadErr(e.message));
  useEffect(() => { void load(); }, []);

  const act = async (f: () => Promise<unknown>) => {
    setRowErr(null);
    try { await f(); void load(); } catch (x) { setRowErr(asApiError(x).message); }
  };
  const toggle = (r: AlertRuleRowFragment) => act(() => gql(UpdateAlertRule, { id: r.id, input: {
    name: r.name, kind: r.kind, enabled: !r.enabled, entryKinds: r.entryKinds, amount: r.amount, windowSeconds: r.windowSeconds,
    count: r.count, opensAt: r.opensAt, closesAt: r.closesAt, webhookURL: r.webhookURL,
    // A builder rule keeps its conditions when it is switched on or off.
    ...(r.kind === 'CUSTOM' && r.conditions ? { conditions: conditionsInput(r.conditions) } : {}),
  } }));

  return (
    <section class="panel" aria-labelledby="alerts-h" data-testid="alert-settings">
      <h2 id="alerts-h">アラート</h2>
      {loadErr && <div class="alert" role="alert">{loadErr}</div>}
      {rowErr && <div class="alert" role="alert" style="margin:8px 14px">{rowErr}</div>}
      {!rules ? (!loadErr && <div class="loading"><span class="spinner" />読み込み中…</div>) : rules.length === 0 ? <div class="empty">ルールはまだありません。下のフォームから追加してください。</div> : (
        <table class="grid" data-testid="alert-rules">
          <thead><tr><th>ルール</th><th>種類</th><th>条件</th><th>有効</th><th><span class="sr-only">操作</span></th></tr></thead>
          <tbody>
            {rules.map((r) => (
              <tr data-rule={r.id}>
                <td data-label="ルール">{r.name}</td>
                <td data-label="種類">{kindLabel(r.kind)}</td>
                <td data-label="条件">{ruleSummary(r)}</td>
                <td data-label="有効"><label class="tap"><input type="checkbox" aria-label={`「${r.name}」を有効にする`} checked={r.enabled} onChange={() => void toggle(r)} /></label></td>
                <td class="row-actions"><button class="btn small danger" onClick={() => setDeleting(r)}>削除</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <RuleForm onCreated={() => void load()} />
      <div class="panel-body" style="border-top:1px solid var(--line)">
        <h3 class="sub-h">最近のアラート</h3>
        {alerts.length === 0 ? <div class="hint">アラートはまだありません。</div> : (
          <table class="grid" data-testid="alerts">
            <thead><tr><th>日時</th><th>種類</th><th>内容</th><th>状態</th><th><span class="sr-only">操作</span></th></tr></thead>
            <tbody>
              {alerts.map((a) => {
                const st = alertState(a, tz);
                return (
                  <tr data-alert={a.id}>
                    <td data-label="日時">{dateTime(a.occurredAt, tz)}</td>
                    <td data-label="種類">{kindLabel(a.ruleKind)}{a.rule && <div class="hint">{a.rule.name}</div>}</td>
                    <td data-label="内容">{a.message}</td>
                    <td data-label="状態">
                      {st && <span class={a.resolvedAt ? 'status-ok' : 'status-bad'} data-testid="alert-state">{st}</span>}
                      {a.acknowledgedAt && <div class="hint">確認済</div>}
                    </td>
                    <td class="row-actions">{!a.acknowledgedAt && <button class="btn small" onClick={() => void act(() => gql(AcknowledgeAlert, { id: a.id }))}>確認</button>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </div>
      {deleting && (
        <ConfirmDialog title="ルールの削除" action="削除する" testid="confirm-delete-rule" onClose={() => setDeleting(null)}
          onConfirm={() => { const r = deleting; setDeleting(null); void act(() => gql(DeleteAlertRule, { id: r.id })); }}>
          <p>ルール「{deleting.name}」を削除しますか？ これまでのアラートは残ります。</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

const RULE_FIELDS = ['name', 'kind', 'entryKinds', 'amount', 'windowSeconds', 'count', 'opensAt', 'closesAt'];

export function RuleForm({ onCreated }: { onCreated: () => void }) {
  const [kind, setKind] = useState<AlertRuleKind>('NO_PERSON');
  const [name, setName] = useState('');
  const [entryKinds, setEntryKinds] = useState<JournalEntryKind[]>(['CANCEL']);
  const [amount, setAmount] = useState('');
  const [windowSeconds, setWindow] = useState('30');
  const [count, setCount] = useState('3');
  const [opensAt, setOpens] = useState('09:00');
  const [closesAt, setCloses] = useState('21:00');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [draft, setDraft] = useState<Draft>(emptyDraft);
  // The builder's own messages show from the first 試す or 追加 on.
  const [tried, setTried] = useState(false);
  const params = PARAMS[kind];
  const built = conditionsOf(draft);
  const problems: Problems = tried && kind === 'CUSTOM' ? built.problems : {};
  const num = (s: string) => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : NaN);
  const req = useRequired({
    name: !name.trim() && 'ルールの名前を入力してください',
    entryKinds: params.includes('entryKinds') && entryKinds.length === 0 && '対象の種類を1つ以上選んでください',
    amount: params.includes('amount') && Number.isNaN(num(amount)) && '金額を数字で入力してください',
    windowSeconds: params.includes('windowSeconds') && kind !== 'FEED_SILENT' && (Number.isNaN(num(windowSeconds))
      ? '秒数を数字で入力してください'
      // A register clock is never exact to the second: 0 would alert on every register.
      : kind === 'REGISTER_CLOCK_OFF' && num(windowSeconds) < 1 && '秒数は1以上にしてください'),
    count: params.includes('count') && Number.isNaN(num(count)) && '回数を数字で入力してください',
  });
  const pickKind = (k: AlertRuleKind) => {
    setKind(k);
    const d = DEFAULTS[k];
    if (d?.entryKinds) setEntryKinds(d.entryKinds);
    if (d?.windowSeconds !== undefined) setWindow(d.windowSeconds);
    setErr(null);
  };
  /** The builder's input, or null (its problems now show) when it cannot be sent. */
  const customInput = (): AlertRuleInput | null => {
    setTried(true);
    if (Object.keys(built.problems).length) {
      // After the messages have rendered: the first input they name.
      setTimeout(() => document.querySelector<HTMLElement>('[data-testid=rule-builder] [aria-invalid=true]')?.focus(), 0);
      return null;
    }
    return { name: name.trim() || '（試し）', kind: 'CUSTOM', enabled: true, conditions: built.conditions };
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    if (req.blocked((f) => (f === 'entryKinds' ? 'rule-ek-0' : 'rule-' + f))) return;
    if (kind === 'CUSTOM' && !customInput()) return;
    const input: AlertRuleInput = { name: name.trim(), kind, enabled: true };
    if (kind === 'CUSTOM') input.conditions = built.conditions;
    if (params.includes('entryKinds')) input.entryKinds = entryKinds;
    if (params.includes('amount')) input.amount = num(amount);
    if (params.includes('windowSeconds') && windowSeconds.trim()) input.windowSeconds = num(windowSeconds);
    if (params.includes('count')) input.count = num(count);
    if (params.includes('hours')) { input.opensAt = opensAt.trim(); input.closesAt = closesAt.trim(); }
    setBusy(true); setErr(null); setDone(null);
    try {
      await gql(CreateAlertRule, { input });
      setDone(`ルール「${input.name}」を追加しました`);
      setName(''); req.reset(); setTried(false);
      if (kind === 'CUSTOM') setDraft(emptyDraft());
      onCreated();
    } catch (x) { setErr(asApiError(x)); } finally { setBusy(false); }
  };
  // Errors of the builder's conditions show in the builder (conditions.staff.2 too).
  const general = (err?.errors ?? []).filter((e) => {
    const f = e.extensions?.field ?? '';
    return !/(^|\.)conditions(\.|$)/.test(f) && !RULE_FIELDS.some((x) => f === x || f.endsWith('.' + x));
  }).map((e) => e.message);
  const ekErr = req.error('entryKinds') ?? err?.fieldError('entryKinds');
  return (
    <form class="panel-body" onSubmit={submit} noValidate style="border-top:1px solid var(--line)" data-testid="rule-form">
      <h3 class="sub-h">ルールを追加</h3>
      {done && <div class="alert success" role="status">{done}</div>}
      {general.map((m) => <div class="alert" role="alert">{m}</div>)}
      <div class="form-grid">
        <Field id="rule-name" label="名前" error={req.error('name') ?? err?.fieldError('name')}>
          {(a) => <input {...a} value={name} placeholder="例: 客のいないキャンセル" onInput={(e) => setName((e.target as HTMLInputElement).value)} autoComplete="off" />}
        </Field>
        <Field id="rule-kind" label="種類" error={err?.fieldError('kind')} hint={HINTS[kind]}>
          {(a) => <select {...a} value={kind} onChange={(e) => pickKind((e.target as HTMLSelectElement).value as AlertRuleKind)}>{RULE_KINDS.map(([k, l]) => <option value={k}>{l}</option>)}</select>}
        </Field>
      </div>
      <div class="rule-params" data-testid="rule-params">
        {params.includes('entryKinds') && (
          <fieldset class="field checks" aria-describedby={ekErr ? 'rule-ek-err' : undefined}>
            <legend>対象の取引</legend>
            <div class="check-row">
              {ENTRY_KINDS.filter(([k]) => kind === 'NO_PERSON' || k !== 'PAYMENT').map(([k, l], i) => (
                <label class="check"><input type="checkbox" id={'rule-ek-' + i} aria-invalid={!!ekErr} checked={entryKinds.includes(k)}
                  onChange={() => setEntryKinds((x) => (x.includes(k) ? x.filter((y) => y !== k) : [...x, k]))} />{l}</label>
              ))}
            </div>
            {ekErr && <FieldError id="rule-ek-err">{ekErr}</FieldError>}
          </fieldset>
        )}
        {params.includes('amount') && (
          <Field id="rule-amount" label="金額（円を超えたら）" error={req.error('amount') ?? err?.fieldError('amount')}>
            {(a) => <input {...a} value={amount} inputMode="numeric" onInput={(e) => setAmount((e.target as HTMLInputElement).value)} />}
          </Field>
        )}
        {params.includes('count') && (
          <Field id="rule-count" label="回数" error={req.error('count') ?? err?.fieldError('count')}>
            {(a) => <input {...a} value={count} inputMode="numeric" onInput={(e) => setCount((e.target as HTMLInputElement).value)} />}
          </Field>
        )}
        {params.includes('windowSeconds') && (
          <Field id="rule-windowSeconds" label={kind === 'NO_PERSON' ? '前後の秒数' : kind === 'REGISTER_CLOCK_OFF' ? '許せるずれ（秒）' : kind === 'CARD_MISMATCH' ? '相手を待つ時間（秒）' : '秒数'} error={req.error('windowSeconds') ?? err?.fieldError('windowSeconds')}
            hint={kind === 'FEED_SILENT' ? '空欄ならいつもの間隔の3倍' : undefined}>
            {(a) => <input {...a} value={windowSeconds} inputMode="numeric" onInput={(e) => setWindow((e.target as HTMLInputElement).value)} />}
          </Field>
        )}
        {params.includes('hours') && (
          <>
            <Field id="rule-opensAt" label="開店" error={err?.fieldError('opensAt')}>
              {(a) => <input {...a} value={opensAt} onInput={(e) => setOpens((e.target as HTMLInputElement).value)} />}
            </Field>
            <Field id="rule-closesAt" label="閉店" error={err?.fieldError('closesAt')}>
              {(a) => <input {...a} value={closesAt} onInput={(e) => setCloses((e.target as HTMLInputElement).value)} />}
            </Field>
          </>
        )}
        {params.length === 0 && kind !== 'CUSTOM' && <p class="hint" data-testid="rule-no-params">この種類には設定する項目はありません。</p>}
      </div>
      {kind === 'CUSTOM' && (
        <>
          <ConditionEditor draft={draft} onChange={(d) => { setDraft(d); setErr(null); }} problems={problems} err={err} />
          <PreviewButtons key={JSON.stringify(built.conditions)} build={customInput} onError={setErr} />
        </>
      )}
      <div class="form-actions"><button class="btn primary" type="submit" disabled={busy}>ルールを追加</button></div>
    </form>
  );
}
