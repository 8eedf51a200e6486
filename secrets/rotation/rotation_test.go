package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/secrets/rotation"
	"github.com/regicam/regicam/viewer"
)

type sealedRow struct {
	col   rotation.Column
	id    pulid.ID
	plain string
}

// seed stores n connections (credentials sealed, every third with a
// webhook secret too, one with nothing sealed), a camera with sealed
// source and snapshot credentials, an alert rule's webhook secret, a camera-cloud
// connection's key and a mail server's password, all under box.
func seed(t testing.TB, c *ent.Client, box *secrets.Box, n int) []sealedRow {
	t.Helper()
	ctx := viewer.System(context.Background())
	cols := rotation.Sealed()
	acc := c.Account.Create().SetName("a").SaveX(ctx)
	var out []sealedRow
	seal := func(plain string, aad []byte) []byte {
		v, err := box.Seal([]byte(plain), aad)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := range n {
		id := pulid.MustNew("PC")
		cred := fmt.Sprintf(`{"client_id":"cli-%d","client_secret":"secret-%d"}`, i, i)
		create := c.PosConnection.Create().SetID(id).SetAccountID(acc.ID).SetProvider("SMAREGI").
			SetContractID(fmt.Sprintf("c%d", i)).SetSecrets(seal(cred, secrets.POSConnectionSecretsAAD(id)))
		out = append(out, sealedRow{cols[0], id, cred})
		if i%3 == 0 {
			hook := fmt.Sprintf("hook-%d", i)
			create.SetWebhookSecret(seal(hook, secrets.POSWebhookSecretAAD(id)))
			out = append(out, sealedRow{cols[1], id, hook})
		}
		create.ExecX(ctx)
	}
	c.PosConnection.Create().SetAccountID(acc.ID).SetProvider("PARTNER").SetContractID("nothing-sealed").ExecX(ctx)
	cam := pulid.MustNew("CA")
	pw := `{"username":"admin","password":"cam-pass"}`
	snapPW := `{"username":"viewer","password":"snap-pass"}`
	c.Camera.Create().SetID(cam).SetAccountID(acc.ID).SetName("cam").SetDeviceID(string(cam)).
		SetSourceCredentials(seal(pw, secrets.CameraCredentialsAAD(cam))).
		SetSnapshotURL("http://cam.local/picture").SetSnapshotCredentials(seal(snapPW, secrets.CameraSnapshotCredentialsAAD(cam))).ExecX(ctx)
	rule := pulid.MustNew("AR")
	c.AlertRule.Create().SetID(rule).SetAccountID(acc.ID).SetName("高額キャンセル").SetKind("AMOUNT_OVER").
		SetWebhookURL("https://hooks.example/x").SetWebhookSecret(seal("alert-hook", secrets.AlertWebhookSecretAAD(rule))).ExecX(ctx)
	cc := pulid.MustNew("CC")
	key := `{"api_key":"safie-key-` + string(cc) + `"}`
	c.CameraCloudConnection.Create().SetID(cc).SetAccountID(acc.ID).SetName("Safie " + string(cc)).SetAuthKind("API_KEY").
		SetSecrets(seal(key, secrets.CameraCloudSecretsAAD(cc))).ExecX(ctx)
	ms := pulid.MustNew("MS")
	c.MailSettings.Create().SetID(ms).SetAccountID(acc.ID).SetHost("smtp.example.jp").SetFromAddress("digest@example.jp").
		SetPassword(seal("mail-pass", secrets.MailPasswordAAD(ms))).ExecX(ctx)
	return append(out, sealedRow{cols[2], cam, pw}, sealedRow{cols[3], rule, "alert-hook"}, sealedRow{cols[4], cc, key},
		sealedRow{cols[5], ms, "mail-pass"}, sealedRow{cols[6], cam, snapPW})
}

// opens checks that every seeded value opens with box to its plaintext.
func opens(t *testing.T, db *db.DB, box *secrets.Box, rows []sealedRow) {
	t.Helper()
	for _, r := range rows {
		var v []byte
		q := fmt.Sprintf("SELECT %s FROM %s WHERE id = '%s'", r.col.Column, r.col.Table, r.id)
		if err := db.SQL.QueryRow(q).Scan(&v); err != nil {
			t.Fatal(err)
		}
		got, err := box.Open(v, r.col.AAD(r.id))
		if err != nil || string(got) != r.plain {
			t.Fatalf("%s of %s: %q, %v", r.col, r.id, got, err)
		}
	}
}

// TestRotate: values sealed with key A are re-encrypted under B in
// batches; afterwards every value opens with B alone, to the same
// plaintext, and A can be dropped.
func TestRotate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *db.DB) {
		ctx := context.Background()
		a, b := secrets.NewKey("kA"), secrets.NewKey("kB")
		boxA, _ := secrets.New(a)
		rows := seed(t, db.Client, boxA, 250)
		rdb := rotation.DB{SQL: db.SQL, Dialect: db.Dialect}

		before, err := rotation.Check(ctx, rdb, boxA, rotation.Sealed())
		if err != nil {
			t.Fatal(err)
		}
		if got := rotation.KeysInUse(before); len(got) != 1 || got[0] != "kA" {
			t.Fatalf("keys in use before: %v", got)
		}

		boxBA, _ := secrets.New(b, a)
		var progress []rotation.Progress
		reports, err := rotation.Rotate(ctx, rdb, boxBA, rotation.Sealed(), rotation.Options{BatchSize: 40,
			Progress: func(p rotation.Progress) { progress = append(progress, p) }})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"pos_connections.secrets": 250, "pos_connections.webhook_secret": 84, "cameras.source_credentials": 1, "cameras.snapshot_credentials": 1,
			"alert_rules.webhook_secret": 1, "camera_cloud_connections.secrets": 1,
			"mail_settings.password": 1}
		for _, r := range reports {
			if r.Values != want[r.Column] || r.Resealed != want[r.Column] || r.ByKey["kB"] != want[r.Column] || len(r.ByKey) != 1 {
				t.Errorf("report %+v, want %d values all resealed under kB", r, want[r.Column])
			}
		}
		// Progress: batch by batch, up to the column's total.
		last := map[string]rotation.Progress{}
		batches := 0
		for _, p := range progress {
			if prev, ok := last[p.Column]; ok && (p.Scanned <= prev.Scanned || p.Resealed < prev.Resealed) {
				t.Fatalf("progress went backwards: %+v after %+v", p, prev)
			}
			last[p.Column] = p
			batches++
		}
		if p := last["pos_connections.secrets"]; p.Scanned != 250 || p.Total != 250 || p.Resealed != 250 || batches < 7 {
			t.Fatalf("last progress %+v after %d reports", p, batches)
		}

		// A is no longer needed: B alone opens everything.
		boxB, _ := secrets.New(b)
		opens(t, db, boxB, rows)
		after, err := rotation.Check(ctx, rdb, boxB, rotation.Sealed())
		if err != nil {
			t.Fatal(err)
		}
		if got := rotation.KeysInUse(after); len(got) != 1 || got[0] != "kB" {
			t.Fatalf("keys in use after: %v", got)
		}
		// A second run finds nothing to do.
		reports, err = rotation.Rotate(ctx, rdb, boxBA, rotation.Sealed(), rotation.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reports {
			if r.Resealed != 0 {
				t.Fatalf("second run resealed %+v", r)
			}
		}
	})
}

