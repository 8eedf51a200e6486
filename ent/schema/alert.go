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

// Alert is one hit of an AlertRule. Alerts are records like journal
// entries: acknowledged, never deleted. seq orders them for the live stream
// (writers serialise, so a reader that passed seq N never misses N-1).
type Alert struct{ ent.Schema }

func (Alert) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("AL")}
}

func (Alert) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.Int64("seq").Unique().Immutable(),
		field.String("rule_id").GoType(pulidID).Immutable(),
		field.String("rule_kind").Immutable(),
		// What fired it once: the entry id, or terminal+silence start for
		// FEED_SILENT, so re-evaluation never doubles an alert.
		field.String("dedupe_key").Immutable(),
		field.String("entry_id").GoType(pulidID).Optional().Nillable().Immutable(),
		field.String("terminal_id").GoType(pulidID).Optional().Nillable().Immutable(),
		field.String("shop_id").GoType(pulidID).Optional().Nillable().Immutable(),
		field.String("camera_id").GoType(pulidID).Optional().Nillable().Immutable(),
		field.String("staff_name").Default("").Immutable(),
		field.Int64("amount").Default(0).Immutable(),
		// When what it reports happened (the entry's time, or when the
		// silence became too long).
		field.Time("occurred_at").Immutable(),
		field.String("message").Immutable(),
		field.Time("created_at").Default(utcNow).Immutable(),
		field.Time("acknowledged_at").Optional().Nillable(),
		// An episode alert (CAMERA_NOT_RECORDING) closes when what it
		// reports recovers; nil while it lasts, and for one-off alerts.
		field.Time("resolved_at").Optional().Nillable(),
		field.String("acknowledged_by_id").GoType(pulidID).Optional().Nillable(),
		// Webhook delivery queue: NONE without a webhook URL, else PENDING
		// until a 2xx, retried with backoff at webhook_next_at.
		field.Enum("webhook_state").Values("NONE", "PENDING", "DELIVERED").Default("NONE"),
		field.Int("webhook_attempts").Default(0),
		field.Time("webhook_next_at").Optional().Nillable(),
		field.String("webhook_last_error").Default(""),
	}
}

func (Alert) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("alerts"),
		// An alert may be looked into by several cases (join table).
		edge.From("cases", Investigation.Type).Ref("alerts").Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Alert) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("rule_id", "dedupe_key").Unique(),
		index.Fields("account_id", "occurred_at"),
		index.Fields("webhook_state", "webhook_next_at"),
	}
}

func (Alert) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// STAFF see the alerts of their shops.
func (Alert) Policy() ent.Policy {
	return rule.Tenant(rule.ShopIn("shop_id"))
}
