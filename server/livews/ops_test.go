package livews

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
)

// recWS is a reading peer that keeps every frame written to it.
type recWS struct {
	*pipeWS
	mu     sync.Mutex
	frames []string
}

func (r *recWS) WriteText(parts ...[]byte) error {
	var b strings.Builder
	for _, p := range parts {
		b.Write(p)
	}
	r.mu.Lock()
	r.frames = append(r.frames, b.String())
	r.mu.Unlock()
	return nil
}

func (r *recWS) waitFrame(t *testing.T, sub string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		for _, f := range r.frames {
			if strings.Contains(f, sub) {
				r.mu.Unlock()
				return f
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no frame with %q", sub)
		}
		time.Sleep(time.Millisecond)
	}
}

func openRec(t *testing.T, tr *Transport, ctx context.Context) (*conn, *recWS) {
	t.Helper()
	ws := &recWS{pipeWS: newPipeWS(false)}
	ctx, cancel := context.WithCancel(ctx)
	c := &conn{t: tr, ws: ws, tw: ws, proto: protoTransportWS, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), done: make(chan struct{}), subs: map[string]*sub{}}
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		c.writer()
	}()
	t.Cleanup(func() {
		c.close(1001, "")
		<-wrote
	})
	return c, ws
}

// TestOperationsPerConn: a subscribe beyond OperationsPerConn active
// operations gets an error carrying RATE_LIMITED for its id and the
// connection stays; once one ends, another may start.
func TestOperationsPerConn(t *testing.T) {
	tr := New(Transport{OperationsPerConn: 3})
	c, ws := openRec(t, tr, context.Background())
	// Active operations, as subscribe reserves them while they run.
	c.mu.Lock()
	for _, id := range []string{"a", "b", "c"} {
		c.subs[id] = &sub{}
	}
	c.mu.Unlock()
	c.subscribe("d", []byte(`{"query":"{ __typename }"}`))
	f := ws.waitFrame(t, `"id":"d"`)
	if !strings.Contains(f, `"type":"error"`) || !strings.Contains(f, apperr.RateLimited) {
		t.Fatalf("operation over the cap: %s, want an error with RATE_LIMITED", f)
	}
	c.mu.Lock()
	_, held := c.subs["d"]
	closed := c.closed
	n := len(c.subs)
	c.mu.Unlock()
	if held || closed || n != 3 {
		t.Fatalf("after the refusal: held %v, closed %v, %d operations", held, closed, n)
	}
	if New(Transport{}).OperationsPerConn != DefaultOperationsPerConn {
		t.Fatal("default cap not applied")
	}
}

// TestOperationGate: a gate in the connection's context is asked for
// every subscribe; its error refuses that operation alone, with its code.
func TestOperationGate(t *testing.T) {
	tr := New(Transport{})
	calls := 0
	ctx := WithOperationGate(context.Background(), func(context.Context) error {
		calls++
		return apperr.RateLimitedf("slow down")
	})
	c, ws := openRec(t, tr, ctx)
	c.subscribe("x", []byte(`{"query":"{ __typename }"}`))
	f := ws.waitFrame(t, `"id":"x"`)
	if calls != 1 || !strings.Contains(f, `"type":"error"`) || !strings.Contains(f, apperr.RateLimited) || !strings.Contains(f, "slow down") {
		t.Fatalf("gated operation: %d calls, %s", calls, f)
	}
	c.mu.Lock()
	n, closed := len(c.subs), c.closed
	c.mu.Unlock()
	if n != 0 || closed {
		t.Fatalf("after the refusal: %d operations, closed %v", n, closed)
	}
}
