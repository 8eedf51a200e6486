package registry

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"time"
	"weak"

	"github.com/99designs/gqlgen/graphql"

	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// ReasonBusy: the test was not run (another test of the account is
// running, or the request asked for too many).
const ReasonBusy Reason = "RATE_LIMITED"

const (
	// MaxTestsPerRequest bounds the source tests of one GraphQL request
	// (aliases of testCameraSource and testCameraSourceOf together).
	MaxTestsPerRequest = 3
	// testWait is how long a test waits for the account's running one.
	testWait = 500 * time.Millisecond
)

// testLimiter keeps a source test from being a port scanner: one test at
// a time per account, at most MaxTestsPerRequest per request. Callers
// without a viewer (the CLI) and outside a GraphQL request are not
// limited by it.
type testLimiter struct {
	mu       sync.Mutex
	running  map[pulid.ID]chan struct{}
	requests map[weak.Pointer[graphql.OperationContext]]int
}

// acquire returns release, or the result to answer when the test may not
// run now.
func (l *testLimiter) acquire(ctx context.Context) (release func(), busy *TestResult) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return func() {}, nil
	}
	if graphql.HasOperationContext(ctx) && !l.count(graphql.GetOperationContext(ctx)) {
		return nil, &TestResult{Reason: ReasonBusy,
			Message: "1 回のリクエストでテストできる取得元は " + strconv.Itoa(MaxTestsPerRequest) + " 件までです (at most " + strconv.Itoa(MaxTestsPerRequest) + " source tests per request)"}
	}
	l.mu.Lock()
	if l.running == nil {
		l.running = map[pulid.ID]chan struct{}{}
	}
	for {
		ch, held := l.running[v.AccountID]
		if !held {
			mine := make(chan struct{})
			l.running[v.AccountID] = mine
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.running, v.AccountID)
				l.mu.Unlock()
				close(mine)
			}, nil
		}
		l.mu.Unlock()
		t := time.NewTimer(testWait)
		select {
		case <-ch:
			t.Stop()
			l.mu.Lock()
		case <-t.C:
			return nil, &TestResult{Reason: ReasonBusy,
				Message: "別の取得元のテストが実行中です。終わってからもう一度お試しください (another source test of this account is running)"}
		case <-ctx.Done():
			t.Stop()
			return nil, &TestResult{Reason: ReasonBusy, Message: "テストは取り消されました (canceled)"}
		}
	}
}

// count adds one test to the request; false past MaxTestsPerRequest. The
// entry goes when the request's operation context is collected.
func (l *testLimiter) count(oc *graphql.OperationContext) bool {
	key := weak.Make(oc)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.requests == nil {
		l.requests = map[weak.Pointer[graphql.OperationContext]]int{}
	}
	n, seen := l.requests[key]
	if !seen {
		runtime.AddCleanup(oc, func(k weak.Pointer[graphql.OperationContext]) {
			l.mu.Lock()
			delete(l.requests, k)
			l.mu.Unlock()
		}, key)
	}
	if n >= MaxTestsPerRequest {
		return false
	}
	l.requests[key] = n + 1
	return true
}
