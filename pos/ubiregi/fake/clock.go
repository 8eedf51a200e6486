package fake

import "time"

// RegisterClock is how the simulated iPad register (Ubiregi's register is
// the account) keeps time and uploads: its clock's offset from true time
// (positive: ahead) at Since, gaining DriftPerHour from then, and the delay
// between paying a bill and the server storing it. Close is the upload:
// updated_at is the server's clock then, paid_at the iPad's clock Delay
// earlier.
type RegisterClock struct {
	Offset       time.Duration
	DriftPerHour time.Duration
	Since        time.Time
	// Delay draws one upload delay (≥ 0); nil is no delay.
	Delay func() time.Duration
}

// SetRegisterClock skews the register: bills closed without their own
// PaidAt get it from rc. A zero rc sets it right again.
func (s *Server) SetRegisterClock(rc RegisterClock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = rc
}

// paidAt is the iPad's time of a bill the server stores at now.
func (rc RegisterClock) paidAt(now time.Time) time.Time {
	paid := now
	if rc.Delay != nil {
		paid = now.Add(-max(rc.Delay(), 0))
	}
	off := rc.Offset
	if !rc.Since.IsZero() {
		off += time.Duration(float64(paid.Sub(rc.Since)) / float64(time.Hour) * float64(rc.DriftPerHour))
	}
	return paid.Add(off)
}
