package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// answer is what a camera's source says when asked for a second.
type answer func(ctx context.Context, at time.Time) ([]byte, time.Time, error)

// router serves thumbs.Frames per camera: the answer a case set, else the
// fleet's own (a camera no recorder of this process runs).
type router struct {
	by   map[pulid.ID]answer
	next thumbs.Frames
}

func (r router) FrameAt(ctx context.Context, id pulid.ID, at time.Time) ([]byte, time.Time, error) {
	if a := r.by[id]; a != nil {
		return a(ctx, at)
	}
	return r.next.FrameAt(ctx, id, at)
}

func (r router) SourceKind(pulid.ID) string { return "REASONTEST" }

// recorderSays is a camera.FrameSource that answers as a recorder would.
type recorderSays struct{ err error }

func (s recorderSays) FrameAt(context.Context, time.Time) (camera.Frame, error) {
	return camera.Frame{}, s.err
}

type failingStore struct{ thumbs.Store }

func (failingStore) Put(context.Context, string, []byte) error { return errors.New("disk full") }
func (failingStore) Delete(context.Context, ...string) error   { return nil }

func tinyJPEG(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewRGBA(image.Rect(0, 0, 64, 48)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestEveryEntryWithoutAPictureSaysWhy: each way a receipt can end without
// its picture leaves a reason of the closed set, with a sentence, on the
// single and on the batch path; a receipt with its picture has none. The
// first case is the demo's: a register the POS just created has no camera
// linked yet, and its first receipt used to land with an empty reason.
func TestEveryEntryWithoutAPictureSaysWhy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := viewer.System(t.Context())
		acc, err := d.Client.Account.Create().SetName("理由").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fx := testenv.NewFixture(t, d.Client, acc.ID)
		term0, err := d.Client.Terminal.Get(ctx, fx.TerminalIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		good := tinyJPEG(t)
		now := time.Now().UTC().Truncate(time.Millisecond)
		nofr := func(nearest time.Duration, reason string) answer {
			return func(ctx context.Context, at time.Time) ([]byte, time.Time, error) {
				return fleet.Sources{"x": recorderSays{&camera.NoFrameError{At: at, Nearest: nearest, Reason: reason}}}.FrameAt(ctx, "x", at)
			}
		}
		fails := func(err error) answer {
			return func(context.Context, time.Time) ([]byte, time.Time, error) { return nil, time.Time{}, err }
		}
		type tc struct {
			name     string
			want     ingest.ReasonCode
			unlinked bool                    // the register has no camera at that moment
			answer   answer                  // nil: the fleet answers from the camera row
			camera   func(*ent.CameraCreate) // how the camera row is
			contains string
		}
		cases := []tc{
			{name: "new_register_no_link", want: ingest.ReasonNoLink, unlinked: true, contains: "紐付いたカメラがありません"},
			{name: "camera_retired", want: ingest.ReasonCameraRetired,
				camera: func(c *ent.CameraCreate) {
					c.SetSourceKind(entcamera.SourceKindSIMULATED).SetRetiredAt(now.Add(-time.Hour))
				}},
			{name: "no_source", want: ingest.ReasonNotRecorded, contains: "取得元"},
			{name: "rtsp", want: ingest.ReasonNotRecorded, contains: "RTSP",
				camera: func(c *ent.CameraCreate) { c.SetSourceKind(entcamera.SourceKindRTSP) }},
			{name: "recorder_not_running", want: ingest.ReasonNotRecorded,
				camera: func(c *ent.CameraCreate) { c.SetSourceKind(entcamera.SourceKindSIMULATED) }},
			{name: "offline_no_frame_yet", want: ingest.ReasonCameraOffline, answer: nofr(0, "camera offline: dial tcp: refused")},
			{name: "no_frame_yet", want: ingest.ReasonNoFrame, answer: nofr(0, "no frame recorded yet")},
			{name: "offline_at_second", want: ingest.ReasonCameraOffline, contains: "42秒",
				answer: nofr(42*time.Second, "camera offline at t (since 10:00:00): timeout")},
			{name: "frame_too_far", want: ingest.ReasonFrameTooFar, contains: "5.0秒",
				answer: nofr(5*time.Second, "nearest frame is 5s away (tolerance 2s)")},
			{name: "buffer_passed", want: ingest.ReasonBufferPassed, contains: "3分20秒",
				answer: nofr(200*time.Second, "buffer does not reach back to t (oldest frame 10:03:20 is 3m20s later)")},
			{name: "source_error", want: ingest.ReasonNoFrame, answer: fails(errors.New("connection reset"))},
			{name: "source_free_text", want: ingest.ReasonNoFrame, contains: "lens cap",
				answer: fails(&pictures.NoFrame{Reason: "lens cap on"})},
			{name: "cloud_retry", want: ingest.ReasonCloudRetry, contains: "再試行します",
				answer: fails(&pictures.NoFrame{Reason: pictures.RetryReason, Retry: true})},
			{name: "cloud_auth", want: ingest.ReasonCloudAuth,
				answer: fails(&pictures.NoFrame{Reason: pictures.AuthReason, Retry: true})},
			{name: "cloud_gap_no_recording", want: ingest.ReasonNoRecording, answer: fails(&pictures.NoFrame{Reason: pictures.GapReason})},
			{name: "cloud_retention", want: ingest.ReasonRetention, contains: "7日",
				answer: fails(&pictures.NoFrame{Reason: pictures.RetentionReason(7)})},
			{name: "cloud_retired", want: ingest.ReasonCameraRetired, answer: fails(&pictures.NoFrame{Reason: pictures.RetiredReason})},
			{name: "unreadable", want: ingest.ReasonUnreadable,
				answer: func(context.Context, time.Time) ([]byte, time.Time, error) { return []byte("not a jpeg"), now, nil }},
			{name: "timeout", want: ingest.ReasonTimeout,
				answer: func(ctx context.Context, _ time.Time) ([]byte, time.Time, error) {
					<-ctx.Done()
					return nil, time.Time{}, ctx.Err()
				}},
			{name: "thumbnail_expired", want: ingest.ReasonExpired,
				answer: func(_ context.Context, at time.Time) ([]byte, time.Time, error) { return good, at, nil }},
		}

		// One camera and register per case and path (single, batch).
		type made struct {
			tc   tc
			term pulid.ID
			cam  pulid.ID
		}
		var all []made
		by := map[pulid.ID]answer{}
		for i, c := range append(append([]tc{}, cases...), cases...) {
			cc := d.Client.Camera.Create().SetAccountID(acc.ID).SetName("カメラ " + c.name).SetModel("test").
				SetDeviceID(fmt.Sprintf("dev-%d", i)).SetPosOption(true)
			if c.camera != nil {
				c.camera(cc)
			}
			cam, err := cc.Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			term, err := d.Client.Terminal.Create().SetAccountID(acc.ID).SetConnectionID(term0.ConnectionID).
				SetShopID(fx.ShopID).SetExternalID(fmt.Sprintf("reg-%d", i)).SetName(c.name).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !c.unlinked {
				if _, err := d.Client.Link.Create().SetAccountID(acc.ID).SetTerminalID(term.ID).SetCameraID(cam.ID).
					SetCreatedAt(testenv.LinkedSince).Save(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if c.answer != nil {
				by[cam.ID] = c.answer
			}
			all = append(all, made{c, term.ID, cam.ID})
		}
		store, err := thumbs.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		frames := router{by: by, next: fleet.New(d.Client, nil, testenv.Logger(), camera.RecorderOptions{})}
		in := ingest.New(d.Client, d.Dialect, pubsub.NewMemory(), testenv.Logger())
		in.Thumbnails = thumbs.New(frames, store, testenv.Logger(), thumbs.Options{Wait: 100 * time.Millisecond, LateWait: 200 * time.Millisecond})
		skewBefore := skewCount(t, "REASONTEST")

		at := now.Add(-time.Minute)
		ids := make([]pulid.ID, len(all))
		half := len(cases)
		for i, m := range all[:half] {
			r := in.Ingest(ctx, acc.ID, sale(m.term, "single-"+m.tc.name, at))
			if r.Status != ingest.Created {
				t.Fatalf("%s: %s %v", m.tc.name, r.Status, r.Err)
			}
			if r.Entry.ThumbnailReason == "" {
				// Never empty without a picture, even while it is still coming.
				if has, _ := d.Client.Thumbnail.Query().Where(thumbnail.EntryID(r.Entry.ID)).Exist(ctx); !has {
					t.Errorf("%s: committed without a picture and without a reason", m.tc.name)
				}
			}
			if m.tc.want == ingest.ReasonTimeout && ingest.CodeOf(r.Entry.ThumbnailReason) != ingest.ReasonPending {
				t.Errorf("%s: reason at commit %q, want PENDING", m.tc.name, r.Entry.ThumbnailReason)
			}
			ids[i] = r.Entry.ID
		}
		var batch []ingest.Receipt
		for _, m := range all[half:] {
			batch = append(batch, sale(m.term, "batch-"+m.tc.name, at))
		}
		res, err := in.IngestBatch(ctx, acc.ID, batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Status != ingest.Created {
				t.Fatalf("batch %d: %s %v", i, r.Status, r.Err)
			}
			ids[half+i] = r.Entry.ID
		}
		in.WaitLate()

		for i, m := range all {
			path := "single"
			if i >= half {
				path = "batch"
			}
			if m.tc.want == ingest.ReasonExpired {
				if has, _ := d.Client.Thumbnail.Query().Where(thumbnail.EntryID(ids[i])).Exist(ctx); !has {
					t.Errorf("%s/%s: no thumbnail before retention", path, m.tc.name)
				}
			}
		}
		// Thumbnail retention takes the pictures of the expiry cases (all
		// that exist, here): their entries say so.
		if _, err := thumbs.Expire(ctx, d.Client, store, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		for i, m := range all {
			path := "single"
			if i >= half {
				path = "batch"
			}
			t.Run(path+"/"+m.tc.name, func(t *testing.T) {
				e, err := d.Client.JournalEntry.Get(ctx, ids[i])
				if err != nil {
					t.Fatal(err)
				}
				has, err := d.Client.Thumbnail.Query().Where(thumbnail.EntryID(e.ID)).Exist(ctx)
				if err != nil {
					t.Fatal(err)
				}
				code, text := ingest.CodeOf(e.ThumbnailReason), ingest.ReasonText(e.ThumbnailReason)
				if has || code != m.tc.want || text == "" || !strings.Contains(text, m.tc.contains) {
					t.Errorf("thumbnail %v, reason %q (code %s); want none, %s containing %q", has, e.ThumbnailReason, code, m.tc.want, m.tc.contains)
				}
				if (e.CameraID == nil) != m.tc.unlinked {
					t.Errorf("camera %v, unlinked %v", e.CameraID, m.tc.unlinked)
				}
				t.Logf("%s", e.ThumbnailReason)
			})
		}
		// The two pictured receipts (before retention) had a known skew.
		if got := skewCount(t, "REASONTEST") - skewBefore; got != 2 {
			t.Errorf("thumbnail skew observations %d, want 2", got)
		}
	})
}

// TestStoreFailedReason: a picture the blob store refused says so once the
// late try fails too, not an empty reason.
func TestStoreFailedReason(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := viewer.System(t.Context())
		acc, err := d.Client.Account.Create().SetName("保存").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fx := testenv.NewFixture(t, d.Client, acc.ID)
		good := tinyJPEG(t)
		frames := router{by: map[pulid.ID]answer{fx.CameraIDs[0]: func(_ context.Context, at time.Time) ([]byte, time.Time, error) {
			return good, at, nil
		}}}
		in := ingest.New(d.Client, d.Dialect, pubsub.NewMemory(), testenv.Logger())
		in.Thumbnails = thumbs.New(frames, failingStore{}, testenv.Logger(), thumbs.Options{})
		r := in.Ingest(ctx, acc.ID, sale(fx.TerminalIDs[0], "s1", time.Now().Add(-time.Minute)))
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if got := ingest.CodeOf(r.Entry.ThumbnailReason); got != ingest.ReasonPending {
			t.Errorf("at commit: %q, want PENDING", r.Entry.ThumbnailReason)
		}
		in.WaitLate()
		e, err := d.Client.JournalEntry.Get(ctx, r.Entry.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ingest.CodeOf(e.ThumbnailReason) != ingest.ReasonStoreFailed {
			t.Errorf("after the late try: %q, want STORE_FAILED", e.ThumbnailReason)
		}
	})
}

// TestNoThumbnailerSaysSo: a server that takes no pictures says so on
// every entry with a camera.
func TestNoThumbnailerSaysSo(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := viewer.System(t.Context())
		acc, err := d.Client.Account.Create().SetName("なし").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fx := testenv.NewFixture(t, d.Client, acc.ID)
		in := ingest.New(d.Client, d.Dialect, pubsub.NewMemory(), testenv.Logger())
		r := in.Ingest(ctx, acc.ID, sale(fx.TerminalIDs[0], "n1", time.Now()))
		if r.Err != nil || ingest.CodeOf(r.Entry.ThumbnailReason) != ingest.ReasonNoCapture {
			t.Fatalf("reason %q (%v), want NO_CAPTURE", r.Entry.ThumbnailReason, r.Err)
		}
	})
}

