package storedconn_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/ubiregi/fake"
	"github.com/regicam/regicam/pulid"
)

type ubKey struct {
	ext  string
	kind journalentry.Kind
}

// TestUbiregiFaultsExactlyOnce drives the Ubiregi connector through its
// fake over real HTTP with 503, 429, truncated and garbage bodies, expired
// access tokens (refreshed by themselves) and a revoked refresh token
// (NEEDS_REAUTH), asserting every stored entry exactly once.
func TestUbiregiFaultsExactlyOnce(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		fk := fake.New(fake.Options{AccountName: "カフェ障害"})
		t.Cleanup(fk.Shutdown)
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) {
			cfg.UbiregiAuthURL, cfg.UbiregiAPIURL = fk.URL(), fk.APIBaseURL()
			cfg.UbiregiClientID, cfg.UbiregiClientSecret = fk.ClientID(), fk.ClientSecret()
		})
		resp, err := signedIn(srv).Get(srv.URL + "/oauth/ubiregi/start")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		connID := pulid.ID(resp.Request.URL.Query().Get("connected"))
		if connID == "" {
			t.Fatalf("OAuth flow ended at %s", resp.Request.URL)
		}

		want := map[ubKey]bool{}
		sale := func(yen int64) string {
			id := fk.Close(fake.Checkout{PaidAt: time.Now().Add(-time.Minute).Truncate(time.Second),
				Items:    []fake.Item{{MenuItemID: 1, Count: 1, Sales: yen, Tax: yen / 10}},
				Payments: []fake.Payment{{PaymentTypeID: 1, Amount: yen + yen/10}}})
			want[ubKey{id, journalentry.KindPAYMENT}] = true
			return id
		}
		type res struct{ Status, LastError, NextRetryAt string }
		sync := func() res {
			t.Helper()
			var o struct{ SyncConnection res }
			srv.MustQuery(t, `mutation($id: ID!){ syncConnection(id: $id){ status lastError nextRetryAt } }`, map[string]any{"id": connID}, &o)
			return o.SyncConnection
		}
		syncUntilOK := func(n int) []res {
			t.Helper()
			var seen []res
			for range n {
				r := sync()
				seen = append(seen, r)
				if r.Status == "OK" {
					return seen
				}
				if r.LastError == "" {
					t.Errorf("status %s without lastError", r.Status)
				}
			}
			t.Fatalf("not OK after %d syncs: %+v", n, seen)
			return nil
		}
		checkOnce := func(when string) {
			t.Helper()
			es, err := srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(connID)).All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[ubKey]int{}
			for _, x := range es {
				got[ubKey{x.ExternalID, x.Kind}]++
			}
			var bad []string
			for k := range want {
				if got[k] != 1 {
					bad = append(bad, fmt.Sprintf("%s/%s stored %d times", k.ext, k.kind, got[k]))
				}
			}
			for k, n := range got {
				if !want[k] {
					bad = append(bad, fmt.Sprintf("unexpected %s/%s ×%d", k.ext, k.kind, n))
				}
			}
			if len(bad) > 0 {
				sort.Strings(bad)
				t.Errorf("%s: not exactly once: %s", when, strings.Join(bad, "; "))
			}
		}

		for i := range 5 {
			sale(int64(1000 + i))
		}
		syncUntilOK(1)
		checkOnce("first sync")

		const list = "/api/3/accounts"
		cases := []struct {
			name string
			f    fake.Fault
		}{
			{"503", fake.Fault{Path: list, Status: 503, RetryAfter: time.Second, Times: 2}},
			{"500", fake.Fault{Path: list, Status: 500, Times: 2}},
			{"429", fake.Fault{Path: list, Status: 429, RetryAfter: time.Second, Times: 2}},
			{"truncated JSON", fake.Fault{Path: list, Truncate: true, Times: 2}},
			{"garbage JSON", fake.Fault{Path: list, Garbage: `{"checkouts": [{"id": 1, "price": "12`, Times: 1}},
			{"slow", fake.Fault{Path: list, Delay: 300 * time.Millisecond, Times: 1}},
		}
		var prev string
		for i, c := range cases {
			id := sale(int64(2000 + i))
			if prev != "" {
				fk.Cancel(prev)
				want[ubKey{prev, journalentry.KindCANCEL}] = true
			}
			prev = id
			fk.Inject(c.f)
			seen := syncUntilOK(5)
			t.Logf("%s: %d sync(s) %+v", c.name, len(seen), seen)
			checkOnce(c.name)
			syncUntilOK(1)
			checkOnce(c.name + ", quiet poll")
		}

		// Expired access token: refreshed by itself, no status change.
		calls := fk.TokenCalls()
		fk.ExpireAccessTokens()
		gone := sale(3000)
		fk.Delete(gone) // deleted before we ever read it: only the deletion
		delete(want, ubKey{gone, journalentry.KindPAYMENT})
		want[ubKey{gone, journalentry.KindDELETE}] = true
		if r := sync(); r.Status != "OK" {
			t.Fatalf("expired access token: %+v", r)
		}
		if fk.TokenCalls() <= calls {
			t.Error("expired access token was not refreshed")
		}
		checkOnce("after refresh")

		// A storm longer than the client's retries: ERROR with the last
		// error and next retry, then OK and nothing lost or doubled.
		sale(4000)
		fk.Inject(fake.Fault{Path: list, Status: 503, Times: 12})
		r := sync()
		if r.Status != string(posconnection.StatusERROR) || r.LastError == "" || r.NextRetryAt == "" {
			t.Errorf("during a 503 storm: %+v", r)
		}
		seen := syncUntilOK(4)
		t.Logf("storm recovery: %+v then %+v", r, seen)
		checkOnce("after storm")

		// Revoked refresh token: NEEDS_REAUTH with a message; nothing stored.
		fk.RevokeRefreshTokens()
		pending := sale(5000)
		delete(want, ubKey{pending, journalentry.KindPAYMENT})
		if r := sync(); r.Status != string(posconnection.StatusNEEDS_REAUTH) || r.LastError == "" {
			t.Errorf("revoked refresh token: %+v", r)
		} else {
			t.Logf("revoked: %q", r.LastError)
		}
		checkOnce("after revocation")
	})
}
