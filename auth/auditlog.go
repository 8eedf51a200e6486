package auth

import (
	"context"

	"entgo.io/contrib/entgql"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/auditlog"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// AuditLog pages the account's audit log, newest first, for an OWNER or
// ADMIN: first (default 50, at most 500) rows after the cursor, only of
// action when it is given.
func (s *Service) AuditLog(ctx context.Context, first *int, after *entgql.Cursor[pulid.ID], action *string) (*ent.AuditLogConnection, error) {
	if _, err := viewer.Require(ctx, viewer.ScopeAdmin); err != nil {
		return nil, err
	}
	n := 50
	if first != nil {
		if *first < 0 || *first > 500 {
			return nil, apperr.Invalid("first", "first must be between 0 and 500").Because(apperr.VALUE_OUT_OF_RANGE)
		}
		n = *first
	}
	q := s.client.AuditLog.Query()
	if action != nil && *action != "" {
		q = q.Where(auditlog.Action(*action))
	}
	return q.Paginate(ctx, after, &n, nil, nil, ent.WithAuditLogOrder(&ent.AuditLogOrder{
		Direction: entgql.OrderDirectionDesc, Field: ent.AuditLogOrderFieldAt}))
}
