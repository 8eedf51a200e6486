package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/regicam/regicam/ent/schema/rule"
	"github.com/regicam/regicam/pulid"
)

// Account is a camera-service contract: the organisation that owns shops,
// cameras and POS connections. Every customer row points at one.
type Account struct{ ent.Schema }

func (Account) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("AC"), TimeMixin{}}
}

func (Account) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200),
		// A receipt's clip: how many seconds before and after its second
		// (updateRecordingSettings).
		field.Int("clip_lead_in_seconds").Default(10).Range(0, 300).Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("clip_lead_out_seconds").Default(20).Range(0, 300).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// The reverse edges exist so the owned rows can hold account_id as a
// foreign key; they are not browsable through the API.
func (Account) Edges() []ent.Edge {
	skip := entgql.Skip(entgql.SkipAll)
	return []ent.Edge{
		edge.To("users", User.Type).Annotations(skip),
		edge.To("shops", Shop.Type).Annotations(skip),
		edge.To("shop_groups", ShopGroup.Type).Annotations(skip),
		edge.To("cameras", Camera.Type).Annotations(skip),
		edge.To("pos_connections", PosConnection.Type).Annotations(skip),
		edge.To("camera_cloud_connections", CameraCloudConnection.Type).Annotations(skip),
		edge.To("terminals", Terminal.Type).Annotations(skip),
		edge.To("links", Link.Type).Annotations(skip),
		edge.To("journal_entries", JournalEntry.Type).Annotations(skip),
		edge.To("thumbnails", Thumbnail.Type).Annotations(skip),
		edge.To("api_keys", ApiKey.Type).Annotations(skip),
		edge.To("events", Event.Type).Annotations(skip),
		edge.To("alert_rules", AlertRule.Type).Annotations(skip),
		edge.To("alerts", Alert.Type).Annotations(skip),
		edge.To("cases", Investigation.Type).Annotations(skip),
		edge.To("case_notes", CaseNote.Type).Annotations(skip),
		edge.To("case_events", CaseEvent.Type).Annotations(skip),
		edge.To("mail_settings", MailSettings.Type).Annotations(skip),
		edge.To("digest_rules", DigestRule.Type).Annotations(skip),
		edge.To("digest_sends", DigestSend.Type).Annotations(skip),
		edge.To("card_matches", CardMatch.Type).Annotations(skip),
		edge.To("recording_segments", RecordingSegment.Type).Annotations(skip),
		edge.To("share_links", ShareLink.Type).Annotations(skip),
	}
}

func (Account) Policy() ent.Policy {
	return rule.Account()
}
