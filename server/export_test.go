package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

func TestJournalCSVExport(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		s := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, s.DB.Client, s.AccountID)
		ctx := context.Background()
		base := time.Date(2026, 11, 22, 14, 59, 59, 0, time.UTC) // 23:59:59 JST
		entered := base.Add(-4 * time.Minute)
		tricky := `ブレンド, "特製"` + "\n2杯目"
		for i, r := range []ingest.Receipt{
			{ExternalID: "s1", Kind: journalentry.KindPAYMENT, OccurredAt: base, ReceiptNo: "0042", RegisterNo: "2",
				StaffName: "山田, 太郎", Total: 35000, Deposit: 40000, Change: 5000, EnteredAt: &entered, PaymentMethod: "現金",
				Items: []schematype.Item{{Name: tricky, Quantity: 2, Amount: 900}}},
			{ExternalID: "s1", Kind: journalentry.KindCANCEL, OccurredAt: base.Add(time.Second), ReceiptNo: "0042", RegisterNo: "2",
				StaffName: "=HYPERLINK(\"x\")", Total: 35000, PaymentMethod: "現金"},
			{ExternalID: "s2", Kind: journalentry.KindPAYMENT, OccurredAt: base.Add(time.Hour), ReceiptNo: "0043", Total: 500, PaymentMethod: "クレジットカード", MaskedCard: "411111******11"},
		} {
			r.TerminalID = fx.TerminalIDs[0]
			if res := s.Ingester.Ingest(ctx, s.AccountID, r); res.Err != nil {
				t.Fatalf("ingest %d: %v", i, res.Err)
			}
		}

		get := func(where string, extra string) *http.Response {
			t.Helper()
			res := s.Get(t, "/export/journal.csv?where="+url.QueryEscape(where)+extra)
			t.Cleanup(func() { res.Body.Close() })
			return res
		}
		parse := func(res *http.Response) [][]string {
			t.Helper()
			if res.StatusCode != 200 {
				body, _ := io.ReadAll(res.Body)
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			raw, _ := io.ReadAll(res.Body)
			if !bytes.HasPrefix(raw, []byte("\xEF\xBB\xBF")) {
				t.Fatalf("no UTF-8 BOM: %q", raw[:min(10, len(raw))])
			}
			recs, err := csv.NewReader(bytes.NewReader(raw[3:])).ReadAll()
			if err != nil {
				t.Fatalf("parse CSV: %v\n%s", err, raw)
			}
			return recs
		}

		res := get(`{}`, "&exportID=all-1")
		if got := res.Header.Get("X-Regicam-Rows-Estimate"); got != "3" {
			t.Errorf("rows estimate %q", got)
		}
		recs := parse(res)
		if strings.Join(recs[0], ",") != strings.Join(export.Header, ",") {
			t.Fatalf("header %v", recs[0])
		}
		if len(recs) != 4 {
			t.Fatalf("got %d records, want header + 3: %v", len(recs), recs)
		}
		sale := recs[3] // newest first: the sale is last
		want := []string{"2026/11/22 23:59:59", "支払い", "0042", "2", "山田, 太郎", "35000", "40000", "5000", "2026/11/22 23:55",
			"現金", "渋谷店", "レジ1", "自宅カメラ", tricky + " ×2 ¥900"}
		for i := range want {
			if sale[i] != want[i] {
				t.Errorf("column %s: got %q, want %q", export.Header[i], sale[i], want[i])
			}
		}
		cancel := recs[2]
		if cancel[0] != "2026/11/23 00:00:00" || cancel[1] != "キャンセル" || cancel[4] != `'=HYPERLINK("x")` {
			t.Errorf("cancel row %q", cancel)
		}

		// The same where-input as everywhere: card, kind, amount.
		recs = parse(get(`{"maskedCard":"411111","kinds":["PAYMENT"],"minTotal":100}`, ""))
		if len(recs) != 2 || recs[1][2] != "0043" {
			t.Errorf("filtered export: %v", recs)
		}

		var p struct {
			JournalExportProgress struct {
				RowsWritten, RowsEstimate int
				Done                      bool
			}
		}
		s.MustQuery(t, `query { journalExportProgress(id: "all-1") { rowsWritten rowsEstimate done } }`, nil, &p)
		if pr := p.JournalExportProgress; pr.RowsWritten != 3 || pr.RowsEstimate != 3 || !pr.Done {
			t.Errorf("progress %+v", pr)
		}

		// POST, as a dashboard sends a long filter.
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/export/journal.csv", strings.NewReader(`{"where":{"kinds":["CANCEL"]},"exportID":"p1"}`))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(&http.Cookie{Name: auth.CookieName, Value: s.Credential().Cookie})
		post, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer post.Body.Close()
		if recs := parse(post); len(recs) != 2 || recs[1][1] != "キャンセル" {
			t.Errorf("POST export: %v", recs)
		}

		// STAFF of another shop: nothing of this shop, and asking for it is NOT_FOUND.
		shop2, _ := s.DB.Client.Shop.Create().SetAccountID(s.AccountID).SetName("新宿店").Save(viewer.System(ctx))
		_, staff := s.NewUser(t, s.AccountID, viewer.RoleStaff, shop2.ID)
		if recs := parse(staff.Get(t, "/export/journal.csv")); len(recs) != 1 {
			t.Errorf("staff of another shop exports %d records", len(recs)-1)
		}
		if res := staff.Get(t, "/export/journal.csv?where="+url.QueryEscape(`{"shopIDs":["`+string(fx.ShopID)+`"]}`)); res.StatusCode != http.StatusNotFound {
			t.Errorf("staff asking for another shop: status %d", res.StatusCode)
		}

		anon := s.As(testenv.Anonymous).Get(t, "/export/journal.csv")
		anon.Body.Close()
		if anon.StatusCode != http.StatusUnauthorized {
			t.Errorf("anonymous export: status %d", anon.StatusCode)
		}

		for _, c := range []struct{ where, field string }{
			{`{"kinds":["REFUND"]}`, "where.kinds"},
			{`{"minTotal":"a lot"}`, "where.minTotal"},
			{`{"colour":"red"}`, "where.colour"},
			{`{"from":"2026-11-23T00:00:00Z","to":"2026-11-22T00:00:00Z"}`, "where.from"},
			{`not json`, "where"},
		} {
			res := get(c.where, "")
			var body struct {
				Errors []struct {
					Message    string
					Extensions map[string]string
				}
			}
			_ = json.NewDecoder(res.Body).Decode(&body)
			if res.StatusCode != 400 || len(body.Errors) != 1 || body.Errors[0].Extensions["code"] != "BAD_USER_INPUT" || body.Errors[0].Extensions["field"] != c.field {
				t.Errorf("where %s: status %d %+v, want 400 on %s", c.where, res.StatusCode, body, c.field)
			}
		}
	})
}
