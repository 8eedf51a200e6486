// Package sharelink owns the share links of a receipt's clip: a URL that
// lets someone without an account watch the seconds around one receipt,
// with the receipt, until it expires or is revoked.
//
// The URL carries a 32-byte random token; only its SHA-256 is stored, so
// the database (and its backups) cannot open a link, and the URL is shown
// once, when the link is made. The clip's window is fixed when the link is
// made (the account's lead-in and lead-out then), so changing them later
// does not widen what an existing link shows. Making and revoking a link
// are audited in the same transaction; views are counted on the link and
// audited at most once an hour per link, so a reloading visitor cannot
// flood the audit log.
//
// Making, listing and revoking run as the caller's viewer and need an
// OWNER or ADMIN (access.Table and ScopeAdmin here); opening runs as the
// system, because the visitor has no account, and reaches nothing but the
// link's own row, its receipt and that receipt's shop.
package sharelink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/contrib/entgql"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	entsharelink "github.com/regicam/regicam/ent/sharelink"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Limits of a link and of the list.
const (
	DefaultTTL  = 72 * time.Hour
	MinTTL      = time.Hour
	MaxTTL      = 720 * time.Hour
	MaxNote     = 500 // bytes, as the column counts them
	DefaultPage = 20
	MaxPage     = 100
	// PathPrefix is where the server answers a link: PathPrefix + token.
	PathPrefix = "/share/"
	// viewAuditEvery bounds the audit rows of views: one per link per
	// period at most; every page load is still counted on the link.
	viewAuditEvery = time.Hour
	tokenBytes     = 32
)

// Audit actions.
const (
	ActionCreated = "sharelink.created"
	ActionRevoked = "sharelink.revoked"
	ActionViewed  = "sharelink.viewed"
)

// ErrNotFound is a token that names no link (404); ErrGone a link that
// expired or was revoked (410).
var (
	ErrNotFound = errors.New("share link not found")
	ErrGone     = errors.New("share link expired or revoked")
)

