// The shell: who is signed in, the top bar and the three screens.
import { useEffect, useState } from 'preact/hooks';
import { gql, setUnauthenticatedHandler } from '../api';
import { SetupProgress } from '../gql/ops';
import { navigate, useRoute } from '../router';
import { Dashboard, prefetchCameras } from './Dashboard';
import { isAdmin, loadSession, logout, type Session } from '../session';
import { Login } from './Login';
import { lazy } from './Lazy';

const Portal = lazy(() => import('./Portal').then((m) => m.Portal));
const Settings = lazy(() => import('./Settings').then((m) => m.Settings));
const Setup = lazy(() => import('./Setup').then((m) => m.Setup));
const Cases = lazy(() => import('./Cases').then((m) => m.Cases));
const StaffOutliers = lazy(() => import('./StaffOutliers').then((m) => m.StaffOutliers));

/** A new account (nothing linked yet, so the dashboard could show nothing)
 *  lands on the setup checklist instead of the dashboard, once per sign-in. */
function landOnSetup(s: Session) {
  if (!isAdmin(s)) return;
  gql(SetupProgress).then((d) => {
    const p = d.setupProgress;
    const r = location.hash.replace(/^#\/?/, '');
    if (!p.complete && !p.hasLink && (r === '' || r.startsWith('camera'))) navigate('/setup');
  }, () => {});
}

export function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | null | undefined>(undefined);

  useEffect(() => {
    setUnauthenticatedHandler(() => setSession(null));
    if (route.page === '' || route.page === 'camera') prefetchCameras();
    loadSession().then((s) => { setSession(s); if (s) landOnSetup(s); }, () => setSession(null));
  }, []);

  useEffect(() => {
    const title = { portal: '連携ポータル', settings: '設定', setup: '初期設定', cases: 'ケース', staff: 'スタッフ分析' }[route.page] ?? 'ダッシュボード';
    document.title = session === null ? 'ログイン - regicam' : `${title} - regicam`;
  }, [route.page, session]);

  if (session === undefined) return <main class="loading"><span class="spinner" />読み込み中…</main>;
  if (session === null) return <Login onLoggedIn={(s) => { setSession(s); landOnSetup(s); }} />;

  const page = route.page === 'camera' ? '' : route.page;
  const nav: [string, string][] = [['', 'ダッシュボード'], ['cases', 'ケース'], ['staff', 'スタッフ分析'], ['portal', '連携ポータル'], ['settings', '設定']];
  return (
    <>
      <header class="topbar">
        {/* Portal, settings and setup head their own page; the dashboard's
            heading is the product's name with the screen's, in the bar. */}
        {page === '' ? <h1 class="brand">regicam<span class="sr-only"> ダッシュボード</span></h1> : <span class="brand">regicam</span>}
        <nav aria-label="メニュー">
          {nav.map(([p, label]) => <a href={'#/' + p} aria-current={page === p ? 'page' : undefined}>{label}</a>)}
        </nav>
        <span class="spacer" />
        <span class="user">
          <span data-testid="me">{session.user.name || session.user.email}</span>
          <button class="btn" type="button" onClick={() => logout().finally(() => setSession(null))}>ログアウト</button>
        </span>
      </header>
      <main class="page">
        {page === 'portal' ? <Portal /> :
         page === 'settings' ? <Settings session={session} /> :
         page === 'setup' ? <Setup /> :
         page === 'staff' ? <StaffOutliers /> :
         page === 'cases' ? <Cases id={route.rest[0]} query={route.query} session={session} /> :
         <Dashboard cameraID={route.page === 'camera' ? route.rest[0] : undefined} onUnauthenticated={() => setSession(null)} />}
      </main>
    </>
  );
}
