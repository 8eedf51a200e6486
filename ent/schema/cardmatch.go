package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/pulid"
)

// CardMatch pairs an entry on one side (a card terminal's transaction, or a
// register entry paid by card) with its counterpart on the other, or records
// that none was found once the window closed. Package cardmatch owns it.
type CardMatch struct{ ent.Schema }

func (CardMatch) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("CM")}
}

func (CardMatch) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("shop_id").GoType(pulidID).Immutable(),
		// The entry being matched (one row per entry).
		field.String("entry_id").GoType(pulidID).Unique().Immutable(),
		// CARD: entry_id is a card terminal's; REGISTER: a register's.
		field.Enum("side").Values("CARD", "REGISTER").Immutable(),
		field.String("counterpart_id").GoType(pulidID).Optional().Nillable(),
		// PENDING until matched or the window has passed; UNMATCHED raises
		// the CARD_MISMATCH alert.
		field.Enum("state").Values("PENDING", "MATCHED", "UNMATCHED").Default("PENDING"),
		field.Time("occurred_at").Immutable(),
		field.Int64("amount").Immutable(),
		field.Time("decided_at").Optional().Nillable(),
	}
}

func (CardMatch) Edges() []ent.Edge {
	return []ent.Edge{accountEdge("card_matches")}
}

func (CardMatch) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("account_id", "shop_id", "side", "occurred_at"),
		index.Fields("state", "occurred_at"),
	}
}

func (CardMatch) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// STAFF see the matches of their shops.
func (CardMatch) Policy() ent.Policy {
	return rule.Tenant(rule.ShopIn("shop_id"))
}