// TestReasonCodes: every code has a sentence, and a stored reason reads
// back as its code and sentence; free text is UNKNOWN, never lost.
func TestReasonCodes(t *testing.T) {
	for _, c := range ingest.ReasonCodes {
		r := ingest.Reason(c, "")
		if ingest.CodeOf(r) != c || ingest.ReasonText(r) == "" || strings.Contains(ingest.ReasonText(r), string(c)) {
			t.Errorf("%s: %q reads as %s / %q", c, r, ingest.CodeOf(r), ingest.ReasonText(r))
		}
	}
	if ingest.CodeOf("カメラが壊れた") != ingest.ReasonUnknown || ingest.ReasonText("カメラが壊れた") != "カメラが壊れた" {
		t.Error("free text")
	}
	if ingest.CodeOf("") != "" {
		t.Error("empty")
	}
}

func skewCount(t *testing.T, source string) uint64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "regicam_thumbnail_skew_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// TestSettlePending: an entry left PENDING by a server that stopped before
// its late capture ended gets its picture (or a final reason) from
// SettlePending; one still within its own late capture, and one of a
// CLOUD camera (the cloud's sweeper's), are left alone.
func TestSettlePending(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := viewer.System(t.Context())
		acc, err := d.Client.Account.Create().SetName("保留").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fx := testenv.NewFixture(t, d.Client, acc.ID)
		cloud := fx.CameraIDs[1] // register 2
		if err := d.Client.Camera.UpdateOneID(cloud).SetSourceKind(entcamera.SourceKindCLOUD).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		good := tinyJPEG(t)
		frame := func(_ context.Context, at time.Time) ([]byte, time.Time, error) { return good, at, nil }
		store, err := thumbs.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		// The stopped server: its entries were committed PENDING.
		stopped := ingest.New(d.Client, d.Dialect, pubsub.NewMemory(), testenv.Logger())
		at := time.Now().Add(-time.Minute)
		var ids []pulid.ID
		for i, term := range []pulid.ID{fx.TerminalIDs[0], fx.TerminalIDs[2], fx.TerminalIDs[1]} {
			r := stopped.Ingest(ctx, acc.ID, sale(term, fmt.Sprintf("p%d", i), at))
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if err := d.Client.JournalEntry.UpdateOneID(r.Entry.ID).SetThumbnailReason(thumbs.PendingReason).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.Entry.ID)
		}
		cutoff := time.Now()
		time.Sleep(10 * time.Millisecond)
		recent := stopped.Ingest(ctx, acc.ID, sale(fx.TerminalIDs[1], "recent", at))
		if recent.Err != nil {
			t.Fatal(recent.Err)
		}
		if err := d.Client.JournalEntry.UpdateOneID(recent.Entry.ID).SetThumbnailReason(thumbs.PendingReason).Exec(ctx); err != nil {
			t.Fatal(err)
		}

		in := ingest.New(d.Client, d.Dialect, pubsub.NewMemory(), testenv.Logger())
		in.Thumbnails = thumbs.New(router{by: map[pulid.ID]answer{fx.CameraIDs[0]: frame, cloud: frame}}, store, testenv.Logger(), thumbs.Options{})
		n, err := in.SettlePending(ctx, cutoff, 100)
		if err != nil || n != 2 {
			t.Fatalf("SettlePending = %d, %v; want the 2 entries of recorded cameras", n, err)
		}
		for i, want := range []bool{true, false, true} {
			has, err := d.Client.Thumbnail.Query().Where(thumbnail.EntryID(ids[i])).Exist(ctx)
			if err != nil || has != want {
				t.Errorf("entry %d: thumbnail %v (%v), want %v", i, has, err, want)
			}
		}
		e, err := d.Client.JournalEntry.Get(ctx, recent.Entry.ID)
		if err != nil || ingest.CodeOf(e.ThumbnailReason) != ingest.ReasonPending {
			t.Errorf("an entry within its own late capture: reason %q (%v), want it left PENDING", e.ThumbnailReason, err)
		}
	})
}
