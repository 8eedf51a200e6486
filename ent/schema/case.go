package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/pulid"
)

// Investigation is a case (GraphQL type Case; "case" is a Go keyword, so
// the ent name differs): an investigation: suspicious receipts and alerts collected under
// one title, with append-only notes and a history. Package cases owns what
// may change and who may change it.
type Investigation struct{ ent.Schema }

func (Investigation) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("CS"), TimeMixin{}}
}

func (Investigation) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("title").NotEmpty().MaxLen(200),
		field.Enum("status").Values("OPEN", "INVESTIGATING", "CLOSED").Default("OPEN"),
		// Why it was closed; empty while open.
		field.String("resolution").Default("").MaxLen(2000),
		field.String("assignee_id").GoType(pulidID).Optional().Nillable().
			Annotations(entgql.Type("ID")),
		field.Strings("tags").Optional(),
		field.String("created_by_id").GoType(pulidID).Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		// The shops of its entries, kept with them: STAFF see a case only when
		// every one is theirs, and the case list filters by shop without a join.
		field.Strings("shop_ids").Optional().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("closed_at").Optional().Nillable(),
	}
}

func (Investigation) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("cases"),
		edge.To("entries", JournalEntry.Type).Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("alerts", Alert.Type).Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("notes", CaseNote.Type).Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("events", CaseEvent.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Investigation) Indexes() []ent.Index {
	return []ent.Index{index.Fields("account_id", "status", "updated_at")}
}

func (Investigation) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Type("Case"), entgql.RelayConnection()}
}

// STAFF see and work on the cases whose receipts and alerts are all in
// their shops (rule.Cases); package cases checks what they add.
func (Investigation) Policy() ent.Policy {
	return rule.StaffWritable(rule.Cases())
}

// CaseNote is one note on a case. Notes are never edited or deleted.
type CaseNote struct{ ent.Schema }

func (CaseNote) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("CN")}
}

func (CaseNote) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("case_id").GoType(pulidID).Immutable(),
		field.String("author_id").GoType(pulidID).Optional().Nillable().Immutable(),
		field.String("author_name").Default("").MaxLen(200).Immutable(),
		field.String("text").NotEmpty().MaxLen(4000).Immutable(),
		field.Time("created_at").Default(utcNow).Immutable(),
	}
}

func (CaseNote) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("case_notes"),
		edge.From("case", Investigation.Type).Ref("notes").Field("case_id").Unique().Required().Immutable(),
	}
}

func (CaseNote) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Notes are append-only for everyone; STAFF see those of the cases they see.
func (CaseNote) Policy() ent.Policy {
	return rule.AppendOnly(rule.Through(rule.Cases(), "case"))
}

// CaseEvent is one line of a case's history: created, status, entries
// added or removed, notes, assignment, evidence downloaded.
type CaseEvent struct{ ent.Schema }

func (CaseEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("CV")}
}

func (CaseEvent) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("case_id").GoType(pulidID).Immutable(),
		field.String("actor_id").GoType(pulidID).Optional().Nillable().Immutable(),
		field.String("actor_name").Default("").MaxLen(200).Immutable(),
		field.String("action").NotEmpty().MaxLen(50).Immutable(),
		field.String("detail").Default("").MaxLen(2000).Immutable(),
		field.Time("at").Default(utcNow).Immutable(),
	}
}

func (CaseEvent) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("case_events"),
		edge.From("case", Investigation.Type).Ref("events").Field("case_id").Unique().Required().Immutable(),
	}
}

func (CaseEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("case_id", "at")}
}

func (CaseEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// History is append-only for everyone; STAFF see that of the cases they see.
func (CaseEvent) Policy() ent.Policy {
	return rule.AppendOnly(rule.Through(rule.Cases(), "case"))
}
