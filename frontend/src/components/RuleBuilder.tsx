// The rule builder (設定 › アラート, 種類「条件を組み合わせる」): condition
// rows combined with AND, a preset to start from, and 「過去 7 日 / 30 日で
// 試す」, which asks the server how often the rule would have fired before
// it is saved. The server's field errors (conditions.amountMin …) show at
// the input they name. 「記録がない（営業時間中）」 (silence, the FEED_SILENT
// preset) fires on the absence of receipts: the server takes it only with
// 店舗/レジ and 時間帯 (then the hours) and says which row to remove.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { PreviewAlertRule, RuleBuilderData } from '../gql/ops';
import type {
  AlertRuleInput, AlertRulePreviewFragment, JournalEntryKind, PreviewExampleFragment, RuleBuilderDataQuery,
  RuleConditionsFieldsFragment, RuleConditionsInput,
} from '../gql/types';
import { DEFAULT_TZ, dateTime, yen } from '../format';
import { FieldError } from './Field';
import '../styles/rules.css';

export const ENTRY_KIND_LABELS: [JournalEntryKind, string][] = [['CANCEL', 'キャンセル'], ['DELETE', '削除'], ['MODIFY', '修正'], ['PAYMENT', '支払い'], ['OTHER', 'その他']];
export const WEEKDAYS = ['日', '月', '火', '水', '木', '金', '土'];

/** The condition rows, in the order the builder offers them. */
export type RowKey = 'kinds' | 'amount' | 'item' | 'payment' | 'staff' | 'place' | 'stay' | 'time' | 'weekdays' | 'outsideHours' | 'unlinked' | 'burst' | 'quickCancel' | 'silence';
export const ROWS: [RowKey, string][] = [
  ['kinds', '種類'],
  ['amount', '金額'],
  ['item', '商品'],
  ['payment', '支払い方法'],
  ['staff', '担当'],
  ['place', '店舗/レジ'],
  ['stay', '入店から支払いまで'],
  ['time', '時間帯'],
  ['weekdays', '曜日'],
  ['outsideHours', '営業時間外'],
  ['unlinked', 'カメラのないレジ'],
  ['burst', '短時間の連続取消'],
  ['quickCancel', '販売直後の取消'],
  ['silence', 'N 分間 記録がない（営業時間中）'],
];
const rowLabel = (k: RowKey) => ROWS.find((r) => r[0] === k)![1];

/** What the owner typed, as typed (numbers stay strings until sent). */
export interface Draft {
  rows: RowKey[];
  kinds: JournalEntryKind[];
  amountMin: string; amountMax: string;
  itemName: string; qtyMin: string; qtyMax: string; lineMin: string; lineMax: string;
  payment: string;
  staff: string;
  shopIDs: string[]; terminalIDs: string[];
  /** Minutes. */
  stayMin: string; stayMax: string;
  timeFrom: string; timeTo: string;
  weekdays: number[];
  burstCount: string;
  /** Minutes. */
  burstWindow: string;
  /** Seconds. */
  quickWindow: string;
  /** Minutes; empty: the server learns each register's usual gap. */
  silenceWindow: string;
}

export const emptyDraft = (): Draft => ({
  rows: ['kinds'], kinds: ['CANCEL'],
  amountMin: '', amountMax: '', itemName: '', qtyMin: '', qtyMax: '', lineMin: '', lineMax: '',
  payment: '', staff: '', shopIDs: [], terminalIDs: [], stayMin: '', stayMax: '',
  timeFrom: '22:00', timeTo: '06:00', weekdays: [], burstCount: '3', burstWindow: '10', quickWindow: '120', silenceWindow: '30',
});

const list = (s: string) => s.split(/[,、，\n]+/).map((x) => x.trim()).filter(Boolean);
const str = (n: number | null | undefined) => (n == null ? '' : String(n));
const minutes = (sec: number | null | undefined) => (sec == null ? '' : String(Math.round((sec / 60) * 100) / 100));

