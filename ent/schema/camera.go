package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/schema/rule"
)

// Camera is a cloud camera; only cameras with the POS option can be linked.
type Camera struct{ ent.Schema }

func (Camera) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("CA"), TimeMixin{}}
}

func (Camera) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("name").NotEmpty().MaxLen(200).Annotations(entgql.OrderField("NAME")),
		field.String("model").Default("").MaxLen(100),
		field.String("device_id").NotEmpty().MaxLen(100),
		field.Bool("pos_option").Default(false),
		field.Enum("source_kind").Values("SIMULATED", "SNAPSHOT", "MJPEG", "RTSP").Optional().Nillable(),
		field.String("source_url").Optional().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bytes("source_credentials").Optional().Sensitive().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("last_seen_at").Optional().Nillable(),
		// A retired camera keeps its entries, thumbnails and links readable
		// but leaves the lists and is no longer recorded.
		field.Time("retired_at").Optional().Nillable(),
		// What the source test or the recorder last found, for the owner.
		field.String("source_status").Default("").MaxLen(500),
	}
}

func (Camera) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("cameras"),
		edge.To("links", Link.Type),
		edge.To("journal_entries", JournalEntry.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Camera) Indexes() []ent.Index {
	return []ent.Index{index.Fields("account_id", "device_id").Unique()}
}

func (Camera) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.QueryField(), entgql.RelayConnection()}
}

// STAFF see the cameras that watch (or watched) a register of their shops.
func (Camera) Policy() ent.Policy {
	return rule.Tenant(rule.Through(rule.ShopIn("shop_id"), "links", "terminal"))
}
