package auth

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/auditlog"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

const (
	testPassword = "Kasse2026go"
	testIP       = "203.0.113.9"
)

// world is two accounts on a real database: ours (an OWNER, an ADMIN, a
// STAFF user, two shops, a group holding the second) and another one
// (a user, a shop, a group), whose ids must read as not found.
type world struct {
	s   *Service
	c   *ent.Client
	now time.Time

	acct                pulid.ID
	owner, admin, staff *ent.User
	shop, shop2, group  pulid.ID
	otherUser           *ent.User
	otherShop, otherGrp pulid.ID
	ownerCtx, adminCtx  context.Context
}

// backends runs fn on SQLite and on a fresh PostgreSQL database.
func backends(t *testing.T, fn func(t *testing.T, w *world)) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) { fn(t, newWorld(t, d.Client)) })
}

func newWorld(t *testing.T, c *ent.Client) *world {
	t.Helper()
	w := &world{c: c, now: time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)}
	// A clock that stands still: cached viewers never age out, so only
	// an invalidation shows a change.
	w.s = New(c, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Now: func() time.Time { return w.now }})
	sys := viewer.System(context.Background())
	acc := c.Account.Create().SetName("ours").SaveX(sys)
	other := c.Account.Create().SetName("theirs").SaveX(sys)
	w.acct = acc.ID
	w.shop = c.Shop.Create().SetAccountID(acc.ID).SetName("池袋店").SaveX(sys).ID
	w.shop2 = c.Shop.Create().SetAccountID(acc.ID).SetName("新宿店").SaveX(sys).ID
	w.group = c.ShopGroup.Create().SetAccountID(acc.ID).SetName("東").AddShopIDs(w.shop2).SaveX(sys).ID
	w.otherShop = c.Shop.Create().SetAccountID(other.ID).SetName("他社店").SaveX(sys).ID
	w.otherGrp = c.ShopGroup.Create().SetAccountID(other.ID).SetName("他社").SaveX(sys).ID
	w.owner = w.user(t, acc.ID, "owner@example.jp", viewer.RoleOwner)
	w.admin = w.user(t, acc.ID, "admin@example.jp", viewer.RoleAdmin)
	w.staff = w.user(t, acc.ID, "staff@example.jp", viewer.RoleStaff)
	w.otherUser = w.user(t, other.ID, "other@example.jp", viewer.RoleOwner)
	w.ownerCtx, _ = w.signIn(t, w.owner)
	w.adminCtx, _ = w.signIn(t, w.admin)
	return w
}

// testHash is testPassword hashed once: the fixture's users share it, so
// the tests hash only where the code under test does.
var testHash = sync.OnceValue(func() string {
	h, err := HashPassword(testPassword)
	if err != nil {
		panic(err)
	}
	return h
})

func (w *world) user(t *testing.T, acct pulid.ID, email string, role viewer.Role) *ent.User {
	t.Helper()
	return w.c.User.Create().SetAccountID(acct).SetEmail(email).SetRole(user.Role(role)).
		SetPasswordHash(testHash()).SaveX(viewer.System(context.Background()))
}

// signIn opens a session for u and returns the context of its viewer and
// the session token.
func (w *world) signIn(t *testing.T, u *ent.User) (context.Context, string) {
	t.Helper()
	token, err := w.s.NewSession(context.Background(), u, testIP, "test")
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.s.SessionViewer(context.Background(), token, testIP)
	if err != nil {
		t.Fatal(err)
	}
	return viewer.NewContext(context.Background(), v), token
}

// sessionViewer is what the next request of token sees.
func (w *world) sessionViewer(token string) (viewer.Viewer, error) {
	return w.s.SessionViewer(context.Background(), token, testIP)
}

