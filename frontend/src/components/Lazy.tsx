// Loads a screen's code on first visit: the dashboard is what shops open
// all day; the portal and settings need not weigh on its first load.
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export function lazy<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | null = null;
  let pending: Promise<ComponentType<P>> | null = null;
  return function Lazy(props: P) {
    const [C, setC] = useState<ComponentType<P> | null>(() => loaded);
    const [err, setErr] = useState<string | null>(null);
    useEffect(() => {
      if (C) return;
      pending ??= load().then((c) => (loaded = c));
      pending.then((c) => setC(() => c), (e) => { pending = null; setErr(String(e?.message ?? e)); });
    }, []);
    if (err) return <div class="alert" role="alert">画面を読み込めませんでした: {err} <button class="btn small" onClick={() => location.reload()}>再読み込み</button></div>;
    if (!C) return <div class="loading"><span class="spinner" />読み込み中…</div>;
    return <C {...props} />;
  };
}
