// The only way the dashboard talks to the server: GraphQL over POST JSON
// (same-origin cookie session) and subscriptions over graphql-transport-ws.
import type { Op } from './gql/ops';
import { messageFor } from './errors/messages';

/** One GraphQL error as the server presents it (extensions.code / reason /
 *  field). */
export interface GraphQLErrorItem {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; reason?: string; field?: string; [k: string]: unknown };
}

/** The server words its messages for partners too: Japanese, then the
 *  English in brackets (「…違います (wrong email or password)」). The owner
 *  reads the Japanese only; short technical brackets such as (HTTP 500) or
 *  (invalid_client) stay. */
export function forOwner(message: string): string {
  if (!/[\u3040-\u30ff\u4e00-\u9fff]/.test(message)) return message;
  return message.replace(/\s*\(([\x20-\x27\x2a-\x7e]*)\)/g, (all, inner: string) =>
    (inner.match(/[A-Za-z]{2,}/g) ?? []).length >= 2 && /\s/.test(inner) ? '' : all);
}

/** A failed operation: the server's errors, or a network failure (code
 *  NETWORK). Each error's message is what the owner reads: the Japanese of
 *  its extensions.reason (errors/messages.ts); the server's own words stay
 *  in serverMessage. */
export class ApiError extends Error {
  readonly errors: (GraphQLErrorItem & { serverMessage: string })[];
  constructor(errors: GraphQLErrorItem[]) {
    const shown = errors.map((e) => ({ ...e, serverMessage: e.message, message: messageFor(e.extensions?.reason, e.message) }));
    super(shown.map((e) => e.message).join('\n') || 'エラーが発生しました');
    this.name = 'ApiError';
    this.errors = shown;
  }
  get code(): string {
    return this.errors[0]?.extensions?.code ?? 'INTERNAL';
  }
  /** The first error's reason (apperr/reasons.go), '' when it has none. */
  get reason(): string {
    return this.errors[0]?.extensions?.reason ?? '';
  }
  /** The message for an input field, matched on its last path segment
   *  (extensions.field may be `input.clientSecret` or `input[2].cameraID`). */
  fieldError(field: string): string | undefined {
    for (const e of this.errors) {
      const f = e.extensions?.field;
      if (!f) continue;
      if (f === field || f.endsWith('.' + field) || f.endsWith(']' + field)) return e.message;
    }
    return undefined;
  }
  /** Errors not tied to one of the given fields: shown above the form. */
  generalErrors(fields: string[]): string[] {
    return this.errors.filter((e) => !fields.some((f) => this.fieldErrorOf(e, f))).map((e) => e.message);
  }
  private fieldErrorOf(e: GraphQLErrorItem, field: string): boolean {
    const f = e.extensions?.field;
    return !!f && (f === field || f.endsWith('.' + field));
  }
}

/** Called when the server says the session is gone (UNAUTHENTICATED). */
let onUnauthenticated: () => void = () => {};
export function setUnauthenticatedHandler(f: () => void) {
  onUnauthenticated = f;
}

/** Runs a query or mutation. Rejects with ApiError. */
export async function gql<R, V>(op: Op<R, V>, variables?: V, signal?: AbortSignal): Promise<R> {
  const init: RequestInit = {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ query: op, variables: variables ?? {} }),
    signal,
  };
  let res: Response;
  try {
    res = await fetch('/graphql', init);
  } catch (e) {
    if (signal?.aborted) throw e;
    // After a network drop the browser may still hold a dead keep-alive
    // connection, and it does not retry a POST on it by itself. A query is
    // safe to send again; a mutation is not.
    try {
      if (!op.startsWith('query')) throw e;
      await new Promise((r) => setTimeout(r, 300));
      res = await fetch('/graphql', init);
    } catch {
      if (signal?.aborted) throw e;
      throw new ApiError([{ message: 'サーバーに接続できません。ネットワークを確認してください', extensions: { code: 'NETWORK' } }]);
    }
  }
  let body: { data?: R | null; errors?: GraphQLErrorItem[] };
  try {
    body = await res.json();
  } catch {
    throw new ApiError([{ message: `サーバーエラー (HTTP ${res.status})`, extensions: { code: 'INTERNAL' } }]);
  }
  if (body.errors?.length) {
    const err = new ApiError(body.errors);
    if (err.code === 'UNAUTHENTICATED') onUnauthenticated();
    throw err;
  }
  if (!body.data) throw new ApiError([{ message: `サーバーエラー (HTTP ${res.status})` }]);
  return body.data;
}
