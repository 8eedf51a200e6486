package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/regicam/regicam/ent/schema/rule"
)

// DailyRollup is one day's sales figures of one shop, split by one
// dimension, kept by package reports/rollup in the same transaction as the
// entries it counts, so a summary of whole days adds up a few rows instead
// of scanning the journal. The day is cut in the timezone its RollupShop
// row names. Figures follow package reports' accounting rule: an entry
// counts on its own occurred_at.
type DailyRollup struct{ ent.Schema }

func (DailyRollup) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").Immutable(),
		// No edge to Account or Shop: rows are written and read by raw SQL
		// only, and an edge would give Account and Shop a generated edge
		// every other package would see.
		field.String("account_id").GoType(pulidID).Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("shop_id").GoType(pulidID).Immutable(),
		// Local date, YYYY-MM-DD: text orders like the dates and compares
		// the same on both databases.
		field.String("day").MaxLen(10).Immutable(),
		// SHOP rows (key "") are the shop's whole day; the others split it
		// by terminal id, staff name or payment method name.
		field.Enum("dimension").Values("SHOP", "TERMINAL", "STAFF", "PAYMENT_METHOD").Immutable(),
		field.String("key").Default("").Immutable(),
		field.Int64("sales").Default(0),
		field.Int64("refunds").Default(0),
		field.Int64("sales_count").Default(0),
		field.Int64("refund_count").Default(0),
		field.Int64("modify_count").Default(0),
		field.Int64("delete_count").Default(0),
	}
}

func (DailyRollup) Indexes() []ent.Index {
	return []ent.Index{
		// The upsert's conflict target and the summaries' scan: one
		// dimension of an account over a range of days.
		index.Fields("account_id", "dimension", "day", "shop_id", "key").Unique(),
		// Rebuilding one shop deletes its rows.
		index.Fields("shop_id"),
	}
}

func (DailyRollup) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

func (DailyRollup) Policy() ent.Policy {
	return rule.Tenant(rule.ShopIn("shop_id"))
}

// RollupShop says that a shop's DailyRollup rows are complete — every
// entry of the shop counted once — and in which timezone their days are
// cut. Without a row, or with a zone other than the one asked for, a
// summary reads the journal.
type RollupShop struct{ ent.Schema }

func (RollupShop) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").Immutable(),
		field.String("account_id").GoType(pulidID).Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("shop_id").GoType(pulidID).Immutable(),
		field.String("timezone"),
		field.Time("built_at").Default(utcNow),
	}
}

func (RollupShop) Indexes() []ent.Index {
	return []ent.Index{index.Fields("account_id", "shop_id").Unique()}
}

func (RollupShop) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

func (RollupShop) Policy() ent.Policy {
	return rule.Tenant(rule.ShopIn("shop_id"))
}
