package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	// Shop timezones are checked against the IANA database; this copy makes
	// that (and every zone the server reads) work on a bare machine.
	_ "time/tzdata"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/account"
	"github.com/regicam/regicam/netguard"
	"github.com/regicam/regicam/portal"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/setup"
	"github.com/regicam/regicam/shop"
	"github.com/regicam/regicam/viewer"
)

func init() {
	subcommands["setup"] = func(args []string) int {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return setupCommand(ctx, args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	}
}

const setupUsage = `usage: regicam setup --file setup.yaml [--account 会社名] [--data-dir DIR] [--database-url URL] [--public-url URL]

Creates the shops, cameras, card-terminal / partner connections, their
registers and links that setup.yaml lists and the account does not have
yet (found by shop name, camera deviceID, connection name, register
externalID). What exists is left as it is; a second run changes nothing
and says so. A new connection's signing key is printed once. --file -
reads stdin. The account is --account, else the file's "account:", else
the oldest one (create it first with regicam user create). See README,
"Unattended setup".`

func setupCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := func(name, def string) string {
		if v := getenv("REGICAM_" + name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("regicam setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "setup YAML file, or - for stdin")
	accountName := fs.String("account", "", "account (company) name; default: the file's account:, else the oldest")
	dataDir := fs.String("data-dir", env("DATA_DIR", "./data"), "directory of the embedded database and the secret key file (REGICAM_DATA_DIR)")
	dbURL := fs.String("database-url", env("DATABASE_URL", ""), "postgres://… (REGICAM_DATABASE_URL)")
	publicURL := fs.String("public-url", env("PUBLIC_URL", "http://localhost:8080"), "the server's public URL, printed before webhook paths (REGICAM_PUBLIC_URL)")
	allowPrivate := fs.Bool("camera-allow-private", env("CAMERA_ALLOW_PRIVATE", "true") != "false", "let camera URLs point at private addresses, as the server (REGICAM_CAMERA_ALLOW_PRIVATE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, setupUsage)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "regicam setup:", err)
		return 1
	}
	in := stdin
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		in = f
	}
	spec, err := setup.Parse(in)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", *file, err))
	}

	sys := viewer.System(ctx)
	database, err := db.Open(sys, *dbURL, *dataDir)
	if err != nil {
		return fail(err)
	}
	defer database.Close()
	name := *accountName
	if name == "" {
		name = spec.Account
	}
	acc, err := existingAccount(sys, database.Client, name)
	if err != nil {
		return fail(err)
	}
	// The same key the server seals with: REGICAM_SECRET_KEY, else the key
	// file in the data directory.
	box, err := secrets.FromEnvOrFile(getenv("REGICAM_SECRET_KEY"), *dataDir)
	if err != nil {
		return fail(fmt.Errorf("secret key: %w", err))
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc := setup.Services{
		Client:    database.Client,
		Shops:     &shop.Service{Client: database.Client, Log: log},
		Cameras:   registry.New(database.Client, box, registry.Options{Policy: netguard.Policy{AllowPrivate: *allowPrivate}, RTSP: app.RTSPProber{}, Log: log}),
		Portal:    &portal.Service{Client: database.Client, Box: box, Log: log},
		Getenv:    getenv,
		PublicURL: *publicURL,
	}
	// The operator acts as the account's owner; the audit log records the
	// changes without a user (no one signed in).
	ctx = viewer.NewContext(ctx, viewer.Viewer{AccountID: acc.ID, Role: viewer.RoleOwner, Scopes: auth.ScopesOf(viewer.RoleOwner)})
	fmt.Fprintf(stdout, "account %s (%s)\n", acc.Name, acc.ID)
	res, err := setup.Apply(ctx, svc, spec, stdout)
	if err != nil {
		return fail(err)
	}
	if res.Created == 0 {
		fmt.Fprintf(stdout, "nothing changed: all %d items of %s already exist\n", res.Existing, *file)
	} else {
		fmt.Fprintf(stdout, "done: %d created, %d already there\n", res.Created, res.Existing)
	}
	return 0
}

// existingAccount finds the named account, or the oldest one; setup never
// creates accounts (regicam user create does, with its first OWNER).
func existingAccount(ctx context.Context, c *ent.Client, name string) (*ent.Account, error) {
	q := c.Account.Query().Order(ent.Asc(account.FieldCreatedAt))
	if name != "" {
		q = q.Where(account.Name(name))
	}
	acc, err := q.First(ctx)
	if ent.IsNotFound(err) {
		if name != "" {
			return nil, fmt.Errorf("no account named %q: create it with `regicam user create --account %q …` first", name, name)
		}
		return nil, errors.New("no account yet: create the first OWNER with `regicam user create` first")
	}
	return acc, err
}
