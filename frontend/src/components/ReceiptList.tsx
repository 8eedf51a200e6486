// The receipt list beside the camera: one shop day, a tab per kind, one
// search box (this day, or every day), pages by keyset cursor as you scroll,
// and new receipts that match sliding in from the live subscription — or,
// while the owner looks at a receipt or down the list, waiting behind a
// 「新着 N 件」 bar so nothing moves under their eyes.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { Journal } from '../gql/ops';
import type { JournalEntryKind, JournalWhere } from '../gql/types';
import { addDays, dayHeader, hm, isoDay, parseIsoDay, startOfDay } from '../format';
import { addPage, applyEvent, clearFresh, emptyList, type Entry, type ListData } from '../journalList';
import { LiveFeed, type LiveEvent, type LiveState, type LiveOptions } from '../live';
import { OTHER_EXPLAINED, ReceiptCard } from './ReceiptCard';
import { CalendarIcon } from './Icons';
import '../styles/list.css';

export const TABS: [JournalEntryKind | '', string][] = [
  ['', 'すべて'], ['PAYMENT', '支払い'], ['CANCEL', 'キャンセル'], ['MODIFY', '修正'], ['DELETE', '削除'],
];
const PAGE = 30;
/** How long a live receipt wears its 新着 badge. */
const FRESH_MS = 6_000;
/** Scrolled this far down the list, the owner is reading: arrivals wait. */
const READING_PX = 80;

interface Props {
  cameraID: string;
  tz: string;
  /** Start of the shown shop day. */
  day: number;
  /** A moment picked on the timeline: the list starts there (receipts up to
   *  it, newest first) and offers the newer ones above; null: the newest. */
  until: number | null;
  selectedID: string | null;
  onSelect: (e: Entry) => void;
  onDay: (dayStart: number) => void;
  /** Leave the picked moment: show the newest receipts again. */
  onClearUntil: () => void;
  /** A live event arrived (the timeline refreshes its counts; a selected
   *  receipt gets its late picture or its canceled mark). */
  onLive?: (e: Entry) => void;
  /** The entries in list order, whenever they change (the phone sheet's
   *  previous/next walks them). */
  onEntries?: (entries: Entry[]) => void;
  onUnauthenticated?: () => void;
  now?: () => number;
  liveOptions?: LiveOptions;
  /** How long 新着 stays (tests shorten it). */
  freshMs?: number;
}

