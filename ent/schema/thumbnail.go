package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/pulid"
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
		// false: the source cannot say when its frame was taken (a camera
		// cloud's recording answered for the asked second); captured_at is
		// then the asked time and skew_ms 0, reported as unknown, never guessed.
		field.Bool("skew_known").Default(true).Immutable(),
		field.Int("width").Immutable(),
		field.Int("height").Immutable(),
		field.Int64("bytes").Immutable(),
		field.String("content_type").Default("image/jpeg").Immutable(),
		field.String("storage_key").Immutable().Annotations(hidden),
		field.String("sha256").Immutable().Annotations(hidden),
		field.Time("created_at").Default(utcNow).Immutable(),
		// The camera's own JPEG of that second, kept as it came (not
		// re-encoded) so the evidence can be read at full resolution.
		// Empty key: the row predates kept pictures. GraphQL shows it as
		// JournalEntry.picture (schema/thumbnails.graphql), not here.
		field.String("picture_key").Optional().Immutable().Annotations(hidden),
		field.Int("picture_width").Optional().Immutable().Annotations(hidden),
		field.Int("picture_height").Optional().Immutable().Annotations(hidden),
		field.Int64("picture_bytes").Optional().Immutable().Annotations(hidden),
		field.String("picture_sha256").Optional().Immutable().Annotations(hidden),
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
