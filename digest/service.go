// Package digest mails each shop's day to the people a digest rule names:
// the day's figures (package reports' sums), its exceptions with their
// thumbnails and links, and the shop's open cases. It owns the account's
// mail settings (the password sealed with secrets.MailPasswordAAD), the
// digest rules, and the scheduler that turns them into DigestSend rows —
// one per rule, shop, day and recipient, unique, so replicas sharing a
// database send each digest once — and sends them with retries.
package digest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/digestrule"
	"github.com/regicam/regicam/ent/digestsend"
	"github.com/regicam/regicam/ent/mailsettings"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/reports"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/textcheck"
	"github.com/regicam/regicam/viewer"
)

// Limits of what an owner may configure.
const (
	MaxRecipients = 20
	// testsPerMinute bounds testMailSettings per account: each call opens
	// a connection to a server the owner named.
	testsPerMinute = 5
)

// Blobs reads stored thumbnails (thumbs.Store).
type Blobs interface {
	Get(ctx context.Context, key string) ([]byte, error)
}

// Config is what the process decides, not the owner.
type Config struct {
	// PublicURL is how browsers reach the dashboard; mails link to it.
	PublicURL string
	// RootCAs are trusted for mail servers besides the system's roots
	// (tests' own certificates). Not a setting an owner can change.
	RootCAs *x509.CertPool
	// Now is the scheduler's clock; nil is time.Now.
	Now func() time.Time
	// Every is how often the scheduler looks for due digests (default 30s).
	Every time.Duration
	// Instance names this process in claimed_by (default: a fresh id).
	Instance string
	// SendTimeout bounds one submission (default 1 min).
	SendTimeout time.Duration
	// DenyPrivate refuses mail servers on loopback and private addresses;
	// link-local and cloud metadata addresses are refused either way.
	DenyPrivate bool
}

// Service is the digest of one process: settings, rules and the scheduler.
type Service struct {
	Client  *ent.Client
	Box     *secrets.Box
	Reports *reports.Service
	Blobs   Blobs // nil: mails carry no thumbnails
	Log     *slog.Logger

	cfg    Config
	kick   chan struct{}
	mu     sync.Mutex
	tests  map[pulid.ID][]time.Time // testMailSettings calls per account in the last minute
	passes int64
}

// New returns the service; Run starts its scheduler.
func New(client *ent.Client, box *secrets.Box, rep *reports.Service, blobs Blobs, log *slog.Logger, cfg Config) *Service {
	if cfg.Every <= 0 {
		cfg.Every = 30 * time.Second
	}
	if cfg.Instance == "" {
		cfg.Instance = string(pulid.MustNew("DG"))
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{Client: client, Box: box, Reports: rep, Blobs: blobs, Log: log, cfg: cfg,
		kick: make(chan struct{}, 1), tests: map[pulid.ID][]time.Time{}}
}

func (s *Service) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

func caller(ctx context.Context) (viewer.Viewer, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return v, apperr.Unauthenticatedf("ログインしてください").Because(apperr.NOT_SIGNED_IN)
	}
	return v, nil
}

