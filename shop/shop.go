// Package shop keeps an account's shops (name, timezone, opening hours) and
// shop groups (shops whose figures a set of users sees together, as the
// mPOS admin consoles organise them).
//
// Every read and write runs as the caller's viewer, so the ent privacy
// rules keep it inside the account: another account's id reads exactly
// like one that does not exist (NOT_FOUND on the field that named it).
package shop

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/schema/schematype"
	entshop "github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/shopgroup"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Service creates and changes shops and shop groups.
type Service struct {
	Client *ent.Client
	// VisibilityChanged is told when a group's shops or members change, so
	// cached STAFF viewers (auth.Service.UserChanged) read their shops
	// again; nil when nothing caches them.
	VisibilityChanged func()
	Log               *slog.Logger
}

// Input is what createShop / updateShop set; a nil field is left as it is
// (on create: the default).
type Input struct {
	Name     *string
	Timezone *string
	// Hours replaces every weekday; an empty, non-nil list clears them.
	Hours *schematype.BusinessHours
}

// maxName is the column's limit, which ent counts in bytes.
const maxName = 200

func checkName(field, what, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", apperr.Invalid(field, "%sを入力してください (%s is required)", what, field).Because(apperr.REQUIRED)
	}
	if len(name) > maxName {
		return "", apperr.Invalid(field, "%sは %d バイト (全角で約 %d 文字) 以内で入力してください (at most %d bytes)", what, maxName, maxName/3, maxName).Because(apperr.VALUE_TOO_LONG)
	}
	return name, nil
}

// writer is the caller allowed to set up shops and groups: OWNER and ADMIN
// sessions (the admin scope), never an API key, as the permission table
// (access.Table) has it; this check stands behind that gate.
func writer(ctx context.Context) (viewer.Viewer, error) {
	return viewer.Require(ctx, viewer.ScopeAdmin)
}

// Create adds a shop (timezone Asia/Tokyo unless given).
func (s *Service) Create(ctx context.Context, in Input) (*ent.Shop, error) {
	v, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	if in.Name == nil {
		return nil, apperr.Invalid("input.name", "店舗名を入力してください (name is required)").Because(apperr.REQUIRED)
	}
	name, err := checkName("input.name", "店舗名", *in.Name)
	if err != nil {
		return nil, err
	}
	tz := DefaultZone
	if in.Timezone != nil {
		tz = strings.TrimSpace(*in.Timezone)
		if _, err := CheckZone("input.timezone", tz); err != nil {
			return nil, err
		}
	}
	var hours schematype.BusinessHours
	if in.Hours != nil {
		if hours, err = CheckHours("input.businessHours", *in.Hours); err != nil {
			return nil, err
		}
	}
	var out *ent.Shop
	err = s.inTx(ctx, func(c *ent.Client) error {
		if err := nameFree(ctx, c, v, name, ""); err != nil {
			return err
		}
		create := c.Shop.Create().SetAccountID(v.AccountID).SetName(name).SetTimezone(tz)
		if len(hours) > 0 {
			create.SetBusinessHours(hours)
		}
		if out, err = create.Save(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, c, audit.Entry{Action: "shop.created", TargetID: string(out.ID),
			Detail: fmt.Sprintf("店舗 %s (%s)", name, tz)})
	})
	if err != nil {
		return nil, err
	}
	// Unwrap: the row was read in the committed transaction, and its edges
	// (shops, members) are resolved later through the plain client.
	return out.Unwrap(), nil
}

