package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/pulid"
)

// ShopGroup bundles shops whose figures a set of users may see together.
type ShopGroup struct{ ent.Schema }

func (ShopGroup) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("SG"), TimeMixin{}}
}

func (ShopGroup) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("name").NotEmpty().MaxLen(200),
	}
}

func (ShopGroup) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("shop_groups"),
		edge.To("shops", Shop.Type),
		edge.To("users", User.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (ShopGroup) Policy() ent.Policy {
	return rule.Tenant(rule.Through(rule.Self("id"), "users"))
}
