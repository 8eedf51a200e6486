// Package audit appends security-relevant actions (logins, lockouts, keys,
// link and credential changes) to the account's audit log, which OWNER and
// ADMIN users can read.
package audit

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/viewer"
)

// Entry is what happened. Detail is shown to the account's administrators
// as is: never put a password, token, key or client secret in it.
type Entry struct {
	Action   string // e.g. "login.success", "apikey.revoked", "link.created"
	TargetID string // the row acted on, if any
	Detail   string
}

// Record appends e to the log of the viewer's account; actor and IP come
// from the viewer in ctx. It writes as the system because a caller may
// record actions it may not otherwise read (a STAFF login, a failed login
// records the account of the email it tried).
func Record(ctx context.Context, c *ent.Client, e Entry) error {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return fmt.Errorf("audit %s: no account in context", e.Action)
	}
	create := c.AuditLog.Create().
		SetAccountID(v.AccountID).
		SetAction(e.Action).
		SetTargetID(e.TargetID).
		SetDetail(clip(e.Detail, 2000)).
		SetIP(clip(v.IP, 64))
	if v.UserID != "" {
		create.SetActorUserID(v.UserID)
	}
	if v.APIKeyID != "" {
		create.SetActorKeyID(v.APIKeyID)
	}
	if err := create.Exec(viewer.System(ctx)); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
