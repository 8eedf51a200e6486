package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/secrets/rotation"
)

func init() {
	subcommands["secrets"] = func(args []string) int {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return secretsCommand(ctx, args, os.Getenv, os.Stdout, os.Stderr)
	}
}

const secretsUsage = `usage: regicam secrets rotate   [--data-dir DIR] [--database-url URL] [--batch N] [--key-id ID] [--no-new-key]
       regicam secrets status   [--data-dir DIR] [--database-url URL]
       regicam secrets drop-old [--data-dir DIR] [--database-url URL]
       regicam secrets new-key  [ID]

Stored credentials (POS client secrets and tokens, webhook secrets, camera
passwords) are sealed with AES-256-GCM; every value names its key id.

rotate    adds a new key to the key file (<data-dir>/secret.key) as the one
          that seals, keeps the old ones for reading, and re-encrypts every
          sealed value in batches. Running servers re-read the key file
          (within 30 s) and need no restart. With REGICAM_SECRET_KEY set,
          put the new key first in it yourself (see new-key) and run rotate.
status    counts the sealed values per key id and checks that all open.
drop-old  removes the old keys from the key file once no value uses them.
new-key   prints a fresh key (id:base64) for REGICAM_SECRET_KEY.

The database and key are found as the server finds them: --database-url or
REGICAM_DATABASE_URL (else SQLite in --data-dir / REGICAM_DATA_DIR, default
./data), REGICAM_SECRET_KEY or the key file in the data directory.`

