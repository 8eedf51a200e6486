package pubsub

import "context"

// Memory is a Bus for a single process, used with SQLite (one server process)
// and in tests.
type Memory struct {
	box *mailbox
}

var _ Bus = (*Memory)(nil)

// NewMemory returns a Memory bus that already holds a Resync, like a freshly
// started Postgres bus, so the feed reader has a single catch-up path
// whichever bus it runs on.
func NewMemory() *Memory {
	m := &Memory{box: newMailbox()}
	m.box.post(Signal{Resync: true})
	return m
}

// Publish never blocks; ctx is accepted only to satisfy Bus.
func (m *Memory) Publish(_ context.Context, eventID int64) error {
	if !m.box.post(Signal{EventID: eventID}) {
		return ErrClosed
	}
	return nil
}

// Signals implements Bus.
func (m *Memory) Signals() <-chan Signal { return m.box.ch }

// Close closes the Signals channel. It is safe to call more than once.
func (m *Memory) Close() error {
	m.box.close()
	return nil
}
