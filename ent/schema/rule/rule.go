// Package rule holds the ent privacy rules that keep every row inside its
// account, and STAFF viewers inside their shops. Schemas attach them in
// Policy(); the database layer then applies them to every query and
// mutation, including node(id), connections, edges and subscriptions.
//
// Contexts:
//   - viewer.System(ctx) (POS polling, webhooks, demo, retention, feed):
//     everything is allowed (privacy.DecisionContext).
//   - a viewer in ctx: rows of its account only; restricted (STAFF)
//     viewers see only their shops' rows and change nothing.
//   - an HTTP request without a viewer (viewer.InRequest): denied.
//   - neither (start-up, CLI, tests seeding data): trusted in-process code,
//     allowed. Request handlers always carry the request marker, so a route
//     that forgets to authenticate reads nothing.
package rule

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/entql"

	"github.com/regicam/regicam/ent/privacy"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Staff narrows what a restricted viewer sees of one table; nil means such
// a viewer sees none of its rows.
type Staff func(v viewer.Viewer) entql.P

// Tenant is the policy of a table whose rows carry account_id; staff
// narrows it for restricted viewers.
func Tenant(staff Staff) ent.Policy { return policy("account_id", staff, false) }

// Private is the policy of a table that only administrators (viewers with
// ScopeAdmin: OWNER and ADMIN sessions) see whole: users, API keys,
// sessions, the audit log. Everyone else, API keys included, sees what
// staff allows (nil: nothing) and creates nothing.
func Private(staff Staff) ent.Policy { return policy("account_id", staff, true) }

// Account is the policy of the accounts table itself.
func Account() ent.Policy {
	return policy("id", func(viewer.Viewer) entql.P { return nil }, false)
}

func policy(accountField string, staff Staff, private bool) ent.Policy {
	filter := tenantFilter(accountField, staff, private)
	create := privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		v, ok := viewer.FromContext(ctx)
		if !ok {
			return anonymous(ctx)
		}
		if v.Restricted {
			return privacy.Denyf("staff users cannot change %s", m.Type())
		}
		if !m.Op().Is(ent.OpCreate) {
			return privacy.Skip
		}
		if private && !v.Allows(viewer.ScopeAdmin) {
			return privacy.Denyf("only administrators add %s", m.Type())
		}
		got, _ := m.Field(accountField)
		if id, _ := got.(pulid.ID); id != v.AccountID {
			return privacy.Denyf("%s of another account", m.Type())
		}
		return privacy.Allow
	})
	return privacy.Policy{
		Query:    privacy.QueryPolicy{filter},
		Mutation: privacy.MutationPolicy{create, filter},
	}
}

// StaffWritable is Tenant for the tables restricted viewers work in
// themselves (cases, their notes and history): they may add rows to their
// account and change the rows staff lets them see, never delete one. What
// a row may hold (only their shops' receipts) is the owning service's
// rule (package cases); this policy keeps them to the rows they see.
func StaffWritable(staff Staff) ent.Policy { return writable(staff, false) }

// AppendOnly is StaffWritable for rows nobody changes once written (a
// case's notes and history): a viewer may add them, never update or
// delete one; only the system could.
func AppendOnly(staff Staff) ent.Policy { return writable(staff, true) }

func writable(staff Staff, appendOnly bool) ent.Policy {
	filter := tenantFilter("account_id", staff, false)
	write := privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		v, ok := viewer.FromContext(ctx)
		if !ok {
			return anonymous(ctx)
		}
		switch {
		case m.Op().Is(ent.OpCreate):
			got, _ := m.Field("account_id")
			if id, _ := got.(pulid.ID); id != v.AccountID {
				return privacy.Denyf("%s of another account", m.Type())
			}
			return privacy.Allow
		case appendOnly:
			return privacy.Denyf("%s rows are never changed", m.Type())
		case m.Op().Is(ent.OpDelete | ent.OpDeleteOne):
			if v.Restricted {
				return privacy.Denyf("staff users cannot delete %s", m.Type())
			}
		}
		// An update: the filter keeps it to the rows the viewer sees.
		return privacy.Skip
	})
	return privacy.Policy{
		Query:    privacy.QueryPolicy{filter},
		Mutation: privacy.MutationPolicy{write, filter},
	}
}

func tenantFilter(accountField string, staff Staff, private bool) privacy.FilterFunc {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v, ok := viewer.FromContext(ctx)
		if !ok {
			return anonymous(ctx)
		}
		f.Where(entql.FieldEQ(accountField, string(v.AccountID)))
		if v.Restricted || private && !v.Allows(viewer.ScopeAdmin) {
			var p entql.P
			if staff != nil {
				p = staff(v)
			} else {
				p = Nothing()
			}
			if p != nil {
				f.Where(p)
			}
		}
		return privacy.Allow
	})
}

func anonymous(ctx context.Context) error {
	if viewer.InRequest(ctx) {
		return privacy.Denyf("not signed in")
	}
	return privacy.Allow
}

// ShopIn limits rows whose field names one of the viewer's shops.
func ShopIn(field string) Staff {
	return func(v viewer.Viewer) entql.P { return in(field, v.ShopIDs) }
}

// Through limits rows to those with an edge (a path of edges) reaching a
// row the inner rule allows, e.g. a link through its terminal's shop.
func Through(inner Staff, edges ...string) Staff {
	return func(v viewer.Viewer) entql.P {
		p := inner(v)
		for i := len(edges) - 1; i >= 0; i-- {
			p = entql.HasEdgeWith(edges[i], p)
		}
		return p
	}
}

// Self limits a restricted viewer to its own row (users) or rows it owns.
func Self(field string) Staff {
	return func(v viewer.Viewer) entql.P { return entql.FieldEQ(field, string(v.UserID)) }
}

// Whole leaves the account's rows unnarrowed for restricted viewers.
func Whole(viewer.Viewer) entql.P { return nil }

// EveryShopIn limits rows to those whose rows through each edge all name
// one of the viewer's shops in field; a row there without a shop (null)
// is outside every shop. A row with none through any edge passes: callers
// that must not show such rows add their own condition (Cases).
func EveryShopIn(field string, edges ...string) Staff {
	return func(v viewer.Viewer) entql.P {
		var p entql.P
		for _, e := range edges {
			outside := entql.Or(entql.FieldNil(field), entql.Not(in(field, v.ShopIDs)))
			none := entql.Not(entql.HasEdgeWith(e, outside))
			if p == nil {
				p = none
			} else {
				p = entql.And(p, none)
			}
		}
		return p
	}
}

// Cases is what a restricted viewer sees of cases (ent/schema/case.go):
// those whose receipts and alerts are all in the viewer's shops. A case
// with neither says nothing of any shop, so only the viewer who created
// it, or is assigned to it, sees it.
func Cases() Staff {
	every := EveryShopIn("shop_id", "entries", "alerts")
	return func(v viewer.Viewer) entql.P {
		return entql.And(every(v), entql.Or(
			entql.HasEdge("entries"), entql.HasEdge("alerts"),
			entql.FieldEQ("created_by_id", string(v.UserID)),
			entql.FieldEQ("assignee_id", string(v.UserID)),
		))
	}
}

// Nothing matches no row.
func Nothing() entql.P { return entql.FieldEQ("id", "") }

func in(field string, ids []pulid.ID) entql.P {
	if len(ids) == 0 {
		return Nothing()
	}
	vs := make([]any, len(ids))
	for i, id := range ids {
		vs[i] = string(id)
	}
	return entql.FieldIn(field, vs...)
}
