package polling_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/polling"
)

// scripted is a provider whose records are numbered; the cursor is the
// number of records already handed out.
type scripted struct {
	mu    sync.Mutex
	recs  []pos.Record
	fail  error
	polls int
	seen  []string // cursors it was asked with
}

func (s *scripted) add(n int, base time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		i := len(s.recs)
		s.recs = append(s.recs, pos.Record{TerminalExternalID: strconv.Itoa(1 + i%2), StoreExternalID: "st1", StoreName: "新宿店",
			Receipt: ingest.Receipt{ExternalID: fmt.Sprintf("tx-%d", i), Kind: journalentry.KindPAYMENT,
				OccurredAt: base.Add(time.Duration(i) * time.Second), ReceiptNo: fmt.Sprintf("%04d", i), Total: int64(100 * (i + 1))}})
	}
}

func (s *scripted) Poll(_ context.Context, cursor string) ([]pos.Record, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	s.seen = append(s.seen, cursor)
	if s.fail != nil {
		return nil, "", s.fail
	}
	from := 0
	if cursor != "" {
		from, _ = strconv.Atoi(cursor)
	}
	return append([]pos.Record(nil), s.recs[from:]...), strconv.Itoa(len(s.recs)), nil
}

func (s *scripted) Backfill(_ context.Context, from, to time.Time, emit func(int, int, []pos.Record) error) error {
	s.mu.Lock()
	recs := append([]pos.Record(nil), s.recs...)
	s.mu.Unlock()
	windows := 3
	for w := 1; w <= windows; w++ {
		var chunk []pos.Record
		for i, r := range recs {
			if i%windows == w-1 && !r.Receipt.OccurredAt.Before(from) && r.Receipt.OccurredAt.Before(to) {
				chunk = append(chunk, r)
			}
		}
		if err := emit(w, windows, chunk); err != nil {
			return err
		}
	}
	return nil
}

func TestRuntime(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		srv := testenv.Start(t, b, "")
		client := srv.DB.Client
		conn, err := client.PosConnection.Create().SetAccountID(srv.AccountID).SetProvider(posconnection.ProviderSMAREGI).
			SetContractID("c1").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		src := &scripted{}
		base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		src.add(10, base)
		newRuntime := func() *polling.Runtime {
			return polling.New(client, srv.Ingester, testenv.Logger(), polling.Options{Interval: time.Hour},
				map[posconnection.Provider]pos.Factory{
					posconnection.ProviderSMAREGI: func(context.Context, *ent.PosConnection) (pos.Source, error) { return src, nil },
				})
		}
		count := func() int {
			n, err := client.JournalEntry.Query().Where(journalentry.ConnectionID(conn.ID)).Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}

		rt := newRuntime()
		t.Cleanup(rt.Close)
		if err := rt.SyncNow(ctx, conn.ID); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != 10 {
			t.Fatalf("after first sync: %d entries, want 10", got)
		}
		c, _ := client.PosConnection.Get(ctx, conn.ID)
		if c.Status != posconnection.StatusOK || c.LastSyncAt == nil || c.SyncCursor != "10" {
			t.Fatalf("connection after sync: status %s lastSync %v cursor %q", c.Status, c.LastSyncAt, c.SyncCursor)
		}
		// Unknown registers become terminals in a shop named after the store.
		terms, _ := client.Terminal.Query().Where(terminal.ConnectionID(conn.ID)).WithShop().All(ctx)
		if len(terms) != 2 || terms[0].Edges.Shop.Name != "新宿店" {
			t.Fatalf("terminals %+v", terms)
		}

		// A restart (new runtime) resumes from the stored cursor: nothing
		// re-read, nothing lost.
		rt.Close()
		src.add(5, base.Add(time.Minute))
		src.mu.Lock()
		src.seen = nil
		src.mu.Unlock()
		rt2 := newRuntime()
		t.Cleanup(rt2.Close)
		if err := rt2.SyncNow(ctx, conn.ID); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != 15 {
			t.Fatalf("after restart: %d entries, want 15", got)
		}
		src.mu.Lock()
		if src.seen[0] != "10" {
			t.Fatalf("restarted runtime first polled from cursor %q, want 10", src.seen[0])
		}
		src.mu.Unlock()

		// Rejected credentials: NEEDS_REAUTH with the provider's words.
		src.mu.Lock()
		src.fail = fmt.Errorf("%w: invalid_client: クライアントシークレットが違います", pos.ErrAuth)
		src.mu.Unlock()
		if err := rt2.SyncNow(ctx, conn.ID); !errors.Is(err, pos.ErrAuth) {
			t.Fatalf("sync with bad credentials: %v", err)
		}
		c, _ = client.PosConnection.Get(ctx, conn.ID)
		if c.Status != posconnection.StatusNEEDS_REAUTH || c.NextRetryAt == nil || c.LastError == "" {
			t.Fatalf("after auth failure: status %s next %v error %q", c.Status, c.NextRetryAt, c.LastError)
		}
		// A transient failure is ERROR, and the cursor does not move.
		src.mu.Lock()
		src.fail = errors.New("503 Service Unavailable")
		src.mu.Unlock()
		_ = rt2.SyncNow(ctx, conn.ID)
		c, _ = client.PosConnection.Get(ctx, conn.ID)
		if c.Status != posconnection.StatusERROR || c.SyncCursor != "15" {
			t.Fatalf("after 503: status %s cursor %q", c.Status, c.SyncCursor)
		}
		src.mu.Lock()
		src.fail = nil
		src.mu.Unlock()
		if err := rt2.SyncNow(ctx, conn.ID); err != nil {
			t.Fatal(err)
		}
		c, _ = client.PosConnection.Get(ctx, conn.ID)
		if c.Status != posconnection.StatusOK || c.LastError != "" || c.NextRetryAt != nil {
			t.Fatalf("after recovery: status %s error %q next %v", c.Status, c.LastError, c.NextRetryAt)
		}

		// Backfill of everything already stored adds nothing and reports
		// progress to the end.
		if err := rt2.StartBackfill(ctx, conn.ID, base.Add(-time.Hour), time.Now()); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			p, ok := rt2.BackfillProgress(conn.ID)
			if ok && p.State != "RUNNING" {
				if p.State != "DONE" || p.WindowsDone != 3 || p.WindowsTotal != 3 || p.Records != 15 {
					t.Fatalf("backfill progress %+v", p)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("backfill did not finish: %+v", p)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := count(); got != 15 {
			t.Fatalf("after backfill: %d entries, want 15 (idempotent)", got)
		}
		if err := rt2.StartBackfill(ctx, conn.ID, time.Now(), base); err == nil {
			t.Fatal("backfill with from after to accepted")
		}
	})
}

