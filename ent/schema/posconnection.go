package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/pulid"
)

// PosConnection is one POS account (a Smaregi contract, an Ubiregi account,
// a webhook sender) that journal entries arrive from.
type PosConnection struct{ ent.Schema }

func (PosConnection) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("PC"), TimeMixin{}}
}

func (PosConnection) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		accountField(),
		field.Enum("provider").Values("SMAREGI", "UBIREGI", "WEBHOOK", "PARTNER"),
		field.String("contract_id").Default("").MaxLen(100),
		field.String("credential_kind").Default("").Annotations(hidden),
		// AES-GCM sealed; never leaves the server in clear.
		field.Bytes("secrets").Optional().Sensitive().Annotations(hidden),
		field.Enum("status").Values("OK", "NEEDS_REAUTH", "ERROR").Default("OK"),
		field.Time("last_sync_at").Optional().Nillable(),
		field.String("last_error").Default(""),
		field.Time("next_retry_at").Optional().Nillable(),
		// Which server process polls this connection, and until when: with
		// several replicas on one database only the lease holder polls.
		field.String("poll_owner").Default("").Annotations(hidden),
		field.Time("poll_lease_until").Optional().Nillable().Annotations(hidden),
		// Sealed secret that authenticates this connection's webhooks.
		field.Bytes("webhook_secret").Optional().Sensitive().Annotations(hidden),
		field.String("sync_cursor").Default("").Annotations(hidden),
		// The reconciliation sweep (re-reading a recent window from the
		// provider): when it last finished, what it found, its last error
		// and when it runs next; served through PosConnection.reconciliation.
		field.Time("reconciled_at").Optional().Nillable().Annotations(hidden),
		field.Time("next_reconcile_at").Optional().Nillable().Annotations(hidden),
		field.Int("reconcile_vanished").Default(0).Annotations(hidden),
		field.Int("reconcile_changed").Default(0).Annotations(hidden),
		field.Int("reconcile_checked").Default(0).Annotations(hidden),
		field.String("reconcile_error").Default("").Annotations(hidden),
		field.String("memo").Default("").MaxLen(500),
		// The stored secret masked (••••1234), so the owner can tell which
		// one is in use without it ever leaving the server in clear.
		field.String("secret_hint").Default(""),
		// The owner's name for a WEBHOOK / PARTNER connection (カード端末 1F).
		field.String("name").Default("").MaxLen(200),
		// New terminals that a signed webhook names first join this shop.
		field.String("default_shop_id").GoType(pulidID).Optional().Nillable().Annotations(hidden),
	}
}

func (PosConnection) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("pos_connections"),
		edge.To("terminals", Terminal.Type),
	}
}

func (PosConnection) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.QueryField(), entgql.RelayConnection()}
}

func (PosConnection) Indexes() []ent.Index {
	return []ent.Index{index.Fields("account_id", "provider", "contract_id").Unique()}
}

// STAFF see the connections that feed a register of their shops.
func (PosConnection) Policy() ent.Policy {
	return rule.Tenant(rule.Through(rule.ShopIn("shop_id"), "terminals"))
}
