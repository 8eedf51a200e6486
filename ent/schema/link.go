package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/pulid"
)

// Link says which camera watched a terminal during [created_at, ended_at).
// Links are ended, never rewritten, so old entries keep their true camera.
type Link struct{ ent.Schema }

func (Link) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("LI")}
}

func (Link) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("terminal_id").GoType(pulidID).Immutable(),
		field.String("camera_id").GoType(pulidID).Immutable(),
		// The user who made the link; empty for links made by partners or the demo.
		field.String("created_by_id").GoType(pulidID).Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("created_at").Default(utcNow).Immutable().Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("ended_at").Optional().Nillable(),
	}
}

func (Link) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("links"),
		edge.From("terminal", Terminal.Type).Ref("links").Field("terminal_id").Unique().Required().Immutable(),
		edge.From("camera", Camera.Type).Ref("links").Field("camera_id").Unique().Required().Immutable(),
	}
}

func (Link) Indexes() []ent.Index {
	return []ent.Index{
		// At most one active link per terminal.
		index.Fields("terminal_id").Unique().Annotations(entsql.IndexWhere("ended_at IS NULL")),
		index.Fields("terminal_id", "created_at"),
		index.Fields("camera_id"),
	}
}

func (Link) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.QueryField(), entgql.RelayConnection()}
}

func (Link) Policy() ent.Policy {
	return rule.Tenant(rule.Through(rule.ShopIn("shop_id"), "terminal"))
}
