package metrics_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/regicam/regicam/metrics"
)

func gather(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func gauge(fams map[string]*dto.MetricFamily, name, label, value string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

// TestCameraStatusesSumEveryFleet: regicam_cameras is the sum over the
// fleets still registered, and always has its three statuses.
func TestCameraStatusesSumEveryFleet(t *testing.T) {
	a := metrics.CameraStatuses(func() map[string]int { return map[string]int{metrics.CameraRecording: 2, metrics.CameraOffline: 1} })
	b := metrics.CameraStatuses(func() map[string]int { return map[string]int{metrics.CameraRecording: 1} })
	fams := gather(t)
	for st, want := range map[string]float64{metrics.CameraRecording: 3, metrics.CameraOffline: 1, metrics.CameraStarting: 0} {
		if got, ok := gauge(fams, "regicam_cameras", "status", st); !ok || got != want {
			t.Errorf("regicam_cameras{status=%q} = %v (%v), want %v", st, got, ok, want)
		}
	}
	a()
	b()
	if got, _ := gauge(gather(t), "regicam_cameras", "status", metrics.CameraRecording); got != 0 {
		t.Errorf("after both fleets stopped: %v recording", got)
	}
}

// TestSubscriptionClosesOnce: closing twice does not count a subscription
// that is still open as closed.
func TestSubscriptionClosesOnce(t *testing.T) {
	base, _ := gauge(gather(t), "regicam_subscriptions_open", "stream", metrics.StreamAlerts)
	one := metrics.SubscriptionOpened(metrics.StreamAlerts)
	two := metrics.SubscriptionOpened(metrics.StreamAlerts)
	one()
	one()
	if got, _ := gauge(gather(t), "regicam_subscriptions_open", "stream", metrics.StreamAlerts); got != base+1 {
		t.Errorf("open = %v, want %v", got, base+1)
	}
	two()
}

// TestClockOffsetUnknownDropsTheSeries: an offset that becomes unknown
// is no longer reported (not a stale value).
func TestClockOffsetUnknownDropsTheSeries(t *testing.T) {
	metrics.ClockOffset("TM-test", -90*time.Second, true)
	if got, ok := gauge(gather(t), "regicam_register_clock_offset_seconds", "terminal", "TM-test"); !ok || got != -90 {
		t.Fatalf("offset %v %v", got, ok)
	}
	metrics.ClockOffset("TM-test", 0, false)
	if _, ok := gauge(gather(t), "regicam_register_clock_offset_seconds", "terminal", "TM-test"); ok {
		t.Fatal("an unknown offset is still reported")
	}
}

// TestDBPoolNewestOpenPool: with no pool there are no go_sql_* series;
// with pools, those of the newest still registered.
func TestDBPoolNewestOpenPool(t *testing.T) {
	if f := gather(t)["go_sql_max_open_connections"]; f != nil {
		t.Fatalf("go_sql_* without a pool: %v", f)
	}
	// database/sql connects only when used: the limits of a pool are
	// read without a database.
	older := sql.OpenDB(noConnector{})
	newer := sql.OpenDB(noConnector{})
	older.SetMaxOpenConns(3)
	newer.SetMaxOpenConns(7)
	dropOlder := metrics.DBPool(older)
	dropNewer := metrics.DBPool(newer)
	max := func() float64 {
		f := gather(t)["go_sql_max_open_connections"]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Fatalf("go_sql_max_open_connections: %v", f)
		}
		return f.GetMetric()[0].GetGauge().GetValue()
	}
	if got := max(); got != 7 {
		t.Errorf("max open %v, want the newer pool's 7", got)
	}
	dropNewer()
	if got := max(); got != 3 {
		t.Errorf("max open %v after the newer pool closed, want 3", got)
	}
	dropOlder()
}

// noConnector is a pool that never connects.
type noConnector struct{}

func (noConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("no database")
}
func (noConnector) Driver() driver.Driver { return nil }