/** A preset's (or a saved rule's) conditions as rows to edit. */
export function draftOf(c: RuleConditionsFieldsFragment): Draft {
  const d = emptyDraft();
  const rows: RowKey[] = [];
  if (c.kinds.length) rows.push('kinds');
  d.kinds = c.kinds;
  if (c.amountMin != null || c.amountMax != null) rows.push('amount');
  d.amountMin = str(c.amountMin); d.amountMax = str(c.amountMax);
  if (c.item) {
    rows.push('item');
    d.itemName = c.item.nameContains; d.qtyMin = str(c.item.quantityMin); d.qtyMax = str(c.item.quantityMax);
    d.lineMin = str(c.item.lineAmountMin); d.lineMax = str(c.item.lineAmountMax);
  }
  if (c.paymentMethods.length) { rows.push('payment'); d.payment = c.paymentMethods.join('、'); }
  if (c.staff.length) { rows.push('staff'); d.staff = c.staff.join('、'); }
  if (c.shopIDs.length || c.terminalIDs.length) { rows.push('place'); d.shopIDs = c.shopIDs; d.terminalIDs = c.terminalIDs; }
  if (c.staySecondsMin != null || c.staySecondsMax != null) { rows.push('stay'); d.stayMin = minutes(c.staySecondsMin); d.stayMax = minutes(c.staySecondsMax); }
  if (c.timeFrom || c.timeTo) { rows.push('time'); d.timeFrom = c.timeFrom; d.timeTo = c.timeTo; }
  if (c.weekdays.length) { rows.push('weekdays'); d.weekdays = c.weekdays; }
  if (c.outsideHours) rows.push('outsideHours');
  if (c.unlinkedTerminal) rows.push('unlinked');
  if (c.burst) { rows.push('burst'); d.burstCount = str(c.burst.count); d.burstWindow = minutes(c.burst.windowSeconds); }
  if (c.quickCancel) { rows.push('quickCancel'); d.quickWindow = str(c.quickCancel.windowSeconds); }
  if (c.silence) { rows.push('silence'); d.silenceWindow = c.silence.windowSeconds ? minutes(c.silence.windowSeconds) : ''; }
  d.rows = rows;
  return d;
}

/** Client-side messages, by the server's field name (conditions.<name>). */
export type Problems = Record<string, string>;

/**
 * The rows as RuleConditionsInput, and what cannot be sent as typed (a
 * number that is not one). Contradictions (下限 > 上限) are the server's to
 * name: its answer to 試す or 追加 says so at the field.
 */
