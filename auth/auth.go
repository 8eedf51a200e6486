// Package auth signs people and partner systems in: passwords (argon2id),
// login throttling, sessions behind an HttpOnly cookie, API keys with scopes and a
// per-key rate limit, and a watcher that ends open websocket connections
// whose credential was revoked. It also owns the rules of managing them
// (users.go, apikey.go, auditlog.go): who may grant which role, that an
// account keeps an OWNER, what is audited and when cached viewers are
// dropped. The GraphQL resolvers call these methods and add nothing.
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
	"sync/atomic"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Options tune sign-in; zero values take the defaults.
type Options struct {
	// MaxFailures wrong passwords for one email from one source address
	// cost nothing; each further attempt from there waits 1 s, 2 s, 4 s …
	// up to MaxBackoff. Default 5 and 15 minutes.
	MaxFailures int
	MaxBackoff  time.Duration
	// SourceFailures wrong passwords (any email) one source address may
	// spend per SourceWindow; default 20 per 10 minutes.
	SourceFailures int
	SourceWindow   time.Duration
	SessionTTL     time.Duration // how long a login lasts; default 14 days
	KeyRate        float64       // requests per second per API key; default 50
	KeyBurst       int           // burst per API key; default 100
	WatchEvery     time.Duration // how often open connections re-check their credential; default 2s
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (ClientIP); empty trusts none.
	TrustedProxies []netip.Prefix
	Now            func() time.Time
}

