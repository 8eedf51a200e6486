// 設定 › 店舗: the shops (name, timezone, opening hours) and shop groups
// (their shops and the STAFF users who see every shop of the group).
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, gql } from '../api';
import { CreateShopGroup, DeleteShopGroup, RenameShopGroup, SetShopGroupMembers, SetShopGroupShops, ShopList, Users } from '../gql/ops';
import type { ShopGroupRowFragment, ShopListQuery, ShopRowFragment, UserRowFragment } from '../gql/types';
import { Field, FieldError, useRequired } from './Field';
import { Modal } from './Modal';
import { PlusIcon } from './Icons';
import { ShopForm, hoursSummary } from './ShopForm';

export function ShopSettings() {
  const [data, setData] = useState<ShopListQuery | null>(null);
  const [users, setUsers] = useState<UserRowFragment[]>([]);
  const [loadErr, setLoadErr] = useState<string | null>(null);
  const [editing, setEditing] = useState<ShopRowFragment | 'new' | null>(null);
  const [group, setGroup] = useState<ShopGroupRowFragment | 'new' | null>(null);

  const load = () => gql(ShopList).then(setData, (e) => setLoadErr(e.message));
  useEffect(() => {
    void load();
    gql(Users).then((d) => setUsers(d.users), () => {});
  }, []);
  const shops = data?.shops.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];

  return (
    <section class="panel" aria-labelledby="shops-h" data-testid="shops">
      <div class="panel-head">
        <h2 id="shops-h">店舗</h2>
        <div class="toolbar"><button class="btn primary" onClick={() => setEditing('new')}><PlusIcon /> 店舗を追加</button></div>
      </div>
      {loadErr && <div class="alert" role="alert">{loadErr}</div>}
      {!data ? <div class="loading"><span class="spinner" />読み込み中…</div> : shops.length === 0 ? <div class="empty">店舗はまだありません。</div> : (
        <table class="grid">
          <thead><tr><th>店舗名</th><th>タイムゾーン</th><th>営業時間</th><th><span class="sr-only">操作</span></th></tr></thead>
          <tbody>
            {shops.map((s) => (
              <tr data-shop={s.name}>
                <td data-label="店舗名"><b>{s.name}</b></td>
                <td data-label="タイムゾーン" class="mono">{s.timezone}</td>
                <td data-label="営業時間">{hoursSummary(s.businessHours)}</td>
                <td class="row-actions"><button class="btn small" onClick={() => setEditing(s)}>編集</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="panel-head sub">
        <h3 id="groups-h">店舗グループ</h3>
        <div class="toolbar"><button class="btn" disabled={shops.length === 0} onClick={() => setGroup('new')}><PlusIcon /> グループを追加</button></div>
      </div>
      {data && (data.shopGroups.length === 0 ? <div class="empty">グループはまだありません。複数の店舗をまとめて、スタッフに見せる範囲を決められます。</div> : (
        <table class="grid" data-testid="shop-groups">
          <thead><tr><th>グループ名</th><th>店舗</th><th>閲覧できるスタッフ</th><th><span class="sr-only">操作</span></th></tr></thead>
          <tbody>
            {data.shopGroups.map((g) => (
              <tr>
                <td data-label="グループ名"><b>{g.name}</b></td>
                <td data-label="店舗">{(g.shops ?? []).map((s) => s.name).join('、') || '—'}</td>
                <td data-label="閲覧できるスタッフ">{g.members.map((u) => u.name || u.email).join('、') || '—'}</td>
                <td class="row-actions"><button class="btn small" onClick={() => setGroup(g)}>編集</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
      {editing && (
        <Modal title={editing === 'new' ? '店舗を追加' : '店舗を編集'} onClose={() => setEditing(null)} testid="shop-dialog">
          <div class="body">
            <ShopForm shop={editing === 'new' ? undefined : editing} idPrefix="dlg-shop" onCancel={() => setEditing(null)} onSaved={() => { setEditing(null); void load(); }} />
          </div>
        </Modal>
      )}
      {group && <GroupDialog group={group === 'new' ? null : group} shops={shops} users={users.filter((u) => u.role === 'STAFF')}
        onClose={() => setGroup(null)} onDone={() => { setGroup(null); void load(); }} />}
    </section>
  );
}

function GroupDialog({ group, shops, users, onClose, onDone }: {
  group: ShopGroupRowFragment | null; shops: ShopRowFragment[]; users: UserRowFragment[]; onClose: () => void; onDone: () => void;
}) {
  const [name, setName] = useState(group?.name ?? '');
  const [shopIDs, setShopIDs] = useState<Set<string>>(new Set((group?.shops ?? []).map((s) => s.id)));
  const [memberIDs, setMemberIDs] = useState<Set<string>>(new Set((group?.members ?? []).map((u) => u.id)));
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<ApiError | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  // The question replaces the button that asked it: focus goes to its
  // キャンセル (not lost to the page), and back to that button after.
  const keep = useRef<HTMLButtonElement>(null);
  const ask = useRef<HTMLButtonElement>(null);
  const asked = useRef(false);
  useEffect(() => {
    if (confirmDelete) { keep.current?.focus(); asked.current = true; } else if (asked.current) ask.current?.focus();
  }, [confirmDelete]);
  const req = useRequired({ name: !name.trim() && 'グループ名を入力してください' });
  const toggle = (set: (f: (s: Set<string>) => Set<string>) => void, id: string) => set((s) => { const n = new Set(s); if (n.has(id)) n.delete(id); else n.add(id); return n; });
  const same = (a: Set<string>, b: string[]) => a.size === b.length && b.every((x) => a.has(x));

  const save = async (e: Event) => {
    e.preventDefault();
    if (req.blocked(() => 'grp-name')) return;
    setBusy(true); setErr(null);
    try {
      if (!group) {
        const d = await gql(CreateShopGroup, { input: { name: name.trim(), shopIDs: [...shopIDs] } });
        if (memberIDs.size) await gql(SetShopGroupMembers, { id: d.createShopGroup.id, userIDs: [...memberIDs] });
      } else {
        if (name.trim() !== group.name) await gql(RenameShopGroup, { id: group.id, name: name.trim() });
        if (!same(shopIDs, (group.shops ?? []).map((s) => s.id))) await gql(SetShopGroupShops, { id: group.id, shopIDs: [...shopIDs] });
        if (!same(memberIDs, group.members.map((u) => u.id))) await gql(SetShopGroupMembers, { id: group.id, userIDs: [...memberIDs] });
      }
      onDone();
    } catch (x) {
      setErr(x instanceof ApiError ? x : new ApiError([{ message: String(x) }]));
    } finally { setBusy(false); }
  };
  const remove = async () => {
    setBusy(true); setErr(null);
    try { await gql(DeleteShopGroup, { id: group!.id }); onDone(); } catch (x) { setErr(x instanceof ApiError ? x : new ApiError([{ message: String(x) }])); setConfirmDelete(false); } finally { setBusy(false); }
  };
  const general = err?.generalErrors(['name', 'shopIDs', 'userIDs']) ?? [];
  return (
    <Modal title={group ? 'グループを編集' : 'グループを追加'} onClose={onClose} testid="group-dialog">
      <form onSubmit={save} noValidate>
        {general.map((m) => <div class="alert" role="alert">{m}</div>)}
        <Field id="grp-name" label="グループ名" error={req.error('name') ?? err?.fieldError('name')} hint="例: 東京エリア">
          {(a) => <input {...a} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} autoComplete="off" />}
        </Field>
        <fieldset class="field checks" aria-describedby={err?.fieldError('shopIDs') ? 'grp-shops-err' : undefined}>
          <legend>店舗</legend>
          {shops.map((s) => <label class="check"><input type="checkbox" checked={shopIDs.has(s.id)} onChange={() => toggle(setShopIDs, s.id)} />{s.name}</label>)}
          {err?.fieldError('shopIDs') && <FieldError id="grp-shops-err">{err.fieldError('shopIDs')}</FieldError>}
        </fieldset>
        <fieldset class="field checks" aria-describedby={err?.fieldError('userIDs') ? 'grp-users-err' : undefined}>
          <legend>閲覧できるスタッフ</legend>
          {users.length === 0 ? <span class="hint">スタッフの権限のユーザーがいません</span> : users.map((u) => <label class="check"><input type="checkbox" checked={memberIDs.has(u.id)} onChange={() => toggle(setMemberIDs, u.id)} />{u.name || u.email}</label>)}
          {err?.fieldError('userIDs') && <FieldError id="grp-users-err">{err.fieldError('userIDs')}</FieldError>}
        </fieldset>
        {confirmDelete ? (
          <div class="alert" role="alert" data-testid="confirm-delete-group">
            グループ「{group!.name}」を削除しますか？ 店舗とスタッフは残ります。
            <div class="actions" style="margin-top:8px">
              <button type="button" class="btn" ref={keep} onClick={() => setConfirmDelete(false)}>キャンセル</button>
              <button type="button" class="btn danger-solid" disabled={busy} onClick={remove}>削除する</button>
            </div>
          </div>
        ) : (
          <div class="actions">
            {group && <button type="button" class="btn danger" style="margin-right:auto" ref={ask} onClick={() => setConfirmDelete(true)}>グループを削除</button>}
            <button type="button" class="btn" onClick={onClose}>キャンセル</button>
            <button type="submit" class="btn primary" disabled={busy}>{busy ? '保存中…' : '保存'}</button>
          </div>
        )}
      </form>
    </Modal>
  );
}
