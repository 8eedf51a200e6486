package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/signedhook"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

const setupYAML = `account: 株式会社レジカム
shops:
  - name: 渋谷店
    timezone: Asia/Tokyo
    businessHours:
      - {weekday: 1, open: "10:00", close: "20:00"}
      - {weekday: 5, open: "18:00", close: "02:00"}   # crosses midnight
  - name: 新宿店
cameras:
  - name: レジ前カメラ
    model: CC-2L_SF
    deviceID: "201000192"
    source: {kind: SIMULATED}
connections:
  - name: カード端末 1F
    provider: WEBHOOK
    shop: 渋谷店
    terminals:
      - {externalID: MPOS-01, name: 1 番レジ, camera: "201000192"}
      - {externalID: MPOS-02, shop: 新宿店}
  - name: POS パートナー
    provider: PARTNER
    shop: 新宿店
`

// TestSetupCommand: regicam setup creates what the file lists, prints each
// new connection's signing key once (a key that signs webhooks the server
// accepts, stored sealed), and a second run changes nothing and says so.
func TestSetupCommand(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		dir := t.TempDir()
		env := func(name string) string {
			switch name {
			case "REGICAM_DATA_DIR":
				return dir
			case "REGICAM_DATABASE_URL":
				return b.DatabaseURL
			}
			return ""
		}
		run := func(yaml string, args ...string) (int, string, string) {
			t.Helper()
			path := filepath.Join(t.TempDir(), "setup.yaml")
			if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := setupCommand(context.Background(), append([]string{"--file", path}, args...), env, nil, &out, &errb)
			return code, out.String(), errb.String()
		}

		if code, _, errs := run(setupYAML); code != 1 || !strings.Contains(errs, "regicam user create") {
			t.Fatalf("without an account: code %d, stderr %q", code, errs)
		}
		ctx := viewer.System(context.Background())
		db, err := db.Open(ctx, b.DatabaseURL, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Client.Account.Create().SetName("株式会社レジカム").Save(ctx); err != nil {
			t.Fatal(err)
		}

		code, out, errs := run(setupYAML)
		if code != 0 {
			t.Fatalf("setup: code %d\nstdout %s\nstderr %s", code, out, errs)
		}
		for _, want := range []string{
			"shop 渋谷店: created", "営業時間 月 10:00–20:00, 金 18:00–02:00", "shop 新宿店: created",
			"camera レジ前カメラ (CC-2L_SF : 201000192): created",
			"connection カード端末 1F (WEBHOOK): created", "connection POS パートナー (PARTNER): created",
			"terminal MPOS-01 of カード端末 1F: created", "terminal MPOS-02 of カード端末 1F: created", "in 新宿店",
			"link MPOS-01 → レジ前カメラ (CC-2L_SF : 201000192): created",
			"done: 8 created, 0 already there",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
		keys := regexp.MustCompile(`signing key: (\S+)`).FindAllStringSubmatch(out, -1)
		urls := regexp.MustCompile(`webhook URL: \S+(/webhooks/signed/PC\w+)`).FindAllStringSubmatch(out, -1)
		if len(keys) != 2 || len(urls) != 2 {
			t.Fatalf("want two signing keys and webhook URLs, got %d, %d:\n%s", len(keys), len(urls), out)
		}
		key, path := testenv.Secret(keys[0][1]), urls[0][1]
		testenv.Secret(keys[1][1])

		// Sealed at rest, under the server's key.
		conn, err := db.Client.PosConnection.Query().Where(posconnection.Name("カード端末 1F")).Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(conn.WebhookSecret, []byte(key)) {
			t.Fatal("signing key stored in clear")
		}
		box, err := secrets.FromEnvOrFile("", dir)
		if err != nil {
			t.Fatal(err)
		}
		if opened, err := box.Open(conn.WebhookSecret, secrets.POSWebhookSecretAAD(conn.ID)); err != nil || string(opened) != key {
			t.Fatalf("the stored key does not open to the printed one: %v", err)
		}

		// Second run: nothing new, no key printed.
		code, out, errs = run(setupYAML)
		if code != 0 || !strings.Contains(out, "nothing changed: all 8 items") || strings.Contains(out, "signing key") {
			t.Fatalf("second run: code %d\nstdout %s\nstderr %s", code, out, errs)
		}
		for what, n := range map[string]func(context.Context) (int, error){
			"shops":       db.Client.Shop.Query().Count,
			"cameras":     db.Client.Camera.Query().Count,
			"connections": db.Client.PosConnection.Query().Count,
			"terminals":   db.Client.Terminal.Query().Count,
			"links":       db.Client.Link.Query().Where(link.EndedAtIsNil()).Count,
		} {
			got, err := n(ctx)
			want := map[string]int{"shops": 2, "cameras": 1, "connections": 2, "terminals": 2, "links": 1}[what]
			if err != nil || got != want {
				t.Errorf("%s after two runs: %d (%v), want %d", what, got, err, want)
			}
		}
		// A changed file is reported, not applied.
		code, out, _ = run(strings.Replace(setupYAML, "timezone: Asia/Tokyo", "timezone: Europe/Paris", 1))
		if code != 0 || !strings.Contains(out, "note: timezone is Asia/Tokyo, the file says Europe/Paris") {
			t.Fatalf("changed file: code %d\n%s", code, out)
		}

		// The server accepts the printed key; the sale on MPOS-01 carries the camera.
		db.Close()
		srv := testenv.Start(t, b, dir)
		body, _ := json.Marshal(map[string]any{"terminalId": "MPOS-01", "transactions": []map[string]any{
			{"id": "tx-1", "status": "CAPTURE", "occurredAt": time.Now().Add(2 * time.Second).Format(time.RFC3339), "amount": 1500}}})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		signedhook.SignRequest(req, []byte(key), body, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("webhook with the printed key: %d", resp.StatusCode)
		}
		e, err := srv.DB.Client.JournalEntry.Query().Where(journalentry.ExternalID("tx-1")).Only(ctx)
		if err != nil || e.CameraID == nil {
			t.Fatalf("entry %+v, %v: want one with the linked camera", e, err)
		}
	})
}

