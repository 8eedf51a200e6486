package server

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/cases"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/evidence"
	"github.com/regicam/regicam/graph"
	"github.com/regicam/regicam/viewer"
)

// EvidenceDownloadsPerCredential bounds the bundles one person (all their
// sessions) or one API key builds at once: each reads the database and the
// picture store, and holds a picture in memory, for as long as its client
// reads.
const EvidenceDownloadsPerCredential = 2

// evidenceHandler serves GET /cases/{id}/evidence.zip: the case's evidence
// bundle (package evidence), streamed, to a viewer with journal:read who
// may read the case. Another account's case, one a STAFF does not see, and
// a malformed id are the same 404. The download is recorded (history row
// and audit row) before the first byte, so no copy leaves unrecorded.
func (s *Server) evidenceHandler() http.Handler {
	slots := &credentialSlots{max: EvidenceDownloadsPerCredential, running: map[string]int{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
		if err != nil {
			s.writeError(w, r, err, "evidence viewer") // 401 anonymous, 403 without journal:read
			return
		}
		// Per credential: a person's sessions share one budget.
		release, ok := slots.take(credentialKey(v))
		if !ok {
			w.Header().Set("Retry-After", "10")
			s.writeError(w, r, apperr.RateLimitedf("証拠一式のダウンロードは同時に %d 件までです。しばらくしてからもう一度お試しください", EvidenceDownloadsPerCredential).Because(apperr.RATE_LIMITED), "")
			return
		}
		defer release()
		b, err := evidence.Load(ctx, s.d.DB.Client, r.PathValue("id"))
		if err != nil {
			s.writeError(w, r, err, "evidence load")
			return
		}
		if s.d.Player != nil { // a nil *Player in the interface would not be nil
			b.Clips = s.d.Player
		}
		now := time.Now().UTC().Truncate(time.Second)
		who, err := evidence.Who(ctx, s.d.DB.Client, now)
		if err != nil {
			s.writeError(w, r, err, "evidence who")
			return
		}
		svc := &cases.Service{Client: s.d.DB.Client, Log: s.log}
		detail := fmt.Sprintf("証拠一式をダウンロード (取引 %d 件)", len(b.Entries))
		if err := svc.RecordDownload(ctx, b.Case.ID, detail); err != nil {
			s.writeError(w, r, err, "evidence record", "case", b.Case.ID)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/zip")
		h.Set("Content-Disposition", evidenceDisposition(b.Case.Title, string(b.Case.ID), now))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		m, err := b.Write(ctx, s.d.DB.Client, w, s.d.Thumbs.Picture, who)
		if err != nil && ctx.Err() == nil {
			// Headers are gone: the ZIP ends without its directory, which
			// every unzip reports; the log says why.
			s.log.ErrorContext(ctx, "evidence bundle failed", "request_id", graph.RequestID(ctx), "case", b.Case.ID, "err", db.Loggable(err))
			return
		}
		if err == nil {
			s.log.InfoContext(ctx, "evidence bundle", "request_id", graph.RequestID(ctx), "case", b.Case.ID, "files", len(m.Files)+1)
		}
	})
}

// credentialSlots counts what each credential has running, up to max.
type credentialSlots struct {
	mu      sync.Mutex
	max     int
	running map[string]int
}

// take claims a slot of key; ok is false when key already holds max.
// release gives it back (once).
func (c *credentialSlots) take(key string) (release func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running[key] >= c.max {
		return nil, false
	}
	c.running[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.running[key]--; c.running[key] <= 0 {
				delete(c.running, key) // an idle credential costs nothing
			}
		})
	}, true
}

// evidenceDisposition names the download: an ASCII name every client
// takes, and the case's title for those that read filename* (RFC 6266).
func evidenceDisposition(title, id string, at time.Time) string {
	stamp := at.UTC().Format("20060102-150405")
	ascii := "evidence-" + id + "-" + stamp + ".zip"
	clean := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|`, r) {
			return '_'
		}
		return r
	}, title)
	if len(clean) > 120 {
		clean = clean[:120]
		for !utf8.ValidString(clean) {
			clean = clean[:len(clean)-1]
		}
	}
	utf := "証拠_" + clean + "_" + stamp + ".zip"
	return `attachment; filename="` + ascii + `"; filename*=UTF-8''` + attrChars(utf)
}

// attrChars percent-encodes s as an RFC 5987 value: every byte but the
// attr-char set, so no ';' or quote can end the parameter.
func attrChars(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
