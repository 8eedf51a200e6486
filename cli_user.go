package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/account"
	"github.com/regicam/regicam/viewer"
)

func init() {
	subcommands["user"] = func(args []string) int {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return userCommand(ctx, args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	}
}

const userUsage = `usage: regicam user create --email EMAIL --password PASSWORD|- [--name NAME] [--account 会社名] [--role OWNER|ADMIN|STAFF]
                          [--data-dir DIR] [--database-url URL]

Creates a user who signs in to the dashboard, typically the first OWNER.
--password - reads the password from the first line of stdin (keeps it out
of the process list). --account names the account (created when new);
without it the oldest account is used, or one named "default" is created.
The password must have 8 or more characters mixing digits, upper and lower
case. The database is found as the server finds it (--database-url or
REGICAM_DATABASE_URL, else SQLite in --data-dir / REGICAM_DATA_DIR).`

func userCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, userUsage)
		return 2
	}
	env := func(name, def string) string {
		if v := getenv("REGICAM_" + name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("regicam user create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "email the user signs in with")
	password := fs.String("password", "", "password, or - to read it from stdin")
	name := fs.String("name", "", "display name")
	accountName := fs.String("account", "", "account (company) name; created when new")
	role := fs.String("role", "OWNER", "OWNER, ADMIN or STAFF")
	dataDir := fs.String("data-dir", env("DATA_DIR", "./data"), "directory of the embedded database (REGICAM_DATA_DIR)")
	dbURL := fs.String("database-url", env("DATABASE_URL", ""), "postgres://… (REGICAM_DATABASE_URL)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *email == "" || *password == "" {
		fmt.Fprintln(stderr, userUsage)
		return 2
	}
	pw := *password
	if pw == "-" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(stderr, "regicam user create: read password from stdin:", err)
			return 1
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	ctx = viewer.System(ctx)
	database, err := db.Open(ctx, *dbURL, *dataDir)
	if err != nil {
		fmt.Fprintln(stderr, "regicam user create:", err)
		return 1
	}
	defer database.Close()
	acc, err := accountFor(ctx, database.Client, *accountName)
	if err != nil {
		fmt.Fprintln(stderr, "regicam user create:", err)
		return 1
	}
	svc := auth.New(database.Client, slog.New(slog.NewTextHandler(stderr, nil)), auth.Options{})
	u, err := svc.CreateUser(ctx, auth.NewUser{AccountID: acc.ID, Email: *email, Password: pw, Name: *name,
		Role: viewer.Role(strings.ToUpper(*role))})
	if err != nil {
		if e, ok := apperr.As(err); ok {
			fmt.Fprintf(stderr, "regicam user create: %s: %s\n", e.Field, e.Message)
			return 1
		}
		fmt.Fprintln(stderr, "regicam user create:", err)
		return 1
	}
	fmt.Fprintf(stdout, "created %s %s in account %q (%s)\n", u.Role, u.Email, acc.Name, acc.ID)
	return 0
}

// accountFor finds the named account or creates it; without a name, the
// oldest account (the one a fresh server serves), or a new "default".
func accountFor(ctx context.Context, c *ent.Client, name string) (*ent.Account, error) {
	q := c.Account.Query().Order(ent.Asc(account.FieldCreatedAt))
	if name != "" {
		q = q.Where(account.Name(name))
	} else {
		name = "default"
	}
	acc, err := q.First(ctx)
	if ent.IsNotFound(err) {
		return c.Account.Create().SetName(name).Save(ctx)
	}
	return acc, err
}
