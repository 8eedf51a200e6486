import { describe, expect, it, vi } from 'vitest';
import { LiveFeed, type LiveState } from '../src/live';
import { entry, FakeWs } from './helpers';

describe('live feed', () => {
  it('resumes after a drop with the last cursor and flags what was missed', () => {
    vi.useFakeTimers();
    const ws = new FakeWs();
    const states: LiveState[] = [];
    const got: [string, boolean][] = [];
    const feed = new LiveFeed({ cameraIDs: ['CA1'] }, {
      event: (ev, missed) => got.push([ev.entry.id, missed]),
      state: (s) => states.push(s),
    }, { makeClient: ws.make, backoff: () => 1000 }).start();

    expect(ws.current.variables).toEqual({ where: { cameraIDs: ['CA1'] }, after: null });
    ws.connect();
    expect(states.at(-1)).toEqual({ kind: 'live', resumed: false, gap: true });
    const a = entry({ receivedAt: new Date(Date.now() - 1000).toISOString() });
    ws.send('ADDED', a, 'cur-1');

    ws.drop();
    expect(states.at(-1)?.kind).toBe('reconnecting');
    vi.advanceTimersByTime(999);
    expect(ws.subs).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(ws.subs).toHaveLength(2);
    expect(ws.current.variables.after).toBe('cur-1');
    expect(ws.subs[0].closed).toBe(true);

    vi.advanceTimersByTime(5000);
    ws.connect();
    expect(states.at(-1)).toEqual({ kind: 'live', resumed: true, gap: false });
    const missed = entry({ receivedAt: new Date(Date.now() - 3000).toISOString() });
    ws.send('ADDED', missed, 'cur-2');
    vi.advanceTimersByTime(1000);
    const fresh = entry({ receivedAt: new Date(Date.now()).toISOString() });
    ws.send('ADDED', fresh, 'cur-3');
    expect(got).toEqual([[a.id, false], [missed.id, true], [fresh.id, false]]);
    expect(feed.lastCursor).toBe('cur-3');
    feed.stop();
  });

  it('stops on an authentication close instead of retrying', () => {
    const ws = new FakeWs();
    const states: LiveState[] = [];
    new LiveFeed({}, { event: () => {}, state: (s) => states.push(s) }, { makeClient: ws.make }).start();
    ws.current.sink.error({ code: 4401, reason: 'Unauthorized' });
    expect(states.at(-1)).toEqual({ kind: 'unauthenticated' });
    expect(ws.subs).toHaveLength(1);
  });

  it('reports a GraphQL error on the subscription', () => {
    const ws = new FakeWs();
    const states: LiveState[] = [];
    new LiveFeed({}, { event: () => {}, state: (s) => states.push(s) }, { makeClient: ws.make }).start();
    ws.current.sink.error([{ message: '不正なカーソルです', extensions: { code: 'BAD_USER_INPUT' } }]);
    expect(states.at(-1)).toEqual({ kind: 'error', message: '不正なカーソルです' });
  });
});
