package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/internal/testenv"
	smaregi "github.com/regicam/regicam/pos/smaregi"
	"github.com/regicam/regicam/pos/smaregi/fake"
	"github.com/regicam/regicam/pos/webhook"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

const (
	rotContract = "sb_rotate1"
	rotClient   = "cli-rotate"
	rotSecret   = "rotate-Secret-value-5566"
	camPassword = "cam-Password-9911"
)

// sealedFixture stores, under srv's key, one of each sealed column: a
// Smaregi connection's credentials, its webhook secret and a camera's
// password. It returns the connection and the webhook path.
func sealedFixture(t *testing.T, srv *testenv.Server) (*ent.PosConnection, string, pulid.ID) {
	t.Helper()
	ctx := viewer.System(context.Background())
	c := srv.DB.Client
	id := pulid.MustNew("PC")
	raw, _ := json.Marshal(map[string]string{"client_id": rotClient, "client_secret": rotSecret})
	sealed, err := srv.Secrets.Seal(raw, secrets.POSConnectionSecretsAAD(id))
	if err != nil {
		t.Fatal(err)
	}
	conn := c.PosConnection.Create().SetID(id).SetAccountID(srv.AccountID).SetProvider("SMAREGI").SetContractID(rotContract).
		SetCredentialKind(smaregi.CredentialClientCredentials).SetSecrets(sealed).SetSecretHint(secrets.Mask(rotSecret)).SaveX(ctx)
	path, _, err := webhook.NewSecret(ctx, c, srv.Secrets, conn)
	if err != nil {
		t.Fatal(err)
	}
	cam := pulid.MustNew("CA")
	cred, _ := json.Marshal(fleet.Credentials{Username: "admin", Password: camPassword})
	sealedCam, _ := srv.Secrets.Seal(cred, secrets.CameraCredentialsAAD(cam))
	c.Camera.Create().SetID(cam).SetAccountID(srv.AccountID).SetName("自宅カメラ").SetDeviceID(string(cam)).
		SetSourceCredentials(sealedCam).ExecX(ctx)
	return conn, path, cam
}

// works proves srv can use every sealed value: the Smaregi credentials
// (a poll), the webhook secret (an authenticated delivery) and the camera
// password.
func works(t *testing.T, srv *testenv.Server, fk *fake.Server, conn pulid.ID, path string, cam pulid.ID) {
	t.Helper()
	ctx := viewer.System(context.Background())
	if err := srv.Connectors.SyncNow(ctx, conn); err != nil {
		t.Fatalf("poll with the stored credentials: %v", err)
	}
	sale := fk.RingUp(fake.TransactionSpec{StoreID: "1", TerminalID: "1", Total: 100, Cash: 100})
	if err := fk.SendWebhook(ctx, srv.URL+path, "created", sale); err != nil {
		t.Fatalf("webhook with the stored secret: %v", err)
	}
	c := srv.DB.Client.Camera.GetX(ctx, cam)
	raw, err := srv.Secrets.Open(c.SourceCredentials, secrets.CameraCredentialsAAD(cam))
	if err != nil || !strings.Contains(string(raw), camPassword) {
		t.Fatalf("camera credentials: %v", err)
	}
}

type cli struct {
	t    *testing.T
	env  map[string]string
	args []string // --data-dir, --database-url
	seen bytes.Buffer
}

func (c *cli) run(args ...string) (int, string, string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code := secretsCommand(context.Background(), append(args, c.args...), func(k string) string { return c.env[k] }, &out, &errb)
	c.seen.Write(out.Bytes())
	c.seen.Write(errb.Bytes())
	return code, out.String(), errb.String()
}

func (c *cli) must(args ...string) string {
	c.t.Helper()
	code, out, errb := c.run(args...)
	if code != 0 {
		c.t.Fatalf("regicam secrets %v: exit %d\n%s%s", args, code, out, errb)
	}
	return out
}

