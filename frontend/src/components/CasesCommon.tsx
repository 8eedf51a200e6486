// What the case screens and 「ケースに追加」 share: the words for a case's
// status and history, and the limits the server keeps (ent/schema/case.go).
import { ApiError } from '../api';
import { japanesePart } from '../errors/messages';
import type { CaseStatus } from '../gql/types';

export const STATUS_LABEL: Record<CaseStatus, string> = {
  OPEN: '未着手',
  INVESTIGATING: '調査中',
  CLOSED: '解決済み',
};
export const STATUSES: CaseStatus[] = ['OPEN', 'INVESTIGATING', 'CLOSED'];

/** CaseEvent.action in words (schema/cases.graphql names them). */
export const ACTION_LABEL: Record<string, string> = {
  CREATED: '作成',
  STATUS: '状態の変更',
  ENTRIES_ADDED: '追加',
  ENTRIES_REMOVED: '除外',
  NOTE: 'メモ',
  ASSIGNED: '担当の変更',
  TAGS: 'タグの変更',
  TITLE: 'タイトルの変更',
  EVIDENCE_DOWNLOADED: '証拠のダウンロード',
};

/** The server's limits, in bytes of UTF-8 as the columns count them
 *  (cases/cases.go MaxNote, MaxTitle, MaxResolution): a kana or kanji is
 *  three, a Latin letter or digit one. */
export const NOTE_MAX = 4000;
export const TITLE_MAX = 200;
export const RESOLUTION_MAX = 2000;

const utf8 = new TextEncoder();
export function byteCount(s: string): number {
  return utf8.encode(s).length;
}

/** 「1234 / 4000 バイト（全角で約1333文字まで）」: what the box holds, in the
 *  server's own terms. */
export function sizeHint(s: string, max: number): string {
  return `${byteCount(s)} / ${max} バイト（全角で約${Math.floor(max / 3)}文字まで）`;
}

/** What to say when s is over max: the field, the limit, how much to cut. */
export function tooLong(what: string, s: string, max: number): string | undefined {
  const n = byteCount(s);
  if (n <= max) return undefined;
  return `${what}は ${max} バイト（全角で約${Math.floor(max / 3)}文字）以内にしてください。あと ${n - max} バイト減らしてください`;
}

/** Tags typed as one line: split on commas and spaces (full-width too),
 *  each once, in the order typed. */
export function parseTags(s: string): string[] {
  const out: string[] = [];
  for (const t of s.split(/[,、，\s　]+/)) {
    const v = t.trim();
    if (v && !out.includes(v)) out.push(v);
  }
  return out;
}

export const caseHref = (id: string) => '#/cases/' + encodeURIComponent(id);

export function StatusBadge({ status }: { status: CaseStatus }) {
  return <span class={`badge case-status s-${status}`} data-testid="case-status">{STATUS_LABEL[status]}</span>;
}

/** A refusal as the owner reads it (errors/messages.ts), except a CONFLICT:
 *  there the server says what clashed (「この取引は既に別の事件に入っています」),
 *  where the table's generic sentence would only send them to reload. */
export function caseError(e: unknown): ApiError {
  if (!(e instanceof ApiError)) return new ApiError([{ message: String((e as Error)?.message ?? e) }]);
  if (!e.errors.some((x) => x.extensions?.reason === 'CONFLICT' && japanesePart(x.serverMessage))) return e;
  return new ApiError(e.errors.map((x) => {
    const own = x.extensions?.reason === 'CONFLICT' && japanesePart(x.serverMessage);
    return { ...x, message: x.serverMessage, extensions: own ? { ...x.extensions, reason: undefined } : x.extensions };
  }));
}
