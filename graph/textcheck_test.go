package graph_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/regicam/regicam/internal/testenv"
)

// TestNULIsBadUserInput: a NUL byte (or invalid UTF-8) in any string
// argument — a variable at any depth or an inline literal — is
// BAD_USER_INPUT naming the argument, the same on both databases
// (PostgreSQL cannot store it and answered INTERNAL). ingestJournal
// refuses only the item that holds it. Over HTTP
// (TestNULIsBadUserInputOverHTTP) a GET query says the same and the CSV
// export answers 400.
func TestNULIsBadUserInput(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		journalQ := `query($where: JournalWhere) { journal(where: $where, first: 5) { edges { node { id } } } }`
		where := func(k string, v any) map[string]any { return map[string]any{"where": map[string]any{k: v}} }
		for _, tc := range []struct {
			name, query string
			vars        map[string]any
			field, what string
		}{
			{"search", journalQ, where("search", "山\x00田"), "where.search", "NUL"},
			{"staff", journalQ, where("staff", "\x00"), "where.staff", "NUL"},
			{"itemText", journalQ, where("itemText", "珈琲\x00"), "where.itemText", "NUL"},
			{"externalID", journalQ, where("externalID", "tx-\x00"), "where.externalID", "NUL"},
			{"paymentMethods", journalQ, where("paymentMethods", []string{"現金", "VISA\x00"}), "where.paymentMethods[1]", "NUL"},
			{"inline literal", `{ journal(where: {search: "a\u0000b"}, first: 5) { edges { node { id } } } }`, nil, "where.search", "NUL"},
			{"inline list literal", `{ journal(where: {paymentMethods: ["\u0000"]}, first: 5) { edges { node { id } } } }`, nil, "where.paymentMethods[0]", "NUL"},
			{"login email", auLogin, map[string]any{"e": "owner\x00@example.jp", "p": "Kasse2026go"}, "email", "NUL"},
			{"login password", auLogin, map[string]any{"e": "owner@example.jp", "p": "Kasse\x002026go"}, "password", "NUL"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := srv.Query(t, tc.query, tc.vars)
				if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Field() != tc.field ||
					!strings.Contains(r.Errors[0].Message, "("+tc.what+")") {
					t.Fatalf("want one BAD_USER_INPUT on %s about %s, got %+v", tc.field, tc.what, r.Errors)
				}
			})
		}

		t.Run("ingestJournal refuses only the bad items", func(t *testing.T) {
			base := tjBase()
			res, errs := tjIngest(t, srv,
				tjReceipt(fx.TerminalIDs[0], "nul-ok", "PAYMENT", base, nil),
				tjReceipt(fx.TerminalIDs[0], "nul-staff", "PAYMENT", base, map[string]any{"staffName": "山\x00田"}),
				tjReceipt(fx.TerminalIDs[0], "nul-\x00", "PAYMENT", base, nil),
				tjReceipt(fx.TerminalIDs[0], "nul-item", "PAYMENT", base, map[string]any{"items": []any{map[string]any{"name": "\x00", "quantity": 1, "amount": 1000}}}),
				tjReceipt(fx.TerminalIDs[0], "nul-pay", "PAYMENT", base, map[string]any{"paymentMethod": "現金\x00"}),
				tjReceipt(fx.TerminalIDs[0], "nul-raw", "PAYMENT", base, map[string]any{"raw": map[string]any{"note": "\x00"}}),
			)
			if len(res) != 6 {
				t.Fatalf("%d results, errors %+v", len(res), errs)
			}
			if res[0].Status != "CREATED" {
				t.Errorf("the good item: %s %+v", res[0].Status, res[0].Error)
			}
			for i, field := range []string{"", "staffName", "externalID", "items[0].name", "paymentMethod", "raw.note"} {
				if i == 0 {
					continue
				}
				e, want := res[i].Error, fmt.Sprintf("input[%d].%s", i, field)
				if res[i].Status != "FAILED" || e == nil || e.Code != "BAD_USER_INPUT" || e.Field == nil || *e.Field != want ||
					!strings.Contains(e.Message, "(NUL)") {
					got := "<nil>"
					if e != nil && e.Field != nil {
						got = *e.Field
					}
					t.Errorf("item %d: %s %+v on %s, want BAD_USER_INPUT on %s", i, res[i].Status, e, got, want)
				}
			}
			for _, e := range errs {
				if e.Code() == "INTERNAL" {
					t.Errorf("INTERNAL beside the items: %+v", e)
				}
			}
		})
	})
}

// TestNULIsBadUserInputOverHTTP: invalid UTF-8 in a GraphQL GET query is
// BAD_USER_INPUT naming the argument, and a NUL or invalid UTF-8 in the
// CSV export's filter is 400 with BAD_USER_INPUT and the field.
func TestNULIsBadUserInputOverHTTP(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")

		t.Run("invalid UTF-8 in a GET query", func(t *testing.T) {
			q := "{ journal(where: {search: \"\xff\"}, first: 5) { edges { node { id } } } }"
			res := srv.Get(t, "/graphql?query="+url.QueryEscape(q))
			defer res.Body.Close()
			var r testenv.Response
			if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
				t.Fatal(err)
			}
			if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Field() != "where.search" ||
				!strings.Contains(r.Errors[0].Message, "不正な UTF-8") {
				t.Fatalf("got %+v", r.Errors)
			}
		})

		t.Run("CSV export filter", func(t *testing.T) {
			for _, tc := range []struct{ query, field string }{
				{"where=" + url.QueryEscape(`{"search":"a\u0000"}`), "where.search"},
				{"where=" + url.QueryEscape(`{"paymentMethods":["\u0000"]}`), "where.paymentMethods[0]"},
				{"where=" + url.QueryEscape("{\"staff\":\"\xff\"}"), "where"},
				{"exportID=a%00b", "exportID"},
			} {
				res := srv.Get(t, "/export/journal.csv?"+tc.query)
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"BAD_USER_INPUT"`) ||
					!strings.Contains(string(body), `"field":"`+tc.field+`"`) {
					t.Errorf("%s: %d %s", tc.query, res.StatusCode, body)
				}
			}
		})
	})
}
