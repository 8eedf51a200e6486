package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/session"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/shopgroup"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// The account's users as its OWNERs and ADMINs manage them (the user
// mutations of the GraphQL API): every method here first requires the
// admin scope, runs its queries as the viewer (so the ent privacy rules
// keep it inside the viewer's account), records what it changed in the
// audit log and drops cached viewers, so the next request of the user
// concerned sees the change. CreateUser, below them, is the rule-free
// step the CLI, the demo owner and the tests use.

// NewUser is who CreateUser adds.
type NewUser struct {
	AccountID    pulid.ID // AddUser ignores it: the user joins the viewer's account
	Email        string
	Password     string
	Name         string
	Role         viewer.Role
	ShopIDs      []pulid.ID
	ShopGroupIDs []pulid.ID
	IPAllowlist  []string
}

// AddUser adds a user to the viewer's account. Only an OWNER adds an
// OWNER, and the shops and shop groups must be the account's.
func (s *Service) AddUser(ctx context.Context, in NewUser) (*ent.User, error) {
	v, err := viewer.Require(ctx, viewer.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	if err := mayGrant(v, in.Role); err != nil {
		return nil, err
	}
	if err := s.assignableShops(ctx, in.ShopIDs, in.ShopGroupIDs); err != nil {
		return nil, err
	}
	in.AccountID = v.AccountID
	u, err := s.CreateUser(ctx, in)
	if err != nil {
		return nil, err
	}
	s.record(ctx, "user.created", u.ID, fmt.Sprintf("email=%s role=%s", u.Email, u.Role))
	return u, nil
}

// UpdateUserRole gives user id role. Only an OWNER changes an OWNER or
// makes one, and the account keeps at least one OWNER.
func (s *Service) UpdateUserRole(ctx context.Context, id pulid.ID, role viewer.Role) (*ent.User, error) {
	v, err := viewer.Require(ctx, viewer.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	u, err := s.userByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := mayGrant(v, viewer.Role(u.Role)); err != nil {
		return nil, err
	}
	if err := mayGrant(v, role); err != nil {
		return nil, err
	}
	if u.Role == user.RoleOWNER && role != viewer.RoleOwner {
		if err := s.keepAnOwner(ctx, u); err != nil {
			return nil, err
		}
	}
	old := u.Role
	if u, err = u.Update().SetRole(user.Role(role)).Save(ctx); err != nil {
		return nil, err
	}
	s.UserChanged()
	s.record(ctx, "user.role_changed", u.ID, fmt.Sprintf("%s -> %s", old, role))
	return u, nil
}

// SetUserShops replaces the shops and shop groups user id is assigned to
// (what a STAFF user sees); they must be the account's.
func (s *Service) SetUserShops(ctx context.Context, id pulid.ID, shopIDs, shopGroupIDs []pulid.ID) (*ent.User, error) {
	if _, err := viewer.Require(ctx, viewer.ScopeAdmin); err != nil {
		return nil, err
	}
	u, err := s.userByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.assignableShops(ctx, shopIDs, shopGroupIDs); err != nil {
		return nil, err
	}
	u, err = u.Update().ClearShops().AddShopIDs(shopIDs...).ClearShopGroups().AddShopGroupIDs(shopGroupIDs...).Save(ctx)
	if err != nil {
		return nil, err
	}
	s.UserChanged()
	s.record(ctx, "user.shops_changed", u.ID, fmt.Sprintf("%d shops, %d groups", len(shopIDs), len(shopGroupIDs)))
	return u, nil
}

// SetUserIPAllowlist replaces the addresses user id may sign in and work
// from; an empty list allows all.
func (s *Service) SetUserIPAllowlist(ctx context.Context, id pulid.ID, ipAllowlist []string) (*ent.User, error) {
	if _, err := viewer.Require(ctx, viewer.ScopeAdmin); err != nil {
		return nil, err
	}
	u, err := s.userByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := CheckAllowlist("ipAllowlist", ipAllowlist); err != nil {
		return nil, err
	}
	if u, err = u.Update().SetIPAllowlist(ipAllowlist).Save(ctx); err != nil {
		return nil, err
	}
	s.UserChanged()
	s.record(ctx, "user.ip_allowlist_changed", u.ID, strings.Join(ipAllowlist, ","))
	return u, nil
}

// Unlock forgets the failed logins counted against a user's email, so its
// next attempt is not delayed. The throttle lives in each process: on
// several replicas this clears the one that serves it.
func (s *Service) Unlock(ctx context.Context, id pulid.ID) (*ent.User, error) {
	if _, err := viewer.Require(ctx, viewer.ScopeAdmin); err != nil {
		return nil, err
	}
	u, err := s.client.User.UpdateOneID(id).SetFailedLogins(0).ClearLockedUntil().Save(ctx)
	if err != nil {
		return nil, notFound("id", err)
	}
	s.throttle.clear(u.Email)
	s.record(ctx, "user.unlocked", id, "")
	return u, nil
}

// DeleteUser ends a user's sessions and deletes it. Nobody deletes
// themselves, only an OWNER deletes an OWNER, and the account keeps at
// least one OWNER.
func (s *Service) DeleteUser(ctx context.Context, id pulid.ID) (pulid.ID, error) {
	v, err := viewer.Require(ctx, viewer.ScopeAdmin)
	if err != nil {
		return "", err
	}
	u, err := s.userByID(ctx, id)
	if err != nil {
		return "", err
	}
	if u.ID == v.UserID {
		return "", apperr.Invalid("id", "自分自身は削除できません (cannot delete yourself)").Because(apperr.CANNOT_DELETE_SELF)
	}
	if err := mayGrant(v, viewer.Role(u.Role)); err != nil {
		return "", err
	}
	if u.Role == user.RoleOWNER {
		if err := s.keepAnOwner(ctx, u); err != nil {
			return "", err
		}
	}
	if _, err := s.client.Session.Delete().Where(session.UserID(u.ID)).Exec(viewer.System(ctx)); err != nil {
		return "", err
	}
	s.revoked()
	// As the caller, so the privacy rules decide whether it may.
	if err := s.client.User.DeleteOneID(u.ID).Exec(ctx); err != nil {
		return "", err
	}
	s.record(ctx, "user.deleted", u.ID, "email="+u.Email)
	return u.ID, nil
}

// Me is the signed-in user; nil for an API key, which has none.
func (s *Service) Me(ctx context.Context) (*ent.User, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return nil, apperr.Unauthenticatedf("ログインしてください (not signed in)").Because(apperr.NOT_SIGNED_IN)
	}
	if v.UserID == "" {
		return nil, nil
	}
	return s.client.User.Get(ctx, v.UserID)
}

// Users lists the account's users by email.
func (s *Service) Users(ctx context.Context) ([]*ent.User, error) {
	if _, err := viewer.Require(ctx, viewer.ScopeAdmin); err != nil {
		return nil, err
	}
	return s.client.User.Query().Order(ent.Asc(user.FieldEmail)).All(ctx)
}

// errEmailTaken answers a new user whose email another user has.
var errEmailTaken = apperr.Conflictf("email", "このメールアドレスは既に登録されています (email already registered)").Because(apperr.EMAIL_TAKEN)

// CreateUser adds a user; the email must be new (CONFLICT on email). It
// applies no rule of who may add whom: AddUser does, for a viewer.
func (s *Service) CreateUser(ctx context.Context, in NewUser) (*ent.User, error) {
	email := NormalizeEmail(in.Email)
	if !strings.Contains(email, "@") || len(email) > 254 {
		return nil, apperr.Invalid("email", "メールアドレスの形式が正しくありません (invalid email)").Because(apperr.EMAIL_INVALID)
	}
	if err := CheckPasswordRules("password", in.Password); err != nil {
		return nil, err
	}
	if err := CheckAllowlist("ipAllowlist", in.IPAllowlist); err != nil {
		return nil, err
	}
	switch in.Role {
	case viewer.RoleOwner, viewer.RoleAdmin, viewer.RoleStaff:
	case "":
		in.Role = viewer.RoleStaff
	default:
		return nil, apperr.Invalid("role", "role must be OWNER, ADMIN or STAFF").Because(apperr.INVALID_CHOICE)
	}
	sys := viewer.System(ctx)
	if exists, err := s.client.User.Query().Where(user.Email(email)).Exist(sys); err != nil {
		return nil, err
	} else if exists {
		return nil, errEmailTaken
	}
	h, err := HashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	u, err := s.client.User.Create().SetAccountID(in.AccountID).SetEmail(email).SetName(in.Name).
		SetRole(user.Role(in.Role)).SetPasswordHash(h).AddShopIDs(in.ShopIDs...).AddShopGroupIDs(in.ShopGroupIDs...).
		SetIPAllowlist(in.IPAllowlist).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, errEmailTaken
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// RevokeSessionsOf ends every session of a user (role change, deletion).
func (s *Service) RevokeSessionsOf(ctx context.Context, userID pulid.ID) error {
	_, err := s.client.Session.Update().Where(session.UserID(userID), session.RevokedAtIsNil()).
		SetRevokedAt(s.now()).Save(viewer.System(ctx))
	s.revoked()
	return err
}

// UserChanged is called after a user's role, shops or allowlist changed
// (and after a shop's visibility did, by package shop): cached viewers are
// dropped so the next request sees the change.
func (s *Service) UserChanged() { s.revoked() }

// mayGrant refuses an ADMIN giving or touching the OWNER role: only owners
// hand ownership around.
func mayGrant(v viewer.Viewer, role viewer.Role) error {
	if role == viewer.RoleOwner && v.Role != viewer.RoleOwner {
		return apperr.Forbiddenf("オーナーの権限はオーナーだけが変更できます (only an OWNER manages owners)").Because(apperr.OWNER_ONLY).At("role")
	}
	return nil
}

// keepAnOwner refuses to remove the last OWNER of an account. It counts as
// the viewer, so the privacy rules keep the count inside the account.
func (s *Service) keepAnOwner(ctx context.Context, u *ent.User) error {
	n, err := s.client.User.Query().Where(user.RoleEQ(user.RoleOWNER), user.IDNEQ(u.ID)).Count(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.Conflictf("id", "最後のオーナーは変更・削除できません (the account needs an OWNER)").Because(apperr.LAST_OWNER)
	}
	return nil
}

// assignableShops checks that shops and shop groups are the viewer's
// (counted as the viewer: another account's ids count as missing).
func (s *Service) assignableShops(ctx context.Context, shopIDs, groupIDs []pulid.ID) error {
	if len(shopIDs) > 0 {
		n, err := s.client.Shop.Query().Where(shop.IDIn(shopIDs...)).Count(ctx)
		if err != nil {
			return err
		}
		if n != len(slices.Compact(slices.Sorted(slices.Values(shopIDs)))) {
			return apperr.Missing("shopIDs", "店舗が見つかりません (shop not found)").Because(apperr.NOT_FOUND)
		}
	}
	if len(groupIDs) > 0 {
		n, err := s.client.ShopGroup.Query().Where(shopgroup.IDIn(groupIDs...)).Count(ctx)
		if err != nil {
			return err
		}
		if n != len(slices.Compact(slices.Sorted(slices.Values(groupIDs)))) {
			return apperr.Missing("shopGroupIDs", "店舗グループが見つかりません (shop group not found)").Because(apperr.NOT_FOUND)
		}
	}
	return nil
}

// userByID loads a user the viewer may see; any other id is NOT_FOUND on
// "id".
func (s *Service) userByID(ctx context.Context, id pulid.ID) (*ent.User, error) {
	u, err := s.client.User.Get(ctx, id)
	if err != nil {
		return nil, notFound("id", err)
	}
	return u, nil
}

// notFound turns a lookup miss into NOT_FOUND on field, worded as the
// GraphQL layer words every miss (graph/errors.go).
func notFound(field string, err error) error {
	if ent.IsNotFound(err) {
		return apperr.Missing(field, "見つかりません (not found)").Because(apperr.NOT_FOUND)
	}
	return err
}