export function conditionsOf(d: Draft): { conditions: RuleConditionsInput; problems: Problems } {
  const c: RuleConditionsInput = {};
  const problems: Problems = {};
  const int = (field: string, s: string, what: string, scale = 1): number | undefined => {
    const t = s.trim().replace(/[,，]/g, '').replace(/[０-９．]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) - 0xfee0));
    if (!t) return undefined;
    if (!/^\d+(\.\d+)?$/.test(t) || (scale === 1 && t.includes('.'))) { problems[field] = `${what}は数字で入力してください`; return undefined; }
    return Math.round(Number(t) * scale);
  };
  const on = (k: RowKey) => d.rows.includes(k);
  if (on('kinds')) {
    if (d.kinds.length === 0) problems.kinds = '種類を1つ以上選んでください';
    c.kinds = d.kinds;
  }
  if (on('amount')) {
    c.amountMin = int('amountMin', d.amountMin, '金額の下限');
    c.amountMax = int('amountMax', d.amountMax, '金額の上限');
    if (c.amountMin === undefined && c.amountMax === undefined && !problems.amountMin && !problems.amountMax) problems.amountMin = '金額の下限か上限を入力してください';
  }
  if (on('item')) {
    c.item = {
      nameContains: d.itemName.trim() || undefined,
      quantityMin: int('item.quantityMin', d.qtyMin, '数量の下限'),
      quantityMax: int('item.quantityMax', d.qtyMax, '数量の上限'),
      lineAmountMin: int('item.lineAmountMin', d.lineMin, '明細金額の下限'),
      lineAmountMax: int('item.lineAmountMax', d.lineMax, '明細金額の上限'),
    };
    if (Object.values(c.item).every((v) => v === undefined) && !Object.keys(problems).some((k) => k.startsWith('item.'))) problems['item.nameContains'] = '商品名か数量・金額を入力してください';
  }
  if (on('payment')) {
    c.paymentMethods = list(d.payment);
    if (!c.paymentMethods.length) problems.paymentMethods = '支払い方法を入力してください（例: 現金、クレジットカード）';
  }
  if (on('staff')) {
    c.staff = list(d.staff);
    if (!c.staff.length) problems.staff = '担当者の名前を入力してください';
  }
  if (on('place')) {
    c.shopIDs = d.shopIDs; c.terminalIDs = d.terminalIDs;
    if (!d.shopIDs.length && !d.terminalIDs.length) problems.shopIDs = '店舗かレジを1つ以上選んでください';
  }
  if (on('stay')) {
    c.staySecondsMin = int('staySecondsMin', d.stayMin, '入店からの時間の下限', 60);
    c.staySecondsMax = int('staySecondsMax', d.stayMax, '入店からの時間の上限', 60);
    if (c.staySecondsMin === undefined && c.staySecondsMax === undefined && !problems.staySecondsMin && !problems.staySecondsMax) problems.staySecondsMin = '分数を入力してください';
  }
  if (on('time')) {
    const hhmm = /^([01]?\d|2[0-3]):[0-5]\d$/;
    if (!hhmm.test(d.timeFrom.trim())) problems.timeFrom = '開始を「22:00」のように入力してください';
    if (!hhmm.test(d.timeTo.trim())) problems.timeTo = '終了を「06:00」のように入力してください';
    c.timeFrom = d.timeFrom.trim(); c.timeTo = d.timeTo.trim();
  }
  if (on('weekdays')) {
    if (!d.weekdays.length) problems.weekdays = '曜日を1つ以上選んでください';
    c.weekdays = [...d.weekdays].sort();
  }
  if (on('outsideHours')) c.outsideHours = true;
  if (on('unlinked')) c.unlinkedTerminal = true;
  if (on('burst')) {
    const count = int('burst.count', d.burstCount, '回数');
    const windowSeconds = int('burst.windowSeconds', d.burstWindow, '時間', 60);
    if (count === undefined && !problems['burst.count']) problems['burst.count'] = '回数を入力してください';
    if (windowSeconds === undefined && !problems['burst.windowSeconds']) problems['burst.windowSeconds'] = '時間（分）を入力してください';
    c.burst = { count, windowSeconds: windowSeconds ?? 0 };
  }
  if (on('quickCancel')) {
    const windowSeconds = int('quickCancel.windowSeconds', d.quickWindow, '秒数');
    if (windowSeconds === undefined && !problems['quickCancel.windowSeconds']) problems['quickCancel.windowSeconds'] = '秒数を入力してください';
    c.quickCancel = { windowSeconds: windowSeconds ?? 0 };
  }
  if (on('silence')) {
    // Empty is meaningful (learn the usual gap), so it is not a problem.
    c.silence = { windowSeconds: int('silence.windowSeconds', d.silenceWindow, '分数', 60) };
  }
  // Nothing undefined goes over the wire: an unset bound is left out.
  const clean = (o: Record<string, unknown>) => { for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k]; return o; };
  clean(c as Record<string, unknown>);
  if (c.item) clean(c.item as Record<string, unknown>);
  if (c.burst) clean(c.burst as Record<string, unknown>);
  if (c.silence) clean(c.silence as Record<string, unknown>);
  return { conditions: c, problems };
}