// Update changes a shop's name, timezone or hours.
func (s *Service) Update(ctx context.Context, id pulid.ID, in Input) (*ent.Shop, error) {
	v, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	var out *ent.Shop
	err = s.inTx(ctx, func(c *ent.Client) error {
		cur, err := load(ctx, c, v, id, "id")
		if err != nil {
			return err
		}
		up := c.Shop.UpdateOne(cur)
		var changed []string
		if in.Name != nil {
			name, err := checkName("input.name", "店舗名", *in.Name)
			if err != nil {
				return err
			}
			if name != cur.Name {
				if err := nameFree(ctx, c, v, name, cur.ID); err != nil {
					return err
				}
				up.SetName(name)
				changed = append(changed, fmt.Sprintf("名前 %s → %s", cur.Name, name))
			}
		}
		if in.Timezone != nil {
			tz := strings.TrimSpace(*in.Timezone)
			if _, err := CheckZone("input.timezone", tz); err != nil {
				return err
			}
			if tz != cur.Timezone {
				up.SetTimezone(tz)
				changed = append(changed, fmt.Sprintf("タイムゾーン %s → %s", cur.Timezone, tz))
			}
		}
		if in.Hours != nil {
			hours, err := CheckHours("input.businessHours", *in.Hours)
			if err != nil {
				return err
			}
			if len(hours) == 0 {
				up.ClearBusinessHours()
			} else {
				up.SetBusinessHours(hours)
			}
			changed = append(changed, "営業時間 "+FormatHours(hours))
		}
		if out, err = up.Save(ctx); err != nil {
			return err
		}
		if len(changed) == 0 {
			return nil
		}
		return audit.Record(ctx, c, audit.Entry{Action: "shop.updated", TargetID: string(out.ID),
			Detail: out.Name + ": " + strings.Join(changed, ", ")})
	})
	if err != nil {
		return nil, err
	}
	// Unwrap: the row was read in the committed transaction, and its edges
	// (shops, members) are resolved later through the plain client.
	return out.Unwrap(), nil
}

// FormatHours renders hours for people: 月 10:00–20:00, 金 18:00–02:00.
func FormatHours(h schematype.BusinessHours) string {
	if len(h) == 0 {
		return "未設定"
	}
	parts := make([]string, len(h))
	for i, d := range h {
		parts[i] = fmt.Sprintf("%s %s–%s", weekdayJa[d.Weekday], d.Open, d.Close)
	}
	return strings.Join(parts, ", ")
}

// nameFree refuses a second shop of the same name in the account: the
// owner picks shops by name in every list, and `regicam setup` finds them
// by it.
func nameFree(ctx context.Context, c *ent.Client, v viewer.Viewer, name string, self pulid.ID) error {
	q := c.Shop.Query().Where(entshop.AccountID(v.AccountID), entshop.Name(name))
	if self != "" {
		q = q.Where(entshop.IDNEQ(self))
	}
	other, err := q.First(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return apperr.Conflictf("input.name",
		"店舗「%s」は既にあります (%s) (a shop of that name exists)", name, other.ID).Because(apperr.NAME_TAKEN)
}

// load finds a shop the viewer sees; anything else is NOT_FOUND on field.
func load(ctx context.Context, c *ent.Client, v viewer.Viewer, id pulid.ID, field string) (*ent.Shop, error) {
	sh, err := c.Shop.Query().Where(entshop.ID(id), entshop.AccountID(v.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Missing(field, "店舗が見つかりません (shop not found)").Because(apperr.NOT_FOUND)
	}
	return sh, err
}

// Load finds a shop of the viewer's account; any other id is NOT_FOUND on
// field.
func Load(ctx context.Context, c *ent.Client, id pulid.ID, field string) (*ent.Shop, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return nil, apperr.Missing(field, "店舗が見つかりません (shop not found)").Because(apperr.NOT_FOUND)
	}
	return load(ctx, c, v, id, field)
}

// shopsOf checks that every id names a shop of the account; the first one
// that does not is NOT_FOUND on field[i].
func shopsOf(ctx context.Context, c *ent.Client, v viewer.Viewer, field string, ids []pulid.ID) ([]pulid.ID, error) {
	if len(ids) > 1000 {
		return nil, apperr.Invalid(field, "一度に指定できる店舗は 1000 件までです (at most 1000 shops)").Because(apperr.TOO_MANY_ITEMS)
	}
	found, err := c.Shop.Query().Where(entshop.IDIn(ids...), entshop.AccountID(v.AccountID)).IDs(ctx)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if !slices.Contains(found, id) {
			return nil, apperr.Missing(fmt.Sprintf("%s[%d]", field, i), "店舗が見つかりません (shop not found)").Because(apperr.NOT_FOUND)
		}
	}
	return compact(ids), nil
}

