package smaregi_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/smaregi"
	"github.com/regicam/regicam/pos/smaregi/fake"
	"github.com/regicam/regicam/pulid"
)

// validate checks that ingest would accept every record as it is.
func validate(t *testing.T, recs []pos.Record) {
	t.Helper()
	for _, rec := range recs {
		r := rec.Receipt
		r.TerminalID = pulid.MustNew("TE")
		if err := r.Validate(time.Now()); err != nil {
			t.Errorf("ingest refuses %s %s: %v", r.Kind, r.ExternalID, err)
		}
	}
}

func TestKindMapping(t *testing.T) {
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	clock := fake.NewManualClock(base)
	srv := newFake(t, fake.Options{Clock: clock.Now})
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }

	sale := srv.RingUp(fake.TransactionSpec{StoreID: "1", TerminalID: "2", StaffID: "7", StaffName: "山田",
		Total: 35000, Credit: 35000, At: at(0), EnteredAt: at(-4)})
	cash := srv.RingUp(fake.TransactionSpec{TerminalID: "2", Total: 980, Cash: 1000, Change: 20, At: at(0)})
	clock.Set(at(1))
	canceled := srv.RingUp(fake.TransactionSpec{TerminalID: "2", Total: 500, At: at(1)})
	clock.Set(at(2))
	disposedOrig := srv.RingUp(fake.TransactionSpec{TerminalID: "3", Total: 1200, At: at(2)})
	returnedOrig := srv.RingUp(fake.TransactionSpec{TerminalID: "3", Total: 800, At: at(2)})
	deposit := srv.RingUp(fake.TransactionSpec{TerminalID: "3", Division: "2", Total: 10000, At: at(2)})
	unknown := srv.RingUp(fake.TransactionSpec{TerminalID: "3", Total: 300, At: at(2)})
	split := srv.RingUp(fake.TransactionSpec{TerminalID: "3", Total: 1000, Cash: 500,
		Others: []fake.DepositOther{{PaymentMethodID: "3", PaymentMethodName: "PayPay", Amount: 500}}, At: at(2)})
	edited := srv.RingUp(fake.TransactionSpec{TerminalID: "3", Total: 1000, StaffName: "佐藤", At: at(2)})

	clock.Set(at(10))
	must(t, srv.Cancel(canceled, at(10)))
	clock.Set(at(20))
	disposal, err := srv.Dispose(disposedOrig, at(20))
	must(t, err)
	clock.Set(at(30))
	ret, err := srv.ReturnSale(returnedOrig, at(30))
	must(t, err)
	must(t, srv.Edit(unknown, func(tx *fake.Transaction) { tx.Extra = map[string]any{"transactionHeadDivision": "99"} }, at(31)))
	clock.Set(at(40))
	must(t, srv.Edit(edited, func(tx *fake.Transaction) { tx.Total, tx.DepositCash, tx.StaffName = 1200, 1200, "鈴木" }, at(40)))

	txs, err := newClient(t, srv).Transactions(context.Background(),
		smaregi.Window{From: base.Add(-time.Hour), To: base.Add(2 * time.Hour)}, "")
	must(t, err)
	byID := map[string][]pos.Record{}
	for _, tx := range txs {
		recs, err := smaregi.MapTransaction(tx)
		if err != nil && tx.TransactionHeadID != unknown {
			t.Errorf("%s: %v", tx.TransactionHeadID, err)
		}
		validate(t, recs)
		for _, r := range recs {
			byID[r.Receipt.ExternalID] = append(byID[r.Receipt.ExternalID], r)
		}
	}
	kinds := func(id string) string {
		var ks []string
		for _, r := range byID[id] {
			ks = append(ks, string(r.Receipt.Kind))
		}
		return strings.Join(ks, "+")
	}

	// A plain sale carries everything the timeline shows.
	r := byID[sale][0]
	if kinds(sale) != "PAYMENT" || r.TerminalExternalID != "2" || r.StoreExternalID != "1" {
		t.Fatalf("sale: %s %+v", kinds(sale), r)
	}
	rc := r.Receipt
	if !rc.OccurredAt.Equal(at(0)) || rc.UpdatedAt == nil || !rc.UpdatedAt.Equal(at(0)) || rc.RegisterNo != "2" ||
		rc.StaffID != "7" || rc.StaffName != "山田" || rc.Total != 35000 || rc.Deposit != 35000 || rc.Change != 0 ||
		rc.PaymentMethod != "クレジット" || rc.EnteredAt == nil || !rc.EnteredAt.Equal(at(-4)) || rc.ReceiptNo == "" ||
		!strings.Contains(string(rc.Raw), `"transactionHeadId":"`+sale+`"`) {
		t.Errorf("sale receipt: %+v", rc)
	}
	if rc := byID[cash][0].Receipt; rc.PaymentMethod != "現金" || rc.Deposit != 1000 || rc.Change != 20 || rc.Total != 980 {
		t.Errorf("cash sale: %+v", rc)
	}

	// 取消: the sale and a CANCEL at the cancel time, same id.
	if kinds(canceled) != "PAYMENT+CANCEL" {
		t.Fatalf("canceled: %s", kinds(canceled))
	}
	if p, c := byID[canceled][0].Receipt, byID[canceled][1].Receipt; !p.OccurredAt.Equal(at(1)) || !c.OccurredAt.Equal(at(10)) ||
		c.Total != 500 || c.RelatedExternalID != "" || c.EnteredAt != nil {
		t.Errorf("cancel: %+v / %+v", p, c)
	}

	// 打消: the original stays a sale; the reversal is its own CANCEL.
	if kinds(disposedOrig) != "PAYMENT" || kinds(disposal) != "CANCEL" {
		t.Fatalf("dispose: %s / %s", kinds(disposedOrig), kinds(disposal))
	}
	if c := byID[disposal][0].Receipt; c.RelatedExternalID != disposedOrig || !c.OccurredAt.Equal(at(20)) || c.Total != 1200 || c.Deposit != 1200 {
		t.Errorf("disposal: %+v", c)
	}

	// 返品: a CANCEL of its own, unrelated (Smaregi does not say to what).
	if kinds(ret) != "CANCEL" || kinds(returnedOrig) != "PAYMENT" {
		t.Fatalf("return: %s / %s", kinds(ret), kinds(returnedOrig))
	}
	if c := byID[ret][0].Receipt; c.Total != 800 || !c.OccurredAt.Equal(at(30)) || c.RelatedExternalID != "" {
		t.Errorf("return: %+v", c)
	}

	if kinds(deposit) != "OTHER" || kinds(unknown) != "OTHER" {
		t.Errorf("入金 %s, unknown division %s", kinds(deposit), kinds(unknown))
	}
	if m := byID[split][0].Receipt.PaymentMethod; m != "現金・PayPay" {
		t.Errorf("split payment: %q", m)
	}
	// An edit is the same sale with new content and a later UpdatedAt,
	// which ingest records as MODIFY.
	if rc := byID[edited][0].Receipt; kinds(edited) != "PAYMENT" || rc.Total != 1200 || rc.StaffName != "鈴木" ||
		!rc.OccurredAt.Equal(at(2)) || !rc.UpdatedAt.Equal(at(40)) {
		t.Errorf("edited: %s %+v", kinds(edited), rc)
	}

	// Deletion: Smaregi answers 404; the runtime records DELETE.
	must(t, srv.Delete(sale))
	_, missing, err := newClient(t, srv).Get(context.Background(), []string{sale})
	must(t, err)
	if len(missing) != 1 {
		t.Fatalf("deleted sale still found")
	}
	del := smaregi.DeleteRecord(missing[0], "2", base.Add(time.Hour))
	if del.Receipt.Kind != journalentry.KindDELETE || del.Receipt.ExternalID != sale || del.TerminalExternalID != "2" {
		t.Errorf("delete record: %+v", del)
	}
	validate(t, []pos.Record{del})
}