/** Every server field a row's inputs stand for; the first is the row's own input. */
const ROW_FIELDS: Record<RowKey, string[]> = {
  kinds: ['kinds'],
  amount: ['amountMin', 'amountMax'],
  item: ['item.nameContains', 'item.quantityMin', 'item.quantityMax', 'item.lineAmountMin', 'item.lineAmountMax', 'item'],
  payment: ['paymentMethods'],
  staff: ['staff'],
  place: ['shopIDs', 'terminalIDs'],
  stay: ['staySecondsMin', 'staySecondsMax'],
  time: ['timeFrom', 'timeTo'],
  weekdays: ['weekdays'],
  outsideHours: ['outsideHours'],
  unlinked: ['unlinkedTerminal'],
  burst: ['burst.count', 'burst.windowSeconds', 'burst'],
  quickCancel: ['quickCancel.windowSeconds', 'quickCancel'],
  silence: ['silence.windowSeconds', 'silence'],
};
/** The fields an input of the builder shows its server error at. */
const INPUT_FIELDS = Object.values(ROW_FIELDS).flat().filter((f) => !['item', 'burst', 'quickCancel', 'silence'].includes(f));

/** The server's message for a field of the conditions (…conditions.item.quantityMin). */
function serverError(err: ApiError | null, field: string): string | undefined {
  if (!err) return undefined;
  const want = field ? 'conditions.' + field : 'conditions';
  for (const e of err.errors) {
    const f = e.extensions?.field;
    if (!f) continue;
    // A list's item is named by its index (conditions.staff.2): shown at the list.
    const g = field ? f.replace(/\.\d+$/, '') : f;
    if (g === want || g.endsWith('.' + want)) return e.message;
  }
  return undefined;
}

/** A rule's conditions in a line, as the rules table shows them. */
export function conditionsSummary(c: RuleConditionsFieldsFragment | null | undefined): string {
  if (!c) return '';
  const p: string[] = [];
  const n = (x: number) => x.toLocaleString('ja-JP');
  const range = (min: number | null | undefined, max: number | null | undefined, unit: string) =>
    min != null && max != null ? `${n(min)}〜${n(max)}${unit}` : min != null ? `${n(min)}${unit}以上` : `${n(max!)}${unit}以下`;
  if (c.kinds.length) p.push(c.kinds.map((k) => ENTRY_KIND_LABELS.find((x) => x[0] === k)?.[1] ?? k).join('・'));
  if (c.amountMin != null || c.amountMax != null) p.push('金額 ' + range(c.amountMin, c.amountMax, ' 円'));
  if (c.item) {
    const it = c.item;
    const parts = [it.nameContains && `「${it.nameContains}」を含む商品`,
      (it.quantityMin != null || it.quantityMax != null) && '数量 ' + range(it.quantityMin, it.quantityMax, ''),
      (it.lineAmountMin != null || it.lineAmountMax != null) && '明細 ' + range(it.lineAmountMin, it.lineAmountMax, ' 円')].filter(Boolean);
    p.push(parts.join('・') || '商品');
  }
  if (c.paymentMethods.length) p.push(c.paymentMethods.join('・') + ' 払い');
  if (c.staff.length) p.push('担当 ' + c.staff.join('・'));
  if (c.shopIDs.length || c.terminalIDs.length) p.push(`店舗 ${c.shopIDs.length}・レジ ${c.terminalIDs.length} に限る`);
  if (c.staySecondsMin != null || c.staySecondsMax != null) {
    const m = (s: number | null | undefined) => (s == null ? null : Math.round((s / 60) * 10) / 10);
    p.push('入店から支払いまで ' + range(m(c.staySecondsMin), m(c.staySecondsMax), ' 分'));
  }
  if (c.timeFrom || c.timeTo) p.push(`${c.timeFrom}〜${c.timeTo}`);
  if (c.weekdays.length) p.push(c.weekdays.map((w) => WEEKDAYS[w]).join('') + '曜日');
  if (c.outsideHours) p.push('営業時間外');
  if (c.unlinkedTerminal) p.push('カメラのないレジ');
  if (c.burst) p.push(`${Math.round(c.burst.windowSeconds / 60 * 10) / 10} 分に ${c.burst.count} 回以上の取消`);
  if (c.quickCancel) p.push(`販売から ${c.quickCancel.windowSeconds} 秒以内の取消`);
  if (c.silence) p.push(c.silence.windowSeconds ? `${Math.round(c.silence.windowSeconds / 60 * 10) / 10} 分間 記録がない（営業時間中）` : 'ふだんより長く記録がない（営業時間中）');
  return p.join(' かつ ') || '条件なし（すべての取引）';
}

