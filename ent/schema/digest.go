package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/pulid"
)

// MailSettings is an account's outgoing mail server (one per account). The
// password is sealed by package secrets and never returned.
type MailSettings struct{ ent.Schema }

func (MailSettings) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("MS"), TimeMixin{}}
}

func (MailSettings) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("host").NotEmpty().MaxLen(253),
		field.Int("port").Default(587),
		// STARTTLS (submission, 587) or TLS (implicit, 465); never plain text.
		field.Enum("security").Values("STARTTLS", "TLS").Default("STARTTLS"),
		field.String("username").Default("").MaxLen(200),
		field.Bytes("password").Optional().Sensitive(),
		field.String("from_address").NotEmpty().MaxLen(254),
		field.String("from_name").Default("").MaxLen(200),
	}
}

func (MailSettings) Edges() []ent.Edge {
	return []ent.Edge{accountEdge("mail_settings")}
}

func (MailSettings) Indexes() []ent.Index {
	return []ent.Index{index.Fields("account_id").Unique()}
}

func (MailSettings) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

func (MailSettings) Policy() ent.Policy {
	return rule.Private(nil)
}

// DigestRule mails a daily digest of some shops to some recipients at each
// shop's closing time.
type DigestRule struct{ ent.Schema }

func (DigestRule) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("DR"), TimeMixin{}}
}

func (DigestRule) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("name").NotEmpty().MaxLen(200),
		field.Strings("recipients"),
		// Empty: every shop of the account.
		field.Strings("shop_ids").Optional(),
		// Local "HH:MM" in each shop's timezone when the day's digest goes.
		field.String("send_at").Default("22:00"),
		field.Bool("enabled").Default(true),
		// The last delivery's outcome, for the settings screen.
		field.Enum("status").Values("OK", "ERROR").Default("OK"),
		field.String("last_error").Default("").MaxLen(2000),
		field.Time("last_sent_at").Optional().Nillable(),
	}
}

func (DigestRule) Edges() []ent.Edge {
	return []ent.Edge{accountEdge("digest_rules")}
}

func (DigestRule) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

func (DigestRule) Policy() ent.Policy {
	return rule.Tenant(nil)
}

// DigestSend is one digest mail for one rule, shop-day and recipient: the
// unique key makes it exactly once across replicas, and the row is the
// retry queue.
type DigestSend struct{ ent.Schema }

func (DigestSend) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("DS")}
}

func (DigestSend) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("digest_rule_id").GoType(pulidID).Immutable(),
		field.String("shop_id").GoType(pulidID).Immutable(),
		// The shop's local date, YYYY-MM-DD.
		field.String("day").Immutable(),
		field.String("recipient").Immutable(),
		field.Enum("state").Values("PENDING", "SENDING", "SENT", "FAILED").Default("PENDING"),
		field.Int("attempts").Default(0),
		field.Time("next_at").Optional().Nillable(),
		// Who holds it while sending, and until when (a crashed sender's
		// claim lapses).
		field.String("claimed_by").Default(""),
		field.Time("claimed_until").Optional().Nillable(),
		field.String("last_error").Default("").MaxLen(2000),
		field.String("message_id").Default(""),
		field.Time("sent_at").Optional().Nillable(),
		field.Time("created_at").Default(utcNow).Immutable(),
	}
}

func (DigestSend) Edges() []ent.Edge {
	return []ent.Edge{accountEdge("digest_sends")}
}

func (DigestSend) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("digest_rule_id", "shop_id", "day", "recipient").Unique(),
		index.Fields("state", "next_at"),
	}
}

func (DigestSend) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

func (DigestSend) Policy() ent.Policy {
	return rule.Tenant(nil)
}
