package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/schema/rule"
)

// Account is a camera-service contract: the organisation that owns shops,
// cameras and POS connections. Every customer row points at one.
type Account struct{ ent.Schema }

func (Account) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("AC"), TimeMixin{}}
}

func (Account) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200),
	}
}

// The reverse edges exist so the owned rows can hold account_id as a
// foreign key; they are not browsable through the API.
func (Account) Edges() []ent.Edge {
	skip := entgql.Skip(entgql.SkipAll)
	return []ent.Edge{
		edge.To("users", User.Type).Annotations(skip),
		edge.To("shops", Shop.Type).Annotations(skip),
		edge.To("shop_groups", ShopGroup.Type).Annotations(skip),
		edge.To("cameras", Camera.Type).Annotations(skip),
		edge.To("pos_connections", PosConnection.Type).Annotations(skip),
		edge.To("terminals", Terminal.Type).Annotations(skip),
		edge.To("links", Link.Type).Annotations(skip),
		edge.To("journal_entries", JournalEntry.Type).Annotations(skip),
		edge.To("thumbnails", Thumbnail.Type).Annotations(skip),
		edge.To("api_keys", ApiKey.Type).Annotations(skip),
		edge.To("events", Event.Type).Annotations(skip),
		edge.To("alert_rules", AlertRule.Type).Annotations(skip),
		edge.To("alerts", Alert.Type).Annotations(skip),
	}
}

func (Account) Policy() ent.Policy {
	return rule.Account()
}
