// Package setup takes a new account from empty to its first receipt: the
// checklist the dashboard shows (Progress) and the operator's unattended
// install from a YAML file (Apply, behind `regicam setup`).
package setup

import (
	"context"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/viewer"
)

// Steps is how far an account is, in the checklist's order ① camera
// ② shop ③ POS ④ link ⑤ first receipt.
type Steps struct {
	HasCamera, HasShop, HasConnection, HasLink, HasReceipt bool
}

// Complete reports whether every step is done.
func (s Steps) Complete() bool {
	return s.HasCamera && s.HasShop && s.HasConnection && s.HasLink && s.HasReceipt
}

// Progress answers the checklist for the viewer's account. It reads as the
// viewer, so a STAFF user sees the progress of their own shops.
func Progress(ctx context.Context, c *ent.Client) (Steps, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return Steps{}, apperr.Unauthenticatedf("ログインしてください (not signed in)").Because(apperr.NOT_SIGNED_IN)
	}
	a := v.AccountID
	var s Steps
	var err error
	for _, step := range []struct {
		done *bool
		q    func() (bool, error)
	}{
		// A retired camera records nothing: the step is to add a working one.
		{&s.HasCamera, func() (bool, error) {
			return c.Camera.Query().Where(camera.AccountID(a), camera.RetiredAtIsNil()).Exist(ctx)
		}},
		{&s.HasShop, func() (bool, error) { return c.Shop.Query().Where(shop.AccountID(a)).Exist(ctx) }},
		{&s.HasConnection, func() (bool, error) { return c.PosConnection.Query().Where(posconnection.AccountID(a)).Exist(ctx) }},
		{&s.HasLink, func() (bool, error) { return c.Link.Query().Where(link.AccountID(a), link.EndedAtIsNil()).Exist(ctx) }},
		{&s.HasReceipt, func() (bool, error) { return c.JournalEntry.Query().Where(journalentry.AccountID(a)).Exist(ctx) }},
	} {
		if *step.done, err = step.q(); err != nil {
			return Steps{}, err
		}
	}
	return s, nil
}
