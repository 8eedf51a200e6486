package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// thumbnailHandler serves GET /thumbnails/{id} to the same viewer rules as
// GraphQL: another account's id is a 404, never a 403 that confirms it.
func (s *Server) thumbnailHandler() http.Handler {
	return s.blobHandler(blobRoute{
		what:    "thumbnail",
		missing: errNoThumbnail,
		pick:    func(th *ent.Thumbnail) (string, string) { return th.StorageKey, th.Sha256 },
		read:    s.d.Thumbs.Blob,
	})
}

// blobRoute is one of the bytes kept with a thumbnail row: the thumbnail
// itself, or the full-resolution picture beside it (server/pictures.go).
type blobRoute struct {
	what    string        // for the log: "thumbnail", "picture"
	missing *apperr.Error // every id the viewer cannot have
	// pick gives the row's storage key and sha256; an empty key means the
	// row keeps no such bytes.
	pick func(*ent.Thumbnail) (key, sha256 string)
	read func(context.Context, string) ([]byte, error)
}

// blobHandler serves a row's bytes to a viewer with journal:read: another
// account's id, a malformed one and bytes that are gone all read as the
// same 404.
func (s *Server) blobHandler(b blobRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := viewer.Require(r.Context(), viewer.ScopeJournalRead)
		if err != nil {
			s.writeError(w, r, err, b.what+" viewer") // 401 anonymous, 403 without journal:read
			return
		}
		id := r.PathValue("id")
		if !pulid.Valid(id, "TH") {
			s.writeError(w, r, b.missing, "")
			return
		}
		th, err := s.d.DB.Client.Thumbnail.Query().
			Where(thumbnail.ID(pulid.ID(id)), thumbnail.AccountID(v.AccountID)).Only(r.Context())
		var key, sum string
		if err == nil {
			key, sum = b.pick(th)
		}
		if ent.IsNotFound(err) || err == nil && key == "" {
			err = b.missing // or a row from before pictures were kept
		}
		if err != nil {
			s.writeError(w, r, err, b.what+" lookup", "id", id)
			return
		}
		etag := `"` + sum + `"`
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		body, err := b.read(r.Context(), key)
		if errors.Is(err, thumbs.ErrNotFound) {
			// The row outlived its bytes (retention on another replica): an
			// uncached 404 (WriteHTTP drops the ETag and the year's
			// Cache-Control set above).
			err = b.missing
		}
		if err != nil {
			s.writeError(w, r, err, b.what+" read", "id", id)
			return
		}
		w.Header().Set("Content-Type", th.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		blobHeaders(w)
		_, _ = w.Write(body)
	})
}

// blobHeaders guards a camera's bytes served from the app's own origin: a
// browser must not sniff them as HTML or script, and a document made of
// them could run nothing and load nothing.
func blobHeaders(w http.ResponseWriter) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
}

// errNoThumbnail is every thumbnail the viewer cannot have: malformed id,
// unknown, another account's, or its picture gone.
var errNoThumbnail = apperr.Missing("id", "サムネイルが見つかりません (thumbnail not found)").Because(apperr.NOT_FOUND)
