package fake

import (
	"fmt"
	"sync"
)

// Faults of the data, as real shops produce them (issue 17): a sale
// deleted without trace, an edit the update time does not show, a
// register that rings up sales without uploading them. None of them sends
// a webhook; polling alone cannot see any of them, which is what the
// reconciliation sweep (pos/polling/reconcile.go) is for.

// held keeps the transactions registers have rung up but not uploaded,
// per contract, outside the contract's own maps: lists and GET do not see
// them.
var held = struct {
	sync.Mutex
	m map[*Contract]map[string]*Transaction
}{m: map[*Contract]map[string]*Transaction{}}

// VanishSilently deletes a transaction without trace: lists no longer
// show it, GET /pos/transactions/{id} answers 404, no webhook is sent.
func (c *Contract) VanishSilently(id string) error { return c.Delete(id) }

// EditSilently changes a transaction without moving its updDateTime, so a
// poller reading by update time never sees the change.
func (c *Contract) EditSilently(id string, fn func(*Transaction)) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	t := c.txs[id]
	if t == nil {
		return fmt.Errorf("fake: no transaction %s", id)
	}
	fn(t)
	return nil
}

// RingUpHeld rings up a sale on a register that does not upload it: it
// takes its transactionHeadId and the register's next terminalTranId, but
// nothing shows it until Upload. Never uploading it is a register that
// lost it.
func (c *Contract) RingUpHeld(spec TransactionSpec) string {
	c.s.mu.Lock()
	t := c.build(spec, c.s.now())
	c.s.mu.Unlock()
	held.Lock()
	defer held.Unlock()
	if held.m[c] == nil {
		held.m[c] = map[string]*Transaction{}
	}
	held.m[c][t.TransactionHeadID] = t
	return t.TransactionHeadID
}

// Upload uploads held transactions now: Smaregi receives them at the
// server's now (transactionDateTime and updDateTime), the register's sale
// time stays.
func (c *Contract) Upload(ids ...string) error {
	held.Lock()
	defer held.Unlock()
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	now := c.s.now().Truncate(1e9)
	for _, id := range ids {
		t := held.m[c][id]
		if t == nil {
			return fmt.Errorf("fake: transaction %s is not held", id)
		}
		delete(held.m[c], id)
		t.TransactionDateTime, t.UpdDateTime = now, now
		c.txs[id] = t
	}
	return nil
}

// VanishSilently, EditSilently, RingUpHeld and Upload on the default
// contract.
func (s *Server) VanishSilently(id string) error { return s.first.VanishSilently(id) }
func (s *Server) EditSilently(id string, fn func(*Transaction)) error {
	return s.first.EditSilently(id, fn)
}
func (s *Server) RingUpHeld(spec TransactionSpec) string { return s.first.RingUpHeld(spec) }
func (s *Server) Upload(ids ...string) error             { return s.first.Upload(ids...) }
