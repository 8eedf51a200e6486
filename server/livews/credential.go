package livews

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/viewer"
)

// credential is what the connections of one session or API key share: a
// count against ConnsPerCredential and the bytes waiting in their queues
// against CredentialQueueBytes. Without it, one stolen or careless
// credential could open connections until the server ran out of memory,
// each staying under its own bound.
type credential struct {
	key    string
	queued atomic.Int64
	conns  []*conn // under credentials.mu
}

type credentials struct {
	mu sync.Mutex
	m  map[string]*credential
}

// viewerCredential is the default Transport.Credential: the API key of a
// partner, else the session of a user.
func viewerCredential(ctx context.Context) string {
	v, ok := viewer.FromContext(ctx)
	switch {
	case !ok:
		return ""
	case v.APIKeyID != "":
		return "key:" + string(v.APIKeyID)
	case v.SessionID != "":
		return "session:" + string(v.SessionID)
	}
	return ""
}

// acquire counts c against key, unless key already holds max connections.
func (cs *credentials) acquire(key string, c *conn, max int) (*credential, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cr := cs.m[key]
	if cr == nil {
		cr = &credential{key: key}
		cs.m[key] = cr
	}
	if len(cr.conns) >= max {
		return nil, false
	}
	cr.conns = append(cr.conns, c)
	return cr, true
}

func (cs *credentials) release(cr *credential, c *conn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cr.conns = slices.DeleteFunc(cr.conns, func(x *conn) bool { return x == c })
	if len(cr.conns) == 0 && cs.m[cr.key] == cr {
		delete(cs.m, cr.key)
	}
}

// shed closes connections of cr, the ones holding the most first, until
// its queued bytes are within max: a stalled tab goes, a reading one of the
// same user stays.
func (cs *credentials) shed(cr *credential, max int64, reason string) {
	cs.mu.Lock()
	type held struct {
		c *conn
		n int64
	}
	list := make([]held, len(cr.conns))
	for i, c := range cr.conns {
		list[i] = held{c, c.queued.Load()}
	}
	cs.mu.Unlock()
	slices.SortFunc(list, func(a, b held) int { return cmp.Compare(b.n, a.n) })
	for _, h := range list {
		if cr.queued.Load() <= max {
			return
		}
		h.c.abort(reason)
	}
}

// holdCredential counts an initialised connection against its
// credential; past ConnsPerCredential it refuses the connection (4429).
func (c *conn) holdCredential() bool {
	key := c.t.Credential(c.ctx)
	if key == "" {
		return true
	}
	cr, ok := c.t.creds.acquire(key, c, c.t.ConnsPerCredential)
	if !ok {
		if c.proto == protoGraphQLWS {
			b, _ := json.Marshal(&gqlerror.Error{Message: fmt.Sprintf(
				"同じログインまたは API キーの同時接続は %d 本までです (at most %d websocket connections per session or API key)",
				c.t.ConnsPerCredential, c.t.ConnsPerCredential)})
			_ = c.tw.WriteText(frame("connection_error", "", b))
		}
		c.closeNow(CloseTooManyConnections, "Too many connections for this session or API key")
		return false
	}
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.qmu.Lock()
		c.cred = cr
		c.qmu.Unlock()
	}
	c.mu.Unlock()
	if closed {
		// Closed meanwhile (server shutting down): close has run without
		// knowing of the slot.
		c.t.creds.release(cr, c)
		return false
	}
	return true
}
