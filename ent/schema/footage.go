package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/pulid"
)

// RecordingSegment is one file of a camera's continuous recording on disk
// (package footage writes it; the file lives under the recordings directory
// every replica reaches, the index here in the database). A segment covers
// [start_at, end_at]; the time between one segment's end and the next one's
// start is a gap, and ended_by says why the recording stopped there.
type RecordingSegment struct{ ent.Schema }

func (RecordingSegment) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("RS")}
}

func (RecordingSegment) Fields() []ent.Field {
	return []ent.Field{
		accountField(),
		field.String("camera_id").GoType(pulidID).Immutable(),
		// FMP4_H264: the camera's own H.264 access units in fragmented MP4,
		// never transcoded; JPEG_SEQ: timestamped JPEG frames (snapshot,
		// MJPEG and simulated cameras), the format package footage/segment
		// documents.
		field.Enum("format").Values("FMP4_H264", "JPEG_SEQ").Immutable(),
		// Relative to the recordings directory, so the directory may be
		// mounted at another path on another replica.
		field.String("path").NotEmpty().MaxLen(500).Immutable(),
		field.Time("start_at").Immutable(),
		// Moves forward while the segment is written (WRITING).
		field.Time("end_at"),
		field.Int64("bytes").Default(0),
		field.Int("frames").Default(0),
		field.Int("width").Default(0),
		field.Int("height").Default(0),
		// The RFC 6381 codec string for MSE (avc1.64001f); "" for JPEG_SEQ.
		field.String("codec").Default("").MaxLen(100),
		// Where playback may start: the keyframes (every frame of JPEG_SEQ is
		// one), as ms from start_at and the byte offset of their fragment.
		field.JSON("keyframes", []schematype.Keyframe{}).Optional(),
		field.Enum("state").Values("WRITING", "COMPLETE", "CORRUPT").Default("WRITING"),
		// Why the recording ended with this segment; nil while WRITING and
		// for ROTATE's plain successor-follows case it is ROTATE.
		field.Enum("ended_by").Values("ROTATE", "DISCONNECT", "STOP", "DISK_FULL", "ERROR").Optional().Nillable(),
		// What went wrong (a corrupt file's reason, the disconnect's cause);
		// never a URL or credential.
		field.String("note").Default("").MaxLen(500),
		// The replica that writes it (the camera's lease holder).
		field.String("owner").Default("").MaxLen(200),
	}
}

func (RecordingSegment) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("recording_segments"),
		edge.From("camera", Camera.Type).Ref("recording_segments").Field("camera_id").
			Unique().Required().Immutable(),
	}
}

func (RecordingSegment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("camera_id", "start_at"),
		index.Fields("camera_id", "end_at"),
		// Retention walks the oldest segments first.
		index.Fields("start_at"),
	}
}

func (RecordingSegment) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// STAFF see the recordings of the cameras they see.
func (RecordingSegment) Policy() ent.Policy {
	return rule.Tenant(rule.Through(rule.ShopIn("shop_id"), "camera", "links", "terminal"))
}

// ShareLink lets someone without an account watch one receipt's clip with
// the receipt, until it expires or is revoked. Only the SHA-256 of its
// token is stored; the URL is shown once, when it is made.
type ShareLink struct{ ent.Schema }

func (ShareLink) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("SL"), TimeMixin{}}
}

// DefaultShareLinkTTL is how long a share link opens when its maker does
// not say.
const DefaultShareLinkTTL = 72 * time.Hour

func (ShareLink) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		accountField(),
		field.String("entry_id").GoType(pulidID).Immutable().Annotations(hidden),
		field.String("camera_id").GoType(pulidID).Immutable().Annotations(hidden),
		// The clip it shows, fixed when made (the account's lead-in/out then).
		field.Time("clip_from").Immutable(),
		field.Time("clip_to").Immutable(),
		field.Bytes("token_hash").Immutable().Unique().Sensitive().Annotations(hidden),
		field.Time("expires_at").Immutable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.String("created_by_id").GoType(pulidID).Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.String("created_by_name").Default("").MaxLen(200).Immutable(),
		field.String("note").Default("").MaxLen(500).Immutable(),
		field.Int("views").Default(0),
		field.Time("last_viewed_at").Optional().Nillable(),
	}
}

func (ShareLink) Edges() []ent.Edge {
	return []ent.Edge{
		accountEdge("share_links"),
		edge.From("entry", JournalEntry.Type).Ref("share_links").Field("entry_id").
			Unique().Required().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (ShareLink) Indexes() []ent.Index {
	return []ent.Index{index.Fields("account_id", "created_at"), index.Fields("entry_id")}
}

func (ShareLink) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

// STAFF see and make share links of the receipts of their shops.
func (ShareLink) Policy() ent.Policy {
	return rule.StaffWritable(rule.Through(rule.ShopIn("shop_id"), "entry"))
}