// TestRotateStopsAtAValueThatDoesNotOpen: a value under a key the command
// was not given stops the run with the row named (never the value), the
// values before it stay re-encrypted, and a run with the key finishes.
func TestRotateStopsAtAValueThatDoesNotOpen(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *db.DB) {
		ctx := context.Background()
		a, b, lost := secrets.NewKey("kA"), secrets.NewKey("kB"), secrets.NewKey("kLost")
		boxA, _ := secrets.New(a)
		rows := seed(t, db.Client, boxA, 30)
		boxLost, _ := secrets.New(lost)
		odd := seed(t, db.Client, boxLost, 1)[0]
		rdb := rotation.DB{SQL: db.SQL, Dialect: db.Dialect}

		boxBA, _ := secrets.New(b, a)
		_, err := rotation.Rotate(ctx, rdb, boxBA, rotation.Sealed(), rotation.Options{BatchSize: 7})
		if !errors.Is(err, secrets.ErrUnknownKey) || !strings.Contains(err.Error(), string(odd.id)) || strings.Contains(err.Error(), "secret-0") {
			t.Fatalf("error %v: want the unknown key named with its row", err)
		}
		boxAll, _ := secrets.New(b, a, lost)
		if _, err := rotation.Rotate(ctx, rdb, boxAll, rotation.Sealed(), rotation.Options{BatchSize: 7}); err != nil {
			t.Fatal(err)
		}
		boxB, _ := secrets.New(b)
		opens(t, db, boxB, append(rows, odd))
	})
}

// TestEverySealedColumnRotates: every sensitive bytes field of the ent
// schema (where sealed values live) is on the rotation's list, so a column
// added later cannot be left on a retired key unnoticed.
func TestEverySealedColumnRotates(t *testing.T) {
	files, err := filepath.Glob("../../ent/schema/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("schema files: %v %v", files, err)
	}
	typeRe := regexp.MustCompile(`type (\w+) struct\{ ent\.Schema \}`)
	fieldRe := regexp.MustCompile(`field\.Bytes\("(\w+)"\)[^\n]*\.Sensitive\(\)`)
	listed := map[string]bool{}
	for _, c := range rotation.Sealed() {
		listed[c.String()] = true
	}
	found := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := typeRe.FindSubmatch(src)
		if m == nil {
			continue
		}
		// ent's table names are plural (entc's inflection): MailSettings
		// is already plural, mail_settings.
		table := snake(string(m[1]))
		if !strings.HasSuffix(table, "s") {
			table += "s"
		}
		for _, fm := range fieldRe.FindAllSubmatch(src, -1) {
			// A digest (a share link's token hash) is sensitive but not
			// sealed: there is nothing to open, so nothing to rotate.
			if strings.HasSuffix(string(fm[1]), "_hash") {
				continue
			}
			found++
			if col := table + "." + string(fm[1]); !listed[col] {
				t.Errorf("%s is sealed (sensitive bytes) but rotation.Sealed() does not list it", col)
			}
		}
	}
	if found < len(rotation.Sealed()) {
		t.Fatalf("found %d sealed columns in the schema, the list has %d", found, len(rotation.Sealed()))
	}
}

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
