package pulid

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// MixinWithPrefix gives an entity an id field of prefixed ULIDs.
func MixinWithPrefix(prefix string) *Mixin {
	if len(prefix) != PrefixLen {
		panic("pulid: prefix must be 2 characters: " + prefix)
	}
	return &Mixin{prefix: prefix}
}

// Mixin defines the id field and records its prefix for code generation.
type Mixin struct {
	mixin.Schema
	prefix string
}

// Fields provides the id field.
func (m Mixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			GoType(ID("")).
			MaxLen(40).
			Immutable().
			DefaultFunc(func() ID { return MustNew(m.prefix) }),
	}
}

// Annotation carries the prefix into the generated IDToType map.
type Annotation struct {
	Prefix string
}

// Name implements schema.Annotation.
func (a Annotation) Name() string { return "PULID" }

// Annotations returns the prefix annotation.
func (m Mixin) Annotations() []schema.Annotation {
	return []schema.Annotation{Annotation{Prefix: m.prefix}}
}
