package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/pulid"
)

// Shop is one physical store.
type Shop struct{ ent.Schema }

func (Shop) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("SH"), TimeMixin{}}
}

func (Shop) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("name").NotEmpty().MaxLen(200).Annotations(entgql.OrderField("NAME")),
		field.String("timezone").Default("Asia/Tokyo"),
		// Opening hours per weekday (see schematype.BusinessHours): alert
		// rules and summaries tell business time from after-hours with it.
		field.JSON("business_hours", schematype.BusinessHours{}).Optional().
			Annotations(entgql.Skip(entgql.SkipWhereInput | entgql.SkipOrderField | entgql.SkipType)),
		// Keyed by PosConnection id: the store id the provider uses for this shop.
		field.JSON("external_store_ids", map[string]string{}).Optional().
			Annotations(entgql.Skip(entgql.SkipWhereInput | entgql.SkipOrderField | entgql.SkipType)),
	}
}

func (Shop) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("shops"),
		edge.From("groups", ShopGroup.Type).Ref("shops"),
		edge.From("staff", User.Type).Ref("shops").Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("terminals", Terminal.Type),
		edge.To("journal_entries", JournalEntry.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Shop) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.QueryField(), entgql.RelayConnection()}
}

func (Shop) Policy() ent.Policy {
	return rule.Tenant(rule.ShopIn("id"))
}
