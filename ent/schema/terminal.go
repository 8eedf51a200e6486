package schema

import (
	"encoding/json"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/pulid"
)

// Terminal is one register of a POS connection (Smaregi 端末ID).
type Terminal struct{ ent.Schema }

func (Terminal) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("TE"), TimeMixin{}}
}

func (Terminal) Fields() []ent.Field {
	hiddenGQL := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		accountField(),
		field.String("connection_id").GoType(pulidID).Immutable(),
		field.String("shop_id").GoType(pulidID),
		field.String("external_id").NotEmpty().MaxLen(100),
		field.String("name").Default("").MaxLen(200).Annotations(entgql.OrderField("NAME")),
		field.String("identifier").Default("").MaxLen(200),
		field.String("app_version").Default("").MaxLen(50),
		// The register's clock (regclock): the estimated offset of its clock
		// from true time, its uncertainty and sample count, served through
		// Terminal.clockOffset (schema/feedtruth.graphql), never as fields of
		// their own. Nil offset: unknown (too few samples), no correction.
		field.Int64("clock_offset_ms").Optional().Nillable().Annotations(hiddenGQL),
		field.Int64("clock_uncertainty_ms").Optional().Nillable().Annotations(hiddenGQL),
		field.Int("clock_samples").Default(0).Annotations(hiddenGQL),
		field.Time("clock_updated_at").Optional().Nillable().Annotations(hiddenGQL),
		// The estimator's sliding window (regclock.Window as JSON, bounded).
		field.JSON("clock_window", json.RawMessage{}).Optional().Annotations(hiddenGQL),
		// Completeness: the newest receipt's time and the register's own
		// sequence (Smaregi terminalTranId) seen so far, and the ranges of
		// sequence numbers not seen (JSON, bounded), served through
		// Terminal.feedHealth.
		field.Time("last_receipt_at").Optional().Nillable().Annotations(hiddenGQL),
		field.Int64("last_sequence").Optional().Nillable().Annotations(hiddenGQL),
		field.JSON("missing_ranges", json.RawMessage{}).Optional().Annotations(hiddenGQL),
	}
}

func (Terminal) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("terminals"),
		edge.From("connection", PosConnection.Type).Ref("terminals").Field("connection_id").Unique().Required().Immutable(),
		edge.From("shop", Shop.Type).Ref("terminals").Field("shop_id").Unique().Required(),
		edge.To("links", Link.Type),
		edge.To("journal_entries", JournalEntry.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Terminal) Indexes() []ent.Index {
	return []ent.Index{index.Fields("connection_id", "external_id").Unique()}
}

func (Terminal) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.QueryField(), entgql.RelayConnection()}
}

func (Terminal) Policy() ent.Policy {
	return rule.Tenant(rule.ShopIn("shop_id"))
}
