// The receipt list beside the camera: one shop day, a tab per kind, one
// search box, pages by keyset cursor as you scroll, and new receipts that
// match sliding in from the live subscription.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { Journal } from '../gql/ops';
import type { JournalEntryKind, JournalWhere } from '../gql/types';
import { addDays, dayHeader, hm, isoDay, parseIsoDay, startOfDay } from '../format';
import { addPage, applyEvent, emptyList, type Entry, type ListData } from '../journalList';
import { LiveFeed, type LiveState, type LiveOptions } from '../live';
import { ReceiptCard } from './ReceiptCard';
import { CalendarIcon } from './Icons';

export const TABS: [JournalEntryKind | '', string][] = [
  ['', 'すべて'], ['PAYMENT', '支払い'], ['CANCEL', 'キャンセル'], ['MODIFY', '修正'], ['DELETE', '削除'],
];
const PAGE = 30;

interface Props {
  cameraID: string;
  tz: string;
  /** Start of the shown shop day. */
  day: number;
  /** Show receipts up to this instant (picked on the timeline), or the whole day. */
  until: number | null;
  selectedID: string | null;
  onSelect: (e: Entry) => void;
  onDay: (dayStart: number) => void;
  onClearUntil: () => void;
  /** A live event arrived (the timeline refreshes its counts; a selected
   *  receipt gets its late picture or its canceled mark). */
  onLive?: (e: Entry) => void;
  onUnauthenticated?: () => void;
  now?: () => number;
  liveOptions?: LiveOptions;
}