export function ReceiptList(p: Props) {
  const { cameraID, tz, day, until } = p;
  const now = p.now ?? Date.now;
  const [tab, setTab] = useState<JournalEntryKind | ''>('');
  const [input, setInput] = useState('');
  const [search, setSearch] = useState('');
  const [allDays, setAllDays] = useState(false);
  /** Live arrivals held back while the owner looks at a receipt or reads
   *  down the list, in arrival order. */
  const [pending, setPending] = useState<LiveEvent[]>([]);
  const [reading, setReading] = useState(false);
  const [data, setData] = useState<ListData>(emptyList);
  const [loading, setLoading] = useState<'first' | 'more' | null>('first');
  const [error, setError] = useState<string | null>(null);
  // The server's count of a search's matches over all its pages.
  const [total, setTotal] = useState<{ count: number; more: boolean } | null>(null);
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
  // A search over every day drops the day and the picked moment.
  const everyDay = allDays && search !== '';
  const where: JournalWhere = {
    cameraIDs: [cameraID],
    ...(tab ? { kinds: [tab] } : {}),
    ...(search ? { search } : {}),
    ...(everyDay ? {} : {
      from: new Date(day).toISOString(),
      to: new Date(until !== null ? Math.min(until + 1, dayEnd) : dayEnd).toISOString(),
    }),
  };
  const jumped = until !== null && !everyDay;
  const hold = p.selectedID !== null || reading;
  const holdRef = useRef(hold);
  holdRef.current = hold;
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
    setPending([]);
    setError(null);
    setLoading('first');
    setTotal(null);
    const w = whereRef.current;
    const loadFirst = (initial: boolean, missedBefore = 0) =>
      gql(Journal, { where: w, first: PAGE, withCount: !!w.search }, ctl.signal)
        .then((d) => {
          setTotal(d.journal.totalCount ?? null);
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
        cb.current.onLive?.(ev.entry);
        // A new receipt waits while the owner is looking; news about one
        // already shown (its picture, a cancel mark) changes it in place.
        const shown = dataRef.current.entries.some((e) => e.id === ev.entry.id);
        if (holdRef.current && !shown && !wasMissed) {
          setPending((q) => [...q.filter((x) => x.entry.id !== ev.entry.id), ev]);
          return;
        }
        setData((l) => applyEvent(l, ev.type, ev.entry, wasMissed));
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

  useEffect(() => { cb.current.onEntries?.(data.entries); }, [data.entries]);

  // 新着 leaves by itself: each fresh entry gets one timer, so a burst
  // clears card by card and nothing depends on an animation running.
  const freshTimers = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  useEffect(() => {
    const timers = freshTimers.current;
    for (const id of data.fresh) {
      if (timers.has(id)) continue;
      timers.set(id, setTimeout(() => {
        timers.delete(id);
        setData((l) => clearFresh(l, [id]));
      }, p.freshMs ?? FRESH_MS));
    }
  }, [data.fresh]);
  useEffect(() => () => { for (const t of freshTimers.current.values()) clearTimeout(t); }, []);

  const showPending = () => {
    const q = pending;
    setPending([]);
    setData((l) => q.reduce((acc, ev) => applyEvent(acc, ev.type, ev.entry, false), l));
    if (listRef.current) listRef.current.scrollTop = 0;
    setReading(false);
  };
  // Nothing to look at any more (no selection, back at the top): the
  // waiting receipts come in by themselves.
  useEffect(() => { if (!hold && pending.length > 0) showPending(); }, [hold, pending.length]);

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
      {search && (
        <div class="search-where">
          <span data-testid="search-scope">{everyDay ? '全期間から検索しています' : 'この日の中から検索しています'}</span>
          <button type="button" class="btn small all-days" role="switch" aria-checked={allDays} data-testid="search-all-days"
            onClick={() => setAllDays((v) => !v)}>{allDays ? '✓ ' : ''}全期間で検索</button>
          {loading !== 'first' && !error && (
            <span class="count" role="status" data-testid="search-count">
              {countText(total, data.entries.length, data.hasNextPage)}
            </span>
          )}
        </div>
      )}
      {!search && (
        <div class="search-where"><span data-testid="search-scope">レシートNo・レジNo・担当をこの日の中から検索します</span></div>
      )}
      {missed > 0 && (
        <div class="chips">
          {missed > 0 && (
            <span class="badge missed" role="status" data-testid="missed">接続が切れていた間の {missed} 件を表示しました
              <button class="btn small" aria-label="閉じる" onClick={() => setData((l) => ({ ...l, missed: new Set() }))}>×</button></span>
          )}
        </div>
      )}
      {error && <div class="alert" role="alert">{error}</div>}
      {jumped && (
        <button class="btn jump-newer" data-testid="show-newer" onClick={p.onClearUntil}>
          {hm(until!, tz)} より新しいレシートを表示
        </button>
      )}
      {tab === '' && data.entries.some((e) => e.kind === 'OTHER') && (
        <p class="other-explained" data-testid="other-explained">その他＝{OTHER_EXPLAINED}</p>
      )}
      <ul class="cards" ref={listRef} aria-busy={loading !== null} data-testid="receipts" role="list"
        onScroll={(e) => setReading((e.currentTarget as HTMLElement).scrollTop > READING_PX)}>
        {/* Floats over the top card: the bar taking room would push the
            selected card down, which is what it is there to prevent. */}
        {pending.length > 0 && (
          <li class="arrivals-slot">
            <button class="btn primary arrivals" data-testid="new-arrivals" onClick={showPending}>新着 {pending.length} 件</button>
          </li>
        )}
        {loading === 'first' && data.entries.length === 0 && <li class="loading"><span class="spinner" />読み込み中…</li>}
        {loading !== 'first' && !error && data.entries.length === 0 && (
          <li class="empty" data-testid="empty">{emptyText({ search, everyDay, tab, until: jumped ? hm(until!, tz) : null })}</li>
        )}
        {data.entries.map((e) => (
          <li key={e.id}>
            <ReceiptCard entry={e} tz={tz} selected={p.selectedID === e.id} fresh={data.fresh.has(e.id)} missed={data.missed.has(e.id)} onSelect={p.onSelect} highlight={search || undefined} />
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

/** The search's count: the server's over all pages (live arrivals since
 *  can only add to it), else what is loaded. */
export function countText(total: { count: number; more: boolean } | null, loaded: number, hasNext: boolean): string {
  if (total) return total.more ? `${total.count.toLocaleString('ja-JP')} 件以上` : `${Math.max(total.count, loaded).toLocaleString('ja-JP')} 件`;
  return hasNext ? `${loaded} 件以上` : `${loaded} 件`;
}

/** Says exactly what is empty: the day, the tab, the search, the moment. */
export function emptyText(o: { search: string; everyDay: boolean; tab: JournalEntryKind | ''; until: string | null }): string {
  const what = o.tab ? `${TABS.find(([k]) => k === o.tab)![1]}のレシート` : 'レシート';
  const when = o.everyDay ? '全期間' : o.until ? `この日の ${o.until} まで` : 'この日';
  if (o.search) return `${when}に「${o.search}」に一致する${what}はありません`;
  return `${when}の${what}はありません`;
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