// audited returns the account's audit rows of action on target.
func (w *world) audited(t *testing.T, action string, target pulid.ID) []*ent.AuditLog {
	t.Helper()
	rows, err := w.c.AuditLog.Query().Where(auditlog.AccountID(w.acct), auditlog.Action(action),
		auditlog.TargetID(string(target))).All(viewer.System(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// wantAudit checks that exactly one row of action on target was written,
// by actor, with detail.
func (w *world) wantAudit(t *testing.T, action string, target, actor pulid.ID, detail string) {
	t.Helper()
	rows := w.audited(t, action, target)
	if len(rows) != 1 {
		t.Fatalf("%s on %s: %d audit rows, want 1", action, target, len(rows))
	}
	r := rows[0]
	if r.Detail != detail || r.ActorUserID == nil || *r.ActorUserID != actor || r.IP != testIP {
		t.Fatalf("%s audit row: detail %q actor %v ip %q; want %q by %s from %s", action, r.Detail, r.ActorUserID, r.IP, detail, actor, testIP)
	}
}

// wantErr checks err is an apperr with exactly code, field and message.
func wantErr(t *testing.T, err error, code, field, msg string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != code || e.Field != field || e.Message != msg {
		t.Fatalf("error %v (%#v); want %s on %q: %s", err, e, code, field, msg)
	}
}

const (
	msgSignIn    = "ログインしてください (not signed in)"
	msgNeedAdmin = "この操作の権限がありません (needs admin)"
	msgOwners    = "オーナーの権限はオーナーだけが変更できます (only an OWNER manages owners)"
	msgLastOwner = "最後のオーナーは変更・削除できません (the account needs an OWNER)"
	msgNotFound  = "見つかりません (not found)"
)

// TestAddUser: an OWNER or ADMIN adds users to their own account; only an
// OWNER adds an OWNER; shops and groups must be the account's; the email
// must be new; the addition is audited.
func TestAddUser(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		staffCtx, _ := w.signIn(t, w.staff)
		in := NewUser{Email: "new@example.jp", Password: testPassword, Role: viewer.RoleStaff}
		_, err := w.s.AddUser(context.Background(), in)
		wantErr(t, err, apperr.Unauthenticated, "", msgSignIn)
		_, err = w.s.AddUser(staffCtx, in)
		wantErr(t, err, apperr.Forbidden, "", msgNeedAdmin)

		owner := in
		owner.Role = viewer.RoleOwner
		_, err = w.s.AddUser(w.adminCtx, owner)
		wantErr(t, err, apperr.Forbidden, "role", msgOwners)
		foreign := in
		foreign.ShopIDs = []pulid.ID{w.shop, w.otherShop}
		_, err = w.s.AddUser(w.adminCtx, foreign)
		wantErr(t, err, apperr.NotFound, "shopIDs", "店舗が見つかりません (shop not found)")
		foreign = in
		foreign.ShopGroupIDs = []pulid.ID{w.otherGrp}
		_, err = w.s.AddUser(w.adminCtx, foreign)
		wantErr(t, err, apperr.NotFound, "shopGroupIDs", "店舗グループが見つかりません (shop group not found)")
		if n := w.c.User.Query().CountX(viewer.System(context.Background())); n != 4 {
			t.Fatalf("%d users after refusals, want the 4 of the fixture", n)
		}

		// The account is the viewer's, whatever the input says.
		in.Email, in.AccountID = " New@Example.jp ", w.otherUser.AccountID
		in.ShopIDs, in.ShopGroupIDs = []pulid.ID{w.shop}, []pulid.ID{w.group}
		u, err := w.s.AddUser(w.adminCtx, in)
		if err != nil {
			t.Fatal(err)
		}
		if u.AccountID != w.acct || u.Email != "new@example.jp" || u.Role != "STAFF" {
			t.Fatalf("added %+v", u)
		}
		_, token := w.signIn(t, u)
		v, err := w.sessionViewer(token)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(v.ShopIDs)
		want := []pulid.ID{w.shop, w.shop2} // directly and through the group
		slices.Sort(want)
		if !v.Restricted || !slices.Equal(v.ShopIDs, want) {
			t.Fatalf("new STAFF sees %v (restricted %v), want %v", v.ShopIDs, v.Restricted, want)
		}
		w.wantAudit(t, "user.created", u.ID, w.admin.ID, "email=new@example.jp role=STAFF")

		_, err = w.s.AddUser(w.ownerCtx, NewUser{Email: "NEW@example.jp", Password: testPassword})
		wantErr(t, err, apperr.Conflict, "email", "このメールアドレスは既に登録されています (email already registered)")
		owner.Email = "owner2@example.jp"
		o, err := w.s.AddUser(w.ownerCtx, owner)
		if err != nil || o.Role != "OWNER" {
			t.Fatalf("an OWNER adding an OWNER: %v %v", o, err)
		}
	})
}

// TestUpdateUserRole: only an OWNER touches or grants OWNER, the account
// keeps an OWNER, another account's user is not found, and the user's
// next request (a cached viewer) already has the new role.
func TestUpdateUserRole(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		staffCtx, staffToken := w.signIn(t, w.staff)
		_, err := w.s.UpdateUserRole(staffCtx, w.staff.ID, viewer.RoleAdmin)
		wantErr(t, err, apperr.Forbidden, "", msgNeedAdmin)
		_, err = w.s.UpdateUserRole(w.adminCtx, w.owner.ID, viewer.RoleAdmin)
		wantErr(t, err, apperr.Forbidden, "role", msgOwners)
		_, err = w.s.UpdateUserRole(w.adminCtx, w.staff.ID, viewer.RoleOwner)
		wantErr(t, err, apperr.Forbidden, "role", msgOwners)
		_, err = w.s.UpdateUserRole(w.ownerCtx, w.owner.ID, viewer.RoleAdmin)
		wantErr(t, err, apperr.Conflict, "id", msgLastOwner)
		_, err = w.s.UpdateUserRole(w.ownerCtx, w.otherUser.ID, viewer.RoleStaff)
		wantErr(t, err, apperr.NotFound, "id", msgNotFound)

		u, err := w.s.UpdateUserRole(w.adminCtx, w.staff.ID, viewer.RoleAdmin)
		if err != nil || u.Role != "ADMIN" {
			t.Fatalf("promote STAFF: %v %v", u, err)
		}
		if v, err := w.sessionViewer(staffToken); err != nil || v.Role != viewer.RoleAdmin || v.Restricted || !v.Allows(viewer.ScopeAdmin) {
			t.Fatalf("the promoted user's next request: %+v %v", v, err)
		}
		w.wantAudit(t, "user.role_changed", w.staff.ID, w.admin.ID, "STAFF -> ADMIN")

		// With a second OWNER the first may step down.
		if _, err := w.s.UpdateUserRole(w.ownerCtx, w.admin.ID, viewer.RoleOwner); err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.UpdateUserRole(w.ownerCtx, w.owner.ID, viewer.RoleAdmin); err != nil {
			t.Fatalf("an OWNER steps down beside another: %v", err)
		}
		w.wantAudit(t, "user.role_changed", w.owner.ID, w.owner.ID, "OWNER -> ADMIN")
	})
}

