package schema

import (
	"encoding/json"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/pulid"
)

// AlertRule is one exception rule of an account, evaluated at ingest (and,
// for FEED_SILENT, by a periodic checker). Validation of the parameters per
// kind lives in package alerts, which owns the meaning of each kind.
type AlertRule struct{ ent.Schema }

func (AlertRule) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("AR"), TimeMixin{}}
}

func (AlertRule) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("name").NotEmpty().MaxLen(200),
		field.Enum("kind").Values("AMOUNT_OVER", "QUICK_CANCEL", "CANCEL_BURST", "OUTSIDE_HOURS", "FEED_SILENT", "UNLINKED_TERMINAL", "NO_PERSON", "CAMERA_NOT_RECORDING", "REGISTER_CLOCK_OFF", "RECEIPTS_NOT_RECORDED", "CUSTOM", "CARD_MISMATCH"),
		field.Bool("enabled").Default(true),
		// Which journal entries the rule looks at: the JSON of a JournalWhere
		// (shops, terminals, kinds, staff, amounts …), empty for all.
		field.JSON("scope", json.RawMessage{}).Optional(),
		// AMOUNT_OVER: the entry kinds that count (CANCEL, DELETE, MODIFY).
		field.Strings("entry_kinds").Optional(),
		// AMOUNT_OVER: yen a total must exceed.
		field.Int64("amount").Default(0),
		// NO_PERSON: the entry kinds that count (default CANCEL); the window
		// is window_seconds either side of the entry (default 30).
		// QUICK_CANCEL: max seconds between sale and cancel; CANCEL_BURST: the
		// window; FEED_SILENT: how long a terminal may stay quiet.
		field.Int("window_seconds").Default(0),
		// CANCEL_BURST: cancels by one staff within the window.
		field.Int("count").Default(0),
		// OUTSIDE_HOURS and FEED_SILENT: business hours, local "HH:MM" in
		// the shop's timezone; closes before opens spans midnight.
		field.String("opens_at").Default(""),
		field.String("closes_at").Default(""),
		// CUSTOM: the rule builder's conditions, all of which must hold
		// (package alerts/builder evaluates them). The entry-based kinds are
		// presets of the builder: preset names the one a rule was made from.
		field.JSON("conditions", &schematype.RuleConditions{}).Optional(),
		field.String("preset").Default("").MaxLen(50),
		field.String("webhook_url").Default("").MaxLen(2000),
		// HMAC key of the webhook, sealed by package secrets.
		field.Bytes("webhook_secret").Optional().Sensitive(),
	}
}

func (AlertRule) Edges() []ent.Edge {
	return []ent.Edge{accountEdge("alert_rules")}
}

func (AlertRule) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Rules are the administrators' settings; STAFF see none.
func (AlertRule) Policy() ent.Policy {
	return rule.Tenant(nil)
}