// secretsCommand runs `regicam secrets …`. It never prints a secret or a
// key except the one new-key is asked for.
func secretsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, secretsUsage)
		return 2
	}
	verb := args[0]
	if verb == "new-key" {
		return newKeyCommand(args[1:], getenv, stdout, stderr)
	}
	env := func(name, def string) string {
		if v := getenv("REGICAM_" + name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("regicam secrets "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", env("DATA_DIR", "./data"), "directory of the embedded database and the key file (REGICAM_DATA_DIR)")
	dbURL := fs.String("database-url", env("DATABASE_URL", ""), "postgres://… when the server uses PostgreSQL (REGICAM_DATABASE_URL)")
	batchSize := fs.Int("batch", 200, "values re-encrypted per transaction")
	keyID := fs.String("key-id", "", "id of the new key (default: the next k<n>)")
	noNewKey := fs.Bool("no-new-key", false, "do not add a key: re-encrypt what is left on old keys (finish an interrupted rotation)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	c := &secretsCmd{out: stdout, spec: getenv("REGICAM_SECRET_KEY"), keyFile: secrets.KeyFile(*dataDir)}
	var run func(context.Context, rotation.DB) error
	switch verb {
	case "rotate":
		run = func(ctx context.Context, db rotation.DB) error {
			return c.rotate(ctx, db, *batchSize, *keyID, *noNewKey)
		}
	case "status":
		run = c.status
	case "drop-old":
		run = c.dropOld
	default:
		fmt.Fprintf(stderr, "regicam secrets: unknown command %q\n\n%s\n", verb, secretsUsage)
		return 2
	}
	database, err := db.Open(ctx, *dbURL, *dataDir)
	if err != nil {
		fmt.Fprintln(stderr, "regicam secrets: open database:", err)
		return 1
	}
	defer database.Close()
	if err := run(ctx, rotation.DB{SQL: database.SQL, Dialect: database.Dialect}); err != nil {
		fmt.Fprintln(stderr, "regicam secrets "+verb+":", err)
		return 1
	}
	return 0
}

type secretsCmd struct {
	out     io.Writer
	spec    string // REGICAM_SECRET_KEY; empty means the key file
	keyFile string
}

// keys returns the configured keys, the current one first.
func (c *secretsCmd) keys() ([]secrets.Key, error) {
	if c.spec != "" {
		return secrets.ParseKeys(c.spec)
	}
	keys, err := secrets.ReadKeyFile(c.keyFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no key file at %s and REGICAM_SECRET_KEY is not set: nothing has been sealed with this data directory (wrong --data-dir?)", c.keyFile)
	}
	return keys, err
}

func (c *secretsCmd) rotate(ctx context.Context, db rotation.DB, batchSize int, keyID string, noNewKey bool) error {
	keys, err := c.keys()
	if err != nil {
		return err
	}
	switch {
	case noNewKey:
	case c.spec != "":
		// The environment cannot be changed from here: the operator puts
		// the new key first and runs rotate, which re-encrypts to it.
		fmt.Fprintf(c.out, "REGICAM_SECRET_KEY is set: re-encrypting to its first key %s\n", keys[0].ID)
	default:
		if keyID == "" {
			keyID = secrets.NextKeyID(keys)
		}
		if slices.ContainsFunc(keys, func(k secrets.Key) bool { return k.ID == keyID }) {
			return fmt.Errorf("key id %s is already in %s", keyID, c.keyFile)
		}
		// The new key is written before any value uses it: a run cut short
		// leaves values every key in the file still opens.
		keys = append([]secrets.Key{secrets.NewKey(keyID)}, keys...)
		if err := secrets.WriteKeyFile(c.keyFile, keys); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "added key %s to %s; it seals from now on, %s kept for reading\n",
			keyID, c.keyFile, strings.Join(idsOf(keys[1:]), ", "))
	}
	box, err := secrets.New(keys...)
	if err != nil {
		return err
	}
	reports, err := rotation.Rotate(ctx, db, box, rotation.Sealed(), rotation.Options{BatchSize: batchSize,
		Progress: func(p rotation.Progress) {
			fmt.Fprintf(c.out, "%s: %d/%d read, %d re-encrypted\n", p.Column, p.Scanned, p.Total, p.Resealed)
		}})
	if err != nil {
		return err
	}
	total, resealed := 0, 0
	for _, r := range reports {
		total += r.Values
		resealed += r.Resealed
	}
	fmt.Fprintf(c.out, "done: %d sealed values, %d re-encrypted, all under key %s\n", total, resealed, box.Current())
	old := idsOf(keys[1:])
	switch {
	case len(old) == 0 && c.spec != "":
		fmt.Fprintln(c.out, "REGICAM_SECRET_KEY holds one key only: to rotate, put a new one first (regicam secrets new-key), restart the servers with the list, then run rotate again")
	case len(old) == 0:
	case c.spec != "":
		fmt.Fprintf(c.out, "no value uses %s any more: remove it from REGICAM_SECRET_KEY once every server runs with %s first\n", strings.Join(old, ", "), box.Current())
	default:
		fmt.Fprintf(c.out, "no value uses %s any more: servers pick up %s from the key file within %s; then remove the old keys with `regicam secrets drop-old`\n",
			strings.Join(old, ", "), box.Current(), secrets.KeyFileCheck)
	}
	return nil
}

func (c *secretsCmd) status(ctx context.Context, db rotation.DB) error {
	keys, err := c.keys()
	if err != nil {
		return err
	}
	box, err := secrets.New(keys...)
	if err != nil {
		return err
	}
	reports, err := rotation.Check(ctx, db, box, rotation.Sealed())
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "keys: %s (%s seals)\n", strings.Join(idsOf(keys), ", "), box.Current())
	for _, r := range reports {
		var parts []string
		for _, id := range slices.Sorted(maps.Keys(r.ByKey)) {
			parts = append(parts, fmt.Sprintf("%s %d", id, r.ByKey[id]))
		}
		if len(parts) == 0 {
			parts = []string{"none"}
		}
		fmt.Fprintf(c.out, "%s: %d values (%s), all open\n", r.Column, r.Values, strings.Join(parts, ", "))
	}
	return nil
}

func (c *secretsCmd) dropOld(ctx context.Context, db rotation.DB) error {
	if c.spec != "" {
		return errors.New("REGICAM_SECRET_KEY is set: remove the old keys from it yourself (check first with `regicam secrets status`)")
	}
	keys, err := c.keys()
	if err != nil {
		return err
	}
	if len(keys) == 1 {
		fmt.Fprintf(c.out, "only key %s is in %s: nothing to drop\n", keys[0].ID, c.keyFile)
		return nil
	}
	box, err := secrets.New(keys...)
	if err != nil {
		return err
	}
	reports, err := rotation.Check(ctx, db, box, rotation.Sealed())
	if err != nil {
		return err
	}
	if used := rotation.KeysInUse(reports); slices.ContainsFunc(used, func(id string) bool { return id != box.Current() }) {
		return fmt.Errorf("values still use %s: run `regicam secrets rotate --no-new-key` first", strings.Join(used, ", "))
	}
	if err := secrets.WriteKeyFile(c.keyFile, keys[:1]); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "dropped %s from %s; %s remains\n", strings.Join(idsOf(keys[1:]), ", "), c.keyFile, keys[0].ID)
	return nil
}

func newKeyCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	id := ""
	if len(args) > 1 || len(args) == 1 && strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: regicam secrets new-key [ID]")
		return 2
	}
	if len(args) == 1 {
		id = args[0]
	}
	if id == "" {
		var keys []secrets.Key
		if spec := getenv("REGICAM_SECRET_KEY"); spec != "" {
			keys, _ = secrets.ParseKeys(spec)
		}
		id = secrets.NextKeyID(keys)
	}
	k := secrets.NewKey(id)
	if _, err := secrets.New(k); err != nil {
		fmt.Fprintln(stderr, "regicam secrets new-key:", err)
		return 2
	}
	fmt.Fprintln(stdout, secrets.FormatKeys([]secrets.Key{k}))
	return 0
}

func idsOf(keys []secrets.Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}