// TestSetUserShopsAndAllowlist: shops and groups must be the account's;
// bad CIDRs are refused by index; both changes reach the user's next
// request and are audited.
func TestSetUserShopsAndAllowlist(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		staffCtx, staffToken := w.signIn(t, w.staff)
		if v, _ := w.sessionViewer(staffToken); len(v.ShopIDs) != 0 {
			t.Fatalf("STAFF starts with shops %v", v.ShopIDs)
		}
		_, err := w.s.SetUserShops(staffCtx, w.staff.ID, []pulid.ID{w.shop}, nil)
		wantErr(t, err, apperr.Forbidden, "", msgNeedAdmin)
		_, err = w.s.SetUserShops(w.adminCtx, w.otherUser.ID, []pulid.ID{w.shop}, nil)
		wantErr(t, err, apperr.NotFound, "id", msgNotFound)
		_, err = w.s.SetUserShops(w.adminCtx, w.staff.ID, []pulid.ID{w.otherShop}, nil)
		wantErr(t, err, apperr.NotFound, "shopIDs", "店舗が見つかりません (shop not found)")
		_, err = w.s.SetUserShops(w.adminCtx, w.staff.ID, nil, []pulid.ID{w.otherGrp})
		wantErr(t, err, apperr.NotFound, "shopGroupIDs", "店舗グループが見つかりません (shop group not found)")

		if _, err := w.s.SetUserShops(w.adminCtx, w.staff.ID, []pulid.ID{w.shop}, nil); err != nil {
			t.Fatal(err)
		}
		if v, err := w.sessionViewer(staffToken); err != nil || !slices.Equal(v.ShopIDs, []pulid.ID{w.shop}) {
			t.Fatalf("after setUserShops the next request sees %v (%v)", v.ShopIDs, err)
		}
		w.wantAudit(t, "user.shops_changed", w.staff.ID, w.admin.ID, "1 shops, 0 groups")

		_, err = w.s.SetUserIPAllowlist(staffCtx, w.staff.ID, nil)
		wantErr(t, err, apperr.Forbidden, "", msgNeedAdmin)
		_, err = w.s.SetUserIPAllowlist(w.adminCtx, w.otherUser.ID, nil)
		wantErr(t, err, apperr.NotFound, "id", msgNotFound)
		_, err = w.s.SetUserIPAllowlist(w.adminCtx, w.staff.ID, []string{"10.0.0.0/8", "nope"})
		wantErr(t, err, apperr.BadUserInput, "ipAllowlist[1]", `IPアドレス範囲の形式が正しくありません (not a CIDR: "nope")`)
		if _, err := w.s.SetUserIPAllowlist(w.adminCtx, w.staff.ID, []string{"10.0.0.0/8", "192.168.1.1"}); err != nil {
			t.Fatal(err)
		}
		_, err = w.sessionViewer(staffToken)
		wantErr(t, err, apperr.Forbidden, "", "このIPアドレスからは利用できません (IP address not allowed)")
		w.wantAudit(t, "user.ip_allowlist_changed", w.staff.ID, w.admin.ID, "10.0.0.0/8,192.168.1.1")
	})
}

