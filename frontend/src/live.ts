// The live journal: one graphql-transport-ws subscription that survives
// network drops. Each event carries a cursor; after a drop the feed
// subscribes again with `after: <last cursor>` so the server replays every
// event it missed, in order, then continues live. Callers dedupe by entry
// id, so a replayed event that was already shown changes nothing.
import { createClient, type Client } from 'graphql-ws';
import { JournalLive } from './gql/ops';
import type { JournalLiveSubscription, JournalWhere } from './gql/types';

export type LiveEvent = JournalLiveSubscription['journal'];

export type LiveState =
  | { kind: 'connecting' }
  /** gap: the subscription started without a cursor, so entries stored
   *  between the caller's page query and now may be missing: refetch it. */
  | { kind: 'live'; resumed: boolean; gap: boolean }
  | { kind: 'reconnecting'; attempt: number; retryAt: number }
  | { kind: 'unauthenticated' }
  | { kind: 'error'; message: string };

export interface LiveHandlers {
  /** An event; missed is true for one that happened while disconnected. */
  event(ev: LiveEvent, missed: boolean): void;
  state(s: LiveState): void;
}

export interface LiveOptions {
  url?: string;
  /** Builds the websocket client (tests pass a fake). */
  makeClient?: (url: string, on: { connected: () => void; ping: (received: boolean) => void; pong: (received: boolean) => void; socket: (s: WebSocket) => void }) => Client;
  /** Backoff before the nth reconnection attempt. */
  backoff?: (attempt: number) => number;
}

const defaultBackoff = (n: number) => Math.min(15_000, 500 * 2 ** Math.min(n, 5)) * (0.8 + Math.random() * 0.4);

function defaultClient(url: string, on: Parameters<NonNullable<LiveOptions['makeClient']>>[1]): Client {
  return createClient({
    url,
    lazy: true,
    retryAttempts: 0, // the feed reconnects itself, with its cursor
    keepAlive: 10_000,
    on: {
      connected: (socket) => { on.socket(socket as WebSocket); on.connected(); },
      ping: (received) => on.ping(received),
      pong: (received) => on.pong(received),
    },
  });
}

export class LiveFeed {
  private cursor: string | null;
  private client: Client | null = null;
  private unsubscribe: (() => void) | null = null;
  private stopped = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private socket: WebSocket | null = null;
  private hadConnection = false;
  /** Browser time the current connection (after a drop) was established:
   *  entries received by the server before it were missed meanwhile. */
  private resumedAt = 0;
  private readonly url: string;
  private readonly opts: LiveOptions;
  private readonly onOnline = () => {
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; this.connect(); }
  };

  constructor(private readonly where: JournalWhere, private readonly h: LiveHandlers, opts: LiveOptions = {}, after: string | null = null) {
    this.cursor = after;
    this.opts = opts;
    this.url = opts.url ?? (typeof location !== 'undefined' ? location.origin.replace(/^http/, 'ws') + '/graphql' : '');
  }

  /** The resume point: the cursor of the last event seen. */
  get lastCursor(): string | null { return this.cursor; }

  start(): this {
    if (typeof window !== 'undefined') window.addEventListener('online', this.onOnline);
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    if (typeof window !== 'undefined') window.removeEventListener('online', this.onOnline);
    clearTimeout(this.timer);
    clearTimeout(this.pongTimer);
    this.teardown();
  }

  private teardown() {
    const un = this.unsubscribe, c = this.client;
    this.unsubscribe = null; this.client = null; this.socket = null;
    un?.();
    void c?.dispose();
  }

  private connect() {
    if (this.stopped) return;
    this.teardown();
    this.h.state(this.hadConnection ? { kind: 'reconnecting', attempt: this.attempt, retryAt: Date.now() } : { kind: 'connecting' });
    const gap = this.cursor === null;
    const make = this.opts.makeClient ?? defaultClient;
    const client = make(this.url, {
      connected: () => {
        if (this.client !== client) return;
        const resumed = this.hadConnection;
        this.hadConnection = true;
        this.attempt = 0;
        this.resumedAt = resumed ? Date.now() : 0;
        this.h.state({ kind: 'live', resumed, gap });
      },
      socket: (s) => { if (this.client === client) this.socket = s; },
      // A ping we sent that gets no pong in 5 s means a half-open
      // connection (a laptop lid, a dead NAT): close it and resume.
      ping: (received) => {
        if (received) return;
        clearTimeout(this.pongTimer);
        this.pongTimer = setTimeout(() => {
          if (this.client === client && this.socket?.readyState === WebSocket.OPEN) this.socket.close(4408, 'pong timeout');
        }, 5_000);
      },
      pong: (received) => { if (received) clearTimeout(this.pongTimer); },
    });
    this.client = client;
    this.unsubscribe = client.subscribe<JournalLiveSubscription>(
      { query: JournalLive, variables: { where: this.where, after: this.cursor } },
      {
        next: (msg) => {
          if (this.client !== client) return;
          if (msg.errors?.length) {
            this.fail(msg.errors[0].message, (msg.errors[0].extensions as { code?: string } | undefined)?.code);
            return;
          }
          const ev = msg.data?.journal;
          if (!ev) return;
          this.cursor = ev.cursor;
          const missed = this.resumedAt > 0 && Date.parse(ev.entry.receivedAt) < this.resumedAt;
          this.h.event(ev, missed);
        },
        error: (err) => {
          if (this.client !== client) return;
          const code = (err as { code?: number })?.code;
          if (code === 4401 || code === 4403) { this.unauth(); return; }
          if (Array.isArray(err)) {
            const e = err[0] as { message?: string; extensions?: { code?: string } };
            this.fail(e?.message ?? 'エラー', e?.extensions?.code);
            return;
          }
          this.retry();
        },
        complete: () => { if (this.client === client) this.retry(); },
      },
    );
  }

  private unauth() {
    this.teardown();
    this.h.state({ kind: 'unauthenticated' });
  }

  private fail(message: string, code?: string) {
    if (code === 'UNAUTHENTICATED') { this.unauth(); return; }
    this.teardown();
    this.h.state({ kind: 'error', message });
  }

  private retry() {
    if (this.stopped) return;
    this.teardown();
    const wait = (this.opts.backoff ?? defaultBackoff)(this.attempt++);
    this.h.state({ kind: 'reconnecting', attempt: this.attempt, retryAt: Date.now() + wait });
    this.hadConnection = true;
    this.timer = setTimeout(() => { this.timer = undefined; this.connect(); }, wait);
  }
}
