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

// AuditLog is one security-relevant action (a login, a lockout, a key
// created, a link changed). Rows are only ever appended; detail never holds
// a secret.
type AuditLog struct{ ent.Schema }

func (AuditLog) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("AU")}
}

func (AuditLog) Fields() []ent.Field {
	return []ent.Field{
		field.String("account_id").GoType(pulidID).Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("actor_user_id").GoType(pulidID).Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.String("actor_key_id").GoType(pulidID).Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.String("action").NotEmpty().MaxLen(100).Immutable(),
		field.String("target_id").Default("").MaxLen(100).Immutable(),
		field.String("detail").Default("").MaxLen(2000).Immutable(),
		field.String("ip").Default("").MaxLen(64).Immutable(),
		field.Time("at").Default(utcNow).Immutable().Annotations(entgql.OrderField("AT")),
	}
}

func (AuditLog) Indexes() []ent.Index {
	return []ent.Index{index.Fields("account_id", "at"), index.Fields("account_id", "action", "at")}
}

func (AuditLog) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

func (AuditLog) Policy() ent.Policy {
	return rule.Private(nil)
}
