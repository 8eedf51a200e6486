package server_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/regicam/regicam/internal/pgtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

// pgProxy stands between a server and PostgreSQL so a test can take the
// database away the way a restart does: open connections drop, new ones
// are refused.
type pgProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newPGProxy(t *testing.T, target string) *pgProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.cut)
	return p
}

func (p *pgProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// cut closes the listener (new connections are refused) and every open
// connection.
func (p *pgProxy) cut() {
	p.ln.Close()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestIngestDuringDatabaseOutage (issue 12, class 8): when PostgreSQL goes
// away during ingest the partner is told to retry — code UNAVAILABLE on
// the items and the errors, an HTTP Retry-After — not FAILED/INTERNAL,
// which a partner that retries INTERNAL would loop on and one that does
// not would drop.
func TestIngestDuringDatabaseOutage(t *testing.T) {
	dsn := pgtest.New(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newPGProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	srv := testenv.Start(t, testenv.Backend{Name: "postgres", DatabaseURL: u.String()}, "")
	f := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
	_, partner := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalWrite)

	const mutation = `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { status error { code message } } }`
	r, _ := partner.QueryHTTP(t, mutation, map[string]any{"in": []any{ingestItem(f, "before")}})
	if len(r.Errors) > 0 {
		t.Fatalf("ingest before the outage: %+v", r.Errors)
	}

	proxy.cut()
	r, resp := partner.QueryHTTP(t, mutation, map[string]any{"in": []any{ingestItem(f, "during-1"), ingestItem(f, "during-2")}})
	ingested := r
	if len(r.Errors) == 0 {
		t.Fatalf("ingest during the outage answered without errors: %s", r.Data)
	}
	for _, e := range r.Errors {
		if e.Code() != "UNAVAILABLE" {
			t.Errorf("error %q has code %q, want UNAVAILABLE", e.Message, e.Code())
		}
	}
	if got := resp.Header.Get("Retry-After"); got == "" {
		t.Error("no Retry-After header on an UNAVAILABLE answer")
	}
	// A credential the server has not seen yet needs the database to be
	// checked: 503 UNAVAILABLE with Retry-After, not a 500.
	r, resp = srv.QueryHTTP(t, `{ cameras { totalCount } }`, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		len(r.Errors) != 1 || r.Errors[0].Code() != "UNAVAILABLE" {
		t.Errorf("session lookup during the outage: %d Retry-After %q %+v, want 503 UNAVAILABLE with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"), r.Errors)
	}
	var data struct {
		IngestJournal []struct {
			Status string
			Error  *struct{ Code string }
		}
	}
	if len(ingested.Data) > 0 && string(ingested.Data) != "null" {
		if err := json.Unmarshal(ingested.Data, &data); err != nil {
			t.Fatal(err)
		}
		for i, it := range data.IngestJournal {
			if it.Error == nil || it.Error.Code != "UNAVAILABLE" {
				t.Errorf("item %d: %+v, want error code UNAVAILABLE", i, it)
			}
		}
	}
}
