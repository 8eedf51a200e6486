package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/schema/rule"
)

// Terminal is one register of a POS connection (Smaregi 端末ID).
type Terminal struct{ ent.Schema }

func (Terminal) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("TE"), TimeMixin{}}
}

func (Terminal) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("connection_id").GoType(pulidID).Immutable(),
		field.String("shop_id").GoType(pulidID),
		field.String("external_id").NotEmpty().MaxLen(100),
		field.String("name").Default("").MaxLen(200).Annotations(entgql.OrderField("NAME")),
		field.String("identifier").Default("").MaxLen(200),
		field.String("app_version").Default("").MaxLen(50),
	}
}

func (Terminal) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("terminals"),
		edge.From("connection", PosConnection.Type).Ref("terminals").Field("connection_id").Unique().Required().Immutable(),
		edge.From("shop", Shop.Type).Ref("terminals").Field("shop_id").Unique().Required(),
		edge.To("links", Link.Type),
		edge.To("journal_entries", JournalEntry.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Terminal) Indexes() []ent.Index {
	return []ent.Index{index.Fields("connection_id", "external_id").Unique()}
}

func (Terminal) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.QueryField(), entgql.RelayConnection()}
}

func (Terminal) Policy() ent.Policy {
	return rule.Tenant(rule.ShopIn("shop_id"))
}