// Settings returns the account's mail settings, nil when none are stored.
func (s *Service) Settings(ctx context.Context) (*ent.MailSettings, error) {
	v, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.Client.MailSettings.Query().Where(mailsettings.AccountID(v.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return m, err
}

// SettingsInput is setMailSettings' input; nil fields keep their stored
// value (or take the default), Password "" removes the password.
type SettingsInput struct {
	Host        string
	Port        *int
	Security    *string
	Username    *string
	Password    *string
	FromAddress string
	FromName    *string
}

var hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

func checkHost(h string) error {
	if h == "" {
		return apperr.Invalid("host", "メールサーバーのホスト名を入力してください").Because(apperr.REQUIRED)
	}
	if len(h) > 253 {
		return apperr.Invalid("host", "メールサーバーのホスト名が長すぎます（253 文字まで）").Because(apperr.VALUE_TOO_LONG)
	}
	if net.ParseIP(strings.Trim(h, "[]")) != nil {
		return nil
	}
	for _, l := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if !hostLabel.MatchString(l) {
			return apperr.Invalid("host", "メールサーバーのホスト名に使えない文字があります（例: smtp.example.jp）").Because(apperr.INVALID_FORMAT)
		}
	}
	return nil
}

// checkAddress accepts one bare address (no display name), as mail
// servers take in MAIL FROM and RCPT TO.
func checkAddress(field, what, a string) (string, error) {
	a = strings.TrimSpace(a)
	if a == "" {
		return "", apperr.Invalid(field, "%sを入力してください", what).Because(apperr.REQUIRED)
	}
	if len(a) > 254 {
		return "", apperr.Invalid(field, "%sが長すぎます（254 文字まで）", what).Because(apperr.VALUE_TOO_LONG)
	}
	p, err := mail.ParseAddress(a)
	if err != nil || p.Address != a || p.Name != "" || strings.ContainsAny(a, "\r\n") {
		return "", apperr.Invalid(field, "%s「%s」はメールアドレスの形式ではありません（例: tencho@example.jp）", what, clip(a, 60)).Because(apperr.EMAIL_INVALID)
	}
	return a, nil
}

func checkText(field, what string, v string, max int) error {
	if err := textcheck.String(field, v); err != nil {
		return err
	}
	if strings.ContainsAny(v, "\r\n\t") {
		return apperr.Invalid(field, "%sに改行やタブは使えません", what).Because(apperr.INVALID_TEXT)
	}
	if len([]rune(v)) > max {
		return apperr.Invalid(field, "%sが長すぎます（%d 文字まで）", what, max).Because(apperr.VALUE_TOO_LONG)
	}
	return nil
}

// SetSettings stores the account's mail settings, sealing the password.
func (s *Service) SetSettings(ctx context.Context, in SettingsInput) (*ent.MailSettings, error) {
	v, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	in.Host = strings.TrimSpace(in.Host)
	if err := checkHost(in.Host); err != nil {
		return nil, err
	}
	port, security := 587, "STARTTLS"
	if in.Security != nil {
		security = *in.Security
	}
	if security != "STARTTLS" && security != "TLS" {
		return nil, apperr.Invalid("security", "暗号化の方式は STARTTLS か TLS を選んでください").Because(apperr.INVALID_CHOICE)
	}
	if security == "TLS" {
		port = 465
	}
	if in.Port != nil {
		port = *in.Port
	}
	if port < 1 || port > 65535 {
		return nil, apperr.Invalid("port", "ポート番号は 1 から 65535 の間で入力してください").Because(apperr.VALUE_OUT_OF_RANGE)
	}
	from, err := checkAddress("fromAddress", "送信元アドレス", in.FromAddress)
	if err != nil {
		return nil, err
	}
	var username, fromName string
	if in.Username != nil {
		username = strings.TrimSpace(*in.Username)
		if err := checkText("username", "ユーザー名", username, 200); err != nil {
			return nil, err
		}
	}
	if in.FromName != nil {
		fromName = strings.TrimSpace(*in.FromName)
		if err := checkText("fromName", "送信者名", fromName, 200); err != nil {
			return nil, err
		}
	}
	if in.Password != nil && len(*in.Password) > 500 {
		return nil, apperr.Invalid("password", "パスワードが長すぎます（500 文字まで）").Because(apperr.VALUE_TOO_LONG)
	}
	old, err := s.Client.MailSettings.Query().Where(mailsettings.AccountID(v.AccountID)).Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	id := pulid.MustNew("MS")
	if old != nil {
		id = old.ID
	}
	var sealed []byte
	if in.Password != nil && *in.Password != "" {
		if s.Box == nil {
			return nil, apperr.Unavailablef("このサーバーには秘密鍵がないため、パスワードを保存できません").Because(apperr.SECRET_KEY_MISSING)
		}
		if sealed, err = s.Box.Seal([]byte(*in.Password), secrets.MailPasswordAAD(id)); err != nil {
			return nil, fmt.Errorf("seal mail password: %w", err)
		}
	}
	if old == nil {
		c := s.Client.MailSettings.Create().SetID(id).SetAccountID(v.AccountID).SetHost(in.Host).SetPort(port).
			SetSecurity(mailsettings.Security(security)).SetUsername(username).SetFromAddress(from).SetFromName(fromName)
		if sealed != nil {
			c.SetPassword(sealed)
		}
		m, err := c.Save(ctx)
		if ent.IsConstraintError(err) {
			return nil, apperr.Conflictf("input", "ほかの操作と同時に保存されました。もう一度保存してください").Because(apperr.CHANGED_CONCURRENTLY)
		}
		if err != nil {
			return nil, err
		}
		pw := "none"
		if sealed != nil {
			pw = "set"
		}
		return m, s.audit(ctx, "mail_settings.created", m.ID, fmt.Sprintf("host=%s port=%d user=%s password=%s", m.Host, m.Port, m.Username, pw))
	}
	// The stored password is for the server it was given for: another host,
	// port or login must come with its own, so whoever may change the
	// settings cannot send the kept one to a server of theirs.
	if len(old.Password) > 0 && in.Password == nil &&
		(!strings.EqualFold(old.Host, in.Host) || old.Port != port || old.Username != username) {
		return nil, apperr.Invalid("password", "送信サーバー・ポート・ユーザー名を変えるときは、パスワードも入力し直してください").Because(apperr.REQUIRED)
	}
	u := old.Update().SetHost(in.Host).SetPort(port).SetSecurity(mailsettings.Security(security)).
		SetUsername(username).SetFromAddress(from).SetFromName(fromName)
	pw := "kept"
	switch {
	case sealed != nil:
		u.SetPassword(sealed)
		pw = "changed"
	case in.Password != nil: // "": remove
		u.ClearPassword()
		pw = "removed"
	}
	m, err := u.Save(ctx)
	if err != nil {
		return nil, err
	}
	return m, s.audit(ctx, "mail_settings.updated", m.ID, fmt.Sprintf("host=%s port=%d user=%s password=%s", m.Host, m.Port, m.Username, pw))
}

// audit records a change of the mail settings or a digest rule: where the
// account's figures and pictures are mailed is worth a trace.
func (s *Service) audit(ctx context.Context, action string, id pulid.ID, detail string) error {
	return audit.Record(ctx, s.Client, audit.Entry{Action: action, TargetID: string(id), Detail: detail})
}

// MaxRules is how many digest rules one account may have: each sends to up
// to MaxRecipients every day.
const MaxRules = 20

// server opens the stored settings into what Send needs.
func (s *Service) server(m *ent.MailSettings) (Server, error) {
	srv := Server{Host: m.Host, Port: m.Port, Security: string(m.Security), Username: m.Username, DenyPrivate: s.cfg.DenyPrivate,
		RootCAs: s.cfg.RootCAs, Timeout: s.cfg.SendTimeout}
	if len(m.Password) > 0 {
		if s.Box == nil {
			return srv, errors.New("no secret key")
		}
		pw, err := s.Box.Open(m.Password, secrets.MailPasswordAAD(m.ID))
		if err != nil {
			return srv, fmt.Errorf("open mail password: %w", err)
		}
		srv.Password = string(pw)
	}
	return srv, nil
}

func fromAddress(m *ent.MailSettings) *mail.Address {
	name := m.FromName
	if name == "" {
		name = "regicam"
	}
	return &mail.Address{Name: name, Address: m.FromAddress}
}

func messageID(key string, m *ent.MailSettings) string {
	domain := "regicam.invalid"
	if i := strings.LastIndexByte(m.FromAddress, '@'); i >= 0 && i < len(m.FromAddress)-1 {
		domain = m.FromAddress[i+1:]
	}
	return key + "@" + domain
}

// TestSettings sends one test message to `to` through the stored settings.
func (s *Service) TestSettings(ctx context.Context, to string) error {
	v, err := caller(ctx)
	if err != nil {
		return err
	}
	to, err = checkAddress("to", "宛先", to)
	if err != nil {
		return err
	}
	if !s.allowTest(v.AccountID) {
		return apperr.RateLimitedf("テストメールは 1 分間に %d 通までです。少し待ってから送ってください", testsPerMinute).Because(apperr.RATE_LIMITED)
	}
	m, err := s.Settings(ctx)
	if err != nil {
		return err
	}
	if m == nil {
		return apperr.Invalid("to", "メールサーバーが設定されていません。先にメールの設定を保存してください").Because(apperr.REQUIRED)
	}
	srv, err := s.server(m)
	if err != nil {
		return apperr.Internalf("保存されたパスワードを読めませんでした。パスワードを入力し直してください").Because(apperr.INTERNAL)
	}
	msg, err := TestMessage(Envelope{From: fromAddress(m), To: &mail.Address{Address: to},
		MessageID: messageID("test."+string(pulid.MustNew("TM")), m), Date: time.Now()})
	if err != nil {
		return err
	}
	if err := Send(ctx, srv, m.FromAddress, to, msg); err != nil {
		var se *SendError
		if !errors.As(err, &se) {
			return err
		}
		field := map[Step]string{StepConnect: "host", StepAuth: "password", StepFrom: "fromAddress", StepRcpt: "to"}[se.Step]
		if field == "" {
			return apperr.Unavailablef("%s", se.Plain()).Because(apperr.UNAVAILABLE)
		}
		return apperr.Invalid(field, "%s", se.Plain()).Because(apperr.BAD_USER_INPUT)
	}
	return nil
}

func (s *Service) allowTest(acct pulid.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	recent := slices.DeleteFunc(s.tests[acct], func(t time.Time) bool { return now.Sub(t) >= time.Minute })
	if len(recent) >= testsPerMinute {
		s.tests[acct] = recent
		return false
	}
	s.tests[acct] = append(recent, now)
	return true
}

// RuleInput is createDigestRule's and updateDigestRule's input.
type RuleInput struct {
	Name       string
	Recipients []string
	ShopIDs    []pulid.ID
	SendAt     *string
	Enabled    *bool
}

var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

func (s *Service) checkRule(ctx context.Context, acct pulid.ID, in *RuleInput) error {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return apperr.Invalid("name", "名前を入力してください").Because(apperr.REQUIRED)
	}
	if err := checkText("name", "名前", in.Name, 200); err != nil {
		return err
	}
	if len(in.Recipients) == 0 {
		return apperr.Invalid("recipients", "宛先を 1 つ以上入力してください").Because(apperr.REQUIRED)
	}
	if len(in.Recipients) > MaxRecipients {
		return apperr.Invalid("recipients", "宛先は %d 件までです（%d 件あります）", MaxRecipients, len(in.Recipients)).Because(apperr.TOO_MANY_ITEMS)
	}
	seen := map[string]bool{}
	for i, r := range in.Recipients {
		a, err := checkAddress(fmt.Sprintf("recipients.%d", i), "宛先", r)
		if err != nil {
			return err
		}
		if seen[strings.ToLower(a)] {
			return apperr.Invalid(fmt.Sprintf("recipients.%d", i), "宛先「%s」が 2 回入っています", a).Because(apperr.DUPLICATE_IN_LIST)
		}
		seen[strings.ToLower(a)] = true
		in.Recipients[i] = a
	}
	if in.SendAt != nil && !hhmm.MatchString(*in.SendAt) {
		return apperr.Invalid("sendAt", "送信時刻は「22:00」のように 24 時間制の時:分で入力してください").Because(apperr.INVALID_TIME)
	}
	if len(in.ShopIDs) > 0 {
		slices.Sort(in.ShopIDs)
		in.ShopIDs = slices.Compact(in.ShopIDs)
		n, err := s.Client.Shop.Query().Where(shop.AccountID(acct), shop.IDIn(in.ShopIDs...)).Count(ctx)
		if err != nil {
			return err
		}
		if n != len(in.ShopIDs) {
			return apperr.Missing("shopIDs", "店舗が見つかりません").Because(apperr.NOT_FOUND)
		}
	}
	return nil
}