/** A saved rule's conditions as input again (toggling 有効 keeps them). */
export function conditionsInput(c: RuleConditionsFieldsFragment): RuleConditionsInput {
  return conditionsOf(draftOf(c)).conditions;
}

type BuilderData = RuleBuilderDataQuery;
let cached: Promise<BuilderData> | null = null;
/** Presets, shops and registers, read once per page load. */
export function loadBuilderData(): Promise<BuilderData> {
  cached ??= gql(RuleBuilderData);
  cached.catch(() => { cached = null; });
  return cached;
}

interface EditorProps {
  draft: Draft;
  onChange: (d: Draft) => void;
  /** Client messages (shown after the first 試す / 追加). */
  problems: Problems;
  err: ApiError | null;
}

/** The condition rows: add, edit, remove; a preset fills them all. */
export function ConditionEditor({ draft, onChange, problems, err }: EditorProps) {
  const [data, setData] = useState<BuilderData | null>(null);
  const [loadErr, setLoadErr] = useState<string | null>(null);
  const [preset, setPreset] = useState('');
  const [adding, setAdding] = useState<RowKey | ''>('');
  useEffect(() => { loadBuilderData().then(setData, (e) => setLoadErr(e.message)); }, []);

  const set = (p: Partial<Draft>) => onChange({ ...draft, ...p });
  const msg = (f: string) => problems[f] ?? serverError(err, f);
  const input = (id: string, field: string, label: string, value: string, put: (v: string) => void, extra: Record<string, unknown> = {}) => {
    const e = msg(field);
    return (
      <div class="cond-input">
        <label class="cond-label" for={id}>{label}</label>
        <input id={id} class="input" value={value} aria-invalid={!!e} aria-describedby={e ? id + '-err' : undefined}
          onInput={(ev) => put((ev.target as HTMLInputElement).value)} {...extra} />
        {e && <FieldError id={id + '-err'} field={'conditions.' + field}>{e}</FieldError>}
      </div>
    );
  };
  const num = { inputMode: 'numeric', autoComplete: 'off' };
  const toggleIn = <T,>(xs: T[], x: T) => (xs.includes(x) ? xs.filter((y) => y !== x) : [...xs, x]);
  const checks = <T extends string | number>(name: string, field: string, opts: [T, string][], chosen: T[], put: (v: T[]) => void) => {
    const e = msg(field);
    return (
      <div class="check-row" role="group" aria-label={name} aria-describedby={e ? `cond-${field}-err` : undefined}>
        {opts.map(([v, l]) => (
          <label class="check"><input type="checkbox" aria-invalid={!!e} checked={chosen.includes(v)} onChange={() => put(toggleIn(chosen, v))} />{l}</label>
        ))}
        {e && <FieldError id={`cond-${field}-err`} field={'conditions.' + field}>{e}</FieldError>}
      </div>
    );
  };

  const shops = data?.shops.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];
  const terminals = data?.terminals.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];
  const body = (k: RowKey) => {
    switch (k) {
      case 'kinds': return checks('種類', 'kinds', ENTRY_KIND_LABELS, draft.kinds, (kinds) => set({ kinds }));
      case 'amount': return (<>
        {input('cond-amountMin', 'amountMin', '下限（円以上）', draft.amountMin, (amountMin) => set({ amountMin }), num)}
        {input('cond-amountMax', 'amountMax', '上限（円以下）', draft.amountMax, (amountMax) => set({ amountMax }), num)}
      </>);
      case 'item': return (<>
        {input('cond-itemName', 'item.nameContains', '商品名に含む', draft.itemName, (itemName) => set({ itemName }), { autoComplete: 'off', placeholder: '例: たばこ' })}
        {input('cond-qtyMin', 'item.quantityMin', '数量（以上）', draft.qtyMin, (qtyMin) => set({ qtyMin }), num)}
        {input('cond-qtyMax', 'item.quantityMax', '数量（以下）', draft.qtyMax, (qtyMax) => set({ qtyMax }), num)}
        {input('cond-lineMin', 'item.lineAmountMin', '明細金額（円以上）', draft.lineMin, (lineMin) => set({ lineMin }), num)}
        {input('cond-lineMax', 'item.lineAmountMax', '明細金額（円以下）', draft.lineMax, (lineMax) => set({ lineMax }), num)}
      </>);
      case 'payment': return input('cond-payment', 'paymentMethods', '支払い方法（「、」で区切る）', draft.payment, (payment) => set({ payment }), { placeholder: '例: 現金、クレジットカード' });
      case 'staff': return input('cond-staff', 'staff', '担当者（「、」で区切る）', draft.staff, (staff) => set({ staff }), { placeholder: '例: 山田' });
      case 'place': return (<>
        {loadErr && <div class="alert" role="alert">店舗とレジを読み込めません: {loadErr}</div>}
        {!data && !loadErr && <span class="hint">読み込み中…</span>}
        {shops.length > 0 && checks('店舗', 'shopIDs', shops.map((s) => [s.id, s.name] as [string, string]), draft.shopIDs, (shopIDs) => set({ shopIDs }))}
        {terminals.length > 0 && checks('レジ', 'terminalIDs', terminals.map((t) => [t.id, t.name || `レジ ${t.externalID}`] as [string, string]), draft.terminalIDs, (terminalIDs) => set({ terminalIDs }))}
      </>);
      case 'stay': return (<>
        {input('cond-stayMin', 'staySecondsMin', '分以上', draft.stayMin, (stayMin) => set({ stayMin }), { inputMode: 'decimal', autoComplete: 'off' })}
        {input('cond-stayMax', 'staySecondsMax', '分以下', draft.stayMax, (stayMax) => set({ stayMax }), { inputMode: 'decimal', autoComplete: 'off' })}
        <span class="hint cond-hint">お客様の入店（カメラの人検知）から支払いまでの時間です。</span>
      </>);
      case 'time': return (<>
        {input('cond-timeFrom', 'timeFrom', '開始', draft.timeFrom, (timeFrom) => set({ timeFrom }), { type: 'time' })}
        {input('cond-timeTo', 'timeTo', '終了', draft.timeTo, (timeTo) => set({ timeTo }), { type: 'time' })}
        <span class="hint cond-hint">店舗の時刻です。開始が終了より遅いときは日をまたぎます（22:00〜06:00 など）。</span>
      </>);
      case 'weekdays': return checks('曜日', 'weekdays', WEEKDAYS.map((w, i) => [i, w] as [number, string]), draft.weekdays, (weekdays) => set({ weekdays }));
      case 'outsideHours': return <span class="hint cond-hint">店舗の営業時間の外に行われた取引です。</span>;
      case 'unlinked': return <span class="hint cond-hint">どのカメラとも紐づいていないレジの取引です。</span>;
      case 'burst': return (<>
        {input('cond-burstCount', 'burst.count', '回以上', draft.burstCount, (burstCount) => set({ burstCount }), num)}
        {input('cond-burstWindow', 'burst.windowSeconds', '分以内に', draft.burstWindow, (burstWindow) => set({ burstWindow }), { inputMode: 'decimal', autoComplete: 'off' })}
        <span class="hint cond-hint">同じ担当者の取消がこの時間にこの回数以上あったとき。</span>
      </>);
      case 'quickCancel': return (<>
        {input('cond-quickWindow', 'quickCancel.windowSeconds', '販売から（秒以内）', draft.quickWindow, (quickWindow) => set({ quickWindow }), num)}
        <span class="hint cond-hint">同じ担当者が販売の直後に取り消したとき。</span>
      </>);
      case 'silence': return (<>
        {input('cond-silenceWindow', 'silence.windowSeconds', '分間 記録がない', draft.silenceWindow, (silenceWindow) => set({ silenceWindow }), { inputMode: 'decimal', autoComplete: 'off', placeholder: '空欄: ふだんの間隔から決める' })}
        <span class="hint cond-hint">営業時間中にレジから記録が届かないとき（開店時刻から数えます）。店舗/レジと時間帯（営業時間として使います）だけと組み合わせられます。時間帯がなければ店舗の営業時間です。</span>
      </>);
    }
  };
  // Server errors no input of the builder names (conditions.quickCancel.count,
  // conditions.burst, conditions itself): at their row, else above the rows.
  const unplaced = (err?.errors ?? []).flatMap((e) => {
    const m = /(?:^|\.)conditions(?:\.(.*))?$/.exec(e.extensions?.field ?? '');
    if (!m) return [];
    const sub = (m[1] ?? '').replace(/\.\d+$/, '');
    if (sub && INPUT_FIELDS.includes(sub)) return [];
    const row = ROWS.find(([k]) => draft.rows.includes(k) && ROW_FIELDS[k].some((f) => f.split('.')[0] === sub.split('.')[0]))?.[0];
    return [{ row, message: e.message }];
  });
  const rowErr = (k: RowKey) => unplaced.filter((u) => u.row === k).map((u) => u.message).join(' ') || undefined;
  const free = ROWS.filter(([k]) => !draft.rows.includes(k));
  const presets = data?.alertRulePresets ?? [];
  return (
    <div class="builder" data-testid="rule-builder">
      {presets.length > 0 && (
        <div class="field">
          <label for="rule-preset">ひな形から始める</label>
          <select id="rule-preset" value={preset} onChange={(e) => {
            const name = (e.target as HTMLSelectElement).value;
            setPreset(name);
            const p = presets.find((x) => x.name === name);
            if (p) onChange(draftOf(p.conditions));
          }}>
            <option value="">（使わない）</option>
            {presets.map((p) => <option value={p.name}>{p.label}</option>)}
          </select>
        </div>
      )}
      {unplaced.filter((u) => !u.row).map((u) => <div class="alert" role="alert">{u.message}</div>)}
      <p class="hint">次の条件を<strong>すべて</strong>満たす取引で知らせます。</p>
      {draft.rows.length === 0 && <p class="empty" data-testid="no-conditions">条件がありません。下の「条件を追加」から選んでください。</p>}
      <ul class="cond-list">
        {draft.rows.map((k) => {
          const re = rowErr(k);
          return (
            <li class="cond-row" data-cond={k}>
              <div class="cond-head">
                <span class="cond-name" id={'cond-h-' + k}>{rowLabel(k)}</span>
                <button type="button" class="btn small" aria-label={`条件「${rowLabel(k)}」を外す`} onClick={() => set({ rows: draft.rows.filter((r) => r !== k) })}>外す</button>
              </div>
              <div class="cond-body" role="group" aria-labelledby={'cond-h-' + k}>{body(k)}</div>
              {re && <FieldError>{re}</FieldError>}
            </li>
          );
        })}
      </ul>
      {free.length > 0 && (
        <div class="cond-add">
          <label for="cond-add" class="sr-only">追加する条件</label>
          <select id="cond-add" class="input" value={adding} onChange={(e) => setAdding((e.target as HTMLSelectElement).value as RowKey)}>
            <option value="">追加する条件を選ぶ</option>
            {free.map(([k, l]) => <option value={k}>{l}</option>)}
          </select>
          <button type="button" class="btn" disabled={!adding} onClick={() => { if (adding) { set({ rows: [...draft.rows, adding] }); setAdding(''); } }}>条件を追加</button>
        </div>
      )}
    </div>
  );
}

