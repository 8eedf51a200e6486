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

// CameraCloudConnection is one account at a camera cloud (Safie): its
// devices that carry the POS option become regicam cameras, and their
// pictures of any past second come from the cloud's recording.
type CameraCloudConnection struct{ ent.Schema }

func (CameraCloudConnection) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("CC"), TimeMixin{}}
}

func (CameraCloudConnection) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	noFilter := entgql.Skip(entgql.SkipWhereInput | entgql.SkipOrderField)
	return []ent.Field{
		accountField(),
		field.Enum("provider").Values("SAFIE").Default("SAFIE"),
		field.String("name").NotEmpty().MaxLen(200),
		field.Enum("auth_kind").Values("API_KEY", "OAUTH"),
		// AES-GCM sealed JSON (API key, or OAuth tokens); never leaves the
		// server in clear.
		field.Bytes("secrets").Optional().Sensitive().Annotations(hidden),
		// The stored key masked (••••1234).
		field.String("secret_hint").Default(""),
		// The cloud's option id that marks a device as contracted for POS
		// (Safie item_id); devices without it are not regicam cameras.
		field.Int("option_item_id").Optional().Nillable().Annotations(noFilter),
		// How long the cloud keeps recordings for these devices (the plan's
		// retention): a picture older than this is not asked for.
		field.Int("retention_days").Default(7).Annotations(noFilter),
		field.Enum("status").Values("OK", "NEEDS_REAUTH", "ERROR").Default("OK"),
		// Why the status is not OK, a sentence for the owner; never a secret.
		field.String("last_error").Default("").Annotations(noFilter),
		field.Time("last_sync_at").Optional().Nillable().Annotations(noFilter),
		field.Time("next_retry_at").Optional().Nillable().Annotations(hidden),
		// Which process syncs this connection, and until when (replicas).
		field.String("sync_owner").Default("").Annotations(hidden),
		field.Time("sync_lease_until").Optional().Nillable().Annotations(hidden),
	}
}

func (CameraCloudConnection) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("camera_cloud_connections"),
		edge.To("cameras", Camera.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (CameraCloudConnection) Indexes() []ent.Index {
	return []ent.Index{index.Fields("account_id", "provider", "name").Unique()}
}

func (CameraCloudConnection) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipOrderField, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}

// Connections are the administrators' settings; STAFF see none.
func (CameraCloudConnection) Policy() ent.Policy {
	return rule.Tenant(nil)
}
