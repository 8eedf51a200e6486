package fake

import (
	"sync"
	"time"
)

// RegisterClock is how one simulated register keeps time and uploads: its
// clock's offset from true time (positive: ahead) at Since, gaining
// DriftPerHour from then, and the delay between a sale and Smaregi's
// server receiving it. RingUp is the upload: the server stamps
// transactionDateTime then (on a right clock), the register wrote
// terminalTranDateTime on its own clock Delay earlier.
type RegisterClock struct {
	Offset       time.Duration
	DriftPerHour time.Duration
	Since        time.Time
	// Delay draws one upload delay (≥ 0); nil is no delay.
	Delay func() time.Duration
}

// registerClocks are a contract's skewed registers by terminal id.
type registerClocks struct {
	mu sync.Mutex
	m  map[string]RegisterClock
}

// SetRegisterClock skews the register terminalID of the first contract:
// sales rung up without their own At/ServerAt get the register's and the
// server's time from rc. A zero rc sets it right again.
func (s *Server) SetRegisterClock(terminalID string, rc RegisterClock) {
	s.first.SetRegisterClock(terminalID, rc)
}

// SetRegisterClock is Server.SetRegisterClock for this contract.
func (c *Contract) SetRegisterClock(terminalID string, rc RegisterClock) {
	c.clocks.mu.Lock()
	defer c.clocks.mu.Unlock()
	if c.clocks.m == nil {
		c.clocks.m = make(map[string]RegisterClock)
	}
	c.clocks.m[terminalID] = rc
}

// times are the register's and the server's time of a sale that reaches
// the server at now (RingUp is the upload): rung up Delay earlier, on the
// register's clock. A time the spec gives is kept.
func (r *registerClocks) times(terminal string, at, server, now time.Time) (time.Time, time.Time) {
	r.mu.Lock()
	rc, ok := r.m[terminal]
	r.mu.Unlock()
	if server.IsZero() {
		server = now
	}
	if at.IsZero() {
		at = now
		if ok {
			rung := server
			if rc.Delay != nil {
				rung = server.Add(-max(rc.Delay(), 0))
			}
			at = rung.Add(rc.offsetAt(rung))
		}
	}
	return at, server
}

// offsetAt is the register's offset at true time t.
func (rc RegisterClock) offsetAt(t time.Time) time.Duration {
	off := rc.Offset
	if !rc.Since.IsZero() {
		off += time.Duration(float64(t.Sub(rc.Since)) / float64(time.Hour) * float64(rc.DriftPerHour))
	}
	return off
}
