// Package pubsub carries the "new events exist" wake-up from the process
// that committed them to the single feed reader of every server process.
//
// Only the newest committed event id travels over the bus; the events
// themselves are always re-read from the events table. That lets the bus
// tolerate loss: a later signal subsumes every earlier one, so signals can be
// coalesced freely and a lost notification only costs latency until the next
// one (or the Resync that follows a reconnect).
package pubsub

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("pubsub: bus closed")

// Signal tells a process that committed events exist up to EventID. Resync
// means notifications may have been lost (listener reconnected): re-read from
// the last id you saw.
//
// EventID is a hint, not a sequence number: publishers race after their
// commits, so a Signal may carry a smaller id than one received earlier.
// Readers should keep their own high-water mark and read everything above it.
type Signal struct {
	EventID int64
	Resync  bool
}

// Bus delivers Signals to the one feed reader of this process.
type Bus interface {
	// Publish announces that events up to eventID are committed. Call it
	// only after the commit, otherwise readers may look before the rows are
	// visible and miss them.
	Publish(ctx context.Context, eventID int64) error
	// Signals has exactly one receiver per process (the feed reader).
	// Publishing never waits for it: while a Signal is pending, newer ones
	// are merged into it (highest EventID, Resync OR'ed). The channel is
	// closed by Close.
	Signals() <-chan Signal
	Close() error
}

// merge combines a pending Signal with a newer one without losing either's
// information: the reader only needs the highest id and whether it must
// distrust its position.
func merge(a, b Signal) Signal {
	return Signal{EventID: max(a.EventID, b.EventID), Resync: a.Resync || b.Resync}
}

// mailbox is a one-slot, overwrite-by-merge channel. A plain buffered channel
// would either block publishers behind a slow reader or force dropping
// signals; merging keeps publishers wait-free and loses nothing the reader
// needs.
type mailbox struct {
	mu     sync.Mutex // serialises senders so the slot cannot refill between take and put
	closed bool
	ch     chan Signal
}

func newMailbox() *mailbox {
	return &mailbox{ch: make(chan Signal, 1)}
}

// post reports false once the mailbox is closed.
func (m *mailbox) post(s Signal) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	select {
	case pending := <-m.ch:
		s = merge(pending, s)
	default:
	}
	// Cannot block: the slot is empty and only lock holders send.
	m.ch <- s
	return true
}

func (m *mailbox) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.ch)
	}
}
