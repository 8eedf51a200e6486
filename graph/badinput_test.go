package graph_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
)

// tjBadInputMutation names its variable $input, so errors raised while
// coercing variables point at input[i].field like the ones raised later.
const tjBadInputMutation = `mutation($input: [JournalInput!]!) {
  ingestJournal(input: $input) { index status error { code field message } entry { id } }
}`

// tjWantError fails unless errs holds one error with code and field.
func tjWantError(t *testing.T, errs []testenv.GQLError, code, field string) {
	t.Helper()
	for _, e := range errs {
		if e.Code() == code && e.Field() == field {
			if e.Message == "" {
				t.Errorf("error %s at %s has no message", code, field)
			}
			return
		}
	}
	t.Errorf("want a GraphQL error with extensions.code %s and extensions.field %q, got %+v", code, field, errs)
}

// TestBadInputQueries sends each kind of bad read argument and expects a
// GraphQL error with extensions.code and extensions.field.
func TestBadInputQueries(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		ctx := context.Background()
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		other, err := srv.DB.Client.Account.Create().SetName("他社").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ofx := testenv.NewFixture(t, srv.DB.Client, other.ID)
		base := tjBase()
		// Some data, so an unknown id is not hidden behind an empty account.
		tjMustIngest(t, srv,
			tjReceipt(fx.TerminalIDs[0], "K1", "PAYMENT", base, nil),
			tjReceipt(fx.TerminalIDs[2], "K2", "PAYMENT", base, nil))

		cursor := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
		ts := func(t time.Time) string { return t.Format(time.RFC3339) }
		unknownCam, unknownTerm, unknownShop := string(pulid.MustNew("CA")), string(pulid.MustNew("TE")), string(pulid.MustNew("SH"))
		journalQ := `query($where: JournalWhere, $first: Int, $after: String) {
  journal(where: $where, first: $first, after: $after) { edges { cursor node { id } } }
}`
		bucketsQ := `query($cameraID: ID!, $from: Time!, $to: Time!, $bucket: BucketSize) {
  timelineBuckets(cameraID: $cameraID, from: $from, to: $to, bucket: $bucket) { start total }
}`
		bucketVars := func(cam pulid.ID, from, to time.Time, bucket string) map[string]any {
			v := map[string]any{"cameraID": string(cam), "from": ts(from), "to": ts(to)}
			if bucket != "" {
				v["bucket"] = bucket
			}
			return v
		}

		cases := []struct {
			name        string
			query       string
			vars        map[string]any
			code, field string
		}{
			{"unknown camera id", journalQ, map[string]any{"where": map[string]any{"cameraIDs": []string{unknownCam}}}, "NOT_FOUND", "where.cameraIDs"},
			{"another account's camera", journalQ, map[string]any{"where": map[string]any{"cameraIDs": []string{string(ofx.CameraIDs[0])}}}, "NOT_FOUND", "where.cameraIDs"},
			{"a terminal id as camera id", journalQ, map[string]any{"where": map[string]any{"cameraIDs": []string{string(fx.TerminalIDs[0])}}}, "NOT_FOUND", "where.cameraIDs"},
			{"unknown camera beside a busy one", journalQ, map[string]any{"where": map[string]any{"cameraIDs": []string{string(fx.CameraIDs[0]), unknownCam}}}, "NOT_FOUND", "where.cameraIDs"},
			{"unknown terminal id", journalQ, map[string]any{"where": map[string]any{"terminalIDs": []string{unknownTerm}}}, "NOT_FOUND", "where.terminalIDs"},
			{"another account's terminal", journalQ, map[string]any{"where": map[string]any{"terminalIDs": []string{string(ofx.TerminalIDs[0])}}}, "NOT_FOUND", "where.terminalIDs"},
			{"unknown shop id", journalQ, map[string]any{"where": map[string]any{"shopIDs": []string{unknownShop}}}, "NOT_FOUND", "where.shopIDs"},
			{"malformed camera id", journalQ, map[string]any{"where": map[string]any{"cameraIDs": []string{"camera-1"}}}, "BAD_USER_INPUT", "where.cameraIDs[0]"},
			{"kind outside the enum", journalQ, map[string]any{"where": map[string]any{"kinds": []string{"PAYMENT", "REFUND"}}}, "BAD_USER_INPUT", "where.kinds[1]"},
			{"kind in lower case", journalQ, map[string]any{"where": map[string]any{"kinds": []string{"payment"}}}, "BAD_USER_INPUT", "where.kinds[0]"},
			{"first 0", journalQ, map[string]any{"first": 0}, "BAD_USER_INPUT", "first"},
			{"first 201", journalQ, map[string]any{"first": 201}, "BAD_USER_INPUT", "first"},
			{"first negative", journalQ, map[string]any{"first": -1}, "BAD_USER_INPUT", "first"},
			{"after empty", journalQ, map[string]any{"after": ""}, "BAD_USER_INPUT", "after"},
			{"after not base64", journalQ, map[string]any{"after": "!!not a cursor!!"}, "BAD_USER_INPUT", "after"},
			{"after without id", journalQ, map[string]any{"after": cursor("1700000000000000")}, "BAD_USER_INPUT", "after"},
			{"after with bad time", journalQ, map[string]any{"after": cursor("yesterday:" + string(pulid.MustNew("JE")))}, "BAD_USER_INPUT", "after"},
			{"after with a camera id", journalQ, map[string]any{"after": cursor("1700000000000000:" + unknownCam)}, "BAD_USER_INPUT", "after"},
			{"journal from after to", journalQ, map[string]any{"where": map[string]any{"from": ts(base), "to": ts(base.Add(-time.Second))}}, "BAD_USER_INPUT", "where.from"},
			{"journal from not a time", journalQ, map[string]any{"where": map[string]any{"from": "yesterday"}}, "BAD_USER_INPUT", "where.from"},
			{"search too long", journalQ, map[string]any{"where": map[string]any{"search": strings.Repeat("あ", 101)}}, "BAD_USER_INPUT", "where.search"},

			{"buckets from after to", bucketsQ, bucketVars(fx.CameraIDs[0], base, base.Add(-time.Minute), ""), "BAD_USER_INPUT", "from"},
			{"buckets empty range", bucketsQ, bucketVars(fx.CameraIDs[0], base, base, "MINUTE_1"), "BAD_USER_INPUT", "from"},
			{"buckets over 31 days", bucketsQ, bucketVars(fx.CameraIDs[0], base.Add(-32*24*time.Hour), base, ""), "BAD_USER_INPUT", "to"},
			{"buckets 31 days and a second", bucketsQ, bucketVars(fx.CameraIDs[0], base.Add(-31*24*time.Hour-time.Second), base, "HOUR_1"), "BAD_USER_INPUT", "to"},
			{"buckets too many bars", bucketsQ, bucketVars(fx.CameraIDs[0], base.Add(-7*24*time.Hour), base, "SECONDS_10"), "BAD_USER_INPUT", "bucket"},
			{"buckets size outside the enum", bucketsQ, bucketVars(fx.CameraIDs[0], base.Add(-time.Hour), base, "MINUTES_2"), "BAD_USER_INPUT", "bucket"},
			{"buckets unknown camera", bucketsQ, bucketVars(pulid.ID(unknownCam), base.Add(-time.Hour), base, ""), "NOT_FOUND", "cameraID"},
			{"buckets another account's camera", bucketsQ, bucketVars(ofx.CameraIDs[0], base.Add(-time.Hour), base, ""), "NOT_FOUND", "cameraID"},
			{"buckets from not a time", bucketsQ, map[string]any{"cameraID": string(fx.CameraIDs[0]), "from": "2026-13-01T00:00:00Z", "to": ts(base)}, "BAD_USER_INPUT", "from"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := srv.Query(t, tc.query, tc.vars)
				if len(r.Errors) == 0 {
					t.Fatalf("no error; data %s", r.Data)
				}
				tjWantError(t, r.Errors, tc.code, tc.field)
			})
		}

		t.Run("limits themselves are accepted", func(t *testing.T) {
			for _, v := range []map[string]any{{"first": 1}, {"first": 200}, {"where": map[string]any{"search": strings.Repeat("あ", 100)}}} {
				if r := srv.Query(t, journalQ, v); len(r.Errors) > 0 {
					t.Errorf("%v: %+v", v, r.Errors)
				}
			}
			if _, errs := tjBucketsRaw(t, srv, fx.CameraIDs[0], base.Add(-31*24*time.Hour), base, "HOUR_1"); len(errs) > 0 {
				t.Errorf("31 days: %+v", errs)
			}
		})
	})
}

