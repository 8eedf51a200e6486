package schema

import (
	"encoding/json"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/pulid"
)

// JournalEntry is one POS journal line: a sale, or a cancel, correction or
// deletion at its own time. Entries are bookkeeping records and are never
// deleted; later changes are new entries pointing at the one they change.
type JournalEntry struct{ ent.Schema }

func (JournalEntry) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("JE")}
}

func (JournalEntry) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		accountField(),
		field.String("connection_id").GoType(pulidID).Immutable().Annotations(hidden),
		field.String("terminal_id").GoType(pulidID).Immutable(),
		field.String("shop_id").GoType(pulidID).Immutable(),
		// The camera linked to the terminal at occurred_at; none if unlinked.
		field.String("camera_id").GoType(pulidID).Optional().Nillable().Immutable(),
		field.Enum("kind").Values("PAYMENT", "CANCEL", "MODIFY", "DELETE", "OTHER").Immutable(),
		field.Time("occurred_at").Immutable().Annotations(entgql.OrderField("OCCURRED_AT")),
		field.Time("received_at").Default(utcNow).Immutable(),
		// occurred_at is the time the register printed; corrected_at is that
		// time on true time when the register's clock offset was known
		// (regclock), nil when no correction was made. The picture is taken
		// at corrected_at ?? occurred_at and its skew measured against it.
		field.Time("corrected_at").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput | entgql.SkipOrderField)),
		field.String("external_id").NotEmpty().MaxLen(200).Immutable(),
		// Distinguishes successive MODIFY entries of one sale: a fingerprint
		// of the changed content, empty for every other kind.
		field.String("revision").Default("").Immutable().Annotations(hidden),
		field.String("receipt_no").Default("").MaxLen(100).Immutable(),
		field.String("register_no").Default("").MaxLen(100).Immutable(),
		field.String("staff_id").Default("").MaxLen(100).Immutable(),
		field.String("staff_name").Default("").MaxLen(200).Immutable(),
		field.Int64("total").Default(0).Immutable(),
		field.Int64("deposit").Default(0).Immutable(),
		field.Int64("change").Default(0).Immutable(),
		field.Time("entered_at").Optional().Nillable().Immutable(),
		field.String("payment_method").Default("").MaxLen(100).Immutable(),
		field.JSON("items", []schematype.Item{}).Optional().Immutable().
			Annotations(entgql.Type("[JournalItem!]"), entgql.Skip(entgql.SkipWhereInput|entgql.SkipOrderField)),
		field.String("masked_card").Default("").MaxLen(32).Immutable(),
		field.String("related_id").GoType(pulidID).Optional().Nillable().Immutable(),
		field.Time("canceled_at").Optional().Nillable(),
		field.Time("modified_at").Optional().Nillable(),
		field.Time("deleted_at").Optional().Nillable(),
		// Why the entry has no thumbnail (camera offline, frame too far from
		// occurred_at, …); empty while it has one or one is still coming.
		field.String("thumbnail_reason").Default(""),
		// People the camera (cloud person events) saw within the presence
		// window around occurred_at; nil while not checked or when the
		// camera reports no person events.
		field.Int("persons_nearby").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipWhereInput | entgql.SkipOrderField)),
		// When persons_nearby was counted; nil: not yet (or never, for a
		// camera without person events).
		field.Time("persons_checked_at").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipWhereInput | entgql.SkipOrderField)),
		// What the provider sent, kept for audits; not part of the API.
		field.JSON("raw", json.RawMessage{}).Optional().Immutable().Annotations(hidden),
		// Content fingerprint of the latest known state of the sale, so a
		// re-sent unchanged record is recognised without comparing fields.
		field.String("fingerprint").Default("").Annotations(hidden),
	}
}

func (JournalEntry) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("journal_entries"),
		edge.From("terminal", Terminal.Type).Ref("journal_entries").Field("terminal_id").Unique().Required().Immutable(),
		edge.From("shop", Shop.Type).Ref("journal_entries").Field("shop_id").Unique().Required().Immutable(),
		edge.From("camera", Camera.Type).Ref("journal_entries").Field("camera_id").Unique().Immutable(),
		edge.To("changes", JournalEntry.Type).
			From("related").Field("related_id").Unique().Immutable(),
		edge.To("thumbnail", Thumbnail.Type).Unique(),
		// A receipt may be evidence in several cases: a join table keyed by
		// case and entry, so a case's receipts are one index range.
		edge.From("cases", Investigation.Type).Ref("entries").Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("share_links", ShareLink.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (JournalEntry) Indexes() []ent.Index {
	// Every timeline index ends in (occurred_at DESC, id DESC): the journal
	// order, so a page is one index range scan with no sort step. Queries
	// always carry the viewer's account, so it leads.
	newest := entsql.DescColumns("occurred_at", "id")
	return []ent.Index{
		index.Fields("connection_id", "external_id", "kind", "revision").Unique(),
		index.Fields("account_id", "camera_id", "occurred_at", "id").Annotations(newest),
		index.Fields("account_id", "camera_id", "kind", "occurred_at", "id").Annotations(newest),
		index.Fields("account_id", "occurred_at", "id").Annotations(newest),
		index.Fields("account_id", "kind", "occurred_at", "id").Annotations(newest),
		index.Fields("terminal_id", "occurred_at", "id").Annotations(newest),
		index.Fields("account_id", "shop_id", "occurred_at", "id").Annotations(newest),
		index.Fields("related_id"),
	}
}

func (JournalEntry) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

func (JournalEntry) Policy() ent.Policy {
	return rule.Tenant(rule.ShopIn("shop_id"))
}
