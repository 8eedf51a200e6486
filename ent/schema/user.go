package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/pulid"
)

// User is a person who logs in to the dashboard for one account.
type User struct{ ent.Schema }

func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("US"), TimeMixin{}}
}

func (User) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		// Stored case-folded so that login and uniqueness ignore case.
		field.String("email").NotEmpty().MaxLen(254),
		field.String("name").Default("").MaxLen(200),
		field.Enum("role").Values("OWNER", "ADMIN", "STAFF").Default("STAFF"),
		field.String("password_hash").Sensitive().Default("").Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("failed_logins").Default(0).Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("locked_until").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Strings("password_history").Sensitive().Optional().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Strings("ip_allowlist").Optional().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (User) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("users"),
		edge.From("shop_groups", ShopGroup.Type).Ref("users"),
		edge.To("shops", Shop.Type).Comment("shops a STAFF user is assigned to directly"),
		edge.To("sessions", Session.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (User) Indexes() []ent.Index {
	return []ent.Index{index.Fields("email").Unique()}
}

func (User) Policy() ent.Policy {
	return rule.Private(rule.Self("id"))
}
