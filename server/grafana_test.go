package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/metrics"
)

// TestGrafanaDashboardUsesExposedMetrics keeps docs/grafana-regicam.json
// built on what /metrics really serves: every metric name in every PromQL
// expression of the dashboard (and its variables) is a series a scrape of
// a real server shows, and every regicam_* family the scrape shows has a
// panel and a row in the README's table.
func TestGrafanaDashboardUsesExposedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana-regicam.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("docs/grafana-regicam.json is not JSON: %v", err)
	}
	exprs := promQL(dash)
	if len(exprs) < 10 {
		t.Fatalf("found %d PromQL expressions in the dashboard; the walk is broken", len(exprs))
	}

	srv := testenv.Start(t, testenv.Backend{Name: "sqlite"}, "")
	fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
	// What a test server does by itself: a receipt through the API, a
	// webhook for no connection.
	srv.MustQuery(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { status } }`, map[string]any{"in": []any{
		map[string]any{"terminalID": fx.TerminalIDs[0], "externalID": "G-1", "kind": "PAYMENT",
			"occurredAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano), "total": 100}}}, nil)
	resp, err := http.Post(srv.URL+"/webhooks/signed/PC0000000000000000000000000", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// What needs a provider, a recording camera, a sweep, a clock estimate
	// or an alert rule is reported through the functions those packages
	// call (label values as they use them), so the series exist.
	metrics.ProviderRequest("safie", metrics.OutcomeOK)
	metrics.ReconcileFinding("smaregi", "vanished", 1)
	metrics.ThumbnailSkew("SIMULATED", 300*time.Millisecond)
	metrics.ClockOffset(string(fx.TerminalIDs[0]), 42*time.Second, true)
	defer metrics.ClockOffset(string(fx.TerminalIDs[0]), 0, false)
	metrics.FrameGrabbed("SIMULATED", true)
	metrics.AlertRaised("REGISTER_CLOCK_OFF")
	metrics.FeedLag(metrics.StreamAlerts, time.Now())
	metrics.SubscriptionOpened(metrics.StreamAlerts)()

	fams := mustScrape(t, srv)
	exposed := map[string]bool{}
	for name, f := range fams {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			exposed[name+"_bucket"], exposed[name+"_sum"], exposed[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			exposed[name], exposed[name+"_sum"], exposed[name+"_count"] = true, true, true
		default:
			exposed[name] = true
		}
	}
	used := map[string]bool{}
	for _, e := range exprs {
		names := metricNames(e)
		if len(names) == 0 {
			t.Errorf("no metric name found in %q", e)
		}
		for _, n := range names {
			used[n] = true
			if !exposed[n] {
				t.Errorf("the dashboard uses %s, which /metrics does not serve (in %q)", n, e)
			}
		}
	}
	var unused []string
	for name, f := range fams {
		if !strings.HasPrefix(name, "regicam_") {
			continue
		}
		if !used[name] && !used[name+"_bucket"] && !used[name+"_count"] {
			unused = append(unused, name+" ("+f.GetType().String()+")")
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("regicam metrics without a panel in docs/grafana-regicam.json: %v", unused)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range fams {
		if strings.HasPrefix(name, "regicam_") && !strings.Contains(string(readme), "| `"+name+"` |") {
			t.Errorf("README's metrics table (メトリクス) has no row for %s", name)
		}
	}
}

// promQL collects the dashboard's expressions: every "expr" of a target
// and the metric of a label_values(...) variable query.
func promQL(v any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := c.(string); ok && (k == "expr" || (k == "query" || k == "definition") && strings.Contains(s, "label_values(")) {
					out = append(out, s)
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return out
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	// by (a, b), without (…), on (…), ignoring (…), group_left (…): label lists.
	promLabelList = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promLabelVals = regexp.MustCompile(`label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,[^)]*\)`)
	promToken     = regexp.MustCompile(`\$?[A-Za-z_:][A-Za-z0-9_:]*|[0-9][0-9.eE+]*[a-z]*`)
	promKeywords  = []string{"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring", "group_left", "group_right"}
)

// metricNames returns the metric names a PromQL expression selects: the
// identifiers left once strings, label matchers, ranges, label lists,
// variables ($…), numbers, keywords and function calls are taken out.
func metricNames(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promLabelVals.ReplaceAllString(s, "$1")
	s = promMatchers.ReplaceAllString(s, " ")
	s = promLabelList.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range promToken.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		rest := strings.TrimSpace(s[loc[1]:])
		switch {
		case tok[0] == '$' || tok[0] >= '0' && tok[0] <= '9':
		case slices.Contains(promKeywords, strings.ToLower(tok)):
		case strings.HasPrefix(rest, "("):
			// a function or an aggregation
		default:
			names = append(names, tok)
		}
	}
	return names
}

// TestMetricNamesOfPromQL checks the little PromQL reader the dashboard
// test relies on.
func TestMetricNamesOfPromQL(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (provider, path) (rate(regicam_ingest_entries_total{instance=~"$instance",result="created"}[$__rate_interval]))`: {"regicam_ingest_entries_total"},
		`histogram_quantile(0.95, sum by (le) (rate(a_bucket{le="1"}[5m]))) / sum(rate(b_count[1h]))`:                            {"a_bucket", "b_count"},
		`count(abs(x) > 30) or vector(0)`:                {"x"},
		`label_values(go_goroutines, instance)`:          {"go_goroutines"},
		`rate(m[5m]) * on (instance) group_left (v) y`:   {"m", "y"},
		`go_gc_duration_seconds{quantile="1"} offset 1h`: {"go_gc_duration_seconds"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %v, want %v", expr, got, want)
		}
	}
}
