package graph_test

import (
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testenv"
)

// TestFeedHealthOfAnAPIRegister: a register fed by ingestJournal (not a
// poller) still says when its last receipt came and how many came in 24 h.
func TestFeedHealthOfAnAPIRegister(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		term := fx.TerminalIDs[0]
		var before struct {
			Node struct {
				FeedHealth struct {
					LastReceiptAt   *time.Time
					ReceiptsLast24h int
				}
			}
		}
		const q = `query($id: ID!){ node(id: $id){ ... on Terminal { feedHealth { lastReceiptAt receiptsLast24h } } } }`
		srv.MustQuery(t, q, map[string]any{"id": string(term)}, &before)
		if before.Node.FeedHealth.LastReceiptAt != nil || before.Node.FeedHealth.ReceiptsLast24h != 0 {
			t.Fatalf("before any receipt: %+v", before.Node.FeedHealth)
		}
		newest := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Second)
		tjMustIngest(t, srv,
			tjReceipt(term, "fh-1", "PAYMENT", newest.Add(-time.Hour), nil),
			tjReceipt(term, "fh-2", "PAYMENT", newest, nil),
			tjReceipt(term, "fh-3", "PAYMENT", newest.Add(-30*time.Hour), nil))
		var after = before
		srv.MustQuery(t, q, map[string]any{"id": string(term)}, &after)
		h := after.Node.FeedHealth
		if h.LastReceiptAt == nil || !h.LastReceiptAt.Equal(newest) || h.ReceiptsLast24h != 2 {
			t.Fatalf("after three receipts (one 30 h old): lastReceiptAt %v receiptsLast24h %d; want %v and 2", h.LastReceiptAt, h.ReceiptsLast24h, newest)
		}
	})
}
