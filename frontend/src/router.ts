// Hash routes (#/portal), so the Go file server needs no SPA fallback and a
// reload lands on the same screen.
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** First segment: '' (dashboard), 'portal', 'settings', 'login'. */
  page: string;
  /** Further segments, e.g. the camera id of #/camera/CA01…. */
  rest: string[];
  query: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#\/?/, '');
  const [path, q = ''] = h.split('?', 2);
  const segs = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: segs[0] ?? '', rest: segs.slice(1), query: new URLSearchParams(q) };
}

export function useRoute(): Route {
  const [r, setR] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const f = () => setR(parseRoute(location.hash));
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return r;
}

export function navigate(path: string) {
  location.hash = '#' + path;
}