func TestMapTransactionEdgeCases(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	ts := func(t time.Time) string { return smaregi.FormatTime(t) }
	base := smaregi.Transaction{
		TransactionHeadID: "1", TransactionDateTime: ts(now), TerminalTranDateTime: ts(now.Add(-time.Minute)),
		TransactionHeadDivision: "1", CancelDivision: "0", DisposeDivision: "0", ReturnSales: "0",
		UpdDateTime: ts(now), TerminalID: "1", Total: "120", Deposit: "120", DepositCash: "120", Change: "0",
	}
	for _, tc := range []struct {
		name  string
		edit  func(*smaregi.Transaction)
		kinds string
		check func(*testing.T, []pos.Record, error)
	}{
		{"register clock ahead of the server", func(x *smaregi.Transaction) { x.TerminalTranDateTime = ts(now.Add(3 * time.Hour)) }, "PAYMENT",
			func(t *testing.T, r []pos.Record, err error) {
				// The register's own time, and the server's beside it for
				// the clock estimate (regclock corrects the picture's time).
				sv := r[0].Receipt.ServerAt
				if !r[0].Receipt.OccurredAt.Equal(now.Add(3*time.Hour)) || sv == nil || !sv.Equal(now) || err != nil {
					t.Errorf("occurred %s, server %v, err %v", r[0].Receipt.OccurredAt, sv, err)
				}
			}},
		{"register clock in the year 2000", func(x *smaregi.Transaction) { x.TerminalTranDateTime = "2000-01-01T00:00:00+09:00" }, "PAYMENT",
			func(t *testing.T, r []pos.Record, err error) {
				rc := r[0].Receipt
				if !rc.OccurredAt.Equal(now) || rc.RegisterAt == nil || rc.RegisterAt.Year() != 2000 || err == nil {
					t.Errorf("occurred %s, register %v, err %v", rc.OccurredAt, rc.RegisterAt, err)
				}
			}},
		{"offline register behind the server", func(x *smaregi.Transaction) { x.TerminalTranDateTime = ts(now.Add(-48 * time.Hour)) }, "PAYMENT",
			func(t *testing.T, r []pos.Record, err error) {
				if !r[0].Receipt.OccurredAt.Equal(now.Add(-48*time.Hour)) || err != nil {
					t.Errorf("occurred %s, err %v", r[0].Receipt.OccurredAt, err)
				}
			}},
		{"no register time", func(x *smaregi.Transaction) { x.TerminalTranDateTime = "" }, "PAYMENT",
			func(t *testing.T, r []pos.Record, err error) {
				if !r[0].Receipt.OccurredAt.Equal(now) {
					t.Errorf("occurred %s", r[0].Receipt.OccurredAt)
				}
			}},
		{"enter time after the sale", func(x *smaregi.Transaction) { x.EnterDateTime = ts(now) }, "PAYMENT",
			func(t *testing.T, r []pos.Record, err error) {
				if r[0].Receipt.EnteredAt != nil || err == nil {
					t.Errorf("entered %v, err %v", r[0].Receipt.EnteredAt, err)
				}
			}},
		{"unknown cancelDivision", func(x *smaregi.Transaction) { x.CancelDivision = "7" }, "OTHER", nil},
		{"unknown disposeDivision", func(x *smaregi.Transaction) { x.DisposeDivision = "x" }, "OTHER", nil},
		{"division 16", func(x *smaregi.Transaction) { x.TransactionHeadDivision = "16" }, "OTHER", nil},
		{"division 17", func(x *smaregi.Transaction) { x.TransactionHeadDivision = "17" }, "OTHER", nil},
		{"canceled 出金", func(x *smaregi.Transaction) { x.TransactionHeadDivision, x.CancelDivision = "3", "1" }, "OTHER+CANCEL", nil},
		{"cancel without a cancel time", func(x *smaregi.Transaction) { x.CancelDivision = "1" }, "PAYMENT+CANCEL",
			func(t *testing.T, r []pos.Record, err error) {
				if !r[1].Receipt.OccurredAt.Equal(now) {
					t.Errorf("cancel at %s, want updDateTime", r[1].Receipt.OccurredAt)
				}
			}},
		{"canceled reversal", func(x *smaregi.Transaction) {
			x.DisposeDivision, x.CancelDivision, x.DisposeServerTransactionHeadID = "2", "1", "0"
		}, "CANCEL",
			func(t *testing.T, r []pos.Record, err error) {
				if r[0].Receipt.RelatedExternalID != "" {
					t.Errorf("related %q for id 0", r[0].Receipt.RelatedExternalID)
				}
			}},
		{"amount formats", func(x *smaregi.Transaction) { x.Total, x.Deposit, x.Change = "120.00", " 1e3 ", "-880" }, "PAYMENT",
			func(t *testing.T, r []pos.Record, err error) {
				if rc := r[0].Receipt; rc.Total != 120 || rc.Deposit != 1000 || rc.Change != 880 || err != nil {
					t.Errorf("%+v %v", rc, err)
				}
			}},
		{"amounts that are not numbers", func(x *smaregi.Transaction) { x.Total, x.Deposit = "１２０", "NaN" }, "",
			func(t *testing.T, r []pos.Record, err error) {
				if len(r) != 0 || !errors.Is(err, smaregi.ErrUnreadableAmount) {
					t.Errorf("records %+v, err %v; want none and ErrUnreadableAmount", r, err)
				}
			}},
		{"no id", func(x *smaregi.Transaction) { x.TransactionHeadID = "" }, "", nil},
		{"no time at all", func(x *smaregi.Transaction) { x.TransactionDateTime, x.TerminalTranDateTime = "", "junk" }, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := base
			tc.edit(&x)
			recs, err := smaregi.MapTransaction(x)
			var ks []string
			for _, r := range recs {
				ks = append(ks, string(r.Receipt.Kind))
			}
			if got := strings.Join(ks, "+"); got != tc.kinds {
				t.Fatalf("kinds %q, want %q (err %v)", got, tc.kinds, err)
			}
			if tc.kinds == "" && err == nil {
				t.Fatal("dropped without an error")
			}
			validate(t, recs)
			if tc.check != nil {
				tc.check(t, recs, err)
			}
		})
	}
}

func TestLegacyCredentials(t *testing.T) {
	for _, k := range []string{"access_token", "ACCESS_TOKEN", " legacy "} {
		if !smaregi.IsLegacyCredential(k) {
			t.Errorf("%q not legacy", k)
		}
		if err := smaregi.CheckCredentialKind(k); !errors.Is(err, pos.ErrLegacyCredentials) || !strings.Contains(err.Error(), "クライアントシークレット") {
			t.Errorf("%q: %v", k, err)
		}
	}
	for _, k := range []string{"", smaregi.CredentialClientCredentials, "oauth"} {
		if smaregi.IsLegacyCredential(k) || smaregi.CheckCredentialKind(k) != nil {
			t.Errorf("%q taken for legacy", k)
		}
	}
	if errors.Is(smaregi.ErrLegacyAccessToken, pos.ErrAuth) {
		t.Error("legacy must be told apart from a refused secret")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