// TestSecretsRotateKeyFile: the default setup (key file beside the
// database). rotate adds k2, re-encrypts in batches with progress, the
// running server keeps working without a restart, drop-old refuses while a
// value still needs k1, and a server started with k2 alone uses every
// stored credential.
func TestSecretsRotateKeyFile(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		fk := fake.New(fake.Options{ContractID: rotContract, ClientID: rotClient, ClientSecret: rotSecret,
			Stores: []fake.Store{{ID: "1", Name: "本店"}}})
		t.Cleanup(fk.Close)
		dir := t.TempDir()
		withFake := func(cfg *app.Config, _ string) { cfg.SmaregiIDURL, cfg.SmaregiAPIURL = fk.URL(), fk.URL() }
		srv := testenv.StartWith(t, b, dir, withFake)
		conn, path, cam := sealedFixture(t, srv)
		c := &cli{t: t, env: map[string]string{}, args: []string{"--data-dir", dir, "--database-url", b.DatabaseURL}}

		if out := c.must("status"); !strings.Contains(out, "pos_connections.secrets: 1 values (k1 1), all open") ||
			!strings.Contains(out, "cameras.source_credentials: 1 values (k1 1)") {
			t.Fatalf("status before:\n%s", out)
		}
		if out := c.must("drop-old"); !strings.Contains(out, "nothing to drop") {
			t.Fatalf("drop-old with one key:\n%s", out)
		}

		out := c.must("rotate", "--batch", "1")
		for _, want := range []string{"added key k2", "k1 kept for reading",
			"pos_connections.secrets: 1/1 read, 1 re-encrypted", "pos_connections.webhook_secret: 1/1 read, 1 re-encrypted",
			"cameras.source_credentials: 1/1 read, 1 re-encrypted", "done: 3 sealed values, 3 re-encrypted, all under key k2",
			"regicam secrets drop-old"} {
			if !strings.Contains(out, want) {
				t.Fatalf("rotate output lacks %q:\n%s", want, out)
			}
		}
		keys, err := secrets.ReadKeyFile(secrets.KeyFile(dir))
		if err != nil || len(keys) != 2 || keys[0].ID != "k2" || keys[1].ID != "k1" {
			t.Fatalf("key file after rotate: %v %v", keys, err)
		}
		// The running server opens the values now under k2 (it follows the
		// key file), without a restart.
		works(t, srv, fk, conn.ID, path, cam)

		// A server still sealing with k1 writes a value meanwhile: drop-old
		// refuses until a rotate without a new key has moved it.
		ctx := viewer.System(context.Background())
		stale, _ := secrets.New(keys[1])
		path, _, err = webhook.NewSecret(ctx, srv.DB.Client, stale, conn)
		if err != nil {
			t.Fatal(err)
		}
		code, _, errb := c.run("drop-old")
		if code == 0 || !strings.Contains(errb, "values still use k1") || !strings.Contains(errb, "--no-new-key") {
			t.Fatalf("drop-old with a value on k1: exit %d %s", code, errb)
		}
		if out := c.must("rotate", "--no-new-key"); !strings.Contains(out, "done: 3 sealed values, 1 re-encrypted, all under key k2") {
			t.Fatalf("rotate --no-new-key:\n%s", out)
		}
		if out := c.must("drop-old"); !strings.Contains(out, "dropped k1") {
			t.Fatalf("drop-old:\n%s", out)
		}
		if keys, _ := secrets.ReadKeyFile(secrets.KeyFile(dir)); len(keys) != 1 || keys[0].ID != "k2" {
			t.Fatalf("key file after drop-old: %v", keys)
		}
		if out := c.must("status"); !strings.Contains(out, "keys: k2 (k2 seals)") || !strings.Contains(out, "pos_connections.webhook_secret: 1 values (k2 1), all open") {
			t.Fatalf("status after:\n%s", out)
		}

		// A server that has only k2 uses every stored credential.
		fresh := testenv.StartWith(t, b, dir, withFake)
		if got := fresh.Secrets.KeyIDs(); len(got) != 1 || got[0] != "k2" {
			t.Fatalf("restarted server keys %v", got)
		}
		works(t, fresh, fk, conn.ID, path, cam)

		// The command never prints a credential or a key.
		printed := c.seen.String()
		for _, k := range keys {
			if strings.Contains(printed, base64.StdEncoding.EncodeToString(k.Raw)) {
				t.Fatal("a key was printed")
			}
		}
		for _, s := range []string{rotSecret, camPassword} {
			if strings.Contains(printed, s) {
				t.Fatalf("%q was printed", s)
			}
		}
	})
}

// TestSecretsRotateEnvKey: with REGICAM_SECRET_KEY the operator puts the
// new key first; rotate re-encrypts to it and the old key can go.
func TestSecretsRotateEnvKey(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		fk := fake.New(fake.Options{ContractID: rotContract, ClientID: rotClient, ClientSecret: rotSecret,
			Stores: []fake.Store{{ID: "1", Name: "本店"}}})
		t.Cleanup(fk.Close)
		a, bk := secrets.NewKey("kA"), secrets.NewKey("kB")
		withKey := func(spec string) func(cfg *app.Config, _ string) {
			return func(cfg *app.Config, _ string) {
				cfg.SmaregiIDURL, cfg.SmaregiAPIURL, cfg.SecretKey = fk.URL(), fk.URL(), spec
			}
		}
		dir := t.TempDir()
		srv := testenv.StartWith(t, b, dir, withKey(secrets.FormatKeys([]secrets.Key{a})))
		conn, path, cam := sealedFixture(t, srv)
		c := &cli{t: t, args: []string{"--data-dir", dir, "--database-url", b.DatabaseURL},
			env: map[string]string{"REGICAM_SECRET_KEY": secrets.FormatKeys([]secrets.Key{bk, a})}}

		var nk bytes.Buffer
		code := secretsCommand(context.Background(), []string{"new-key"}, func(k string) string { return c.env[k] }, &nk, &nk)
		out := nk.String()
		if code != 0 || !strings.HasPrefix(out, "k1:") { // the next k<n> id not in the list
			t.Fatalf("new-key: %d %q", code, out)
		}
		if _, err := secrets.ParseKeys(strings.TrimSpace(out)); err != nil {
			t.Fatalf("new-key prints an unusable key: %v", err)
		}
		out = c.must("rotate")
		if !strings.Contains(out, "re-encrypting to its first key kB") || !strings.Contains(out, "done: 3 sealed values, 3 re-encrypted, all under key kB") ||
			!strings.Contains(out, "remove it from REGICAM_SECRET_KEY") {
			t.Fatalf("rotate:\n%s", out)
		}
		if code, _, errb := c.run("drop-old"); code == 0 || !strings.Contains(errb, "REGICAM_SECRET_KEY is set") {
			t.Fatalf("drop-old with an environment key: %d %s", code, errb)
		}
		if _, err := os.Stat(secrets.KeyFile(dir)); err == nil {
			t.Fatal("a key file was written although REGICAM_SECRET_KEY is set")
		}
		fresh := testenv.StartWith(t, b, dir, withKey(secrets.FormatKeys([]secrets.Key{bk})))
		works(t, fresh, fk, conn.ID, path, cam)
	})
}
