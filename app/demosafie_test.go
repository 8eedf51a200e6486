package app_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

// TestDemoSafie: with --demo-safie the demo tenant is connected to the
// built-in Safie fake, and its POS-option devices are the tenant's CLOUD
// cameras, labelled as the cloud's portal shows them; the device without
// the option is not a camera. A restart on the same data keeps the one
// connection and the same camera rows.
func TestDemoSafie(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		dir := t.TempDir()
		demo := func(cfg *app.Config, _ string) {
			cfg.Demo, cfg.DemoPOS, cfg.DemoSafie = "true", false, true
		}
		want := []string{}
		for _, d := range app.DemoSafieDevices {
			if slices.Contains(d.ItemIDs, app.DemoSafieItemID) {
				want = append(want, d.Name+" ("+d.Model+" : "+d.Serial+")")
			}
		}
		slices.Sort(want)
		var firstIDs []string
		for run := range 2 {
			// Each run in its own subtest: its server stops when it ends.
			t.Run(fmt.Sprint("run ", run), func(t *testing.T) {
				srv := testenv.StartWith(t, b, dir, demo)
				ctx := viewer.System(t.Context())
				conns, err := srv.DB.Client.CameraCloudConnection.Query().
					Where(cameracloudconnection.AccountID(srv.AccountID)).All(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(conns) != 1 || conns[0].Name != app.DemoSafieConnection || conns[0].Status != cameracloudconnection.StatusOK {
					t.Fatalf("run %d: connections %+v", run, conns)
				}
				cams, err := srv.DB.Client.Camera.Query().
					Where(entcamera.AccountID(srv.AccountID), entcamera.SourceKindEQ(entcamera.SourceKindCLOUD)).
					Order(entcamera.ByName()).All(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var names, ids []string
				for _, c := range cams {
					names = append(names, c.Name)
					ids = append(ids, string(c.ID))
					if c.RetiredAt != nil || !c.PosOption || c.CloudConnectionID == nil || *c.CloudConnectionID != conns[0].ID {
						t.Errorf("run %d: camera %+v", run, c)
					}
				}
				if !slices.Equal(names, want) {
					t.Fatalf("run %d: cloud cameras %q, want %q", run, names, want)
				}
				if run == 0 {
					firstIDs = ids
				} else if !slices.Equal(ids, firstIDs) {
					t.Errorf("restart: camera rows %v, before %v", ids, firstIDs)
				}
			})
		}
	})
}

// TestDemoSafieRegister: with both demo fakes, the Smaregi register
// watches the cloud's counter camera, so the demo's sales carry the
// cloud's picture of their second (skew unknown).
func TestDemoSafieRegister(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, url string) {
			cfg.Demo, cfg.DemoPOS, cfg.DemoSafie, cfg.DemoEvery = "true", true, true, 50*time.Millisecond
			cfg.Addr = strings.TrimPrefix(url, "http://")
		})
		ctx := viewer.System(t.Context())
		counter, err := srv.DB.Client.Camera.Query().Where(entcamera.AccountID(srv.AccountID),
			entcamera.DeviceID(app.DemoSafieCounter)).Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			e, err := smaregiEntries(t, srv).Where(journalentry.CameraID(counter.ID), journalentry.HasThumbnail()).
				WithThumbnail().First(ctx)
			if err == nil {
				if e.Edges.Thumbnail.SkewKnown {
					t.Errorf("a cloud picture with its skew known: %+v", e.Edges.Thumbnail)
				}
				return
			}
			if !ent.IsNotFound(err) {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatal("no demo sale on the cloud's counter camera with a picture in a minute")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
