package fake_test

import (
	"testing"
	"time"

	"github.com/regicam/regicam/pos/ubiregi/fake"
)

// TestRegisterClock: a skewed iPad writes paid_at on its own clock, the
// server updated_at on its right one when the bill arrives; a drifting one
// gains with the hours; set right again, paid_at is the arrival less the
// delay.
func TestRegisterClock(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := fake.New(fake.Options{Now: func() time.Time { return now }})
	defer s.Shutdown()
	delay := func() time.Duration { return 2 * time.Second }
	s.SetRegisterClock(fake.RegisterClock{Offset: 45 * time.Second, Delay: delay})
	c, _ := s.Checkout(s.Close(fake.Checkout{}))
	if !c.UpdatedAt.Equal(now) || !c.PaidAt.Equal(now.Add(43*time.Second)) {
		t.Fatalf("45 s ahead, 2 s late: paid %v updated %v", c.PaidAt, c.UpdatedAt)
	}
	s.SetRegisterClock(fake.RegisterClock{DriftPerHour: 2 * time.Second, Since: now.Add(-3 * time.Hour)})
	c, _ = s.Checkout(s.Close(fake.Checkout{}))
	if !c.PaidAt.Equal(now.Add(6 * time.Second)) { // 6 s gained in 3 hours
		t.Fatalf("drifting: paid %v", c.PaidAt)
	}
	s.SetRegisterClock(fake.RegisterClock{})
	c, _ = s.Checkout(s.Close(fake.Checkout{}))
	if !c.PaidAt.Equal(now) {
		t.Fatalf("right again: paid %v", c.PaidAt)
	}
}
