// Package pictures is what a camera cloud (Safie) shows of a CLOUD camera:
// the picture of any past second for a receipt's thumbnail (Frames, in
// front of camera/fleet), the retry of the pictures the cloud could not
// give yet (Sweeper), the recorded spans and gaps (Recordings) and the
// live frame (Live). The cloud keeps the recording, so however late the
// POS data arrives, the receipt gets the picture of its own second while
// the cloud's retention lasts.
package pictures

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
)

// Cloud resolves a camera to its cloud device and client; *camcloud.Service
// satisfies it. Camera answers camcloud.ErrNotCloud for any camera that is
// not a live CLOUD camera.
type Cloud interface {
	Camera(ctx context.Context, cameraID pulid.ID) (camcloud.CameraRef, error)
	Client(ctx context.Context, connectionID pulid.ID) (*safie.Client, error)
}

// Retaker takes an entry's picture again and records it (or why not) with
// the entry; *ingest.Ingester satisfies it. True: the entry has a
// thumbnail now.
type Retaker interface {
	RetakeThumbnail(ctx context.Context, entryID pulid.ID) (bool, error)
}

// The reasons kept on an entry (thumbnail_reason) for a cloud picture,
// each "CODE: sentence" (ingest/thumbreason.go).
var (
	// RetryReason: the cloud could not answer yet (rate limit, 5xx, no
	// answer, or the second is not in its recording yet); the Sweeper
	// tries again.
	RetryReason = thumbs.Reason(thumbs.CloudRetry, "")
	// AuthReason: the cloud refused the connection's key or token; once
	// the owner reconnects, the Sweeper's next try succeeds.
	AuthReason = thumbs.Reason(thumbs.CloudAuth, "")
	// GapReason: the cloud recorded nothing at that second (final).
	GapReason = thumbs.Reason(thumbs.NoRecording, "")
	// RetiredReason: the owner retired the CLOUD camera by hand (final;
	// one the sync retired may come back with its device).
	RetiredReason = thumbs.Reason(thumbs.CameraRetired, "")
	// pendingReason: ingest's picture still to come (ingest.ReasonPending);
	// an entry left with it (its server stopped before the late capture)
	// is the Sweeper's too.
	pendingReason = thumbs.PendingReason
)

// legacyRetrying are the retried reasons as written before the codes
// (thumbnail_reason of older entries), still swept.
var legacyRetrying = []string{
	"クラウドから映像を取得中です（再試行します）",
	"Safie の認証が切れています（再接続してください）",
	"サムネイルを保存できませんでした (could not store the thumbnail)",
}

// retryingReasons are the reasons the Sweeper looks for, all but the
// unreadable ones (a prefix).
func retryingReasons() []string {
	return append([]string{"", pendingReason, RetryReason, AuthReason, thumbs.StoreFailedReason}, legacyRetrying...)
}

// RetentionReason: the second is older than the cloud keeps (final).
func RetentionReason(days int) string {
	return thumbs.Reason(thumbs.Retention, fmt.Sprintf("クラウドの保存期間（%d日）を過ぎています", days))
}

// retrying reports whether an entry's reason says a picture may still
// come: the Sweeper's entries. A picture the blob store refused is still
// in the cloud; an unreadable one (a frame cut short on its way) may come
// whole on a later ask, a few times (MaxUnreadable).
func retrying(reason string) bool {
	if slices.Contains(retryingReasons(), reason) {
		return true
	}
	n, ok := unreadableTries(reason)
	return ok && n < MaxUnreadable
}

// MaxUnreadable is how many times the cloud is asked for a second whose
// picture could not be read before the reason stays final.
const MaxUnreadable = 3

// unreadableTries reads how many times a second's picture came unreadable
// from an entry's reason: thumbs' reason alone is the first time, the
// Sweeper's (triesMark) counts the later ones.
func unreadableTries(reason string) (int, bool) {
	if !strings.HasPrefix(reason, thumbs.UnreadableReason) {
		return 0, false
	}
	if m := triesMark.FindStringSubmatch(reason); m != nil {
		n, _ := strconv.Atoi(m[1])
		return max(n, 1), true
	}
	return 1, true
}

var triesMark = regexp.MustCompile(`［(\d+)回目］$`)

