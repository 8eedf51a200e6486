package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/rule"
)

// Event is the outbox row written in the same transaction as the change it
// announces. Its id is the subscription cursor: writers serialise, so ids
// become visible in order and a reader that passed id N never misses N-1.
type Event struct{ ent.Schema }

func (Event) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").Immutable(),
		accountField(),
		field.String("camera_id").GoType(pulidID).Optional().Nillable().Immutable(),
		field.String("entry_id").GoType(pulidID).Immutable(),
		field.Enum("type").Values("ADDED", "UPDATED", "THUMBNAIL").Immutable(),
		field.Time("created_at").Default(utcNow).Immutable(),
	}
}

func (Event) Edges() []ent.Edge {
	return []ent.Edge{accountEdge("events")}
}

func (Event) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entry_id")}
}

func (Event) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Events only point at entries; STAFF see the account's events and
// the entries they load are narrowed to their shops (and feed.Hub matches
// by shop).
func (Event) Policy() ent.Policy {
	return rule.Tenant(rule.Whole)
}