// TestSetupCommandBadFile: every mistake names its place in the file, and
// nothing after it is created.
func TestSetupCommandBadFile(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		dir := t.TempDir()
		env := func(name string) string {
			switch name {
			case "REGICAM_DATA_DIR":
				return dir
			case "REGICAM_DATABASE_URL":
				return b.DatabaseURL
			}
			return ""
		}
		ctx := viewer.System(context.Background())
		db, err := db.Open(ctx, b.DatabaseURL, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Client.Account.Create().SetName("A社").Save(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ name, yaml, want string }{
			{"unknown key", "shops:\n  - name: 渋谷店\n    timezon: Asia/Tokyo\n", "line 3: field timezon not found"},
			{"no such zone", "shops:\n  - name: 渋谷店\n  - name: 新宿店\n    timezone: Asia/Atlantis\n", "shops[1].timezone: 存在しないタイムゾーンです"},
			{"open == close", "shops:\n  - name: 渋谷店\n    businessHours:\n      - {weekday: 2, open: \"09:00\", close: \"09:00\"}\n", "shops[0].businessHours[0].close"},
			{"weekday twice", "shops:\n  - name: 渋谷店\n    businessHours:\n      - {weekday: 2, open: \"09:00\", close: \"18:00\"}\n      - {weekday: 2, open: \"19:00\", close: \"20:00\"}\n", "shops[0].businessHours[1].weekday"},
			{"shop twice", "shops:\n  - name: 渋谷店\n  - name: 渋谷店\n", "shops[1].name"},
			{"unknown shop", "connections:\n  - {name: 端末, provider: WEBHOOK, shop: 大阪店}\n", "connections[0].shop"},
			{"Smaregi", "shops: [{name: 渋谷店}]\nconnections:\n  - {name: 端末, provider: SMAREGI, shop: 渋谷店}\n", "connections[0].provider"},
			{"unknown camera", "shops: [{name: 渋谷店}]\nconnections:\n  - name: 端末\n    provider: WEBHOOK\n    shop: 渋谷店\n    terminals: [{externalID: T1, camera: \"999\"}]\n", "connections[0].terminals[0].camera"},
			{"bad camera URL", "cameras:\n  - {name: カメラ, deviceID: D1, source: {kind: SNAPSHOT, url: \"ftp://cam/x.jpg\"}}\n", "cameras[0].source.url"},
			{"missing password variable", "cameras:\n  - {name: カメラ, deviceID: D1, source: {kind: SNAPSHOT, url: \"http://127.0.0.1:1/x.jpg\", username: admin, passwordEnv: CAM_PW}}\n", "cameras[0].source.passwordEnv"},
		} {
			t.Run(c.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "setup.yaml")
				if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
				var out, errb bytes.Buffer
				code := setupCommand(context.Background(), []string{"--file", path}, env, nil, &out, &errb)
				if code != 1 || !strings.Contains(errb.String(), c.want) {
					t.Fatalf("code %d, stderr %q, want %q\nstdout %s", code, errb.String(), c.want, out.String())
				}
			})
		}
		// A failed run stops at its mistake: only what came before it exists.
		names, _ := db.Client.Shop.Query().Select("name").Strings(ctx)
		if len(names) != 1 {
			t.Fatalf("shops after the bad files: %v, want the one 渋谷店 that preceded a later mistake", names)
		}
		if n, _ := db.Client.Camera.Query().Count(ctx); n != 0 {
			t.Fatalf("%d cameras created by refused files", n)
		}
	})
}
