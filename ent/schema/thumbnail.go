package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/schema/rule"
)

// Thumbnail is the camera picture taken nearest an entry's occurred_at. The
// bytes live in the blob store; the row says where and how far off it is.
type Thumbnail struct{ ent.Schema }

func (Thumbnail) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("TH")}
}

func (Thumbnail) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		accountField(),
		field.String("entry_id").GoType(pulidID).Immutable(),
		field.String("camera_id").GoType(pulidID).Immutable().Annotations(entgql.Type("ID")),
		field.Time("requested_at").Immutable(),
		field.Time("captured_at").Immutable(),
		field.Int64("skew_ms").Immutable(),
		field.Int("width").Immutable(),
		field.Int("height").Immutable(),
		field.Int64("bytes").Immutable(),
		field.String("content_type").Default("image/jpeg").Immutable(),
		field.String("storage_key").Immutable().Annotations(hidden),
		field.String("sha256").Immutable().Annotations(hidden),
		field.Time("created_at").Default(utcNow).Immutable(),
	}
}

func (Thumbnail) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("thumbnails"),
		edge.From("entry", JournalEntry.Type).Ref("thumbnail").Field("entry_id").Unique().Required().Immutable(),
	}
}

func (Thumbnail) Policy() ent.Policy {
	return rule.Tenant(rule.Through(rule.ShopIn("shop_id"), "entry"))
}