func compact(ids []pulid.ID) []pulid.ID {
	return slices.Compact(slices.Sorted(slices.Values(ids)))
}

// Groups lists the account's shop groups by name (a STAFF user: the ones
// they belong to, by the privacy rule).
func (s *Service) Groups(ctx context.Context) ([]*ent.ShopGroup, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil && !v.Allows(viewer.ScopeLinksWrite) {
		return nil, err
	}
	return s.Client.ShopGroup.Query().Where(shopgroup.AccountID(v.AccountID)).
		Order(ent.Asc(shopgroup.FieldName), ent.Asc(shopgroup.FieldID)).All(ctx)
}

// CreateGroup adds a group of shops.
func (s *Service) CreateGroup(ctx context.Context, name string, shopIDs []pulid.ID) (*ent.ShopGroup, error) {
	v, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	if name, err = checkName("input.name", "グループ名", name); err != nil {
		return nil, err
	}
	var out *ent.ShopGroup
	err = s.inTx(ctx, func(c *ent.Client) error {
		if err := groupNameFree(ctx, c, v, "input.name", name, ""); err != nil {
			return err
		}
		ids, err := shopsOf(ctx, c, v, "input.shopIDs", shopIDs)
		if err != nil {
			return err
		}
		if out, err = c.ShopGroup.Create().SetAccountID(v.AccountID).SetName(name).AddShopIDs(ids...).Save(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, c, audit.Entry{Action: "shop_group.created", TargetID: string(out.ID),
			Detail: fmt.Sprintf("店舗グループ %s (%d 店舗)", name, len(ids))})
	})
	if err != nil {
		return nil, err
	}
	// Unwrap: the row was read in the committed transaction, and its edges
	// (shops, members) are resolved later through the plain client.
	return out.Unwrap(), nil
}

// RenameGroup renames a group.
func (s *Service) RenameGroup(ctx context.Context, id pulid.ID, name string) (*ent.ShopGroup, error) {
	v, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	if name, err = checkName("name", "グループ名", name); err != nil {
		return nil, err
	}
	var out *ent.ShopGroup
	err = s.inTx(ctx, func(c *ent.Client) error {
		g, err := loadGroup(ctx, c, v, id)
		if err != nil {
			return err
		}
		if g.Name == name {
			out = g
			return nil
		}
		if err := groupNameFree(ctx, c, v, "name", name, g.ID); err != nil {
			return err
		}
		if out, err = c.ShopGroup.UpdateOne(g).SetName(name).Save(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, c, audit.Entry{Action: "shop_group.renamed", TargetID: string(g.ID),
			Detail: fmt.Sprintf("店舗グループ %s → %s", g.Name, name)})
	})
	if err != nil {
		return nil, err
	}
	// Unwrap: the row was read in the committed transaction, and its edges
	// (shops, members) are resolved later through the plain client.
	return out.Unwrap(), nil
}

