package livews

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/viewer"
)

// groupKey says whether an operation may share its execution and with whom:
// subscriptions with the same document, operation, variables and viewer
// access (account, role, scopes, shop restriction) produce the same bytes
// for every event. A subscription resuming from a cursor replays its own
// past first, so it runs on its own.
func (t *Transport) groupKey(connCtx context.Context, rc *graphql.OperationContext, params *graphql.RawParams) (string, bool) {
	if !t.Shared || rc.Operation == nil || rc.Operation.Operation != ast.Subscription {
		return "", false
	}
	for _, sel := range rc.Operation.SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok {
			return "", false
		}
		if args := f.ArgumentMap(rc.Variables); args["after"] != nil {
			return "", false
		}
	}
	vars, err := json.Marshal(rc.Variables) // map keys sorted: canonical
	if err != nil {
		return "", false
	}
	var access string
	if v, ok := viewer.FromContext(connCtx); ok {
		scopes := make([]string, len(v.Scopes))
		for i, s := range v.Scopes {
			scopes[i] = string(s)
		}
		slices.Sort(scopes)
		shops := make([]string, len(v.ShopIDs))
		for i, s := range v.ShopIDs {
			shops[i] = string(s)
		}
		slices.Sort(shops)
		access = fmt.Sprintf("%s|%s|%s|%t|%s", v.AccountID, v.Role, strings.Join(scopes, ","), v.Restricted, strings.Join(shops, ","))
	}
	return strings.Join([]string{rc.RawQuery, rc.OperationName, string(vars), access}, "\x00"), true
}

// member is one subscription in a group: its connection and the message
// around the shared payload (its own id).
type member struct {
	c          *conn
	id         string
	head, tail []byte
	g          *group // set under groups.mu
}

type group struct {
	key     string
	members map[*member]struct{}
	view    atomic.Pointer[[]*member] // copy for the fan-out loop
	cancel  context.CancelFunc
	ended   bool
}

type groups struct {
	mu sync.Mutex
	m  map[string]*group
}

func (gs *groups) stats() (int, int) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	n := 0
	for _, g := range gs.m {
		n += len(g.members)
	}
	return len(gs.m), n
}

func (g *group) publish() {
	list := make([]*member, 0, len(g.members))
	for m := range g.members {
		list = append(list, m)
	}
	g.view.Store(&list)
}

// join adds m to the group of key, starting the group's one execution
// (with this member's operation) when it is the first.
func (gs *groups) join(key string, m *member, ctx context.Context, rc *graphql.OperationContext, exec graphql.GraphExecutor, log *slog.Logger) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if g := gs.m[key]; g != nil && !g.ended {
		m.g = g
		g.members[m] = struct{}{}
		g.publish()
		return
	}
	// The group outlives whichever member started it: detach from that
	// connection's cancellation, keep its values (viewer, operation).
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g := &group{key: key, members: map[*member]struct{}{m: {}}, cancel: cancel}
	m.g = g
	g.publish()
	gs.m[key] = g
	go gs.run(gctx, g, rc, exec, log)
}

// leave removes m; the last member to leave stops the execution.
func (gs *groups) leave(m *member) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g := m.g
	if g == nil {
		return
	}
	if _, ok := g.members[m]; !ok {
		return
	}
	delete(g.members, m)
	g.publish()
	if len(g.members) == 0 && !g.ended {
		g.ended = true
		if gs.m[g.key] == g {
			delete(gs.m, g.key)
		}
		g.cancel()
	}
}

// run executes the group's subscription: each event is resolved and
// encoded once, then queued to every member.
func (gs *groups) run(ctx context.Context, g *group, rc *graphql.OperationContext, exec graphql.GraphExecutor, log *slog.Logger) {
	defer g.cancel()
	var panicked *gqlerror.Error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err := rc.Recover(ctx, r)
				if !errors.As(err, &panicked) {
					panicked = &gqlerror.Error{Message: fmt.Sprint(err)}
				}
			}
		}()
		responses, rctx := exec.DispatchOperation(ctx, rc)
		for {
			resp := responses(rctx)
			if resp == nil {
				return
			}
			b, err := json.Marshal(resp)
			if err != nil {
				log.Error("encode subscription response", "err", err)
				continue
			}
			for _, m := range *g.view.Load() {
				m.c.enqueue(outMsg{head: m.head, body: b, tail: m.tail})
			}
		}
	}()
	gs.mu.Lock()
	if gs.m[g.key] == g {
		delete(gs.m, g.key)
	}
	g.ended = true
	members := *g.view.Load()
	gs.mu.Unlock()
	if ctx.Err() != nil {
		return // every member left
	}
	// The stream ended on its own (server shutdown, an error): tell each
	// member, as its own execution would have.
	for _, m := range members {
		if panicked != nil {
			m.c.sendErrors(m.id, panicked)
		}
		m.c.finishMember(m)
	}
}

// finishMember completes m's subscription if it is still the active one.
func (c *conn) finishMember(m *member) {
	c.mu.Lock()
	s := c.subs[m.id]
	if s == nil || s.m != m {
		c.mu.Unlock()
		return
	}
	delete(c.subs, m.id)
	c.mu.Unlock()
	if c.ctx.Err() == nil {
		c.send("complete", m.id, nil)
	}
}