/** A day label for the preview's bars: M/D of the day `back` days before today. */
function dayLabel(back: number, tz: string, now: number): string {
  const d = new Date(now - back * 86_400_000);
  return new Intl.DateTimeFormat('ja-JP', { timeZone: tz, month: 'numeric', day: 'numeric' }).format(d);
}

export type Preview = AlertRulePreviewFragment;

/** The try-out: the hits, a bar per day, the newest examples with their pictures. */
export function PreviewResult({ preview, tz = DEFAULT_TZ, now = Date.now() }: { preview: Preview; tz?: string; now?: number }) {
  const max = Math.max(1, ...preview.perDay);
  const n = preview.perDay.length;
  const W = 600, H = 80, gap = n > 14 ? 2 : 4, bw = n ? (W - gap * (n - 1)) / n : 0;
  const labels = preview.perDay.map((_, i) => dayLabel(n - 1 - i, tz, now));
  const every = n > 14 ? 5 : 1;
  return (
    <div class="preview" data-testid="rule-preview" aria-live="polite">
      <p class="preview-total">
        過去 {preview.days} 日では <strong data-testid="preview-hits">{preview.hits.toLocaleString('ja-JP')}</strong> 件で知らせていました
        <span class="hint">（{preview.scanned.toLocaleString('ja-JP')} 件の取引を確認）</span>
      </p>
      {n > 0 && (
        <figure class="perday">
          <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={'日ごとの件数: ' + preview.perDay.map((v, i) => `${labels[i]} ${v}件`).join('、')} preserveAspectRatio="none">
            {preview.perDay.map((v, i) => {
              const h = v ? Math.max(2, (v / max) * H) : 0;
              return <rect class="bar" x={i * (bw + gap)} y={H - h} width={bw} height={h}><title>{`${labels[i]}: ${v} 件`}</title></rect>;
            })}
          </svg>
          {/* Labels in HTML: the bars stretch to the width, words must not. */}
          <div class="perday-labels" aria-hidden="true" style={`grid-template-columns: repeat(${n}, minmax(0, 1fr))`}>
            {labels.map((l, i) => <span>{i % every === 0 || i === n - 1 ? l : ''}</span>)}
          </div>
        </figure>
      )}
      {preview.examples.length > 0 ? (
        <>
          <h4 class="sub-h">例（新しい順、最大 20 件）</h4>
          <ul class="examples" data-testid="preview-examples">
            {preview.examples.slice(0, 20).map((e) => <ExampleRow e={e} tz={tz} />)}
          </ul>
        </>
      ) : preview.hits === 0 && <p class="hint">この期間には当てはまる取引がありませんでした。</p>}
    </div>
  );
}

