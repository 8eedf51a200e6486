// The receipt list's data: pages from Query.journal merged with live events,
// newest first (occurredAt, then id — the server's keyset order), each entry
// once however it arrived (page, live, replay after a drop).
import type { EntryCardFragment, JournalEventType } from './gql/types';

export type Entry = EntryCardFragment;

export interface ListData {
  entries: Entry[];
  endCursor: string | null;
  hasNextPage: boolean;
  /** Entries that slid in live (highlighted for a moment). */
  fresh: ReadonlySet<string>;
  /** Entries that happened while the connection was down, replayed on resume. */
  missed: ReadonlySet<string>;
}

export const emptyList: ListData = { entries: [], endCursor: null, hasNextPage: false, fresh: new Set(), missed: new Set() };

/** Newest first: later occurredAt, then larger id, comes first. */
export function newerFirst(a: Entry, b: Entry): number {
  const d = Date.parse(b.occurredAt) - Date.parse(a.occurredAt);
  if (d !== 0) return d;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * Adds a page (first or next) of the list. missedBefore: the first page read
 * again after a reconnect that had no cursor to resume from; entries it
 * brings that the server received before that instant happened while the
 * connection was down.
 */
export function addPage(l: ListData, edges: { node: Entry }[], pageInfo: { hasNextPage: boolean; endCursor: string | null }, first: boolean, missedBefore = 0): ListData {
  const byId = new Map(l.entries.map((e) => [e.id, e]));
  let missed = l.missed, fresh = l.fresh;
  for (const { node } of edges) {
    if (missedBefore && !byId.has(node.id) && Date.parse(node.receivedAt) < missedBefore) {
      if (missed === l.missed) { missed = new Set(l.missed); fresh = new Set(l.fresh); }
      (missed as Set<string>).add(node.id);
      (fresh as Set<string>).add(node.id);
    }
    byId.set(node.id, node);
  }
  const entries = [...byId.values()].sort(newerFirst);
  // A refetched first page keeps the pagination state of what is loaded
  // below it; only an empty list takes its cursor.
  if (first && l.entries.length > 0 && l.endCursor !== null) return { ...l, entries, missed, fresh };
  return { ...l, entries, missed, fresh, endCursor: pageInfo.endCursor, hasNextPage: pageInfo.hasNextPage };
}

/**
 * Applies one live event. A known entry is replaced in place (UPDATED marks,
 * THUMBNAIL pictures, a replayed ADDED). A new one is inserted where it
 * belongs, unless it is older than the last loaded entry while older pages
 * remain: scrolling will bring it, at its place.
 */
export function applyEvent(l: ListData, type: JournalEventType, entry: Entry, missed: boolean): ListData {
  const i = l.entries.findIndex((e) => e.id === entry.id);
  if (i >= 0) {
    const entries = l.entries.slice();
    entries[i] = mergeEntry(entries[i], entry);
    return { ...l, entries };
  }
  const last = l.entries[l.entries.length - 1];
  if (l.hasNextPage && last && newerFirst(entry, last) > 0) return l;
  const entries = [...l.entries, entry].sort(newerFirst);
  // Only a new entry is news; an UPDATED or THUMBNAIL of one this list has
  // not shown yet (it fell in a gap) just takes its place.
  if (type !== 'ADDED') return { ...l, entries };
  const fresh = new Set(l.fresh); fresh.add(entry.id);
  let missedSet = l.missed;
  if (missed) { const m = new Set(l.missed); m.add(entry.id); missedSet = m; }
  return { ...l, entries, fresh, missed: missedSet };
}

/** A later message about the same entry never loses a picture already shown. */
function mergeEntry(old: Entry, next: Entry): Entry {
  if (!next.thumbnail && old.thumbnail) return { ...next, thumbnail: old.thumbnail, picture: next.picture ?? old.picture };
  return next;
}

export function clearFresh(l: ListData, ids: string[]): ListData {
  const fresh = new Set(l.fresh);
  for (const id of ids) fresh.delete(id);
  return { ...l, fresh };
}
