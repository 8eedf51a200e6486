package pubsub

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// recv waits for one Signal, failing the test rather than hanging it.
func recv(t *testing.T, ch <-chan Signal) Signal {
	t.Helper()
	select {
	case s, ok := <-ch:
		if !ok {
			t.Fatal("signals channel closed")
		}
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a signal")
	}
	panic("unreachable")
}

func assertEmpty(t *testing.T, ch <-chan Signal) {
	t.Helper()
	select {
	case s := <-ch:
		t.Fatalf("unexpected extra signal %+v", s)
	default:
	}
}

func TestMailboxMergesPending(t *testing.T) {
	m := newMailbox()
	m.post(Signal{Resync: true})
	m.post(Signal{EventID: 5})
	m.post(Signal{EventID: 3})
	if got, want := recv(t, m.ch), (Signal{EventID: 5, Resync: true}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	assertEmpty(t, m.ch)

	// Resync is not sticky once delivered.
	m.post(Signal{EventID: 7})
	if got, want := recv(t, m.ch), (Signal{EventID: 7}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestMemoryStartsWithResync(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	if got := recv(t, m.Signals()); !got.Resync {
		t.Fatalf("first signal %+v, want Resync", got)
	}
	assertEmpty(t, m.Signals())
}

func TestMemoryPublishNeverBlocksWithoutReader(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	<-m.Signals()

	const n = 100_000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := int64(1); i <= n; i++ {
			if err := m.Publish(context.Background(), i); err != nil {
				t.Errorf("Publish(%d): %v", i, err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked with nobody reading")
	}

	if got, want := recv(t, m.Signals()), (Signal{EventID: n}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	assertEmpty(t, m.Signals())
}

func TestMemorySlowReaderEndsWithNewest(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	<-m.Signals()

	const (
		publishers = 4
		perPub     = 5_000
		newest     = publishers * perPub
	)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			// Interleaved ids, so publishes arrive out of order as they
			// would from racing writers.
			for i := range perPub {
				if err := m.Publish(context.Background(), int64(i*publishers+p+1)); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	published := make(chan struct{})
	go func() { wg.Wait(); close(published) }()

	// Racing publishers may deliver an older id after a newer one, so the
	// reader keeps a high-water mark, as the real feed reader must.
	var received int
	var hwm int64
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-m.Signals():
			received++
			if s.Resync {
				t.Fatalf("unexpected Resync %+v", s)
			}
			hwm = max(hwm, s.EventID)
			time.Sleep(time.Millisecond) // the slow reader
			continue
		case <-published:
		case <-deadline:
			t.Fatal("publishers blocked behind the slow reader")
		}
		break
	}
	// Whatever is still pending after the last Publish must be in the slot.
	select {
	case s := <-m.Signals():
		received++
		hwm = max(hwm, s.EventID)
	default:
	}
	if hwm != newest {
		t.Fatalf("reader ended at id %d, want %d", hwm, newest)
	}
	if received >= newest {
		t.Fatalf("received %d signals for %d publishes; expected coalescing", received, newest)
	}
	assertEmpty(t, m.Signals())
}

func TestMemoryClose(t *testing.T) {
	m := NewMemory()
	if err := m.Publish(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := m.Publish(context.Background(), 2); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
	// A signal pending at Close is still delivered, then the channel ends,
	// so a reader ranging over Signals terminates.
	if got, want := <-m.Signals(), (Signal{EventID: 1, Resync: true}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, ok := <-m.Signals(); ok {
		t.Fatal("Signals not closed after Close")
	}
}