func ids(v []pulid.ID) []string {
	out := make([]string, len(v))
	for i, id := range v {
		out[i] = string(id)
	}
	return out
}

// Rules lists the account's digest rules, oldest first.
func (s *Service) Rules(ctx context.Context) ([]*ent.DigestRule, error) {
	v, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return s.Client.DigestRule.Query().Where(digestrule.AccountID(v.AccountID)).
		Order(ent.Asc(digestrule.FieldCreatedAt), ent.Asc(digestrule.FieldID)).Limit(200).All(ctx)
}

// CreateRule adds a digest rule.
func (s *Service) CreateRule(ctx context.Context, in RuleInput) (*ent.DigestRule, error) {
	v, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkRule(ctx, v.AccountID, &in); err != nil {
		return nil, err
	}
	if n, err := s.Client.DigestRule.Query().Where(digestrule.AccountID(v.AccountID)).Count(ctx); err != nil {
		return nil, err
	} else if n >= MaxRules {
		return nil, apperr.Invalid("input", "日報メールのルールは %d 件までです。使っていないルールを削除してください", MaxRules).Because(apperr.TOO_MANY_ITEMS)
	}
	// On the scheduler's clock: a rule is not owed the digests of days
	// whose send time passed before it existed.
	c := s.Client.DigestRule.Create().SetAccountID(v.AccountID).SetName(in.Name).SetRecipients(in.Recipients).
		SetShopIds(ids(in.ShopIDs)).SetCreatedAt(s.now())
	if in.SendAt != nil {
		c.SetSendAt(*in.SendAt)
	}
	if in.Enabled != nil {
		c.SetEnabled(*in.Enabled)
	}
	r, err := c.Save(ctx)
	if err != nil {
		return nil, err
	}
	s.Kick()
	return r, s.audit(ctx, "digest_rule.created", r.ID, ruleDetail(r))
}