// Two replicas on one database: only the lease holder polls on its own; a
// user's sync works on either.
func TestRuntimeOnePollerPerConnection(t *testing.T) {
	ctx := context.Background()
	srv := testenv.Start(t, testenv.Postgres(t), "")
	client := srv.DB.Client
	conn, err := client.PosConnection.Create().SetAccountID(srv.AccountID).SetProvider(posconnection.ProviderSMAREGI).
		SetContractID("c-lease").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replica := func(src *scripted) *polling.Runtime {
		rt := polling.New(client, srv.Ingester, testenv.Logger(), polling.Options{Interval: 40 * time.Millisecond},
			map[posconnection.Provider]pos.Factory{
				posconnection.ProviderSMAREGI: func(context.Context, *ent.PosConnection) (pos.Source, error) { return src, nil },
			})
		t.Cleanup(rt.Close)
		return rt
	}
	a, b := &scripted{}, &scripted{}
	ra, rb := replica(a), replica(b)
	if err := ra.Rescan(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rb.Rescan(ctx); err != nil {
		t.Fatal(err)
	}
	polls := func(s *scripted) int { s.mu.Lock(); defer s.mu.Unlock(); return s.polls }
	// Wait for the first poll (a loaded CI box can take more than the
	// 600 ms this once slept), then give the other replica many intervals
	// in which it must not poll.
	for deadline := time.Now().Add(15 * time.Second); polls(a)+polls(b) == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(600 * time.Millisecond)
	pa, pb := polls(a), polls(b)
	if (pa == 0) == (pb == 0) {
		t.Fatalf("polls per replica: %d and %d; want exactly one replica polling", pa, pb)
	}
	idle, idleSrc := rb, b
	if pb > 0 {
		idle, idleSrc = ra, a
	}
	before := polls(idleSrc)
	if err := idle.SyncNow(ctx, conn.ID); err != nil {
		t.Fatal(err)
	}
	if polls(idleSrc) != before+1 {
		t.Fatal("a user's sync on the replica without the lease did not poll")
	}
}