// TestBadInputIngest sends bad ingestJournal items: each fails alone with
// a code and a field, appears as a GraphQL error too, and stores nothing.
func TestBadInputIngest(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		ctx := context.Background()
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		other, err := srv.DB.Client.Account.Create().SetName("他社").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ofx := testenv.NewFixture(t, srv.DB.Client, other.ID)
		base := tjBase()
		term := fx.TerminalIDs[0]
		n := 0
		rec := func(extra map[string]any) map[string]any {
			n++
			return tjReceipt(term, fmt.Sprintf("BAD-%d", n), "PAYMENT", base, extra)
		}
		future := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)

		// Items that fail on their own: the call succeeds with a FAILED result.
		items := []struct {
			name        string
			item        map[string]any
			code, field string
		}{
			{"unknown terminal", tjReceipt(pulid.MustNew("TE"), "T-1", "PAYMENT", base, nil), "NOT_FOUND", "input[0].terminalID"},
			{"another account's terminal", tjReceipt(ofx.TerminalIDs[0], "T-2", "PAYMENT", base, nil), "NOT_FOUND", "input[0].terminalID"},
			{"a camera id as terminal", tjReceipt(fx.CameraIDs[0], "T-3", "PAYMENT", base, nil), "NOT_FOUND", "input[0].terminalID"},
			{"empty externalID", rec(map[string]any{"externalID": ""}), "BAD_USER_INPUT", "input[0].externalID"},
			{"blank externalID", rec(map[string]any{"externalID": "   "}), "BAD_USER_INPUT", "input[0].externalID"},
			{"externalID too long", rec(map[string]any{"externalID": strings.Repeat("x", 201)}), "BAD_USER_INPUT", "input[0].externalID"},
			{"negative deposit", rec(map[string]any{"deposit": -100}), "BAD_USER_INPUT", "input[0].deposit"},
			{"negative change", rec(map[string]any{"change": -1}), "BAD_USER_INPUT", "input[0].change"},
			{"total out of range", rec(map[string]any{"total": 2_000_000_000_000}), "BAD_USER_INPUT", "input[0].total"},
			{"full card number", rec(map[string]any{"maskedCard": "4111111111111111"}), "BAD_USER_INPUT", "input[0].maskedCard"},
			{"card with last four", rec(map[string]any{"maskedCard": "411111******1111"}), "BAD_USER_INPUT", "input[0].maskedCard"},
			{"card with middle digits", rec(map[string]any{"maskedCard": "4111111111****11"}), "BAD_USER_INPUT", "input[0].maskedCard"},
			{"card with spaces", rec(map[string]any{"maskedCard": "4111 11** **** 11"}), "BAD_USER_INPUT", "input[0].maskedCard"},
			{"occurredAt tomorrow", rec(map[string]any{"occurredAt": future}), "BAD_USER_INPUT", "input[0].occurredAt"},
			{"occurredAt in year 9999", rec(map[string]any{"occurredAt": "9999-12-31T23:59:59Z"}), "BAD_USER_INPUT", "input[0].occurredAt"},
			{"updatedAt tomorrow", rec(map[string]any{"updatedAt": future}), "BAD_USER_INPUT", "input[0].updatedAt"},
			{"enteredAt after the sale", rec(map[string]any{"enteredAt": base.Add(time.Hour).Format(time.RFC3339)}), "BAD_USER_INPUT", "input[0].enteredAt"},
			{"item quantity 0", rec(map[string]any{"items": []any{map[string]any{"name": "コーヒー", "quantity": 0, "amount": 0}}}), "BAD_USER_INPUT", "input[0].items[0].quantity"},
		}
		for _, tc := range items {
			t.Run(tc.name, func(t *testing.T) {
				e0, ev0 := tjRows(t, srv.DB.Client)
				r := srv.Query(t, tjBadInputMutation, map[string]any{"input": []any{tc.item}})
				var out struct {
					IngestJournal []tjResult `json:"ingestJournal"`
				}
				if err := json.Unmarshal(r.Data, &out); err != nil || len(out.IngestJournal) != 1 {
					t.Fatalf("data %s errors %+v", r.Data, r.Errors)
				}
				res := out.IngestJournal[0]
				if res.Status != "FAILED" || res.Entry != nil || res.Error == nil {
					t.Fatalf("result %+v, want FAILED with an error", res)
				}
				if res.Error.Code != tc.code || tjStr(res.Error.Field) != tc.field || res.Error.Message == "" {
					t.Errorf("item error %s at %s (%s), want %s at %s", res.Error.Code, tjStr(res.Error.Field), res.Error.Message, tc.code, tc.field)
				}
				tjWantError(t, r.Errors, tc.code, tc.field)
				if e1, ev1 := tjRows(t, srv.DB.Client); e1 != e0 || ev1 != ev0 {
					t.Errorf("a failed item wrote rows: entries %d→%d, events %d→%d", e0, e1, ev0, ev1)
				}
			})
		}

		// Inputs that reject the whole call: nothing from it is stored.
		many := make([]any, 501)
		for i := range many {
			many[i] = tjReceipt(term, fmt.Sprintf("MANY-%d", i), "PAYMENT", base, nil)
		}
		calls := []struct {
			name        string
			input       []any
			code, field string
		}{
			{"501 items", many, "BAD_USER_INPUT", "input"},
			{"no items", []any{}, "BAD_USER_INPUT", "input"},
			{"kind outside the enum", []any{rec(nil), tjReceipt(term, "K-REFUND", "REFUND", base, nil)}, "BAD_USER_INPUT", "input[1].kind"},
			{"malformed terminal id", []any{tjReceipt("terminal-1", "T-4", "PAYMENT", base, nil)}, "BAD_USER_INPUT", "input[0].terminalID"},
			{"occurredAt not a time", []any{rec(map[string]any{"occurredAt": "2026-02-30 25:00"})}, "BAD_USER_INPUT", "input[0].occurredAt"},
		}
		for _, tc := range calls {
			t.Run(tc.name, func(t *testing.T) {
				e0, ev0 := tjRows(t, srv.DB.Client)
				r := srv.Query(t, tjBadInputMutation, map[string]any{"input": tc.input})
				if len(r.Errors) == 0 {
					t.Fatalf("no error; data %s", r.Data)
				}
				tjWantError(t, r.Errors, tc.code, tc.field)
				if string(r.Data) != "null" && len(r.Data) != 0 {
					t.Errorf("data %s, want null", r.Data)
				}
				if e1, ev1 := tjRows(t, srv.DB.Client); e1 != e0 || ev1 != ev0 {
					t.Errorf("a rejected call wrote rows: entries %d→%d, events %d→%d", e0, e1, ev0, ev1)
				}
			})
		}

		t.Run("duplicate externalID inside one batch", func(t *testing.T) {
			e0, ev0 := tjRows(t, srv.DB.Client)
			sale := tjReceipt(term, "DUP-1", "PAYMENT", base, nil)
			changed := tjReceipt(term, "DUP-1", "PAYMENT", base, map[string]any{"total": 999})
			cancel := tjReceipt(term, "DUP-1", "CANCEL", base.Add(time.Minute), nil)
			r := srv.Query(t, tjBadInputMutation, map[string]any{"input": []any{sale, sale, changed, cancel}})
			var out struct {
				IngestJournal []tjResult `json:"ingestJournal"`
			}
			if err := json.Unmarshal(r.Data, &out); err != nil || len(out.IngestJournal) != 4 {
				t.Fatalf("data %s errors %+v", r.Data, r.Errors)
			}
			res := out.IngestJournal
			if res[0].Status != "CREATED" || res[0].Entry == nil {
				t.Errorf("first: %+v", res[0])
			}
			for _, i := range []int{1, 2} {
				field := fmt.Sprintf("input[%d].externalID", i)
				if res[i].Status != "FAILED" || res[i].Error == nil || res[i].Error.Code != "BAD_USER_INPUT" || tjStr(res[i].Error.Field) != field {
					t.Errorf("item %d: %+v error %+v, want FAILED at %s", i, res[i].Status, res[i].Error, field)
				}
				tjWantError(t, r.Errors, "BAD_USER_INPUT", field)
			}
			// A sale and its cancel share the external id legitimately.
			if res[3].Status != "CREATED" || res[3].Entry == nil {
				t.Errorf("cancel of the sale in the same batch: %+v", res[3])
			}
			if e1, ev1 := tjRows(t, srv.DB.Client); e1-e0 != 2 || ev1-ev0 != 3 {
				t.Errorf("rows written: %d entries, %d events; want 2 and 3 (sale, cancel, sale UPDATED)", e1-e0, ev1-ev0)
			}
			ids := tjAll(t, srv, map[string]any{"search": "R-DUP-1"})
			if len(ids) != 2 {
				t.Errorf("journal lists %d entries for DUP-1, want 2", len(ids))
			}
		})
	})
}