/** One receipt in a list: picture, time, kind, amount, staff. */
export function ExampleRow({ e, tz }: { e: PreviewExampleFragment; tz: string }) {
  return (
    <li class="example" data-receipt={e.receiptNo}>
      {e.thumbnail ? <img class="ex-thumb" src={e.thumbnail.url} width={e.thumbnail.width} height={e.thumbnail.height} alt={`レシート ${e.receiptNo} の画像`} loading="lazy" />
        : <span class="ex-thumb none" aria-hidden="true">画像なし</span>}
      <span class="ex-body">
        <span><span class={'badge k-' + e.kind}>{e.kindLabel}</span> {dateTime(e.occurredAt, tz)}</span>
        <span class="ex-line"><strong>{yen(e.total)}</strong> {e.paymentMethod && <span class="hint">{e.paymentMethod}</span>}</span>
        <span class="hint">No.{e.receiptNo} レジ {e.registerNo}{e.staffName && ` ・ 担当 ${e.staffName}`}</span>
      </span>
    </li>
  );
}

/** 「過去 7 日 / 30 日で試す」: build() gives the input (null when the form
 *  has problems it has shown); errors go back to the form. */
export function PreviewButtons({ build, onError, tz }: { build: () => AlertRuleInput | null; onError: (e: ApiError | null) => void; tz?: string }) {
  const [busy, setBusy] = useState<number | null>(null);
  const [preview, setPreview] = useState<Preview | null>(null);
  const run = async (days: number) => {
    const input = build();
    if (!input) { setPreview(null); return; }
    setBusy(days); onError(null);
    try {
      const d = await gql(PreviewAlertRule, { input, days });
      setPreview(d.previewAlertRule);
    } catch (x) {
      setPreview(null);
      onError(x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
    } finally { setBusy(null); }
  };
  return (
    <div class="preview-box">
      <div class="form-actions">
        {[7, 30].map((d) => (
          <button type="button" class="btn" disabled={busy !== null} onClick={() => void run(d)}>
            {busy === d ? <><span class="spinner" />確認中…</> : `過去 ${d} 日で試す`}
          </button>
        ))}
      </div>
      {preview && <PreviewResult preview={preview} tz={tz} />}
    </div>
  );
}
