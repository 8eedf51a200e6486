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
		field.Enum("source_kind").Values("SIMULATED", "SNAPSHOT", "MJPEG", "RTSP", "CLOUD").Optional().Nillable(),
		field.String("source_url").Optional().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bytes("source_credentials").Optional().Sensitive().Annotations(entgql.Skip(entgql.SkipAll)),
		// RTSP cameras: the HTTP JPEG endpoint the camera offers beside its
		// stream (without userinfo). When set, the short in-memory ring that
		// thumbnails and the live picture read is fed from it, which costs
		// no H.264 decode; the stream is still what is recorded to disk.
		field.String("snapshot_url").Optional().MaxLen(2000).Annotations(entgql.Skip(entgql.SkipAll)),
		// The snapshot URL's own login, sealed (secrets.CameraSnapshotCredentialsAAD);
		// empty: none, or the source's login when the snapshot URL is on
		// the stream's host.
		field.Bytes("snapshot_credentials").Optional().Sensitive().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("last_seen_at").Optional().Nillable(),
		// A retired camera keeps its entries, thumbnails and links readable
		// but leaves the lists and is no longer recorded.
		field.Time("retired_at").Optional().Nillable(),
		// What the source test or the recorder last found, for the owner.
		field.String("source_status").Default("").MaxLen(500),
		// CLOUD cameras: the camera-cloud connection the device belongs to
		// (device_id is then the cloud's device id).
		field.String("cloud_connection_id").GoType(pulidID).Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		// CLOUD cameras: whether the cloud says the device streams (and so
		// records) now; nil while unknown.
		field.Bool("streaming").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipWhereInput | entgql.SkipOrderField)),
		// Since when the camera has not been recording (nil while it is):
		// the start of the episode the CAMERA_NOT_RECORDING alert reports.
		field.Time("not_recording_since").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipWhereInput | entgql.SkipOrderField)),
		// Recording to disk (package footage): the replica that records the
		// camera and until when its lease runs (taken over after that), as
		// the pollers' leases work.
		field.String("record_owner").Default("").MaxLen(200).Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("record_lease_until").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		// What the disk recorder last found (RECORDING, OFFLINE, AUTH_FAILED,
		// DISK_FULL, …; "" before it ran) and a sentence for the owner.
		field.String("recording_state").Default("").MaxLen(40).Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("recording_reason").Default("").MaxLen(500).Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("recording_since").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Camera) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("cameras"),
		edge.To("links", Link.Type),
		edge.To("journal_entries", JournalEntry.Type).Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("recording_segments", RecordingSegment.Type).Annotations(entgql.Skip(entgql.SkipAll)),
		edge.From("cloud_connection", CameraCloudConnection.Type).Ref("cameras").
			Field("cloud_connection_id").Unique().Annotations(entgql.Skip(entgql.SkipAll)),
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