export function ReceiptList(p: Props) {
  const { cameraID, tz, day, until } = p;
  const now = p.now ?? Date.now;
  const [tab, setTab] = useState<JournalEntryKind | ''>('');
  const [input, setInput] = useState('');
  const [search, setSearch] = useState('');
  const [data, setData] = useState<ListData>(emptyList);
  const [loading, setLoading] = useState<'first' | 'more' | null>('first');
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState<LiveState>({ kind: 'connecting' });
  const listRef = useRef<HTMLUListElement>(null);
  const sentinelRef = useRef<HTMLLIElement>(null);
  const dateRef = useRef<HTMLInputElement>(null);
  const cb = useRef(p);
  cb.current = p;

  // Typing pauses 250 ms before the list reloads.
  useEffect(() => {
    const t = setTimeout(() => setSearch(input.trim()), 250);
    return () => clearTimeout(t);
  }, [input]);

  const dayEnd = addDays(day, 1, tz);
  const where: JournalWhere = {
    cameraIDs: [cameraID],
    ...(tab ? { kinds: [tab] } : {}),
    ...(search ? { search } : {}),
    from: new Date(day).toISOString(),
    to: new Date(until !== null ? Math.min(until + 1, dayEnd) : dayEnd).toISOString(),
  };
  const key = JSON.stringify(where);
  const whereRef = useRef(where);
  whereRef.current = where;
  const dataRef = useRef(data);
  dataRef.current = data;
  const keyRef = useRef(key);
  keyRef.current = key;

  useEffect(() => {
    const ctl = new AbortController();
    setData(emptyList);
    setError(null);
    setLoading('first');
    const w = whereRef.current;
    const loadFirst = (initial: boolean, missedBefore = 0) =>
      gql(Journal, { where: w, first: PAGE }, ctl.signal)
        .then((d) => {
          setData((l) => addPage(l, d.journal.edges, d.journal.pageInfo, true, missedBefore));
          if (initial) setLoading(null);
        })
        .catch((e) => {
          if (ctl.signal.aborted) return;
          if (initial) { setLoading(null); setError(e instanceof ApiError ? e.message : String(e)); }
        });
    // Subscribe first, then read the page: an entry stored in between comes
    // through one of them, and the list holds each entry once.
    const feed = new LiveFeed(w, {
      event: (ev, wasMissed) => {
        setData((l) => applyEvent(l, ev.type, ev.entry, wasMissed));
        cb.current.onLive?.(ev.entry);
      },
      state: (s) => {
        setLive(s);
        if (s.kind === 'unauthenticated') cb.current.onUnauthenticated?.();
        // Without a cursor the server cannot replay what this feed missed
        // before it first connected: read the newest page again.
        if (s.kind === 'live' && s.gap) void loadFirst(false, s.resumed ? Date.now() : 0);
      },
    }, cb.current.liveOptions).start();
    void loadFirst(true);
    return () => { ctl.abort(); feed.stop(); };
  }, [key]);

  const loadMore = () => {
    const l = dataRef.current;
    if (loading || !l.hasNextPage || !l.endCursor) return;
    setLoading('more');
    // A page asked for under another tab or search is dropped.
    const asked = keyRef.current;
    gql(Journal, { where: whereRef.current, first: PAGE, after: l.endCursor })
      .then((d) => { if (keyRef.current === asked) setData((cur) => addPage(cur, d.journal.edges, d.journal.pageInfo, false)); })
      .catch((e) => { if (keyRef.current === asked) setError(e instanceof ApiError ? e.message : String(e)); })
      .finally(() => { if (keyRef.current === asked) setLoading(null); });
  };
  const loadMoreRef = useRef(loadMore);
  loadMoreRef.current = loadMore;

  useEffect(() => {
    const el = sentinelRef.current;
    if (!el || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting)) loadMoreRef.current(); }, { root: listRef.current, rootMargin: '200px' });
    io.observe(el);
    return () => io.disconnect();
  }, [data.hasNextPage, data.endCursor]);

  // Entries a drop kept from us, replayed on resume (not ones already shown).
  const missed = data.missed.size;
  const today = startOfDay(now(), tz);
  const onTabKey = (e: KeyboardEvent, i: number) => {
    const n = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!n) return;
    e.preventDefault();
    const j = (i + n + TABS.length) % TABS.length;
    setTab(TABS[j][0]);
    (e.currentTarget as HTMLElement).parentElement?.querySelectorAll('button')[j]?.focus();
  };

  return (
    <section class="panel receipts" aria-label="レシート一覧">
      <div class="day">
        <button class="btn icon" aria-label="前の日" onClick={() => p.onDay(addDays(day, -1, tz))}>‹</button>
        <h2 data-testid="day-header">{dayHeader(day, tz)}</h2>
        <button class="btn icon" aria-label="次の日" disabled={day >= today} onClick={() => p.onDay(addDays(day, 1, tz))}>›</button>
        <button class="btn icon" aria-label="日付を選ぶ" title="日付を選ぶ" onClick={() => { try { dateRef.current?.showPicker(); } catch { dateRef.current?.focus(); } }}><CalendarIcon /></button>
        <input ref={dateRef} class="sr-only" type="date" aria-label="日付" tabIndex={-1} value={isoDay(day, tz)} max={isoDay(today, tz)}
          onChange={(e) => { const d = parseIsoDay((e.target as HTMLInputElement).value, tz); if (d !== null) p.onDay(d); }} />
        {day < today && <button class="btn small" onClick={() => p.onDay(today)}>今日</button>}
        <span class="grow" />
        <ConnState s={live} />
      </div>
      <div class="tabs" role="tablist" aria-label="種類">
        {TABS.map(([k, label], i) => (
          <button role="tab" aria-selected={tab === k} tabIndex={tab === k ? 0 : -1} data-kind={k || 'ALL'}
            onClick={() => setTab(k)} onKeyDown={(e) => onTabKey(e, i)}>{label}</button>
        ))}
      </div>
      <div class="search" role="search">
        <label class="sr-only" for="rl-search">検索</label>
        <input id="rl-search" class="input" type="search" placeholder="レシートNo / レジNo / 担当" value={input}
          onInput={(e) => setInput((e.target as HTMLInputElement).value)} />
      </div>
      {(until !== null || missed > 0) && (
        <div class="chips">
          {until !== null && (
            <span class="badge mark">{hm(until, tz)} までを表示 <button class="btn small" aria-label="時刻指定を解除" onClick={p.onClearUntil}>×</button></span>
          )}
          {missed > 0 && (
            <span class="badge missed" role="status" data-testid="missed">接続が切れていた間の {missed} 件を表示しました
              <button class="btn small" aria-label="閉じる" onClick={() => setData((l) => ({ ...l, missed: new Set() }))}>×</button></span>
          )}
        </div>
      )}
      {error && <div class="alert" role="alert">{error}</div>}
      <ul class="cards" ref={listRef} aria-busy={loading !== null} data-testid="receipts" role="list">
        {loading === 'first' && data.entries.length === 0 && <li class="loading"><span class="spinner" />読み込み中…</li>}
        {loading !== 'first' && !error && data.entries.length === 0 && (
          <li class="empty">{search ? `「${search}」に一致するレシートはありません` : 'この日のレシートはありません'}</li>
        )}
        {data.entries.map((e) => (
          <li key={e.id}>
            <ReceiptCard entry={e} tz={tz} selected={p.selectedID === e.id} fresh={data.fresh.has(e.id)} missed={data.missed.has(e.id)} onSelect={p.onSelect} />
          </li>
        ))}
        {data.hasNextPage && (
          <li ref={sentinelRef} class="more">
            <button class="btn small" disabled={loading === 'more'} onClick={loadMore}>{loading === 'more' ? '読み込み中…' : 'さらに読み込む'}</button>
          </li>
        )}
      </ul>
    </section>
  );
}

function ConnState({ s }: { s: LiveState }) {
  const [cls, text] =
    s.kind === 'live' ? ['conn live', '● ライブ'] :
    s.kind === 'connecting' ? ['conn', '接続中…'] :
    s.kind === 'reconnecting' ? ['conn down', `再接続中…${s.attempt > 1 ? ` (${s.attempt}回目)` : ''}`] :
    s.kind === 'unauthenticated' ? ['conn down', 'ログインが必要です'] :
    ['conn down', `ライブ停止: ${s.message}`];
  return <span class={cls} role="status" aria-live="polite" data-testid="conn" data-state={s.kind}>{text}</span>;
}
