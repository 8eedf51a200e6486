package playback

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/db"
)

// The headers of a playback answer besides the standard ones.
const (
	// HeaderStart is the moment the video's time 0 shows (RFC 3339, ms):
	// the player seeks to from − start to show the asked moment.
	HeaderStart = "X-Recording-Start"
	// HeaderSkipped lists the segments left out, "RS…: why" joined by
	// ", " (corrupt, truncated, missing, other format).
	HeaderSkipped = "X-Recording-Skipped"
	// HeaderThinned is "1" when frames were dropped evenly to keep the
	// encode of a long JPEG span bounded.
	HeaderThinned = "X-Recording-Thinned"
)

// TimeLayout is how playback writes a moment: RFC 3339 with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

func (p *Player) serve(w http.ResponseWriter, r *http.Request, q Request, c *Clip) {
	rd, err := c.Reader()
	if err != nil {
		p.writeError(w, r, q, err)
		return
	}
	defer rd.Close()
	h := w.Header()
	h.Set("Content-Type", c.ContentType)
	// The bytes of a camera, from the app's own origin: never sniffed as
	// a document, and a document made of them could do nothing.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	// A span still being recorded grows: the player revalidates, and the
	// ETag (the build's segments) says whether it did.
	h.Set("Cache-Control", "private, no-cache")
	h.Set("ETag", c.etag)
	if !c.Start.IsZero() {
		h.Set(HeaderStart, c.Start.UTC().Format(TimeLayout))
	}
	if len(c.Skipped) > 0 {
		h.Set(HeaderSkipped, strings.Join(c.Skipped, ", "))
	}
	if c.Thinned {
		h.Set(HeaderThinned, "1")
	}
	if q.Download {
		h.Set("Content-Disposition", disposition(q, c.ContentType))
	}
	http.ServeContent(w, r, "", time.Time{}, rd)
}

// disposition names a download: q.Name (or camera-<id>-<from>) with the
// extension of what was built.
func disposition(q Request, ctype string) string {
	name := q.Name
	if name == "" {
		name = "camera-" + string(q.CameraID) + "-" + q.From.UTC().Format("20060102-150405")
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f || strings.ContainsRune(`/\:*?"<>|;`, r) {
			return '_'
		}
		return r
	}, name)
	ext := ".mp4"
	if ctype == "application/zip" {
		ext = ".zip"
	}
	return `attachment; filename="` + name + ext + `"`
}

// writeError answers a failed request as the other routes do
// (apperr.WriteHTTP); a span without recording also carries the nearest
// recorded spans (extensions.nearest). What is not the caller's fault is
// logged, never quoted back.
func (p *Player) writeError(w http.ResponseWriter, r *http.Request, q Request, err error) {
	ctx := r.Context()
	var nr *NoRecording
	if errors.As(err, &nr) {
		if len(nr.Skipped) > 0 {
			w.Header().Set(HeaderSkipped, strings.Join(nr.Skipped, ", "))
		}
		writeNoRecording(w, nr)
		return
	}
	if errors.Is(err, errDiskBusy) {
		w.Header().Set("Retry-After", "30")
		err = apperr.Unavailablef("録画の書き出しが混み合っています。しばらくしてからもう一度お試しください").Because(apperr.UNAVAILABLE)
	}
	if errors.Is(err, errTooLarge) {
		err = apperr.Invalid("to", "この範囲の録画は大きすぎて書き出せません。to（終了日時）を from に近づけてください (output too large)").Because(apperr.RANGE_TOO_LONG)
	}
	if _, ok := apperr.As(err); !ok {
		if ctx.Err() != nil {
			return // the client left
		}
		if db.Unavailable(err) {
			err = db.ErrUnavailable
		} else {
			p.log.ErrorContext(ctx, "playback", "camera", q.CameraID, "from", q.From, "to", q.To, "err", db.Loggable(err))
		}
	}
	apperr.WriteHTTP(w, err)
}

// Span is a recorded span in an error's extensions.
type Span struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func writeNoRecording(w http.ResponseWriter, nr *NoRecording) {
	body := apperr.Body(nr.Err)
	nearest := make([]Span, 0, len(nr.Nearest))
	for _, s := range nr.Nearest {
		nearest = append(nearest, Span{From: s.From.UTC().Format(TimeLayout), To: s.To.UTC().Format(TimeLayout)})
	}
	errs, _ := body["errors"].([]any)
	if len(errs) == 1 {
		if e, ok := errs[0].(map[string]any); ok {
			if ext, ok := e["extensions"].(map[string]any); ok {
				ext["nearest"] = nearest
			}
		}
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Del("ETag")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(apperr.HTTPStatus(nr.Err.Code))
	_ = json.NewEncoder(w).Encode(body)
}

// etagOf names a build for If-Range and revalidation.
func etagOf(key string) string {
	return fmt.Sprintf(`"%016x"`, fnv64(key))
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
