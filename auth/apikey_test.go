package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"entgo.io/contrib/entgql"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// TestAPIKeyRules: an OWNER or ADMIN creates keys with a name, at least one
// of KeyScopes (never admin) and a future expiry; the clear key works once
// created and stops at once when revoked; revoking twice changes nothing;
// another account's key is not found; both are audited.
func TestAPIKeyRules(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		staffCtx, _ := w.signIn(t, w.staff)
		read := []viewer.Scope{viewer.ScopeJournalRead}
		_, _, err := w.s.CreateAPIKey(context.Background(), "x", read, nil)
		wantErr(t, err, apperr.Unauthenticated, "", msgSignIn)
		_, _, err = w.s.CreateAPIKey(staffCtx, "x", read, nil)
		wantErr(t, err, apperr.Forbidden, "", msgNeedAdmin)
		_, _, err = w.s.CreateAPIKey(w.adminCtx, "  ", read, nil)
		wantErr(t, err, apperr.BadUserInput, "name", "名前を入力してください (name is required, at most 200 characters)")
		_, _, err = w.s.CreateAPIKey(w.adminCtx, "x", nil, nil)
		wantErr(t, err, apperr.BadUserInput, "scopes", "権限を1つ以上選んでください (at least one scope)")
		_, _, err = w.s.CreateAPIKey(w.adminCtx, "x", Scopes([]string{"journal:read", "admin"}), nil)
		wantErr(t, err, apperr.BadUserInput, "scopes[1]", `unknown scope "admin" (journal:read, journal:write, links:write)`)
		now := w.now
		_, _, err = w.s.CreateAPIKey(w.adminCtx, "x", read, &now)
		wantErr(t, err, apperr.BadUserInput, "expiresAt", "有効期限は未来の日時にしてください (must be in the future)")

		later := w.now.Add(time.Hour)
		k, key, err := w.s.CreateAPIKey(w.adminCtx, " POS連携 ", Scopes([]string{"journal:read", "links:write", "journal:read"}), &later)
		if err != nil {
			t.Fatal(err)
		}
		if k.Name != "POS連携" || strings.Join(k.Scopes, ",") != "journal:read,links:write" || k.AccountID != w.acct ||
			!strings.HasPrefix(key, "rk_"+k.Prefix+"_") {
			t.Fatalf("created %+v, key %q", k, key)
		}
		v, err := w.s.KeyViewer(context.Background(), key, testIP)
		if err != nil || v.AccountID != w.acct || v.APIKeyID != k.ID || v.Allows(viewer.ScopeAdmin) || !v.Allows(viewer.ScopeLinksWrite) {
			t.Fatalf("the new key's viewer: %+v %v", v, err)
		}
		w.wantAudit(t, "apikey.created", k.ID, w.admin.ID, `name="POS連携" prefix=`+k.Prefix+" scopes=journal:read,links:write")

		k2, _, err := w.s.CreateAPIKey(w.ownerCtx, "second", read, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.s.APIKeys(staffCtx)
		wantErr(t, err, apperr.Forbidden, "", msgNeedAdmin)
		keys, err := w.s.APIKeys(w.adminCtx)
		if err != nil || len(keys) != 2 {
			t.Fatalf("apiKeys: %v %v", keys, err)
		}
		if keys[0].CreatedAt.Before(keys[1].CreatedAt) {
			t.Fatalf("apiKeys not newest first: %v, %v", keys[0].CreatedAt, keys[1].CreatedAt)
		}

		theirs, _, err := w.s.CreateAPIKey(viewer.NewContext(context.Background(), viewer.Viewer{AccountID: w.otherUser.AccountID,
			UserID: w.otherUser.ID, Role: viewer.RoleOwner, Scopes: ScopesOf(viewer.RoleOwner), IP: testIP}), "theirs", read, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.s.RevokeAPIKey(staffCtx, k.ID)
		wantErr(t, err, apperr.Forbidden, "", msgNeedAdmin)
		_, err = w.s.RevokeAPIKey(w.adminCtx, theirs.ID)
		wantErr(t, err, apperr.NotFound, "id", msgNotFound)
		_, err = w.s.RevokeAPIKey(w.adminCtx, pulid.MustNew("AK"))
		wantErr(t, err, apperr.NotFound, "id", msgNotFound)

		r, err := w.s.RevokeAPIKey(w.adminCtx, k.ID)
		if err != nil || r.RevokedAt == nil || !r.RevokedAt.Equal(w.now) {
			t.Fatalf("revoke: %+v %v", r, err)
		}
		// The key's viewer was cached above: the revocation drops it.
		_, err = w.s.KeyViewer(context.Background(), key, testIP)
		wantErr(t, err, apperr.Unauthenticated, "", "APIキーは失効しています (API key revoked)")
		w.now = w.now.Add(time.Minute)
		again, err := w.s.RevokeAPIKey(w.ownerCtx, k.ID)
		if err != nil || again.RevokedAt == nil || !again.RevokedAt.Equal(*r.RevokedAt) {
			t.Fatalf("revoking again: %+v %v", again, err)
		}
		w.wantAudit(t, "apikey.revoked", k.ID, w.admin.ID, "prefix="+k.Prefix)
		if rows := w.audited(t, "apikey.revoked", k2.ID); len(rows) != 0 {
			t.Fatalf("the other key was revoked too: %v", rows)
		}
	})
}

