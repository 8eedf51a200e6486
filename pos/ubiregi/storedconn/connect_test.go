package storedconn_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/ubiregi/fake"
	"github.com/regicam/regicam/pulid"
)

func TestUbiregiEndToEnd(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		fk := fake.New(fake.Options{AccountName: "カフェ青山"})
		t.Cleanup(fk.Shutdown)
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) {
			cfg.UbiregiAuthURL, cfg.UbiregiAPIURL = fk.URL(), fk.APIBaseURL()
			cfg.UbiregiClientID, cfg.UbiregiClientSecret = fk.ClientID(), fk.ClientSecret()
		})
		browser := signedIn(srv)

		// A callback with a forged state is refused and stores nothing.
		resp, err := browser.Get(srv.URL + "/oauth/ubiregi/callback?code=x&state=forged")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !strings.Contains(resp.Request.URL.RawQuery, "error=") {
			t.Fatalf("forged callback ended at %s", resp.Request.URL)
		}

		// start → provider authorize → callback → portal with the connection.
		resp, err = browser.Get(srv.URL + "/oauth/ubiregi/start")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		q := resp.Request.URL.Query()
		connID := pulid.ID(q.Get("connected"))
		if connID == "" {
			t.Fatalf("OAuth flow ended at %s", resp.Request.URL)
		}
		conn, err := srv.DB.Client.PosConnection.Get(ctx, connID)
		if err != nil {
			t.Fatal(err)
		}
		if conn.Provider != posconnection.ProviderUBIREGI || conn.ContractID != fk.AccountID() || len(conn.Secrets) == 0 {
			t.Fatalf("connection %+v", conn)
		}
		if strings.Contains(string(conn.Secrets), "access") {
			t.Fatal("tokens stored in clear")
		}
		term, err := srv.DB.Client.Terminal.Query().Where(terminal.ConnectionID(connID)).Only(ctx)
		if err != nil {
			t.Fatalf("one Ubiregi account = one terminal: %v", err)
		}
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		if err := srv.DB.Client.Link.Create().SetAccountID(srv.AccountID).SetTerminalID(term.ID).
			SetCameraID(fx.CameraIDs[1]).SetCreatedAt(testenv.LinkedSince).Exec(ctx); err != nil {
			t.Fatal(err)
		}

		paid := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
		sale := fk.Close(fake.Checkout{PaidAt: paid, Items: []fake.Item{{MenuItemID: 1, Count: 2, Sales: 900, Tax: 90}},
			Payments: []fake.Payment{{PaymentTypeID: 1, Amount: 1000}}, Change: 10, CashierID: 11})
		other := fk.Close(fake.Checkout{PaidAt: paid.Add(time.Second), Items: []fake.Item{{MenuItemID: 2, Count: 1, Sales: 500, Tax: 50}},
			Payments: []fake.Payment{{PaymentTypeID: 2, Amount: 550}}})
		sync := func() {
			t.Helper()
			var out struct {
				SyncConnection struct {
					Status    string
					LastError string
				}
			}
			srv.MustQuery(t, `mutation($id: ID!){ syncConnection(id: $id){ status lastError } }`, map[string]any{"id": connID}, &out)
			if out.SyncConnection.Status != "OK" {
				t.Fatalf("sync: %+v", out.SyncConnection)
			}
		}
		sync()
		fk.Cancel(sale)
		fk.Delete(other)
		sync()
		sync() // nothing new: no duplicates

		entries, _ := srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(connID)).
			Order(journalentry.ByOccurredAt(), journalentry.ByKind()).All(ctx)
		kinds := map[journalentry.Kind]int{}
		for _, e := range entries {
			kinds[e.Kind]++
			if e.CameraID == nil || *e.CameraID != fx.CameraIDs[1] {
				t.Errorf("entry %s has camera %v, want the linked one", e.ExternalID, e.CameraID)
			}
		}
		if kinds[journalentry.KindPAYMENT] != 2 || kinds[journalentry.KindCANCEL] != 1 || kinds[journalentry.KindDELETE] != 1 || len(entries) != 4 {
			t.Fatalf("entries by kind %v (%d in all)", kinds, len(entries))
		}
		first, _ := srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(connID), journalentry.ExternalID(sale),
			journalentry.KindEQ(journalentry.KindPAYMENT)).Only(ctx)
		if first.Total != 990 || first.Change != 10 || first.CanceledAt == nil || first.StaffName != "山田" {
			t.Fatalf("sale as stored: total %d change %d canceled %v staff %q", first.Total, first.Change, first.CanceledAt, first.StaffName)
		}

		// Revoked tokens: the connection asks the owner to connect again.
		fk.ExpireAccessTokens()
		fk.RevokeRefreshTokens()
		var out struct {
			SyncConnection struct{ Status, LastError string }
		}
		srv.MustQuery(t, `mutation($id: ID!){ syncConnection(id: $id){ status lastError } }`, map[string]any{"id": connID}, &out)
		if out.SyncConnection.Status != "NEEDS_REAUTH" || out.SyncConnection.LastError == "" {
			t.Fatalf("after revoked tokens: %+v", out.SyncConnection)
		}
	})
}

// signedIn is the owner's browser: a cookie jar, and the test's credential
// sent to regicam (not to the provider).
func signedIn(srv *testenv.Server) *http.Client {
	jar, _ := cookiejar.New(nil)
	host := strings.TrimPrefix(srv.URL, "http://")
	return &http.Client{Jar: jar, Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == host {
			r = r.Clone(r.Context())
			jar := r.Header.Get("Cookie") // the browser's own cookies stay
			srv.Credential().Apply(r.Header)
			if c := r.Header.Get("Cookie"); jar != "" && c != jar {
				r.Header.Set("Cookie", jar+"; "+c)
			}
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