// TestDeleteUser: nobody deletes themselves, only an OWNER deletes an
// OWNER, the account keeps an OWNER, and a deleted user's sessions end.
func TestDeleteUser(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		staffCtx, staffToken := w.signIn(t, w.staff)
		_, err := w.s.DeleteUser(staffCtx, w.admin.ID)
		wantErr(t, err, apperr.Forbidden, "", msgNeedAdmin)
		_, err = w.s.DeleteUser(w.ownerCtx, w.owner.ID)
		wantErr(t, err, apperr.BadUserInput, "id", "自分自身は削除できません (cannot delete yourself)")
		_, err = w.s.DeleteUser(w.adminCtx, w.owner.ID)
		wantErr(t, err, apperr.Forbidden, "role", msgOwners)
		_, err = w.s.DeleteUser(w.adminCtx, w.otherUser.ID)
		wantErr(t, err, apperr.NotFound, "id", msgNotFound)
		// A viewer still holding OWNER (cached before a demotion) may not
		// delete the one OWNER left.
		stale, _ := viewer.FromContext(w.adminCtx)
		stale.Role = viewer.RoleOwner
		_, err = w.s.DeleteUser(viewer.NewContext(context.Background(), stale), w.owner.ID)
		wantErr(t, err, apperr.Conflict, "id", msgLastOwner)

		id, err := w.s.DeleteUser(w.adminCtx, w.staff.ID)
		if err != nil || id != w.staff.ID {
			t.Fatalf("delete STAFF: %v %v", id, err)
		}
		_, err = w.sessionViewer(staffToken)
		wantErr(t, err, apperr.Unauthenticated, "", "セッションが無効です。ログインし直してください (session not valid)")
		if n := w.c.User.Query().CountX(viewer.System(context.Background())); n != 3 {
			t.Fatalf("%d users left, want 3", n)
		}
		w.wantAudit(t, "user.deleted", w.staff.ID, w.admin.ID, "email=staff@example.jp")
	})
}

// TestUnlock: an OWNER or ADMIN lifts the login throttle of a user at
// once; another account's user is not found.
func TestUnlock(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		for range 5 {
			if _, _, err := w.s.Login(ctx, w.staff.Email, "Wrong2026pw", testIP, "test"); err != errBadLogin {
				t.Fatalf("wrong password: %v", err)
			}
		}
		if _, _, err := w.s.Login(ctx, w.staff.Email, testPassword, testIP, "test"); err != errBadLogin {
			t.Fatalf("the right password while throttled: %v", err)
		}
		staffCtx, _ := w.signIn(t, w.staff)
		_, err := w.s.Unlock(staffCtx, w.staff.ID)
		wantErr(t, err, apperr.Forbidden, "", msgNeedAdmin)
		_, err = w.s.Unlock(w.adminCtx, w.otherUser.ID)
		wantErr(t, err, apperr.NotFound, "id", msgNotFound)
		if u, err := w.s.Unlock(w.adminCtx, w.staff.ID); err != nil || u.ID != w.staff.ID {
			t.Fatalf("unlock: %v %v", u, err)
		}
		if _, _, err := w.s.Login(ctx, w.staff.Email, testPassword, testIP, "test"); err != nil {
			t.Fatalf("the right password after unlockUser: %v", err)
		}
		w.wantAudit(t, "user.unlocked", w.staff.ID, w.admin.ID, "")
	})
}

// TestMeAndUsers: me is the signed-in user (nil for an API key); the user
// list is the account's, for an OWNER or ADMIN.
func TestMeAndUsers(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		_, err := w.s.Me(context.Background())
		wantErr(t, err, apperr.Unauthenticated, "", msgSignIn)
		if u, err := w.s.Me(w.ownerCtx); err != nil || u.ID != w.owner.ID {
			t.Fatalf("me: %v %v", u, err)
		}
		keyCtx := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: w.acct, APIKeyID: pulid.MustNew("AK"),
			Scopes: []viewer.Scope{viewer.ScopeJournalRead}})
		if u, err := w.s.Me(keyCtx); u != nil || err != nil {
			t.Fatalf("me of an API key: %v %v", u, err)
		}

		staffCtx, _ := w.signIn(t, w.staff)
		_, err = w.s.Users(staffCtx)
		wantErr(t, err, apperr.Forbidden, "", msgNeedAdmin)
		us, err := w.s.Users(w.adminCtx)
		if err != nil {
			t.Fatal(err)
		}
		var emails []string
		for _, u := range us {
			emails = append(emails, u.Email)
		}
		if !slices.Equal(emails, []string{"admin@example.jp", "owner@example.jp", "staff@example.jp"}) {
			t.Fatalf("users: %v", emails)
		}
	})
}
