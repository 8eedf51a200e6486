import { describe, expect, it } from 'vitest';
import { addPage, applyEvent, emptyList } from '../src/journalList';
import { entry } from './helpers';

const at = (s: string) => `2019-02-21T02:${s}Z`;

describe('journal list', () => {
  it('keeps each entry once, newest first, whether it came by page or live', () => {
    const a = entry({ occurredAt: at('22:17') }), b = entry({ occurredAt: at('20:00') });
    let l = applyEvent(emptyList, 'ADDED', a, false); // live before the page answered
    l = addPage(l, [{ node: a }, { node: b }], { hasNextPage: false, endCursor: 'c-b' }, true);
    expect(l.entries.map((e) => e.id)).toEqual([a.id, b.id]);
    l = applyEvent(l, 'ADDED', a, false); // replayed after a reconnect
    expect(l.entries.map((e) => e.id)).toEqual([a.id, b.id]);
  });

  it('inserts a late receipt where it belongs and marks it fresh', () => {
    const a = entry({ occurredAt: at('30:00') }), c = entry({ occurredAt: at('10:00') });
    let l = addPage(emptyList, [{ node: a }, { node: c }], { hasNextPage: false, endCursor: null }, true);
    const b = entry({ occurredAt: at('20:00') });
    l = applyEvent(l, 'ADDED', b, true);
    expect(l.entries.map((e) => e.id)).toEqual([a.id, b.id, c.id]);
    expect(l.fresh.has(b.id)).toBe(true);
    expect(l.missed.has(b.id)).toBe(true);
  });

  it('leaves entries older than the loaded pages to scrolling', () => {
    const a = entry({ occurredAt: at('30:00') });
    let l = addPage(emptyList, [{ node: a }], { hasNextPage: true, endCursor: 'c-a' }, true);
    l = applyEvent(l, 'ADDED', entry({ occurredAt: at('01:00') }), false);
    expect(l.entries).toHaveLength(1);
  });

  it('replaces an entry on UPDATED and keeps its picture', () => {
    const a = entry();
    let l = addPage(emptyList, [{ node: a }], { hasNextPage: false, endCursor: null }, true);
    l = applyEvent(l, 'UPDATED', { ...a, canceledAt: at('40:00'), thumbnail: null }, false);
    expect(l.entries[0].canceledAt).toBe(at('40:00'));
    expect(l.entries[0].thumbnail?.id).toBe('TH1');
  });

  it('does not lose the pagination cursor when the first page is read again', () => {
    const a = entry({ occurredAt: at('30:00') }), b = entry({ occurredAt: at('20:00') });
    let l = addPage(emptyList, [{ node: a }], { hasNextPage: true, endCursor: 'c-a' }, true);
    l = addPage(l, [{ node: b }], { hasNextPage: false, endCursor: 'c-b' }, false);
    l = addPage(l, [{ node: entry({ occurredAt: at('40:00') }) }, { node: a }], { hasNextPage: true, endCursor: 'c-a' }, true);
    expect(l.entries).toHaveLength(3);
    expect(l.hasNextPage).toBe(false);
    expect(l.endCursor).toBe('c-b');
  });
});

describe('journal list after a reconnect without a cursor', () => {
  it('marks what the refetched first page brings as missed', () => {
    const a = entry({ occurredAt: '2019-02-21T02:30:00Z', receivedAt: '2019-02-21T02:30:00Z' });
    let l = addPage(emptyList, [{ node: a }], { hasNextPage: false, endCursor: null }, true);
    const b = entry({ occurredAt: '2019-02-21T02:31:00Z', receivedAt: '2019-02-21T02:31:00Z' });
    l = addPage(l, [{ node: b }, { node: a }], { hasNextPage: false, endCursor: null }, true, Date.parse('2019-02-21T02:32:00Z'));
    expect([...l.missed]).toEqual([b.id]);
    expect(l.fresh.has(b.id)).toBe(true);
  });
});
