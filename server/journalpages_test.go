package server_test

// The journal's page cache (pagecache) as clients see it: whatever
// server a dashboard asks, a receipt whose ingestJournal has returned is on
// the first page, and a STAFF user never gets the OWNER's cached page.

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

const firstPageQuery = `query($where: JournalWhere, $first: Int) {
  journal(where: $where, first: $first) { edges { node { id camera { name } shop { id } } } }
}`

type pageOf struct {
	Journal struct {
		Edges []struct {
			Node struct {
				ID   string
				Shop struct{ ID string }
			}
		}
	}
}

// firstPageIDs asks srv's first page; it reports with t.Error (not Fatal),
// since writers call it from their goroutines.
func firstPageIDs(t *testing.T, srv *testenv.Server, where map[string]any, first int) ([]string, bool) {
	t.Helper()
	r := srv.Query(t, firstPageQuery, map[string]any{"where": where, "first": first})
	if len(r.Errors) > 0 {
		t.Errorf("journal: %+v", r.Errors)
		return nil, false
	}
	var p pageOf
	if err := json.Unmarshal(r.Data, &p); err != nil {
		t.Errorf("journal: %v", err)
		return nil, false
	}
	ids := make([]string, len(p.Journal.Edges))
	for i, e := range p.Journal.Edges {
		ids[i] = e.Node.ID
	}
	return ids, true
}

var pageSeq atomic.Int64

func ingestPageReceipt(t *testing.T, srv *testenv.Server, terminal pulid.ID) (string, bool) {
	t.Helper()
	n := pageSeq.Add(1)
	item := map[string]any{"terminalID": terminal, "externalID": fmt.Sprintf("page-%d", n), "kind": "PAYMENT",
		"occurredAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano), "total": 100 + n}
	r := srv.Query(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { status entry { id } } }`,
		map[string]any{"in": []any{item}})
	var out struct {
		IngestJournal []struct {
			Status string
			Entry  *struct{ ID string }
		}
	}
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil || len(out.IngestJournal) != 1 ||
		out.IngestJournal[0].Entry == nil {
		t.Errorf("ingestJournal: %s %+v", r.Data, r.Errors)
		return "", false
	}
	return out.IngestJournal[0].Entry.ID, true
}

// TestFirstPageFreshAcrossServers: writers ingest on A; right after each
// ingestJournal returns, B's first pages (all cameras, and camera 0's
// payments) must have the receipt, while readers keep those pages hot on B.
// On SQLite A and B are one server.
func TestFirstPageFreshAcrossServers(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		a := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, a.DB.Client, a.AccountID)
		bb := a
		if b.DatabaseURL != "" {
			bb = testenv.Start(t, b, "")
		}
		wheres := []map[string]any{nil, {"cameraIDs": []pulid.ID{fx.CameraIDs[0]}, "kinds": []string{"PAYMENT"}}}
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for range 2 {
			readers.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					for _, w := range wheres {
						if _, ok := firstPageIDs(t, bb, w, 20); !ok {
							return
						}
					}
				}
			})
		}
		var writers sync.WaitGroup
		for i := range 2 {
			writers.Go(func() {
				for range 25 {
					id, ok := ingestPageReceipt(t, a, fx.TerminalIDs[i]) // registers 0 and 1: camera 0
					if !ok {
						return
					}
					for _, w := range wheres {
						got, ok := firstPageIDs(t, bb, w, 20)
						if !ok {
							return
						}
						if !slices.Contains(got, id) {
							t.Errorf("B's first page (where %v) misses %s right after ingestJournal returned on A", w, id)
							return
						}
					}
				}
			})
		}
		writers.Wait()
		close(stop)
		readers.Wait()
	})
}

// TestFirstPageIsTheViewers: an OWNER and a STAFF user of one shop ask the
// same first page of the same server, twice each, in turns: each gets
// their own.
func TestFirstPageIsTheViewers(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		ctx := viewer.System(t.Context())
		term, err := srv.DB.Client.Terminal.Get(ctx, fx.TerminalIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		other, err := srv.DB.Client.Shop.Create().SetAccountID(srv.AccountID).SetName("新宿店").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t2, err := srv.DB.Client.Terminal.Create().SetAccountID(srv.AccountID).SetConnectionID(term.ConnectionID).
			SetShopID(other.ID).SetExternalID("shinjuku").SetName("新宿レジ").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.DB.Client.Link.Create().SetAccountID(srv.AccountID).SetTerminalID(t2.ID).
			SetCameraID(fx.CameraIDs[0]).SetCreatedAt(testenv.LinkedSince).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		shibuya, _ := ingestPageReceipt(t, srv, fx.TerminalIDs[0])
		shinjuku, _ := ingestPageReceipt(t, srv, t2.ID)
		_, staff := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, fx.ShopID)
		where := map[string]any{"cameraIDs": []pulid.ID{fx.CameraIDs[0]}}
		for range 2 {
			if got, _ := firstPageIDs(t, srv, where, 10); !slices.Contains(got, shibuya) || !slices.Contains(got, shinjuku) {
				t.Errorf("owner sees %v, want %s and %s", got, shibuya, shinjuku)
			}
			if got, _ := firstPageIDs(t, staff, where, 10); !slices.Equal(got, []string{shibuya}) {
				t.Errorf("staff of 渋谷店 sees %v, want only %s", got, shibuya)
			}
		}
	})
}
