package graph

import (
	"context"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/graph/model"
)

// PicturePath is where the HTTP server serves the full-resolution frame kept
// with a thumbnail (server/pictures.go).
func PicturePath(t *ent.Thumbnail) string { return ThumbnailPath(t) + "/picture" }

// entryPicture is JournalEntry.picture: the frame kept beside the entry's
// thumbnail. It rides on the thumbnail row, so it expires with it and keeps
// to the same tenancy rules; a row from before frames were kept has none.
func entryPicture(ctx context.Context, e *ent.JournalEntry) (*model.EntryPicture, error) {
	th, err := e.Thumbnail(ctx)
	if th == nil || err != nil {
		return nil, err
	}
	if th.PictureKey == "" && th.StorageKey != "" {
		return nil, nil // read whole: it has no picture
	}
	if th.PictureKey == "" {
		// The edge was loaded with only the columns the query selected of
		// the thumbnail (entgql's field collection: a `thumbnail {
		// skewKnown }` beside `picture` leaves the picture's columns out,
		// and storage_key, never selected that way, is set on every row
		// read whole); ask for the picture's own columns before saying
		// none.
		th, err = e.QueryThumbnail().
			Select(thumbnail.FieldCapturedAt, thumbnail.FieldPictureKey, thumbnail.FieldPictureWidth, thumbnail.FieldPictureHeight).
			Only(ctx)
		if ent.IsNotFound(err) {
			return nil, nil
		}
		if err != nil || th.PictureKey == "" {
			return nil, err
		}
	}
	return &model.EntryPicture{
		URL: PicturePath(th), Width: th.PictureWidth, Height: th.PictureHeight, CapturedAt: th.CapturedAt,
	}, nil
}