// markUnreadable is reason (thumbs' unreadable reason) counted as the
// n-th time.
func markUnreadable(reason string, n int) string {
	reason = triesMark.ReplaceAllString(reason, "")
	return reason + "［" + strconv.Itoa(n) + "回目］"
}

// Options of the Service; zero values take the defaults.
type Options struct {
	// Now is the clock (retention, the newest minute the cloud may not
	// have yet); default time.Now.
	Now func() time.Time
	Log *slog.Logger
	// LiveTTL is how long a live frame is served to every viewer of the
	// camera before the cloud is asked again (default 2 s).
	LiveTTL time.Duration
	// RecordingsTTL is how long a day of recorded spans is reused
	// (default 1 min): a dashboard refreshing every few seconds costs the
	// cloud one call a minute per camera and day.
	RecordingsTTL time.Duration
	// CacheSize bounds each cache (entries; default 1024).
	CacheSize int
	// LiveBytes bounds the live frames kept together (default 64 MiB);
	// a frame over LiveMaxFrame (default 2 MiB) is shared with the viewers
	// waiting for it but not kept.
	LiveBytes, LiveMaxFrame int
	// ViewerCallsPerMinute and ViewerBurst bound the cloud calls made on
	// behalf of one user or API key (recordings and live frames not
	// answered from a cache): default 20 a minute, 20 at once.
	ViewerCallsPerMinute, ViewerBurst int
	// MaxViewers bounds the viewers whose budgets are remembered (default
	// 10,000).
	MaxViewers int
	// DB lets Frames tell a CLOUD camera that does not resolve right now
	// (retired by the sync, its connection gone) from a camera of the
	// recorders; nil: every camera Cloud does not resolve goes to Next.
	DB *ent.Client
}

// Service answers the pictures of CLOUD cameras.
type Service struct {
	cloud Cloud
	opt   Options
	log   *slog.Logger
	live  *cache[pulid.ID, []byte]
	media *cache[dayKey, daySpans]
	calls *budgets
}

// New returns a Service.
func New(cloud Cloud, opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.LiveTTL <= 0 {
		opt.LiveTTL = 2 * time.Second
	}
	if opt.RecordingsTTL <= 0 {
		opt.RecordingsTTL = time.Minute
	}
	if opt.CacheSize <= 0 {
		opt.CacheSize = 1024
	}
	if opt.LiveBytes <= 0 {
		opt.LiveBytes = 64 << 20
	}
	if opt.LiveMaxFrame <= 0 {
		opt.LiveMaxFrame = 2 << 20
	}
	if opt.ViewerCallsPerMinute <= 0 {
		opt.ViewerCallsPerMinute = 20
	}
	if opt.ViewerBurst <= 0 {
		opt.ViewerBurst = 20
	}
	if opt.MaxViewers <= 0 {
		opt.MaxViewers = 10000
	}
	return &Service{
		cloud: cloud, opt: opt, log: opt.Log,
		live: newCache[pulid.ID, []byte](opt.CacheSize).
			weighed(func(b []byte) int { return len(b) }, opt.LiveBytes, opt.LiveMaxFrame),
		media: newCache[dayKey, daySpans](opt.CacheSize),
		calls: newBudgets(opt.ViewerCallsPerMinute, opt.ViewerBurst, opt.MaxViewers),
	}
}

// retention is how far back the cloud keeps a connection's recordings.
func retention(ref camcloud.CameraRef) (int, time.Duration) {
	days := ref.RetentionDays
	if days <= 0 {
		days = 7 // the connection's default (ent/schema/cameracloudconnection.go)
	}
	return days, time.Duration(days) * 24 * time.Hour
}

// userError is a cloud failure as the API says it: nothing of the
// cloud's own answer (which might echo a credential) reaches the caller.
func userError(err error) error {
	var ae *apperr.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, safie.ErrAuth):
		return apperr.Unavailablef("Safie の認証が切れています。カメラクラウドの設定から再接続してください (the camera cloud refused the credential)").Because(apperr.SAFIE_AUTH)
	case errors.Is(err, safie.ErrBadResponse):
		return apperr.Unavailablef("Safie から想定外の応答がありました (unexpected answer from the camera cloud)").Because(apperr.SAFIE_BAD_RESPONSE)
	}
	return apperr.Unavailablef("Safie に接続できませんでした。しばらくしてからもう一度お試しください (the camera cloud did not answer)").Because(apperr.SAFIE_UNREACHABLE)
}
