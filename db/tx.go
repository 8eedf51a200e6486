package db

import (
	"context"
	"errors"
	"log/slog"

	"github.com/regicam/regicam/ent"
)

// InTx runs fn in a transaction of client and commits when it returns nil;
// otherwise it rolls back and returns fn's error. A failed rollback is only
// logged (as "<what>: rollback"): fn's error is what the caller must see.
func InTx(ctx context.Context, client *ent.Client, log *slog.Logger, what string, fn func(tx *ent.Tx) error) error {
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, context.Canceled) {
			log.WarnContext(ctx, what+": rollback", "err", rerr)
		}
		return err
	}
	return tx.Commit()
}
