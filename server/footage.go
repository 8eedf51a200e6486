package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// HeaderMark is the receipt's second (RFC 3339, ms) on a clip's answer:
// the player marks it on the scrub bar at mark − X-Recording-Start.
const HeaderMark = "X-Recording-Mark"

// PlaybacksPerCredential bounds the recorded spans and clips one person
// (all their sessions) or one API key asks at once: each may hold a build
// slot, which every account shares, for as long as its client waits. The
// dashboard asks one at a time (a new pick drops the one before).
const PlaybacksPerCredential = 4

// credentialKey is the budget a viewer's requests count against: a person's
// sessions share one, an API key has its own.
func credentialKey(v viewer.Viewer) string {
	if v.UserID != "" {
		return "user:" + string(v.UserID)
	}
	return "key:" + string(v.APIKeyID)
}

// takePlayback claims one of v's playback slots, or answers 429.
func (s *Server) takePlayback(w http.ResponseWriter, r *http.Request, v viewer.Viewer) (release func(), ok bool) {
	release, ok = s.playbacks.take(credentialKey(v))
	if !ok {
		w.Header().Set("Retry-After", "5")
		s.writeError(w, r, apperr.RateLimitedf("録画の再生は同時に %d 件までです。しばらくしてからもう一度お試しください", PlaybacksPerCredential).Because(apperr.RATE_LIMITED), "")
	}
	return release, ok
}

// playbackHandler serves GET /cameras/{id}/playback?from=…&to=…[&download=1]:
// a recorded span of one of the viewer's cameras (package footage/playback
// says the formats). Same rules as /cameras/{id}/live.jpg: journal:read,
// and another account's camera is a 404.
func (s *Server) playbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := viewer.Require(r.Context(), viewer.ScopeJournalRead)
		if err != nil {
			s.writeError(w, r, err, "playback viewer") // 401 anonymous, 403 without journal:read
			return
		}
		id := r.PathValue("id")
		if !pulid.Valid(id, "CA") {
			s.writeError(w, r, errNoCamera, "")
			return
		}
		seen, err := s.d.DB.Client.Camera.Query().
			Where(entcamera.ID(pulid.ID(id)), entcamera.AccountID(v.AccountID)).Exist(r.Context())
		if err == nil && !seen {
			err = errNoCamera
		}
		if err != nil {
			s.writeError(w, r, err, "playback camera", "id", id)
			return
		}
		q := r.URL.Query()
		from, err := queryTime(q.Get("from"), "from")
		if err != nil {
			s.writeError(w, r, err, "")
			return
		}
		to, err := queryTime(q.Get("to"), "to")
		if err != nil {
			s.writeError(w, r, err, "")
			return
		}
		if s.d.Player == nil {
			s.writeError(w, r, errNoPlayback, "")
			return
		}
		release, ok := s.takePlayback(w, r, v)
		if !ok {
			return
		}
		defer release()
		s.d.Player.Serve(w, r, pulid.ID(id), from, to, isDownload(r))
	})
}

// clipHandler serves GET /entries/{id}/clip[?download=1]: a receipt's clip,
// its camera's recording from the account's lead-in before the receipt's
// second to the lead-out after it. A download is named after the receipt.
func (s *Server) clipHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
		if err != nil {
			s.writeError(w, r, err, "clip viewer")
			return
		}
		id := r.PathValue("id")
		if !pulid.Valid(id, "JE") {
			s.writeError(w, r, errNoEntry, "")
			return
		}
		e, err := s.d.DB.Client.JournalEntry.Query().
			Where(journalentry.ID(pulid.ID(id)), journalentry.AccountID(v.AccountID)).Only(ctx)
		if ent.IsNotFound(err) {
			err = errNoEntry
		}
		if err != nil {
			s.writeError(w, r, err, "clip entry", "id", id)
			return
		}
		if e.CameraID == nil {
			s.writeError(w, r, errEntryNoCamera, "")
			return
		}
		mark, from, to, err := playback.ClipSpan(ctx, s.d.DB.Client, e)
		if err != nil {
			s.writeError(w, r, err, "clip span", "id", id)
			return
		}
		if s.d.Player == nil {
			s.writeError(w, r, errNoPlayback, "")
			return
		}
		release, ok := s.takePlayback(w, r, v)
		if !ok {
			return
		}
		defer release()
		w.Header().Set(HeaderMark, mark.UTC().Format(playback.TimeLayout))
		r = r.WithContext(playback.WithName(ctx, clipName(e, mark)))
		s.d.Player.Serve(w, r, *e.CameraID, from, to, isDownload(r))
	})
}

// clipName names a receipt's download: receipt-<receipt no>-<mark, UTC>.
func clipName(e *ent.JournalEntry, mark time.Time) string {
	no := e.ReceiptNo
	if no == "" {
		no = string(e.ID)
	}
	return "receipt-" + no + "-" + mark.UTC().Format("20060102-150405")
}

func isDownload(r *http.Request) bool {
	switch strings.ToLower(r.URL.Query().Get("download")) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// queryTime reads an RFC 3339 moment from the query.
func queryTime(s, field string) (time.Time, error) {
	if s == "" {
		return time.Time{}, apperr.Invalid(field, "%s を RFC 3339 の日時で指定してください (%s is required)", field, field).Because(apperr.REQUIRED)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, apperr.Invalid(field, "%s は RFC 3339 の日時で指定してください（例 2026-12-03T14:05:00+09:00） (not RFC 3339)", field).Because(apperr.INVALID_FORMAT)
	}
	return t, nil
}

var (
	// errNoEntry is every entry the viewer cannot see.
	errNoEntry = apperr.Missing("id", "取引が見つかりません (entry not found)").Because(apperr.NOT_FOUND)
	// errEntryNoCamera: a receipt of a register no camera watched.
	errEntryNoCamera = apperr.Missing("id", "この取引にはカメラがつながっていません (no camera linked to this entry)").Because(apperr.CAMERA_NOT_RECORDED)
	// errNoPlayback: a server built without recordings.
	errNoPlayback = apperr.Unavailablef("このサーバーでは録画を再生できません (recording is not available)").Because(apperr.FEATURE_DISABLED)
)
