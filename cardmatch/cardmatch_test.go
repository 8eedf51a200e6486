package cardmatch_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/cardmatch"
	"github.com/regicam/regicam/internal/testclock"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// postSigned sends transactions to the signed webhook as a card terminal
// does: HMAC-SHA256 of "timestamp.body" with the endpoint's secret.
func postSigned(t *testing.T, url, secret string, txs []map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"terminalId": "CT-1", "transactions": txs})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Regicam-Timestamp", ts)
	req.Header.Set("X-Regicam-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed webhook: status %d", resp.StatusCode)
	}
}

type cmRow struct {
	ID, Side, State string
	Amount          int
	Entry           struct{ ID, Kind, ExternalID string }
	Counterpart     *struct{ ID string }
}

const cmFields = `id side state amount entry { id kind externalID } counterpart { id }`

func cmList(t *testing.T, c *testenv.Server, vars map[string]any) []cmRow {
	t.Helper()
	var out struct{ CardMatches []cmRow }
	c.MustQuery(t, `query($s: CardMatchState, $shops: [ID!]) { cardMatches(state: $s, shopIDs: $shops, first: 200) { `+cmFields+` } }`, vars, &out)
	return out.CardMatches
}

// cmAlerts are the CARD_MISMATCH alerts' messages, sorted.
func cmAlerts(t *testing.T, c *testenv.Server) []string {
	t.Helper()
	var out struct {
		Alerts struct {
			Edges []struct {
				Node struct {
					RuleKind, Message string
					Entry             *struct{ ExternalID string }
				}
			}
		}
	}
	c.MustQuery(t, `{ alerts(first: 100) { edges { node { ruleKind message entry { externalID } } } } }`, nil, &out)
	var msgs []string
	for _, e := range out.Alerts.Edges {
		if e.Node.RuleKind == "CARD_MISMATCH" {
			msgs = append(msgs, e.Node.Message+" @"+e.Node.Entry.ExternalID)
		}
	}
	sort.Strings(msgs)
	return msgs
}

