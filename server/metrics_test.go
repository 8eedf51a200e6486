package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pos/signedhook"
)

// scrape GETs /metrics of srv with header and returns the status, the
// Content-Type and the body.
func scrape(t *testing.T, srv *testenv.Server, method string, header http.Header) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// families parses a scrape in the Prometheus text format; a body that does
// not parse fails the test.
func families(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse as the Prometheus text format: %v\n%s", err, body)
	}
	return fams
}

// mustScrape scrapes srv from loopback without a token (the default
// protection lets it through) and parses the answer.
func mustScrape(t *testing.T, srv *testenv.Server) map[string]*dto.MetricFamily {
	t.Helper()
	status, ct, body := scrape(t, srv, http.MethodGet, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	if !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	return families(t, body)
}

// value is the value of the series of family name whose labels include
// want (counter, gauge, or a histogram's count); 0 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// TestMetricsCountWhatHappened: a scrape of a real server after receipts
// come in through ingestJournal (three sales, one again, a cancel that
// breaks an alert rule) and a webhook with a wrong signature shows exactly
// those amounts, a live subscription is
// counted while open and its events' fan-out lag is measured, and the
// runtime, process and database pool series are there.
func TestMetricsCountWhatHappened(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		api := map[string]string{"provider": "api", "path": "api"}
		created := map[string]string{"provider": "api", "path": "api", "result": "created"}
		duplicate := map[string]string{"provider": "api", "path": "api", "result": "duplicate"}
		failed := map[string]string{"provider": "api", "path": "api", "result": "failed"}
		badSignature := map[string]string{"provider": "webhook", "reason": "signature"}
		journal := map[string]string{"stream": "journal"}

		before := mustScrape(t, srv)

		// A live view, counted once its stream runs.
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		sub, err := srv.Subscribe(sctx, `subscription { journal { type entry { id } } }`, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		deadline := time.Now().Add(20 * time.Second)
		for value(mustScrape(t, srv), "regicam_subscriptions_open", journal) < value(before, "regicam_subscriptions_open", journal)+1 {
			if time.Now().After(deadline) {
				t.Fatal("regicam_subscriptions_open{stream=\"journal\"} never counted the open subscription")
			}
			time.Sleep(20 * time.Millisecond)
		}

		ingest := func(kind string, ids ...string) {
			t.Helper()
			var items []any
			for _, id := range ids {
				items = append(items, map[string]any{"terminalID": fx.TerminalIDs[0], "externalID": id, "kind": kind,
					"occurredAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano), "total": 1080})
			}
			srv.MustQuery(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { status } }`, map[string]any{"in": items}, nil)
		}
		// Cancels over ¥1,000 raise an alert.
		srv.MustQuery(t, `mutation { createAlertRule(input: {name: "千円超の取消", kind: AMOUNT_OVER, amount: 1000}) { rule { id } } }`, nil, nil)
		ingest("PAYMENT", "M-1", "M-2", "M-3")
		ingest("PAYMENT", "M-1") // the same receipt again: a duplicate, no entry
		ingest("CANCEL", "M-1")  // a new entry, and one alert

		// A signed webhook with a wrong signature.
		conn, err := srv.DB.Client.PosConnection.Create().SetAccountID(srv.AccountID).
			SetProvider(posconnection.ProviderWEBHOOK).SetContractID("metrics-1").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var hook struct {
			CreateWebhookSecret struct{ Path, Secret string }
		}
		srv.MustQuery(t, `mutation($id: ID!){ createWebhookSecret(id: $id){ path secret } }`, map[string]any{"id": conn.ID}, &hook)
		testenv.Secret(hook.CreateWebhookSecret.Secret)
		body := []byte(`{"terminalId":"T-1","transactions":[]}`)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+hook.CreateWebhookSecret.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		signedhook.SignRequest(req, []byte("not-the-secret-at-all"), body, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("webhook with a wrong signature: %d, want 401", resp.StatusCode)
		}

		// The four new entries reach the live view.
		added := 0
		for added < 4 {
			data, errs, err := sub.Next(20 * time.Second)
			if err != nil || len(errs) > 0 {
				t.Fatalf("subscription: %v %v", err, errs)
			}
			var ev struct{ Journal struct{ Type string } }
			_ = json.Unmarshal(data, &ev)
			if ev.Journal.Type == "ADDED" {
				added++
			}
		}

		amountOver := map[string]string{"kind": "AMOUNT_OVER"}
		for value(mustScrape(t, srv), "regicam_alerts_raised_total", amountOver) < value(before, "regicam_alerts_raised_total", amountOver)+1 {
			if time.Now().After(deadline.Add(20 * time.Second)) {
				t.Fatal("regicam_alerts_raised_total{kind=\"AMOUNT_OVER\"} never counted the alert")
			}
			time.Sleep(20 * time.Millisecond)
		}

		after := mustScrape(t, srv)
		for _, c := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"regicam_ingest_entries_total", created, 4},
			{"regicam_ingest_entries_total", duplicate, 1},
			{"regicam_ingest_entries_total", failed, 0},
			{"regicam_ingest_seconds", api, 3}, // three batches
			{"regicam_webhook_rejections_total", badSignature, 1},
			{"regicam_alerts_raised_total", amountOver, 1},
			// Every collector gathered cleanly on every scrape.
			{"promhttp_metric_handler_errors_total", map[string]string{"cause": "gathering"}, 0},
		} {
			if got := value(after, c.name, c.labels) - value(before, c.name, c.labels); got != c.want {
				t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
			}
		}
		if got := value(after, "regicam_feed_lag_seconds", journal) - value(before, "regicam_feed_lag_seconds", journal); got < 4 {
			t.Errorf("regicam_feed_lag_seconds{stream=\"journal\"} counted %v hand-overs, want at least the 4 new entries", got)
		}
		for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes",
			"go_sql_open_connections", "go_sql_in_use_connections", "regicam_cameras"} {
			if after[name] == nil {
				t.Errorf("/metrics has no %s", name)
			}
		}
		if got := value(after, "go_sql_max_open_connections", nil); b.DatabaseURL != "" && got != 8 {
			t.Errorf("go_sql_max_open_connections = %v, want the test server's 8", got)
		}

		// Closed: the subscription is no longer counted.
		sub.Close()
		deadline = time.Now().Add(20 * time.Second)
		for value(mustScrape(t, srv), "regicam_subscriptions_open", journal) > value(before, "regicam_subscriptions_open", journal) {
			if time.Now().After(deadline) {
				t.Fatal("regicam_subscriptions_open still counts a closed subscription")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestMetricsProtection: who gets /metrics. Without a token or an
// allowlist only loopback clients that are not forwarded for someone else;
// with an allowlist only those addresses (as --trusted-proxies resolves
// them); with a token only requests that carry it. Refused addresses see a
// 404, as if the route did not exist; a missing or wrong token is a 401.
func TestMetricsProtection(t *testing.T) {
	sqlite := testenv.Backend{Name: "sqlite"}
	loopbackProxy := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }
	check := func(t *testing.T, srv *testenv.Server, what string, method string, h http.Header, want int) {
		t.Helper()
		status, _, body := scrape(t, srv, method, h)
		if status != want {
			t.Errorf("%s: %d, want %d", what, status, want)
		}
		if status == http.StatusOK && method == http.MethodGet {
			if fams := families(t, body); fams["regicam_ingest_entries_total"] == nil && fams["go_goroutines"] == nil {
				t.Errorf("%s: the scrape has none of regicam's series", what)
			}
		}
		if status == http.StatusNotFound && bytes.Contains(body, []byte("metrics")) {
			t.Errorf("%s: the 404 mentions metrics: %s", what, body)
		}
	}

	t.Run("default: loopback only", func(t *testing.T) {
		srv := testenv.Start(t, sqlite, "")
		check(t, srv, "loopback", http.MethodGet, nil, http.StatusOK)
		check(t, srv, "loopback HEAD", http.MethodHead, nil, http.StatusOK)
		check(t, srv, "POST", http.MethodPost, nil, http.StatusMethodNotAllowed)
		// A proxy on this host not named in --trusted-proxies forwards
		// someone else: refused, and its header is not believed either.
		check(t, srv, "forwarded by an untrusted local proxy", http.MethodGet, from("203.0.113.9"), http.StatusNotFound)
		check(t, srv, "forwarded, claiming loopback", http.MethodGet, from("127.0.0.1"), http.StatusNotFound)
		check(t, srv, "Forwarded header", http.MethodGet, http.Header{"Forwarded": {"for=203.0.113.9"}}, http.StatusNotFound)
		check(t, srv, "X-Real-IP only (nginx's usual)", http.MethodGet, http.Header{"X-Real-Ip": {"203.0.113.9"}}, http.StatusNotFound)
		check(t, srv, "Via only", http.MethodGet, http.Header{"Via": {"1.1 proxy"}}, http.StatusNotFound)
	})

	t.Run("default behind a trusted proxy", func(t *testing.T) {
		srv := testenv.StartWith(t, sqlite, "", func(cfg *app.Config, _ string) { cfg.TrustedProxies = loopbackProxy })
		check(t, srv, "public client through the proxy", http.MethodGet, from("203.0.113.9"), http.StatusNotFound)
		check(t, srv, "public client, POST", http.MethodPost, from("203.0.113.9"), http.StatusNotFound)
		check(t, srv, "the proxy's own host", http.MethodGet, nil, http.StatusOK)
	})

	t.Run("token", func(t *testing.T) {
		token := testenv.Secret("metrics-token-7f3a9c1e5b2d")
		srv := testenv.StartWith(t, sqlite, "", func(cfg *app.Config, _ string) {
			cfg.TrustedProxies = loopbackProxy
			cfg.Metrics.Token = token
		})
		bearer := func(v string) http.Header { return http.Header{"Authorization": {v}} }
		check(t, srv, "no token", http.MethodGet, nil, http.StatusUnauthorized)
		check(t, srv, "wrong token", http.MethodGet, bearer("Bearer "+token+"x"), http.StatusUnauthorized)
		check(t, srv, "token's prefix", http.MethodGet, bearer("Bearer "+token[:10]), http.StatusUnauthorized)
		check(t, srv, "token without Bearer", http.MethodGet, bearer(token), http.StatusUnauthorized)
		check(t, srv, "an API key's shape", http.MethodGet, bearer("Bearer rk_0123456789abcdef"), http.StatusUnauthorized)
		check(t, srv, "right token", http.MethodGet, bearer("Bearer "+token), http.StatusOK)
		check(t, srv, "right token, scheme in lower case", http.MethodGet, bearer("bearer "+token), http.StatusOK)
		h := bearer("Bearer " + token)
		h.Set("X-Forwarded-For", "203.0.113.9")
		check(t, srv, "right token from a public address", http.MethodGet, h, http.StatusOK)
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("no token: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("allowlist", func(t *testing.T) {
		srv := testenv.StartWith(t, sqlite, "", func(cfg *app.Config, _ string) {
			cfg.TrustedProxies = loopbackProxy
			cfg.Metrics.Allow = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		})
		check(t, srv, "allowed network", http.MethodGet, from("203.0.113.9"), http.StatusOK)
		check(t, srv, "other network", http.MethodGet, from("198.51.100.7"), http.StatusNotFound)
		check(t, srv, "loopback, not listed", http.MethodGet, nil, http.StatusNotFound)
	})

	t.Run("allowlist and token", func(t *testing.T) {
		token := testenv.Secret("metrics-token-both-42c8e0a1")
		srv := testenv.StartWith(t, sqlite, "", func(cfg *app.Config, _ string) {
			cfg.TrustedProxies = loopbackProxy
			cfg.Metrics.Allow = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
			cfg.Metrics.Token = token
		})
		h := func(addr, auth string) http.Header {
			h := from(addr)
			if auth != "" {
				h.Set("Authorization", auth)
			}
			return h
		}
		check(t, srv, "allowed, no token", http.MethodGet, h("203.0.113.9", ""), http.StatusUnauthorized)
		check(t, srv, "allowed, right token", http.MethodGet, h("203.0.113.9", "Bearer "+token), http.StatusOK)
		check(t, srv, "not allowed, right token", http.MethodGet, h("198.51.100.7", "Bearer "+token), http.StatusNotFound)
	})
}

// TestMetricsTokenIsNotAnAPIKey: the metrics token goes to /metrics only;
// elsewhere it is an invalid API key like any other string.
func TestMetricsTokenIsNotAnAPIKey(t *testing.T) {
	token := testenv.Secret("metrics-token-elsewhere-91bd")
	srv := testenv.StartWith(t, testenv.Backend{Name: "sqlite"}, "", func(cfg *app.Config, _ string) { cfg.Metrics.Token = token })
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(`{"query":"{ cameras { totalCount } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/graphql with the metrics token: %d, want 401", resp.StatusCode)
	}
}

// brokenCollector fails every time it is gathered.
type brokenCollector struct{ desc *prometheus.Desc }

func (b brokenCollector) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }
func (b brokenCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(b.desc, errors.New("the source of this series is down"))
}

// TestMetricsCollectorFailureKeepsTheScrape: one collector that fails does
// not blank the scrape: the rest is served (200), the failure is logged
// and counted in promhttp_metric_handler_errors_total{cause="gathering"}.
func TestMetricsCollectorFailureKeepsTheScrape(t *testing.T) {
	var logs syncBuffer
	b := testenv.Backend{Name: "sqlite", Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	srv := testenv.Start(t, b, "")
	gathering := map[string]string{"cause": "gathering"}
	before := mustScrape(t, srv)

	broken := brokenCollector{prometheus.NewDesc("regicam_test_broken", "a collector that fails", nil, nil)}
	if err := metrics.Registry.Register(broken); err != nil {
		t.Fatal(err)
	}
	defer metrics.Registry.Unregister(broken)
	status, _, body := scrape(t, srv, http.MethodGet, nil)
	if status != http.StatusOK {
		t.Fatalf("scrape with a failing collector: %d %s", status, body)
	}
	fams := families(t, body)
	if fams["go_goroutines"] == nil || fams["regicam_cameras"] == nil {
		t.Error("the other collectors' series are missing")
	}
	metrics.Registry.Unregister(broken)
	after := mustScrape(t, srv)
	if got := value(after, "promhttp_metric_handler_errors_total", gathering) - value(before, "promhttp_metric_handler_errors_total", gathering); got != 1 {
		t.Errorf("promhttp_metric_handler_errors_total{cause=\"gathering\"} moved by %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "metrics scrape") || !strings.Contains(logs.String(), "the source of this series is down") {
		t.Errorf("the failure is not logged:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