// ruleDetail is a rule's audit detail: its name, recipients and shops.
func ruleDetail(r *ent.DigestRule) string {
	return fmt.Sprintf("name=%s recipients=%s shops=%s", r.Name, strings.Join(r.Recipients, ","), strings.Join(r.ShopIds, ","))
}

func (s *Service) rule(ctx context.Context, id pulid.ID) (*ent.DigestRule, error) {
	v, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.Client.DigestRule.Query().Where(digestrule.ID(id), digestrule.AccountID(v.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Missing("id", "日次レポートの設定が見つかりません").Because(apperr.NOT_FOUND)
	}
	return r, err
}

// UpdateRule replaces a rule's settings; its status stays.
func (s *Service) UpdateRule(ctx context.Context, id pulid.ID, in RuleInput) (*ent.DigestRule, error) {
	r, err := s.rule(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.checkRule(ctx, r.AccountID, &in); err != nil {
		return nil, err
	}
	u := r.Update().SetName(in.Name).SetRecipients(in.Recipients).SetShopIds(ids(in.ShopIDs))
	if in.SendAt != nil {
		u.SetSendAt(*in.SendAt)
	}
	if in.Enabled != nil {
		u.SetEnabled(*in.Enabled)
	}
	r, err = u.Save(ctx)
	if err != nil {
		return nil, err
	}
	s.Kick()
	return r, s.audit(ctx, "digest_rule.updated", r.ID, ruleDetail(r))
}

// DeleteRule removes a rule and its queue (mails not sent yet are not
// sent).
func (s *Service) DeleteRule(ctx context.Context, id pulid.ID) (pulid.ID, error) {
	r, err := s.rule(ctx, id)
	if err != nil {
		return "", err
	}
	if _, err := s.Client.DigestSend.Delete().Where(digestsend.DigestRuleID(r.ID), digestsend.AccountID(r.AccountID)).Exec(ctx); err != nil {
		return "", err
	}
	if err := s.Client.DigestRule.DeleteOne(r).Exec(ctx); err != nil {
		return "", err
	}
	return r.ID, s.audit(ctx, "digest_rule.deleted", r.ID, ruleDetail(r))
}

// RuleShops are the shops a rule covers (all of the account's when it
// names none), ordered by id.
func (s *Service) RuleShops(ctx context.Context, r *ent.DigestRule) ([]*ent.Shop, error) {
	q := s.Client.Shop.Query().Where(shop.AccountID(r.AccountID))
	if len(r.ShopIds) > 0 {
		want := make([]pulid.ID, len(r.ShopIds))
		for i, id := range r.ShopIds {
			want[i] = pulid.ID(id)
		}
		q = q.Where(shop.IDIn(want...))
	}
	return q.Order(ent.Asc(shop.FieldID)).All(ctx)
}

var dayFormat = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// SendNow queues the digest of day (YYYY-MM-DD; nil: yesterday in each
// shop's zone) for every shop and recipient of the rule. A shop-day and
// recipient already queued or sent is not queued again.
func (s *Service) SendNow(ctx context.Context, id pulid.ID, day *string) (*ent.DigestRule, error) {
	r, err := s.rule(ctx, id)
	if err != nil {
		return nil, err
	}
	if day != nil {
		t, err := time.Parse(time.DateOnly, *day)
		if err != nil || !dayFormat.MatchString(*day) {
			return nil, apperr.Invalid("day", "日付は「2026-12-01」のように年-月-日で入力してください").Because(apperr.INVALID_FORMAT)
		}
		if t.After(s.now().Add(14 * time.Hour)) { // later than today anywhere
			return nil, apperr.Invalid("day", "まだ来ていない日のレポートは送れません").Because(apperr.DATE_IN_FUTURE)
		}
		if t.Before(s.now().AddDate(0, 0, -90)) {
			return nil, apperr.Invalid("day", "送れるのは 90 日前までの日のレポートです").Because(apperr.VALUE_OUT_OF_RANGE)
		}
	}
	shops, err := s.RuleShops(ctx, r)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for _, sh := range shops {
		d := ""
		if day != nil {
			d = *day
		} else {
			d = now.In(zone(sh)).AddDate(0, 0, -1).Format(time.DateOnly)
		}
		if err := s.enqueue(viewer.System(ctx), r, sh.ID, d, now); err != nil {
			return nil, err
		}
	}
	s.Kick()
	d := "yesterday"
	if day != nil {
		d = *day
	}
	return r, s.audit(ctx, "digest_rule.sent_now", r.ID, "day="+d+" "+ruleDetail(r))
}

// Kick wakes the scheduler (a rule was saved or a digest queued).
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func zone(sh *ent.Shop) *time.Location {
	name := sh.Timezone
	if name == "" {
		name = reports.DefaultTimezone
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc, _ = time.LoadLocation(reports.DefaultTimezone)
	}
	return loc
}