// TestAuditLogQuery: the audit log is read by an OWNER or ADMIN, newest
// first, at most 500 rows a page, narrowed to one action when asked, and
// never shows another account's rows.
func TestAuditLogQuery(t *testing.T) {
	backends(t, func(t *testing.T, w *world) {
		staffCtx, _ := w.signIn(t, w.staff)
		_, err := w.s.AuditLog(staffCtx, nil, nil, nil)
		wantErr(t, err, apperr.Forbidden, "", msgNeedAdmin)
		for _, n := range []int{-1, 501} {
			_, err = w.s.AuditLog(w.adminCtx, &n, nil, nil)
			wantErr(t, err, apperr.BadUserInput, "first", "first must be between 0 and 500")
		}

		for _, ip := range [][]string{{"10.0.0.1"}, {"10.0.0.2"}, {"10.0.0.3"}} {
			if _, err := w.s.SetUserIPAllowlist(w.adminCtx, w.staff.ID, ip); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.s.Unlock(w.adminCtx, w.staff.ID); err != nil {
			t.Fatal(err)
		}
		theirs := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: w.otherUser.AccountID,
			UserID: w.otherUser.ID, Role: viewer.RoleOwner, Scopes: ScopesOf(viewer.RoleOwner), IP: testIP})
		if _, err := w.s.SetUserIPAllowlist(theirs, w.otherUser.ID, []string{"10.9.9.9"}); err != nil {
			t.Fatal(err)
		}

		action := "user.ip_allowlist_changed"
		two := 2
		page, err := w.s.AuditLog(w.adminCtx, &two, nil, &action)
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != 3 || len(page.Edges) != 2 || !page.PageInfo.HasNextPage {
			t.Fatalf("first page: total %d, %d edges, next %v", page.TotalCount, len(page.Edges), page.PageInfo.HasNextPage)
		}
		var details []string
		for _, e := range page.Edges {
			details = append(details, e.Node.Detail)
		}
		rest, err := w.s.AuditLog(w.adminCtx, nil, page.PageInfo.EndCursor, &action)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range rest.Edges {
			details = append(details, e.Node.Detail)
		}
		if strings.Join(details, " ") != "10.0.0.3 10.0.0.2 10.0.0.1" {
			t.Fatalf("audit log of %s, newest first: %v", action, details)
		}
		all, err := w.s.AuditLog(w.adminCtx, nil, (*entgql.Cursor[pulid.ID])(nil), nil)
		if err != nil || all.TotalCount != 4 {
			t.Fatalf("whole log: %v rows (%v), want our 4", all.TotalCount, err)
		}
	})
}
