package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/server"
	"github.com/regicam/regicam/server/oplimit"
)

// postWithin posts a GraphQL request and gives up after timeout, so a
// server that takes minutes fails the test instead of hanging it.
func postWithin(t *testing.T, s *testenv.Server, timeout time.Duration, query string, vars map[string]any) (testenv.Response, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	s.Credential().Apply(req.Header)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("no answer within %v: %v", timeout, err)
	}
	defer resp.Body.Close()
	var r testenv.Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode (status %d): %v", resp.StatusCode, err)
	}
	return r, time.Since(start)
}

func errorCodes(r testenv.Response) []string {
	var codes []string
	for _, e := range r.Errors {
		codes = append(codes, e.Code())
	}
	return codes
}

// fanoutDocument is about 40 bytes per level; its fragments spread the
// one below twice, so it expands to 2^levels fields.
func fanoutDocument(levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "query Q { journal(first: 1) { edges { node { ...F%d } } } }\n", levels)
	b.WriteString("fragment F0 on JournalEntry { id }\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "fragment F%d on JournalEntry { ...F%d ...F%d }\n", i, i-1, i-1)
	}
	return b.String()
}

// TestLimitsFanoutRefusedFast: a kilobyte of fragments that spread each
// other twice per level used to be walked in full (1.6 s of CPU at 22
// levels, minutes at 30) before it was refused. It is refused at once,
// anonymous or signed in, with the numbers.
func TestLimitsFanoutRefusedFast(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		for _, who := range []*testenv.Server{srv.As(testenv.Anonymous), srv} {
			for _, levels := range []int{10, 20, 24, 30} {
				r, took := postWithin(t, who, 10*time.Second, fanoutDocument(levels), nil)
				if took > time.Second {
					t.Errorf("%d levels answered in %v; a linear check needs microseconds", levels, took)
				}
				if len(r.Errors) != 1 || r.Errors[0].Code() != oplimit.CodeFieldLimit || r.Data != nil && string(r.Data) != "null" {
					t.Errorf("%d levels: %.100s %+v", levels, r.Data, r.Errors)
				} else if !strings.Contains(r.Errors[0].Message, "1000") {
					t.Errorf("%d levels: message without the limit: %s", levels, r.Errors[0].Message)
				}
			}
		}
	})
}

// TestLimitsSubscription: a live view's document passes the same checks
// over the websocket.
func TestLimitsSubscription(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		doc := strings.Replace(fanoutDocument(30), "query Q { journal(first: 1) { edges { node { ...F30 } } } }",
			"subscription S { journal { cursor entry { ...F30 } } }", 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sub, err := srv.Subscribe(ctx, doc, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		start := time.Now()
		_, errs, err := sub.Next(5 * time.Second)
		if err != nil || len(errs) != 1 || errs[0].Code() != oplimit.CodeFieldLimit {
			t.Fatalf("fan-out subscription: %v %+v", err, errs)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("refused after %v", took)
		}
	})
}

// TestLimitsHeavyAliases: hundreds of aliased pages of inline pictures
// were each priced like one field, and answered with 387 MB. Now a page
// costs page size × its node, and the query is refused before it runs.
func TestLimitsHeavyAliases(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		pages := func(n, first int) string {
			var q strings.Builder
			q.WriteString("{ ")
			for i := range n {
				fmt.Fprintf(&q, "p%d: journal(first: %d) { edges { node { id receiptNo thumbnail { url dataURL } } } } ", i, first)
			}
			return q.String() + "}"
		}
		for _, tc := range []struct {
			n, first int
			code     string
		}{
			{300, 200, oplimit.CodeFieldLimit}, // 2,400 fields: refused before it is even validated
			{100, 200, oplimit.CodeComplexityLimit},
			{2, 200, oplimit.CodeComplexityLimit},
		} {
			r, _ := postWithin(t, srv, 10*time.Second, pages(tc.n, tc.first), nil)
			if len(r.Errors) != 1 || r.Errors[0].Code() != tc.code || r.Data != nil && string(r.Data) != "null" {
				t.Fatalf("%d × journal(first: %d): %s %+v", tc.n, tc.first, r.Data, r.Errors)
			}
			t.Logf("%d × journal(first: %d): %s", tc.n, tc.first, r.Errors[0].Message)
		}
		// One page of 50 pictures is fine.
		if r, _ := postWithin(t, srv, 10*time.Second, pages(1, 50), nil); len(r.Errors) != 0 {
			t.Fatalf("one page of 50: %+v", r.Errors)
		}
	})
}