// TestCardMatching feeds a card terminal (signed webhook) and a register
// (ingestJournal, as a POS partner) and checks both directions of a
// mismatch, a matching pair, an unmatched sale, and what STAFF see. The
// server's own matcher runs on the real clock (the window never passes
// during the test); the test steps two more matchers, "replicas" on a
// controlled clock, over the same database.
func TestCardMatching(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := viewer.System(context.Background())
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		var rule struct {
			CreateAlertRule struct{ Rule struct{ ID string } }
		}
		srv.MustQuery(t, `mutation($in: AlertRuleInput!) { createAlertRule(input: $in) { rule { id } } }`,
			map[string]any{"in": map[string]any{"name": "カード突合", "kind": "CARD_MISMATCH", "windowSeconds": 600}}, &rule)
		var conn struct {
			CreatePosConnection struct {
				Connection struct{ ID string }
				Webhook    struct{ Path, Secret string }
			}
		}
		srv.MustQuery(t, `mutation($in: CreatePosConnectionInput!) { createPosConnection(input: $in) { connection { id } webhook { path secret } } }`,
			map[string]any{"in": map[string]any{"provider": "WEBHOOK", "name": "カード端末", "shopID": fx.ShopID}}, &conn)
		hook := conn.CreatePosConnection.Webhook
		_, partner := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalWrite)

		// A second shop with a register of the same partner connection
		// and a card terminal; a third with a register only.
		term0, _ := srv.DB.Client.Terminal.Get(ctx, fx.TerminalIDs[0])
		var shops [2]pulid.ID
		var regs [2]pulid.ID
		for i, name := range []string{"新宿店", "池袋店"} {
			sh, err := srv.DB.Client.Shop.Create().SetAccountID(srv.AccountID).SetName(name).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			reg, err := srv.DB.Client.Terminal.Create().SetAccountID(srv.AccountID).SetConnectionID(term0.ConnectionID).
				SetShopID(sh.ID).SetExternalID(fmt.Sprint("S", i+2)).SetName(name + "レジ").Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			shops[i], regs[i] = sh.ID, reg.ID
		}
		shop2 := shops[0]
		srv.MustQuery(t, `mutation($in: CreateTerminalInput!) { createTerminal(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"connectionID": conn.CreatePosConnection.Connection.ID, "externalID": "CT-2", "shopID": shop2}}, nil)

		t0 := time.Now().Add(-3 * time.Minute).Truncate(time.Second).UTC()
		at := func(s int) string { return t0.Add(time.Duration(s) * time.Second).Format(time.RFC3339) }
		card := func(id, status string, s, amount int, related string) map[string]any {
			m := map[string]any{"id": id, "status": status, "occurredAt": at(s), "amount": amount,
				"maskedCard": "411111******11", "paymentMethod": "VISA"}
			if related != "" {
				m["relatedId"] = related
			}
			return m
		}
		postSigned(t, srv.URL+hook.Path, hook.Secret, []map[string]any{
			card("c-3500", "CAPTURE", 0, 3500, ""), card("c-3500-r", "REFUND", 20, 3500, "c-3500"), // refund, no register cancel
			card("c-1200", "CAPTURE", 45, 1200, ""),                                                   // register cancels it, the terminal does not
			card("c-5000", "CAPTURE", 100, 5000, ""), card("c-5000-r", "REFUND", 150, 5000, "c-5000"), // matched both ways
		})
		reg := func(term pulid.ID, ext, kind string, s, total int, method string) map[string]any {
			return map[string]any{"terminalID": term, "externalID": ext, "kind": kind, "occurredAt": at(s),
				"staffName": "山田", "total": total, "paymentMethod": method}
		}
		r1 := fx.TerminalIDs[0]
		var res struct {
			IngestJournal []struct{ Status string }
		}
		partner.MustQuery(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { status } }`, map[string]any{"in": []map[string]any{
			reg(r1, "r-3500", "PAYMENT", 30, 3500, "クレジット"),
			reg(r1, "r-1200", "PAYMENT", 40, 1200, "クレジット"), reg(r1, "r-1200", "CANCEL", 60, 1200, "クレジット"),
			reg(r1, "r-5000", "PAYMENT", 110, 5000, "クレジットカード"), reg(r1, "r-5000", "CANCEL", 170, 5000, "クレジットカード"),
			reg(r1, "r-777", "PAYMENT", 50, 777, "クレジット"),          // no card sale: unmatched, no alert
			reg(r1, "r-900", "CANCEL", 70, 900, "現金"),              // cash: not matched at all
			reg(regs[0], "s2-2222", "PAYMENT", 80, 2222, "Credit"), // the other shop
			reg(regs[1], "s3-3333", "PAYMENT", 80, 3333, "Credit"), // no card terminal in that shop: not matched
		}}, &res)
		for i, r := range res.IngestJournal {
			if r.Status != "CREATED" {
				t.Fatalf("register item %d: %s", i, r.Status)
			}
		}

		clock := testclock.New(t0.Add(5 * time.Minute))
		replicas := []*cardmatch.Matcher{
			cardmatch.New(srv.DB.Client, srv.DB.Dialect, cardmatch.Options{Now: clock.Now, Alerter: srv.Alerts()}),
			cardmatch.New(srv.DB.Client, srv.DB.Dialect, cardmatch.Options{Now: clock.Now, Alerter: srv.Alerts()}),
		}
		step := func() {
			for _, m := range replicas {
				if err := m.Step(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		step()
		state := func() map[string]string {
			got := map[string]string{}
			for _, r := range cmList(t, srv, nil) {
				got[r.Entry.ExternalID+"/"+r.Entry.Kind] = r.Side + " " + r.State
			}
			return got
		}
		// Within the window: pairs are made, the rest waits.
		want := map[string]string{
			"c-3500/PAYMENT": "CARD MATCHED", "r-3500/PAYMENT": "REGISTER MATCHED",
			"c-3500-r/CANCEL": "CARD PENDING",
			"c-1200/PAYMENT":  "CARD MATCHED", "r-1200/PAYMENT": "REGISTER MATCHED", "r-1200/CANCEL": "REGISTER PENDING",
			"c-5000/PAYMENT": "CARD MATCHED", "r-5000/PAYMENT": "REGISTER MATCHED",
			"c-5000-r/CANCEL": "CARD MATCHED", "r-5000/CANCEL": "REGISTER MATCHED",
			"r-777/PAYMENT": "REGISTER PENDING", "s2-2222/PAYMENT": "REGISTER PENDING",
		}
		if got := state(); !mapsEqual(got, want) {
			t.Fatalf("after 5 minutes:\n got %v\nwant %v", got, want)
		}
		if a := cmAlerts(t, srv); len(a) != 0 {
			t.Fatalf("alerts before the window passed: %v", a)
		}

		// The window (600 s) passes for every waiting entry (the last
		// occurred at +80 s; the clock is at +720 s): both replicas decide,
		// one alert each.
		clock.Add(7 * time.Minute)
		step()
		step()
		for _, k := range []string{"c-3500-r/CANCEL", "r-1200/CANCEL", "r-777/PAYMENT", "s2-2222/PAYMENT"} {
			want[k] = strings.Replace(want[k], "PENDING", "UNMATCHED", 1)
		}
		if got := state(); !mapsEqual(got, want) {
			t.Fatalf("after the window:\n got %v\nwant %v", got, want)
		}
		wantAlerts := []string{
			"カード端末の返金 ¥3,500 に対応するレジの取消がありません @c-3500-r",
			"レジの取消（カード払い ¥1,200）に対応するカード端末の返金がありません @r-1200",
		}
		if got := cmAlerts(t, srv); !slices.Equal(got, wantAlerts) {
			t.Fatalf("alerts:\n got %q\nwant %q", got, wantAlerts)
		}

		// The mismatches list, and the match as seen from an entry.
		unmatched := cmList(t, srv, map[string]any{"s": "UNMATCHED"})
		if len(unmatched) != 4 {
			t.Errorf("%d UNMATCHED rows, want 4", len(unmatched))
		}
		var matched cmRow
		for _, r := range cmList(t, srv, map[string]any{"s": "MATCHED"}) {
			if r.Entry.ExternalID == "c-5000-r" {
				matched = r
			}
		}
		if matched.Counterpart == nil {
			t.Fatalf("card refund c-5000-r has no counterpart: %+v", matched)
		}
		var node struct {
			Node struct {
				ExternalID string
				CardMatch  *cmRow
			}
		}
		srv.MustQuery(t, `query($id: ID!) { node(id: $id) { ... on JournalEntry { externalID cardMatch { `+cmFields+` } } } }`,
			map[string]any{"id": matched.Counterpart.ID}, &node)
		if node.Node.ExternalID != "r-5000" || node.Node.CardMatch == nil || node.Node.CardMatch.State != "MATCHED" ||
			node.Node.CardMatch.Counterpart == nil || node.Node.CardMatch.Counterpart.ID != matched.Entry.ID {
			t.Errorf("register cancel r-5000 as an entry: %+v", node.Node)
		}

		// STAFF see the matches of their shops only.
		_, staff1 := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, fx.ShopID)
		_, staff2 := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, shop2)
		if rows := cmList(t, staff1, nil); len(rows) != len(want)-1 || slices.ContainsFunc(rows, func(r cmRow) bool { return r.Entry.ExternalID == "s2-2222" }) {
			t.Errorf("STAFF of 渋谷店 see %d rows (want %d, none of 新宿店)", len(rows), len(want)-1)
		}
		if rows := cmList(t, staff2, nil); len(rows) != 1 || rows[0].Entry.ExternalID != "s2-2222" {
			t.Errorf("STAFF of 新宿店 see %+v", rows)
		}
		if r := staff2.Query(t, `query($shops: [ID!]) { cardMatches(shopIDs: $shops) { id } }`, map[string]any{"shops": []string{string(fx.ShopID)}}); len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Errorf("STAFF asking for another shop's matches: %s %+v", r.Data, r.Errors)
		}

		// A restart (a new matcher on the real clock) neither re-records
		// nor raises again.
		again := cardmatch.New(srv.DB.Client, srv.DB.Dialect, cardmatch.Options{Alerter: srv.Alerts()})
		if err := again.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if got := cmAlerts(t, srv); !slices.Equal(got, wantAlerts) {
			t.Errorf("alerts after a restart: %q", got)
		}
		if got := state(); !mapsEqual(got, want) {
			t.Errorf("rows after a restart: %v", got)
		}
	})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestCardPaid(t *testing.T) {
	for method, want := range map[string]bool{
		"クレジット": true, "クレジットカード": true, "Credit": true, "VISA card": true, "カード": true,
		"現金": false, "現金・クレジット": false, "電子マネー": false, "QR決済": false, "": false,
	} {
		if got := cardmatch.CardPaid(method); got != want {
			t.Errorf("CardPaid(%q) = %v, want %v", method, got, want)
		}
	}
}
