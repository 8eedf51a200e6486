package server

import (
	"net/http"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
)

// pictureHandler serves GET /thumbnails/{id}/picture, the full-resolution
// frame kept beside a thumbnail (JournalEntry.picture), under the
// thumbnail's rules: the same scope, another account's id a 404, gone when
// retention takes the thumbnail.
func (s *Server) pictureHandler() http.Handler {
	return s.blobHandler(blobRoute{
		what:    "picture",
		missing: errNoPicture,
		pick:    func(th *ent.Thumbnail) (string, string) { return th.PictureKey, th.PictureSha256 },
		read:    s.d.Thumbs.Picture,
	})
}

// errNoPicture is every picture the viewer cannot have: malformed id,
// unknown, another account's, a thumbnail kept without one, or its bytes gone.
var errNoPicture = apperr.Missing("id", "画像が見つかりません (picture not found)").Because(apperr.NOT_FOUND)