// Service makes, lists, revokes and opens share links.
type Service struct {
	Client *ent.Client
	Log    *slog.Logger
	// PublicURL is how browsers reach this server (--public-url); the URL
	// a new link gets is built on it. Empty: the URL is a path
	// (/share/…), which the dashboard resolves against its own origin.
	PublicURL string
	// Now is the clock of expiry and views; nil is time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// manager is the caller of Create, List and Revoke: an OWNER or ADMIN
// session (access.Table lets no key and no STAFF in; this stands behind it).
func manager(ctx context.Context) (viewer.Viewer, error) {
	return viewer.Require(ctx, viewer.ScopeAdmin)
}

// Active reports whether l still opens at now.
func Active(l *ent.ShareLink, now time.Time) bool {
	return l.RevokedAt == nil && now.Before(l.ExpiresAt)
}

// Active reports whether l still opens now.
func (s *Service) Active(l *ent.ShareLink) bool { return Active(l, s.now()) }

// Mark is the receipt's second on the camera's clock: its corrected time
// once the register's offset is known, else the time it printed.
func Mark(e *ent.JournalEntry) time.Time {
	if e.CorrectedAt != nil {
		return *e.CorrectedAt
	}
	return e.OccurredAt
}

// TTL checks a link's lifetime in hours (nil: DefaultTTL).
func TTL(hours *int) (time.Duration, error) {
	if hours == nil {
		return DefaultTTL, nil
	}
	d := time.Duration(*hours) * time.Hour
	if d < MinTTL || d > MaxTTL {
		return 0, apperr.Invalid("expiresInHours", "有効期間は %d〜%d 時間で指定してください (1–720 hours)",
			int(MinTTL/time.Hour), int(MaxTTL/time.Hour)).Because(apperr.VALUE_OUT_OF_RANGE)
	}
	return d, nil
}

// Create makes a link to entryID's clip that opens for ttl, and returns it
// with its URL, which is not stored anywhere: this is the only time it is
// known. An entry with no camera has no clip to share.
func (s *Service) Create(ctx context.Context, entryID pulid.ID, ttl time.Duration, note string) (*ent.ShareLink, string, error) {
	v, err := manager(ctx)
	if err != nil {
		return nil, "", err
	}
	if ttl < MinTTL || ttl > MaxTTL {
		h := int(ttl / time.Hour)
		if _, err := TTL(&h); err != nil {
			return nil, "", err
		}
	}
	note = strings.TrimSpace(note)
	if len(note) > MaxNote {
		return nil, "", apperr.Invalid("note", "メモは %d バイトまでです (note too long)", MaxNote).Because(apperr.VALUE_TOO_LONG)
	}
	if !utf8.ValidString(note) || strings.ContainsRune(note, 0) {
		return nil, "", apperr.Invalid("note", "メモに使えない文字があります (invalid text)").Because(apperr.INVALID_TEXT)
	}
	entry, err := s.Client.JournalEntry.Query().
		Where(journalentry.ID(entryID), journalentry.AccountID(v.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, "", apperr.Missing("entryID", "取引が見つかりません (no such receipt)").Because(apperr.NOT_FOUND)
	}
	if err != nil {
		return nil, "", err
	}
	if entry.CameraID == nil {
		return nil, "", apperr.Invalid("entryID", "この取引にはカメラが紐づいていないため、共有する映像がありません (the receipt has no camera)").
			Because(apperr.CAMERA_NOT_RECORDED)
	}
	sys := viewer.System(ctx)
	acct, err := s.Client.Account.Get(sys, v.AccountID)
	if err != nil {
		return nil, "", err
	}
	by := s.actorName(sys, v)
	token, hash, err := newToken()
	if err != nil {
		return nil, "", err
	}
	mark := Mark(entry)
	now := s.now()
	var out *ent.ShareLink
	err = db.InTx(ctx, s.Client, s.log(), "create share link", func(tx *ent.Tx) error {
		c := tx.ShareLink.Create()
		c.SetAccountID(v.AccountID).
			SetEntryID(entry.ID).
			SetCameraID(*entry.CameraID).
			SetClipFrom(mark.Add(-time.Duration(acct.ClipLeadInSeconds) * time.Second)).
			SetClipTo(mark.Add(time.Duration(acct.ClipLeadOutSeconds) * time.Second)).
			SetTokenHash(hash).
			SetExpiresAt(now.Add(ttl)).
			SetCreatedByName(by).
			SetNote(note)
		if v.UserID != "" {
			c.SetCreatedByID(v.UserID)
		}
		l, err := c.Save(ctx)
		if err != nil {
			return err
		}
		out = l
		return audit.Record(ctx, tx.Client(), audit.Entry{Action: ActionCreated, TargetID: string(l.ID),
			Detail: fmt.Sprintf("取引 %s (レシート %s) の映像の共有リンクを作成 (有効期限 %s)",
				entry.ID, entry.ReceiptNo, l.ExpiresAt.Format(time.RFC3339))})
	})
	if err != nil {
		return nil, "", err
	}
	return out.Unwrap(), s.URL(token), nil
}

// URL is where a token's link opens.
func (s *Service) URL(token string) string {
	return strings.TrimRight(s.PublicURL, "/") + PathPrefix + token
}

func (s *Service) actorName(sys context.Context, v viewer.Viewer) string {
	if v.UserID == "" {
		return ""
	}
	u, err := s.Client.User.Query().Where(user.ID(v.UserID), user.AccountID(v.AccountID)).Only(sys)
	if err != nil {
		return ""
	}
	name := u.Name
	if name == "" {
		name = u.Email
	}
	return clip(name, 200)
}

// Revoke ends a link: it answers 410 from now on. Revoking a revoked link
// changes nothing and returns it as it is (no second audit row).
func (s *Service) Revoke(ctx context.Context, id pulid.ID) (*ent.ShareLink, error) {
	v, err := manager(ctx)
	if err != nil {
		return nil, err
	}
	var out *ent.ShareLink
	err = db.InTx(ctx, s.Client, s.log(), "revoke share link", func(tx *ent.Tx) error {
		l, err := tx.ShareLink.Query().Where(entsharelink.ID(id), entsharelink.AccountID(v.AccountID)).Only(ctx)
		if ent.IsNotFound(err) {
			return apperr.Missing("id", "共有リンクが見つかりません (no such share link)").Because(apperr.NOT_FOUND)
		}
		if err != nil {
			return err
		}
		if l.RevokedAt != nil {
			out = l
			return nil
		}
		// Only a link still unrevoked is changed, so two revokes racing
		// write one audit row.
		n, err := tx.ShareLink.Update().Where(entsharelink.ID(id), entsharelink.RevokedAtIsNil()).
			SetRevokedAt(s.now()).Save(ctx)
		if err != nil {
			return err
		}
		if out, err = tx.ShareLink.Get(ctx, id); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		return audit.Record(ctx, tx.Client(), audit.Entry{Action: ActionRevoked, TargetID: string(id),
			Detail: fmt.Sprintf("取引 %s の映像の共有リンクを取り消し", l.EntryID)})
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// List is the account's links, newest first; entryID narrows it to one
// receipt's (NOT_FOUND when the caller does not see that receipt).
func (s *Service) List(ctx context.Context, entryID *pulid.ID, after *entgql.Cursor[pulid.ID], first *int) (*ent.ShareLinkConnection, error) {
	v, err := manager(ctx)
	if err != nil {
		return nil, err
	}
	n := DefaultPage
	if first != nil {
		if *first < 0 || *first > MaxPage {
			return nil, apperr.Invalid("first", "first は 0 から %d までです", MaxPage).Because(apperr.VALUE_OUT_OF_RANGE)
		}
		n = *first
	}
	q := s.Client.ShareLink.Query().Where(entsharelink.AccountID(v.AccountID))
	if entryID != nil {
		ok, err := s.Client.JournalEntry.Query().
			Where(journalentry.ID(*entryID), journalentry.AccountID(v.AccountID)).Exist(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, apperr.Missing("entryID", "取引が見つかりません (no such receipt)").Because(apperr.NOT_FOUND)
		}
		q = q.Where(entsharelink.EntryID(*entryID))
	}
	// Ids are time-ordered (pulid): descending ids are newest first.
	newest := &ent.ShareLinkOrder{Direction: entgql.OrderDirectionDesc, Field: ent.DefaultShareLinkOrder.Field}
	return q.Paginate(ctx, after, &n, nil, nil, ent.WithShareLinkOrder(newest))
}

// Shared is what an open link shows: the link, its receipt and the
// receipt's shop, read as the system for a visitor without an account.
type Shared struct {
	Link  *ent.ShareLink
	Entry *ent.JournalEntry
	Shop  *ent.Shop
}

// Open finds the link of token: ErrNotFound for a token that names none
// (or is malformed), ErrGone for one expired or revoked. It does not count
// a view (Viewed does, once per page load).
func (s *Service) Open(ctx context.Context, token string) (*Shared, error) {
	hash, ok := tokenHash(token)
	if !ok {
		return nil, ErrNotFound
	}
	sys := viewer.System(ctx)
	// The lookup is by the SHA-256 of the token, not the token: a caller
	// timing it learns about hashes of its guesses, never about a stored
	// token; the comparison below is constant-time all the same.
	l, err := s.Client.ShareLink.Query().Where(entsharelink.TokenHash(hash)).Only(sys)
	if ent.IsNotFound(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(l.TokenHash, hash) != 1 {
		return nil, ErrNotFound
	}
	if !Active(l, s.now()) {
		return &Shared{Link: l}, ErrGone
	}
	e, err := s.Client.JournalEntry.Query().
		Where(journalentry.ID(l.EntryID), journalentry.AccountID(l.AccountID)).Only(sys)
	if ent.IsNotFound(err) {
		// The receipt is gone (retention): nothing left to show.
		return &Shared{Link: l}, ErrGone
	}
	if err != nil {
		return nil, err
	}
	sh, err := s.Client.Shop.Query().Where(shop.ID(e.ShopID), shop.AccountID(l.AccountID)).Only(sys)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	return &Shared{Link: l, Entry: e, Shop: sh}, nil
}

// Viewed counts one page load of sh from ip, and audits it unless the
// link was viewed within the last hour.
func (s *Service) Viewed(ctx context.Context, sh *Shared, ip string) error {
	now := s.now()
	sys := viewer.System(ctx)
	prev := sh.Link.LastViewedAt
	if err := s.Client.ShareLink.UpdateOneID(sh.Link.ID).AddViews(1).SetLastViewedAt(now).Exec(sys); err != nil {
		return err
	}
	if prev != nil && now.Sub(*prev) < viewAuditEvery {
		return nil
	}
	vctx := viewer.NewContext(ctx, viewer.Viewer{AccountID: sh.Link.AccountID, IP: ip})
	return audit.Record(vctx, s.Client, audit.Entry{Action: ActionViewed, TargetID: string(sh.Link.ID),
		Detail: fmt.Sprintf("取引 %s の映像の共有リンクが開かれました (%d 回目)", sh.Link.EntryID, sh.Link.Views+1)})
}

// Viewer is who plays an open link's clip: a read-only viewer of the
// link's account confined to the receipt's shop, with no user and no key,
// so what it reaches beyond the one camera and window the server asks for
// is that shop's rows at most.
func (sh *Shared) Viewer(ip string) viewer.Viewer {
	return viewer.Viewer{
		AccountID:  sh.Link.AccountID,
		Role:       viewer.RoleStaff,
		Scopes:     []viewer.Scope{viewer.ScopeJournalRead},
		Restricted: true,
		ShopIDs:    []pulid.ID{sh.Entry.ShopID},
		IP:         ip,
	}
}

// newToken is a link's secret and the hash that is stored of it.
func newToken() (string, []byte, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("share link token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(tok))
	return tok, sum[:], nil
}

// tokenHash is the stored form of token, or false for a string that no
// link's token can be (so it costs no query).
func tokenHash(token string) ([]byte, bool) {
	if len(token) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return nil, false
	}
	if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(token))
	return sum[:], true
}

// HashOf is the stored hash of a token (tests check the database holds
// only this).
func HashOf(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