// TestLimitsDashboardQueries: every query the dashboard sends runs on a
// real server, at the largest page it may ask for, without hitting a
// limit.
func TestLimitsDashboardQueries(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		now := time.Now().UTC()
		vars := map[string]map[string]any{
			"Journal":      {"first": 200, "where": map[string]any{"cameraIDs": []any{fx.CameraIDs[0]}}},
			"Timeline":     {"cameraID": fx.CameraIDs[0], "from": now.Add(-72 * time.Hour).Format(time.RFC3339), "to": now.Format(time.RFC3339)},
			"FirstReceipt": {"where": map[string]any{}},
		}
		ran := 0
		for name, doc := range server.DashboardDocuments(t) {
			if !strings.HasPrefix(doc, "query") {
				continue // mutations change things; they are priced in TestDashboardWithinLimits
			}
			r, _ := postWithin(t, srv, 30*time.Second, doc, vars[name])
			for _, e := range r.Errors {
				switch e.Code() {
				case oplimit.CodeDocumentTooLarge, oplimit.CodeFieldLimit, oplimit.CodeDepthLimit,
					oplimit.CodeComplexityLimit, oplimit.CodeResponseTooLarge:
					t.Errorf("%s refused: %s", name, e.Message)
				default:
					t.Logf("%s: %s (%s)", name, e.Message, e.Code())
				}
			}
			ran++
		}
		if ran < 8 {
			t.Fatalf("ran %d dashboard queries", ran)
		}
	})
}

// TestLimitsResponseTooLarge: a response over --max-response-bytes is
// replaced by one RESPONSE_TOO_LARGE error without data, before a byte of
// it is written.
func TestLimitsResponseTooLarge(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) { cfg.MaxResponseBytes = 4096 })
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		var in []any
		for i := range 40 {
			in = append(in, map[string]any{
				"terminalID": fx.TerminalIDs[0], "externalID": fmt.Sprintf("R%03d", i), "kind": "PAYMENT",
				"occurredAt": time.Now().Add(-time.Duration(i) * time.Minute).UTC().Format(time.RFC3339),
				"total":      1000 + i, "receiptNo": fmt.Sprintf("%04d", i), "staffName": "山田 太郎",
			})
		}
		srv.MustQuery(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { status } }`, map[string]any{"in": in}, nil)

		const page = `query($n: Int) { journal(first: $n) { edges { cursor node { id kind occurredAt receivedAt receiptNo staffName total } } } }`
		r, _ := postWithin(t, srv, 30*time.Second, page, map[string]any{"n": 40})
		if len(r.Errors) != 1 || r.Errors[0].Code() != oplimit.CodeResponseTooLarge || string(r.Data) != "null" {
			t.Fatalf("40 entries in 4 KiB: %.200s %+v", r.Data, r.Errors)
		}
		if !strings.Contains(r.Errors[0].Message, "4096") {
			t.Fatalf("message without the limit: %s", r.Errors[0].Message)
		}
		var out struct {
			Journal struct{ Edges []any }
		}
		srv.MustQuery(t, page, map[string]any{"n": 5}, &out)
		if len(out.Journal.Edges) != 5 {
			t.Fatalf("5 entries: %+v", out)
		}
	})
}
