// Who is signed in: the session cookie is HttpOnly, so the dashboard asks
// the server (`me`) and shows the login screen when there is no user.
import { ApiError, gql } from './api';
import { Logout, Me } from './gql/ops';
import type { MeFragment } from './gql/types';

export interface Session {
  user: MeFragment;
}

export async function loadSession(): Promise<Session | null> {
  try {
    const d = await gql(Me);
    return d.me ? { user: d.me } : null;
  } catch (e) {
    if (e instanceof ApiError && (e.code === 'UNAUTHENTICATED' || e.code === 'FORBIDDEN')) return null;
    throw e;
  }
}

export async function logout(): Promise<void> {
  await gql(Logout);
}

/** OWNER and ADMIN manage users and API keys. */
export function isAdmin(s: Session): boolean {
  return s.user.role === 'OWNER' || s.user.role === 'ADMIN';
}