func (o *Options) defaults() {
	if o.MaxFailures <= 0 {
		o.MaxFailures = 5
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 15 * time.Minute
	}
	if o.SourceFailures <= 0 {
		o.SourceFailures = 20
	}
	if o.SourceWindow <= 0 {
		o.SourceWindow = 10 * time.Minute
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

	throttle *throttle
	// failNanos is how long a wrong password takes to answer (a moving
	// average): unknown emails and throttled attempts answer no sooner.
	failNanos atomic.Int64
}

// New returns a Service over client. Run its watcher with Watch.
func New(client *ent.Client, log *slog.Logger, opt Options) *Service {
	opt.defaults()
	return &Service{
		client: client, opt: opt, log: log,
		limiter:  newLimiter(opt.KeyRate, opt.KeyBurst, opt.Now),
		watch:    newWatcher(),
		throttle: newThrottle(opt.MaxFailures, opt.MaxBackoff, opt.SourceFailures, opt.SourceWindow),
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

// errBadLogin is the one answer to an unknown email, a wrong password and
// a throttled attempt: telling them apart would tell which emails exist.
var errBadLogin = apperr.Unauthenticatedf(
	"メールアドレスまたはパスワードが違います。続けて間違えると、しばらく待たないと受け付けません (wrong email or password; repeated failures must wait before the next attempt)").Because(apperr.LOGIN_FAILED).At("password")

// Login checks email and password from ip and opens a session. The
// returned token goes into the cookie; only its hash is stored.
//
// Failed logins never lock the account or end its sessions: they are
// throttled per (email, ip) and per ip (throttle.go), so an attacker slows
// only their own attempts. Unknown email, wrong password and throttled
// attempt get the same error after the same time.
func (s *Service) Login(ctx context.Context, email, password, ip, userAgent string) (string, *ent.User, error) {
	start := time.Now() // the real clock: this measures work, opt.Now may be a test's
	email = NormalizeEmail(email)
	n, ok := s.throttle.begin(email, ip, s.now())
	if !ok {
		// Refused without hashing, so a throttled source costs no CPU.
		s.evenOut(ctx, start)
		return "", nil, errBadLogin
	}
	sys := viewer.System(ctx)
	u, err := s.client.User.Query().Where(user.Email(email)).Only(sys)
	if ent.IsNotFound(err) {
		if _, err := verifyPassword(ctx, dummyHash, password); err != nil {
			return "", nil, err
		}
		s.evenOut(ctx, start)
		return "", nil, errBadLogin
	}
	if err != nil {
		return "", nil, err
	}
	actx := viewer.NewContext(ctx, viewer.Viewer{AccountID: u.AccountID, UserID: u.ID, IP: ip})
	right, err := verifyPassword(ctx, u.PasswordHash, password)
	if err != nil {
		return "", nil, err
	}
	if !right {
		s.record(actx, "login.failure", u.ID, "wrong password")
		if n == s.opt.MaxFailures {
			s.record(actx, "login.throttled", u.ID, fmt.Sprintf("%d wrong passwords from one address; its next attempts wait", n))
		}
		s.observeFailure(start)
		return "", nil, errBadLogin
	}
	// The allowlist is checked after the password, so that it tells only
	// someone who knows the password that the email exists.
	if !ipAllowed(u.IPAllowlist, ip) {
		s.record(actx, "login.failure", u.ID, "ip not on the allowlist")
		return "", nil, apperr.Forbiddenf("このIPアドレスからはログインできません (IP address not allowed)").Because(apperr.IP_NOT_ALLOWED)
	}
	s.throttle.success(email, ip)
	if u.FailedLogins != 0 || u.LockedUntil != nil {
		// Columns of the account lock this throttle replaced.
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

// observeFailure folds the time a wrong password took to answer (hash and
// audit row) into the average the other failures wait for.
func (s *Service) observeFailure(start time.Time) {
	d := int64(time.Since(start))
	for {
		old := s.failNanos.Load()
		next := d
		if old != 0 {
			next = old + (d-old)/8
		}
		if s.failNanos.CompareAndSwap(old, next) {
			return
		}
	}
}

// evenOut waits until a failure that started at start has taken as long as
// a wrong password does, so response times do not tell an unknown email
// or a throttled attempt from a wrong password.
func (s *Service) evenOut(ctx context.Context, start time.Time) {
	wait := time.Duration(s.failNanos.Load()) - time.Since(start)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
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

// errBadCurrent is the one answer to a wrong current password and to a
// throttled check of it.
var errBadCurrent = apperr.Invalid("currentPassword",
	"現在のパスワードが違います。続けて間違えると、しばらく待たないと受け付けません (wrong current password; repeated failures must wait before the next attempt)").Because(apperr.CURRENT_PASSWORD_WRONG)

// ChangePassword replaces the viewer's password after checking the
// current one, the rules and the last passwords. The check of the current
// password goes through the login throttle of (the user's email, the
// caller's address), so a stolen session cannot be used to guess the
// password any faster than the login form allows.
func (s *Service) ChangePassword(ctx context.Context, current, next string) error {
	v, ok := viewer.FromContext(ctx)
	if !ok || v.UserID == "" {
		return apperr.Unauthenticatedf("ログインしてください (not signed in)").Because(apperr.NOT_SIGNED_IN)
	}
	sys := viewer.System(ctx)
	u, err := s.client.User.Get(sys, v.UserID)
	if err != nil {
		return err
	}
	start := time.Now()
	ip := v.IP
	if ip == "" {
		ip, _ = ClientInfo(ctx)
	}
	email := NormalizeEmail(u.Email)
	if _, ok := s.throttle.begin(email, ip, s.now()); !ok {
		s.evenOut(ctx, start)
		return errBadCurrent
	}
	right, err := verifyPassword(ctx, u.PasswordHash, current)
	if err != nil {
		return err
	}
	if !right {
		s.record(ctx, "password.failure", u.ID, "wrong current password")
		s.observeFailure(start)
		return errBadCurrent
	}
	s.throttle.success(email, ip)
	if err := s.checkNew(ctx, u, "newPassword", next); err != nil {
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
func (s *Service) checkNew(ctx context.Context, u *ent.User, field, pw string) error {
	if err := CheckPasswordRules(field, pw); err != nil {
		return err
	}
	for _, h := range append([]string{u.PasswordHash}, u.PasswordHistory...) {
		if h == "" {
			continue
		}
		same, err := verifyPassword(ctx, h, pw)
		if err != nil {
			return err
		}
		if same {
			return apperr.Invalid(field, "最近使ったパスワードは使えません (one of the last %d passwords)", historyDepth).Because(apperr.PASSWORD_REUSED)
		}
	}
	return nil
}

func (s *Service) setPassword(ctx context.Context, u *ent.User, pw string) error {
	h, err := hashPassword(ctx, pw)
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

func (s *Service) record(ctx context.Context, action string, target pulid.ID, detail string) {
	if err := audit.Record(ctx, s.client, audit.Entry{Action: action, TargetID: string(target), Detail: detail}); err != nil {
		s.log.WarnContext(ctx, "audit log", "action", action, "err", err)
	}
}

// CheckAllowlist validates CIDRs (or single addresses).
func CheckAllowlist(field string, list []string) error {
	for i, c := range list {
		if _, err := parsePrefix(c); err != nil {
			return apperr.Invalid(fmt.Sprintf("%s[%d]", field, i), "IPアドレス範囲の形式が正しくありません (not a CIDR: %q)", c).Because(apperr.IP_RANGE_INVALID)
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

// revoked forgets cached viewers and has the watcher check open
// connections now: a credential just changed.
func (s *Service) revoked() {
	s.cache.clear()
	s.watch.kick()
}
