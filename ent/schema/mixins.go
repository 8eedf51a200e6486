// Package schema is the domain as ent reads it: entities, fields, edges,
// indexes and privacy policies (the rules themselves are in
// ent/schema/rule). It is the source of truth: package ent is generated
// from it by go generate, never edited by hand.
package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"github.com/regicam/regicam/pulid"
)

var pulidID = pulid.ID("")

// utcNow keeps every stored instant in UTC so that SQLite's textual time
// columns sort in time order and match PostgreSQL.
func utcNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// TimeMixin records when a row was created and last changed.
type TimeMixin struct{ mixin.Schema }

func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(utcNow).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").Default(utcNow).UpdateDefault(utcNow).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

// accountField is the tenant key every customer row carries.
func accountField() ent.Field {
	return field.String("account_id").GoType(pulidID).Immutable().
		Annotations(entgql.Skip(entgql.SkipAll))
}

// accountEdge binds account_id to the Account it belongs to; ref names the
// Account edge that lists these rows.
func accountEdge(ref string) ent.Edge {
	return edge.From("account", Account.Type).Ref(ref).Field("account_id").
		Unique().Required().Immutable().Annotations(entgql.Skip(entgql.SkipAll))
}
