package playback_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// A new receipt of a JPEG-recorded camera has its clip encoded once its
// lead-out is on disk: the click is answered from that build (no encode
// while the owner waits), the frame at the mark is still the receipt's
// second, and the segment growing on past the clip keeps the build. An
// H.264 camera's receipt (a remux of milliseconds) and a receipt of long
// ago (a backfill) are not prewarmed.
func TestPrewarmedClip(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		r := newRig(t, b, playback.Options{})
		jpegCam, h264Cam := r.fx.CameraIDs[0], r.fx.CameraIDs[1]
		r.setKind(t, h264Cam, entcamera.SourceKindRTSP)
		t0 := time.Now().UTC().Add(-2 * time.Minute).Truncate(time.Second)
		seg := r.jpegSegment(t, jpegCam, t0, 60*time.Second)
		// Still being written, already past the clip's end.
		if err := r.app.DB.Client.RecordingSegment.UpdateOne(seg).SetState(recordingsegment.StateWRITING).Exec(sys()); err != nil {
			t.Fatal(err)
		}
		r.h264Segment(t, h264Cam, t0, 60*time.Second)

		w := r.player.NewPrewarmer()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go w.Run(ctx)

		mark := t0.Add(25*time.Second + 300*time.Millisecond)
		e := ingestAt(t, r, r.fx.TerminalIDs[0], "0101", mark)
		w.Observe(ctx, e)
		waitFor(t, "the clip prewarmed", func() bool { return w.Warmed.Load() == 1 })
		built := r.player.Built()

		resp, body := get(t, r.c, "/entries/"+string(e.ID)+"/clip")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp4" {
			t.Fatalf("clip: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if n := r.player.Built(); n != built {
			t.Errorf("the click made %d new builds; want the prewarmed one", n-built)
		}
		start, _ := time.Parse(time.RFC3339Nano, resp.Header.Get(playback.HeaderStart))
		within(t, "the prewarmed clip's frame at the mark", frameTime(t, body, mark.Sub(start)), mark, time.Second)

		// The recorder goes on writing after the clip: the same build.
		if err := r.app.DB.Client.RecordingSegment.UpdateOne(seg).SetEndAt(seg.EndAt.Add(5 * time.Second)).
			SetBytes(seg.Bytes + 4096).Exec(sys()); err != nil {
			t.Fatal(err)
		}
		if resp, _ := get(t, r.c, "/entries/"+string(e.ID)+"/clip"); resp.StatusCode != http.StatusOK || r.player.Built() != built {
			t.Errorf("after the segment grew: %d, %d new builds", resp.StatusCode, r.player.Built()-built)
		}

		// Not prewarmed: an H.264 camera's receipt, and one of long ago.
		w.Observe(ctx, ingestAt(t, r, r.fx.TerminalIDs[2], "0102", mark))
		w.Observe(ctx, ingestAt(t, r, r.fx.TerminalIDs[0], "0103", time.Now().Add(-time.Hour)))
		waitFor(t, "both given up", func() bool { return w.Skipped.Load() == 2 })
		if w.Warmed.Load() != 1 || r.player.Built() != built {
			t.Errorf("warmed %d, %d new builds; want nothing more built", w.Warmed.Load(), r.player.Built()-built)
		}
	})
}

// ingestAt rings up a sale at a register and returns the entry as ingest
// hands it to its observers.
func ingestAt(t *testing.T, r *rig, terminal pulid.ID, no string, at time.Time) *ent.JournalEntry {
	t.Helper()
	res := r.app.Ingester.Ingest(viewer.System(context.Background()), r.app.AccountID, ingest.Receipt{
		TerminalID: terminal, ExternalID: "pw-" + no, Kind: journalentry.KindPAYMENT, OccurredAt: at,
		ReceiptNo: no, Total: 1500,
	})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	return res.Entry
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	until := time.Now().Add(90 * time.Second)
	for !ok() {
		if time.Now().After(until) {
			t.Fatalf("%s: not within 90 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