// SetGroupShops replaces the group's shops.
func (s *Service) SetGroupShops(ctx context.Context, id pulid.ID, shopIDs []pulid.ID) (*ent.ShopGroup, error) {
	v, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	var out *ent.ShopGroup
	err = s.inTx(ctx, func(c *ent.Client) error {
		g, err := loadGroup(ctx, c, v, id)
		if err != nil {
			return err
		}
		ids, err := shopsOf(ctx, c, v, "shopIDs", shopIDs)
		if err != nil {
			return err
		}
		if out, err = c.ShopGroup.UpdateOne(g).ClearShops().AddShopIDs(ids...).Save(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, c, audit.Entry{Action: "shop_group.shops_changed", TargetID: string(g.ID),
			Detail: fmt.Sprintf("店舗グループ %s: %d 店舗", g.Name, len(ids))})
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return out.Unwrap(), nil
}

// SetGroupMembers replaces the users who see the group (what matters for
// STAFF; OWNER and ADMIN see every shop anyway).
func (s *Service) SetGroupMembers(ctx context.Context, id pulid.ID, userIDs []pulid.ID) (*ent.ShopGroup, error) {
	v, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	if len(userIDs) > 1000 {
		return nil, apperr.Invalid("userIDs", "一度に指定できるユーザーは 1000 人までです (at most 1000 users)").Because(apperr.TOO_MANY_ITEMS)
	}
	var out *ent.ShopGroup
	err = s.inTx(ctx, func(c *ent.Client) error {
		g, err := loadGroup(ctx, c, v, id)
		if err != nil {
			return err
		}
		found, err := c.User.Query().Where(user.IDIn(userIDs...), user.AccountID(v.AccountID)).IDs(ctx)
		if err != nil {
			return err
		}
		for i, uid := range userIDs {
			if !slices.Contains(found, uid) {
				return apperr.Missing(fmt.Sprintf("userIDs[%d]", i), "ユーザーが見つかりません (user not found)").Because(apperr.NOT_FOUND)
			}
		}
		ids := compact(userIDs)
		if out, err = c.ShopGroup.UpdateOne(g).ClearUsers().AddUserIDs(ids...).Save(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, c, audit.Entry{Action: "shop_group.members_changed", TargetID: string(g.ID),
			Detail: fmt.Sprintf("店舗グループ %s: %d 人", g.Name, len(ids))})
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return out.Unwrap(), nil
}

// DeleteGroup removes a group; its shops and users stay, and STAFF who saw
// shops only through it no longer do.
func (s *Service) DeleteGroup(ctx context.Context, id pulid.ID) (pulid.ID, error) {
	v, err := writer(ctx)
	if err != nil {
		return "", err
	}
	err = s.inTx(ctx, func(c *ent.Client) error {
		g, err := loadGroup(ctx, c, v, id)
		if err != nil {
			return err
		}
		// The join rows go first: SQLite and PostgreSQL both cascade them,
		// but saying so here keeps that independent of the migration.
		if err := c.ShopGroup.UpdateOne(g).ClearShops().ClearUsers().Exec(ctx); err != nil {
			return err
		}
		if err := c.ShopGroup.DeleteOne(g).Exec(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, c, audit.Entry{Action: "shop_group.deleted", TargetID: string(g.ID),
			Detail: "店舗グループ " + g.Name + " を削除"})
	})
	if err != nil {
		return "", err
	}
	s.changed()
	return id, nil
}

func loadGroup(ctx context.Context, c *ent.Client, v viewer.Viewer, id pulid.ID) (*ent.ShopGroup, error) {
	g, err := c.ShopGroup.Query().Where(shopgroup.ID(id), shopgroup.AccountID(v.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Missing("id", "店舗グループが見つかりません (shop group not found)").Because(apperr.NOT_FOUND)
	}
	return g, err
}

func groupNameFree(ctx context.Context, c *ent.Client, v viewer.Viewer, field, name string, self pulid.ID) error {
	q := c.ShopGroup.Query().Where(shopgroup.AccountID(v.AccountID), shopgroup.Name(name))
	if self != "" {
		q = q.Where(shopgroup.IDNEQ(self))
	}
	exists, err := q.Exist(ctx)
	if err != nil || !exists {
		return err
	}
	return apperr.Conflictf(field,
		"店舗グループ「%s」は既にあります (a group of that name exists)", name).Because(apperr.NAME_TAKEN)
}

func (s *Service) changed() {
	if s.VisibilityChanged != nil {
		s.VisibilityChanged()
	}
}

// inTx runs fn in a transaction and commits when it returns nil.
func (s *Service) inTx(ctx context.Context, fn func(c *ent.Client) error) error {
	return db.InTx(ctx, s.Client, s.log(), "shop", func(tx *ent.Tx) error { return fn(tx.Client()) })
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
