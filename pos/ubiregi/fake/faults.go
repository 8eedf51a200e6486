package fake

import (
	"fmt"
	"strconv"
)

// Faults of the data (issue 17): a checkout deleted without trace and an
// edit that does not move updated_at. Neither shows in a listing by
// update time, which is all a poller reads; the reconciliation sweep
// (pos/polling/reconcile.go) is what finds them.

// Vanish removes a checkout without trace: no "deleted" status, it is
// simply no longer listed.
func (s *Server) Vanish(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := strconv.ParseInt(id, 10, 64)
	if _, ok := s.checkouts[n]; !ok {
		return fmt.Errorf("fake: no checkout %s", id)
	}
	delete(s.checkouts, n)
	return nil
}

// EditSilently changes a checkout without moving its updated_at.
func (s *Server) EditSilently(id string, fn func(*Checkout)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := strconv.ParseInt(id, 10, 64)
	c, ok := s.checkouts[n]
	if !ok {
		return fmt.Errorf("fake: no checkout %s", id)
	}
	fn(c)
	c.ID = n
	return nil
}
