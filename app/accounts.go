package app

import (
	"context"
	"fmt"
	"os"

	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/demo"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/account"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/viewer"
)

// DemoEmail is the demo tenant's OWNER.
const DemoEmail = "demo@regicam.local"

// chooseAccount picks the account requests run as. Demo "auto" means: a
// fresh database, or one that only holds the demo tenant, gets the demo.
func (a *App) chooseAccount(ctx context.Context, demoMode string) (bool, error) {
	accounts, err := a.DB.Client.Account.Query().Order(ent.Asc(account.FieldCreatedAt)).Limit(2).All(ctx)
	if err != nil {
		return false, fmt.Errorf("find account: %w", err)
	}
	onlyDemo := len(accounts) == 0 || len(accounts) == 1 && accounts[0].Name == demo.AccountName
	if demoMode == "true" || demoMode == "auto" && onlyDemo {
		id, err := demo.Seed(ctx, a.DB.Client)
		if err != nil {
			return false, fmt.Errorf("seed demo: %w", err)
		}
		a.AccountID = id
		return true, nil
	}
	if len(accounts) == 0 {
		acc, err := a.DB.Client.Account.Create().SetName("default").Save(ctx)
		if err != nil {
			return false, fmt.Errorf("create account: %w", err)
		}
		accounts = append(accounts, acc)
	}
	a.AccountID = accounts[0].ID
	return false, nil
}

// demoOwner gives the demo tenant an OWNER with a fresh password on every
// start, so the printed line always works, and prints it.
func (a *App) demoOwner(ctx context.Context, cfg Config) error {
	pw := auth.RandomPassword()
	u, err := a.DB.Client.User.Query().Where(user.Email(DemoEmail)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		_, err = a.Auth.CreateUser(ctx, auth.NewUser{AccountID: a.AccountID, Email: DemoEmail,
			Password: pw, Name: "デモ オーナー", Role: viewer.RoleOwner})
	case err == nil:
		// Not SetPassword: the history rule is for people, and a reset
		// must not fail on it.
		var h string
		if h, err = auth.HashPassword(pw); err == nil {
			err = u.Update().SetPasswordHash(h).SetFailedLogins(0).ClearLockedUntil().Exec(ctx)
		}
	}
	if err != nil {
		return fmt.Errorf("demo owner: %w", err)
	}
	line := "demo login: " + DemoEmail + " " + pw
	if cfg.DemoLogin != nil {
		cfg.DemoLogin(line)
	} else {
		fmt.Fprintln(os.Stdout, line)
	}
	return nil
}

// hintFirstOwner tells the operator of a database without users how to
// create the first one: nothing can sign in until then.
func (a *App) hintFirstOwner(ctx context.Context) {
	if n, err := a.DB.Client.User.Query().Count(ctx); err == nil && n == 0 {
		a.log.Warn("no users yet; create the first OWNER with: go run . user create --email EMAIL --password - --account NAME (regicam user create … with a built binary)")
	}
}
