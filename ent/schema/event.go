package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/rule"
)

// Event is the outbox row written in the same transaction as the change it
// announces. Its id is the subscription cursor: writers serialise, so ids
// become visible in order and a reader that passed id N never misses N-1.
//
// Each type is one live stream (feed.Hub serves them all): ADDED, UPDATED
// and THUMBNAIL announce a journal entry (entry_id), ALERT an alert
// (alert_id). A new stream is a new type here, not a new reader.
type Event struct{ ent.Schema }

func (Event) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").Immutable(),
		accountField(),
		field.String("camera_id").GoType(pulidID).Optional().Nillable().Immutable(),
		// Empty for ALERT: an alert of a silent feed has no entry, and an
		// event names one subject.
		field.String("entry_id").GoType(pulidID).Immutable(),
		// Only ALERT events carry it (empty otherwise; rows written before
		// the column existed get the default).
		field.String("alert_id").GoType(pulidID).Default("").Immutable(),
		field.Enum("type").Values("ADDED", "UPDATED", "THUMBNAIL", "ALERT").Immutable(),
		field.Time("created_at").Default(utcNow).Immutable(),
	}
}

func (Event) Edges() []ent.Edge {
	return []ent.Edge{accountEdge("events")}
}

func (Event) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("entry_id"),
		// Resuming the alert stream finds an alert's event; journal events
		// (almost all rows) stay out of the index, so ingest pays nothing.
		index.Fields("alert_id").Annotations(entsql.IndexWhere("alert_id <> ''")),
	}
}

func (Event) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Events only point at entries and alerts; STAFF see the account's events,
// and the entries and alerts loaded for them are narrowed to their shops
// (feed.Hub's subscribers also match by shop).
func (Event) Policy() ent.Policy {
	return rule.Tenant(rule.Whole)
}
