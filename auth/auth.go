// Package auth signs people and partner systems in: passwords (argon2id),
// lockout, sessions behind an HttpOnly cookie, API keys with scopes and a
// per-key rate limit, and a watcher that ends open websocket connections
// whose credential was revoked.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/session"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/viewer"
)

// Options tune sign-in; zero values take the defaults.
type Options struct {
	MaxFailures int           // wrong passwords in a row before a lock; default 5
	LockFor     time.Duration // how long a lock lasts; default 15 minutes
	SessionTTL  time.Duration // how long a login lasts; default 14 days
	KeyRate     float64       // requests per second per API key; default 50
	KeyBurst    int           // burst per API key; default 100
	WatchEvery  time.Duration // how often open connections re-check their credential; default 2s
	Now         func() time.Time
}

func (o *Options) defaults() {
	if o.MaxFailures <= 0 {
		o.MaxFailures = 5
	}
	if o.LockFor <= 0 {
		o.LockFor = 15 * time.Minute
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 14 * 24 * time.Hour
	}
	if o.KeyRate <= 0 {
		o.KeyRate = 50
	}
	if o.KeyBurst <= 0 {
		o.KeyBurst = 100
	}
	if o.WatchEvery <= 0 {
		o.WatchEvery = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Service signs viewers in and out.
type Service struct {
	client  *ent.Client
	opt     Options
	log     *slog.Logger
	limiter *limiter
	watch   *watcher
	cache   viewerCache
}

// New returns a Service over client. Run its watcher with Watch.
func New(client *ent.Client, log *slog.Logger, opt Options) *Service {
	opt.defaults()
	return &Service{
		client: client, opt: opt, log: log,
		limiter: newLimiter(opt.KeyRate, opt.KeyBurst, opt.Now),
		watch:   newWatcher(),
	}
}

// Options returns the effective options.
func (s *Service) Options() Options { return s.opt }

func (s *Service) now() time.Time { return s.opt.Now().UTC() }

// NormalizeEmail is the form emails are stored and looked up in.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// ScopesOf returns what a user of role may do.
func ScopesOf(role viewer.Role) []viewer.Scope {
	switch role {
	case viewer.RoleOwner, viewer.RoleAdmin:
		return []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeJournalWrite, viewer.ScopeLinksWrite, viewer.ScopeAdmin}
	}
	return []viewer.Scope{viewer.ScopeJournalRead}
}

var errBadLogin = &apperr.Error{Code: apperr.Unauthenticated, Field: "password",
	Message: "メールアドレスまたはパスワードが違います (wrong email or password)"}

var jst = time.FixedZone("JST", 9*60*60)

func lockedError(until time.Time) error {
	return &apperr.Error{Code: apperr.Forbidden, Field: "password", Message: fmt.Sprintf(
		"ロックされています。%s 以降に再試行するか、管理者に解除を依頼してください (locked until %s)",
		until.In(jst).Format("15:04"), until.UTC().Format(time.RFC3339))}
}

// Login checks email and password from ip and opens a session. The
// returned token goes into the cookie; only its hash is stored.
func (s *Service) Login(ctx context.Context, email, password, ip, userAgent string) (string, *ent.User, error) {
	sys := viewer.System(ctx)
	u, err := s.client.User.Query().Where(user.Email(NormalizeEmail(email))).Only(sys)
	if ent.IsNotFound(err) {
		VerifyPassword(dummyHash, password)
		return "", nil, errBadLogin
	}
	if err != nil {
		return "", nil, err
	}
	actx := viewer.NewContext(ctx, viewer.Viewer{AccountID: u.AccountID, UserID: u.ID, IP: ip})
	now := s.now()
	if u.LockedUntil != nil && now.Before(*u.LockedUntil) {
		s.record(actx, "login.failure", u.ID, "locked")
		return "", nil, lockedError(*u.LockedUntil)
	}
	if !ipAllowed(u.IPAllowlist, ip) {
		s.record(actx, "login.failure", u.ID, "ip not on the allowlist")
		return "", nil, &apperr.Error{Code: apperr.Forbidden, Message: "このIPアドレスからはログインできません (IP address not allowed)"}
	}
	if !VerifyPassword(u.PasswordHash, password) {
		// Count in the database so concurrent attempts cannot slip past
		// the limit.
		if err := s.client.User.UpdateOneID(u.ID).AddFailedLogins(1).Exec(sys); err != nil {
			return "", nil, err
		}
		n, err := s.client.User.Query().Where(user.ID(u.ID)).Select(user.FieldFailedLogins).Int(sys)
		if err != nil {
			return "", nil, err
		}
		s.record(actx, "login.failure", u.ID, "wrong password")
		if n >= s.opt.MaxFailures {
			until := now.Add(s.opt.LockFor).Truncate(time.Second)
			if err := s.client.User.UpdateOneID(u.ID).SetLockedUntil(until).SetFailedLogins(0).Exec(sys); err != nil {
				return "", nil, err
			}
			s.record(actx, "user.locked", u.ID, fmt.Sprintf("%d wrong passwords", n))
			s.revoked()
			return "", nil, lockedError(until)
		}
		return "", nil, errBadLogin
	}
	if u.FailedLogins != 0 || u.LockedUntil != nil {
		if err := s.client.User.UpdateOneID(u.ID).SetFailedLogins(0).ClearLockedUntil().Exec(sys); err != nil {
			return "", nil, err
		}
	}
	token, err := s.NewSession(ctx, u, ip, userAgent)
	if err != nil {
		return "", nil, err
	}
	s.record(actx, "login.success", u.ID, "")
	return token, u, nil
}

// NewSession opens a session for u without a password (the CLI, tests).
func (s *Service) NewSession(ctx context.Context, u *ent.User, ip, userAgent string) (string, error) {
	token := randomToken(32)
	if len(userAgent) > 500 {
		userAgent = userAgent[:500]
	}
	_, err := s.client.Session.Create().
		SetAccountID(u.AccountID).SetUserID(u.ID).SetTokenHash(hashToken(token)).
		SetExpiresAt(s.now().Add(s.opt.SessionTTL)).SetIP(clip(ip, 64)).SetUserAgent(userAgent).
		Save(viewer.System(ctx))
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return token, nil
}

// Logout revokes the session of the viewer in ctx.
func (s *Service) Logout(ctx context.Context) error {
	v, ok := viewer.FromContext(ctx)
	if !ok || v.SessionID == "" {
		return nil
	}
	err := s.client.Session.UpdateOneID(v.SessionID).SetRevokedAt(s.now()).Exec(viewer.System(ctx))
	s.revoked()
	return err
}

// ChangePassword replaces the viewer's password after checking the
// current one, the rules and the last passwords.
func (s *Service) ChangePassword(ctx context.Context, current, next string) error {
	v, ok := viewer.FromContext(ctx)
	if !ok || v.UserID == "" {
		return &apperr.Error{Code: apperr.Unauthenticated, Message: "ログインしてください (not signed in)"}
	}
	sys := viewer.System(ctx)
	u, err := s.client.User.Get(sys, v.UserID)
	if err != nil {
		return err
	}
	if !VerifyPassword(u.PasswordHash, current) {
		return apperr.Invalid("currentPassword", "現在のパスワードが違います (wrong current password)")
	}
	if err := s.checkNew(u, "newPassword", next); err != nil {
		return err
	}
	if err := s.setPassword(sys, u, next); err != nil {
		return err
	}
	s.record(ctx, "password.changed", u.ID, "")
	return nil
}

// checkNew applies the rules and refuses the current or one of the last
// passwords.
func (s *Service) checkNew(u *ent.User, field, pw string) error {
	if err := CheckPasswordRules(field, pw); err != nil {
		return err
	}
	for _, h := range append([]string{u.PasswordHash}, u.PasswordHistory...) {
		if h != "" && VerifyPassword(h, pw) {
			return apperr.Invalid(field, "最近使ったパスワードは使えません (one of the last %d passwords)", historyDepth)
		}
	}
	return nil
}

func (s *Service) setPassword(ctx context.Context, u *ent.User, pw string) error {
	h, err := HashPassword(pw)
	if err != nil {
		return err
	}
	// The current hash plus the history make up the last historyDepth.
	hist := u.PasswordHistory
	if u.PasswordHash != "" {
		hist = append([]string{u.PasswordHash}, hist...)
	}
	if len(hist) > historyDepth-1 {
		hist = hist[:historyDepth-1]
	}
	return s.client.User.UpdateOneID(u.ID).SetPasswordHash(h).SetPasswordHistory(hist).Exec(ctx)
}

// SetPassword sets pw without asking for the old one (the CLI and the
// demo owner); the rules still apply.
func (s *Service) SetPassword(ctx context.Context, u *ent.User, pw string) error {
	if err := CheckPasswordRules("password", pw); err != nil {
		return err
	}
	return s.setPassword(viewer.System(ctx), u, pw)
}

// NewUser is who CreateUser adds.
type NewUser struct {
	AccountID   pulid.ID
	Email       string
	Password    string
	Name        string
	Role        viewer.Role
	ShopIDs     []pulid.ID
	IPAllowlist []string
}

// CreateUser adds a user; the email must be new (CONFLICT on email).
func (s *Service) CreateUser(ctx context.Context, in NewUser) (*ent.User, error) {
	email := NormalizeEmail(in.Email)
	if !strings.Contains(email, "@") || len(email) > 254 {
		return nil, apperr.Invalid("email", "メールアドレスの形式が正しくありません (invalid email)")
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
		return nil, apperr.Invalid("role", "role must be OWNER, ADMIN or STAFF")
	}
	sys := viewer.System(ctx)
	if exists, err := s.client.User.Query().Where(user.Email(email)).Exist(sys); err != nil {
		return nil, err
	} else if exists {
		return nil, &apperr.Error{Code: apperr.Conflict, Field: "email", Message: "このメールアドレスは既に登録されています (email already registered)"}
	}
	h, err := HashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	u, err := s.client.User.Create().SetAccountID(in.AccountID).SetEmail(email).SetName(in.Name).
		SetRole(user.Role(in.Role)).SetPasswordHash(h).AddShopIDs(in.ShopIDs...).
		SetIPAllowlist(in.IPAllowlist).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, &apperr.Error{Code: apperr.Conflict, Field: "email", Message: "このメールアドレスは既に登録されています (email already registered)"}
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// Unlock lifts a lockout (by an OWNER or ADMIN).
func (s *Service) Unlock(ctx context.Context, id pulid.ID) (*ent.User, error) {
	u, err := s.client.User.UpdateOneID(id).SetFailedLogins(0).ClearLockedUntil().Save(ctx)
	if err != nil {
		return nil, err
	}
	s.revoked()
	s.record(ctx, "user.unlocked", id, "")
	return u, nil
}

// RevokeSessionsOf ends every session of a user (role change, deletion).
func (s *Service) RevokeSessionsOf(ctx context.Context, userID pulid.ID) error {
	_, err := s.client.Session.Update().Where(session.UserID(userID), session.RevokedAtIsNil()).
		SetRevokedAt(s.now()).Save(viewer.System(ctx))
	s.revoked()
	return err
}

func (s *Service) record(ctx context.Context, action string, target pulid.ID, detail string) {
	if err := audit.Record(ctx, s.client, audit.Entry{Action: action, TargetID: string(target), Detail: detail}); err != nil {
		s.log.WarnContext(ctx, "audit log", "action", action, "err", err)
	}
}

// CheckAllowlist validates CIDRs (or single addresses).
func CheckAllowlist(field string, list []string) error {
	for i, c := range list {
		if _, err := parsePrefix(c); err != nil {
			return apperr.Invalid(fmt.Sprintf("%s[%d]", field, i), "IPアドレス範囲の形式が正しくありません (not a CIDR: %q)", c)
		}
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ipAllowed reports whether ip is inside list; an empty list allows all.
func ipAllowed(list []string, ip string) bool {
	if len(list) == 0 {
		return true
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	return slices.ContainsFunc(list, func(c string) bool {
		p, err := parsePrefix(c)
		return err == nil && p.Contains(a)
	})
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// DeleteUser ends a user's sessions and deletes it (as the caller, so the
// privacy rules decide whether it may).
func (s *Service) DeleteUser(ctx context.Context, id pulid.ID) error {
	if _, err := s.client.Session.Delete().Where(session.UserID(id)).Exec(viewer.System(ctx)); err != nil {
		return err
	}
	s.revoked()
	return s.client.User.DeleteOneID(id).Exec(ctx)
}

// UserChanged is called after a user's role, shops or allowlist changed:
// cached viewers are dropped so the next request sees the change.
func (s *Service) UserChanged() { s.revoked() }

// revoked forgets cached viewers and has the watcher check open
// connections now: a credential just changed.
func (s *Service) revoked() {
	s.cache.clear()
	s.watch.kick()
}
