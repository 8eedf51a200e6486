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

// ApiKey lets a partner system call the API; only its hash is stored.
type ApiKey struct{ ent.Schema }

func (ApiKey) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("AK"), TimeMixin{}}
}

func (ApiKey) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("name").NotEmpty().MaxLen(200),
		field.String("prefix").NotEmpty(),
		field.String("hash").Sensitive(),
		field.Strings("scopes"),
		field.Time("last_used_at").Optional().Nillable(),
		field.Time("expires_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

func (ApiKey) Edges() []ent.Edge {
	return []ent.Edge{accountEdge("api_keys")}
}

func (ApiKey) Indexes() []ent.Index {
	return []ent.Index{index.Fields("prefix").Unique()}
}

func (ApiKey) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

func (ApiKey) Policy() ent.Policy {
	return rule.Private(nil)
}
