package thumbs

import (
	"context"
	"log/slog"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/pulid"
)

// Deleter removes stored thumbnails: a Store, or the Thumbnailer, which
// also drops them from its memory.
type Deleter interface {
	Delete(ctx context.Context, keys ...string) error
}

// RunRetention deletes pictures older than keep until ctx ends (the
// --thumbnail-retention sweep). Journal entries stay: they are bookkeeping
// records; only their picture goes.
func RunRetention(ctx context.Context, client *ent.Client, store Deleter, keep time.Duration, log *slog.Logger) {
	tick := time.NewTicker(min(keep/4, time.Hour))
	defer tick.Stop()
	for {
		if n, err := Expire(ctx, client, store, time.Now().Add(-keep)); err != nil && ctx.Err() == nil {
			log.Warn("thumbnail retention", "err", err)
		} else if n > 0 {
			log.Info("thumbnails expired", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Expire removes thumbnails (and the full frames kept beside them, by the
// key each row recorded) created before cutoff, in batches, rows first so no
// row ever points at a missing blob for long.
func Expire(ctx context.Context, client *ent.Client, store Deleter, cutoff time.Time) (int, error) {
	total := 0
	for {
		old, err := client.Thumbnail.Query().Where(thumbnail.CreatedAtLT(cutoff.UTC())).Limit(500).All(ctx)
		if err != nil || len(old) == 0 {
			return total, err
		}
		ids := make([]pulid.ID, len(old))
		entries := make([]pulid.ID, len(old))
		keys := make([]string, 0, 2*len(old))
		for i, t := range old {
			ids[i], entries[i] = t.ID, t.EntryID
			keys = append(keys, t.StorageKey)
			if t.PictureKey != "" { // the full frame goes with its thumbnail
				keys = append(keys, t.PictureKey)
			}
		}
		if err := expireRows(ctx, client, ids, entries); err != nil {
			return total, err
		}
		if err := store.Delete(ctx, keys...); err != nil {
			return total, err
		}
		total += len(old)
	}
}

// expireRows deletes thumbnail rows and gives their entries the reason,
// together: an entry is never left without a picture and without a reason.
func expireRows(ctx context.Context, client *ent.Client, ids, entries []pulid.ID) error {
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Thumbnail.Delete().Where(thumbnail.IDIn(ids...)).Exec(ctx); err != nil {
		return err
	}
	if err := tx.JournalEntry.Update().Where(journalentry.IDIn(entries...)).
		SetThumbnailReason(ExpiredReason).Exec(ctx); err != nil {
		return err
	}
	return tx.Commit()
}
