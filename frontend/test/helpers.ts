import { vi } from 'vitest';
import type { Client, Sink } from 'graphql-ws';
import type { Entry } from '../src/journalList';

export interface Call { op: string; variables: Record<string, any> }

/** Stubs fetch('/graphql'): handler answers by operation name. */
export function mockGraphQL(handler: (op: string, variables: Record<string, any>) => unknown) {
  const calls: Call[] = [];
  vi.stubGlobal('fetch', vi.fn(async (url: string, init?: RequestInit) => {
    if (url !== '/graphql') return new Response('not found', { status: 404 });
    const body = JSON.parse(String(init?.body));
    const op = /^(?:query|mutation|subscription)\s*(\w+)/.exec(body.query)?.[1] ?? '';
    calls.push({ op, variables: body.variables });
    let res: unknown;
    try {
      res = await handler(op, body.variables);
    } catch (e: any) {
      res = { errors: e.errors ?? [{ message: String(e.message ?? e) }] };
    }
    return new Response(JSON.stringify(res), { status: 200, headers: { 'Content-Type': 'application/json' } });
  }));
  return calls;
}

/** A graphql-ws client whose subscriptions the test drives. */
export class FakeWs {
  subs: { variables: any; sink: Sink<any>; closed: boolean }[] = [];
  connected: (() => void)[] = [];
  make = (_url: string, on: { connected: () => void }) => {
    this.connected.push(on.connected);
    const self = this;
    const c = {
      subscribe(payload: { variables: any }, sink: Sink<any>) {
        const s = { variables: payload.variables, sink, closed: false };
        self.subs.push(s);
        return () => { s.closed = true; };
      },
      dispose() {},
      terminate() {},
      on() { return () => {}; },
      iterate() { throw new Error('not used'); },
    };
    return c as unknown as Client;
  };
  /** The newest client finished its handshake. */
  connect() { this.connected[this.connected.length - 1](); }
  get current() { return this.subs[this.subs.length - 1]; }
  send(type: 'ADDED' | 'UPDATED' | 'THUMBNAIL', entry: Entry, cursor: string) {
    this.current.sink.next({ data: { journal: { cursor, type, entry } } });
  }
  /** The connection dropped (close code 1006). */
  drop() { this.current.sink.error({ code: 1006, reason: '' }); }
}

let seq = 0;
export function entry(over: Partial<Entry> = {}): Entry {
  seq++;
  return {
    id: over.id ?? `JE${String(seq).padStart(24, '0')}`,
    kind: 'PAYMENT', kindLabel: '支払い',
    occurredAt: '2019-02-21T02:22:17Z', receivedAt: '2019-02-21T02:22:18Z',
    receiptNo: '0042', registerNo: '2', staffName: '山田',
    total: 35000, deposit: 35000, change: 0,
    enteredAt: '2019-02-21T02:18:00Z', paymentMethod: 'クレジットカード',
    canceledAt: null, modifiedAt: null, deletedAt: null, thumbnailReason: '', correctedAt: null,
    thumbnail: { id: 'TH1', url: '/thumbnails/TH1', width: 320, height: 180, capturedAt: '2019-02-21T02:22:17.300Z', skewMs: 300, skewKnown: true },
    personsNearby: null, personsCheckedAt: null,
    clip: { from: '2019-02-21T02:22:07Z', to: '2019-02-21T02:22:37Z', mark: '2019-02-21T02:22:17Z', url: null, downloadURL: null, contentType: null, unavailableReason: 'このカメラの動画は録画していません（静止画のみ）' },
    picture: null,
    ...over,
  };
}

export function page(entries: Entry[], hasNextPage = false) {
  return {
    data: {
      journal: {
        edges: entries.map((e) => ({ cursor: 'c-' + e.id, node: e })),
        pageInfo: { hasNextPage, endCursor: entries.length ? 'c-' + entries[entries.length - 1].id : null },
      },
    },
  };
}
