package fleet_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/db"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/viewer"
)

// sample sums the series of family name whose labels include want.
func sample(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == k && l.GetValue() == v
				}
				if !found {
					continue next
				}
			}
			sum += value(m)
		}
	}
	return sum
}

func value(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// TestRecordersOnMetrics: while the fleet runs, its recording camera is
// counted in regicam_cameras{status="recording"} and its grabs in
// regicam_camera_grabs_total; once it stops, the camera is no longer
// counted.
func TestRecordersOnMetrics(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := viewer.System(t.Context())
		acc, err := d.Client.Account.Create().SetName("fleet metrics").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Client.Camera.Create().SetAccountID(acc.ID).SetName("レジ前").SetModel("sim").
			SetDeviceID("sim-m").SetPosOption(true).SetSourceKind(entcamera.SourceKindSIMULATED).Save(ctx); err != nil {
			t.Fatal(err)
		}
		recording := map[string]string{"status": metrics.CameraRecording}
		grabbed := map[string]string{"source": "SIMULATED", "result": "ok"}
		baseRec, baseGrabs := sample(t, "regicam_cameras", recording), sample(t, "regicam_camera_grabs_total", grabbed)

		m := fleet.New(d.Client, nil, slog.New(slog.DiscardHandler), camera.RecorderOptions{Interval: 20 * time.Millisecond})
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.Run(runCtx, time.Hour)
		}()
		defer func() { stop(); <-done }()
		deadline := time.Now().Add(20 * time.Second)
		for sample(t, "regicam_cameras", recording) < baseRec+1 || sample(t, "regicam_camera_grabs_total", grabbed) < baseGrabs+2 {
			if time.Now().After(deadline) {
				t.Fatalf("recording %v (was %v), grabs %v (was %v)", sample(t, "regicam_cameras", recording), baseRec,
					sample(t, "regicam_camera_grabs_total", grabbed), baseGrabs)
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		<-done
		if got := sample(t, "regicam_cameras", recording); got != baseRec {
			t.Errorf("a stopped fleet still counts %v recording cameras (was %v)", got, baseRec)
		}
	})
}
