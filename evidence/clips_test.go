package evidence_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/evidence"
	"github.com/regicam/regicam/footage"
	"github.com/regicam/regicam/footage/ffmpeg"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/footage/segment"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// recordJPEG writes a JPEG_SEQ segment of the simulated camera's pictures
// of [start, start+d) at 5 fps under dir, and its row, as footage's
// recorder would (the pattern of footage/playback's fixtures).
func recordJPEG(t *testing.T, d *db.DB, dir string, e *ent.JournalEntry, start time.Time, dur time.Duration) {
	t.Helper()
	rel := string(e.AccountID) + "/" + string(*e.CameraID) + "/" + string(pulid.MustNew("sg")) + ".jseq"
	full := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(full)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := segment.NewJPEGWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	n := 0
	for at := start; at.Before(start.Add(dur)); at = at.Add(200 * time.Millisecond) {
		jpeg, err := camera.RenderAt(camera.SimulatedConfig{Name: "fixture"}, at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteFrame(at, jpeg); err != nil {
			t.Fatal(err)
		}
		last, n = at, n+1
	}
	if err := d.Client.RecordingSegment.Create().SetAccountID(e.AccountID).SetCameraID(*e.CameraID).
		SetFormat(recordingsegment.FormatJPEG_SEQ).SetPath(rel).SetStartAt(start).SetEndAt(last).
		SetBytes(w.Bytes()).SetFrames(n).SetState(recordingsegment.StateCOMPLETE).
		Exec(viewer.System(t.Context())); err != nil {
		t.Fatal(err)
	}
}

// TestClips: a receipt whose span was recorded has its clip in the
// bundle, an MP4 whose hash the manifest gives; the others say why not.
// Without ffmpeg a JPEG camera's clip is NOT_ENCODABLE, and past the
// bundle's bound it is OVER_LIMIT.
func TestClips(t *testing.T) {
	_, haveFFmpeg := ffmpeg.Path()
	if !haveFFmpeg && os.Getenv("CI") == "true" {
		t.Fatal("ffmpeg is not installed (CI installs it: .ci/run)")
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx, caseID, store := seedCase(t, d, 3)
		dir := t.TempDir()
		svc := footage.New(d.Client, nil, footage.Config{Dir: dir}, testenv.Logger())
		b, err := evidence.Load(ctx, d.Client, string(caseID))
		if err != nil {
			t.Fatal(err)
		}
		// Receipts are 37 s apart, clips 10 s before to 20 s after: a
		// recording around the middle one's mark reaches no other clip.
		var rec *ent.JournalEntry
		for _, e := range b.Entries {
			if e.ReceiptNo == "0001" {
				rec = e
			}
		}
		if rec == nil || rec.CameraID == nil {
			t.Fatalf("seeded receipt 0001 without a camera: %+v", rec)
		}
		mark := playback.Mark(rec)
		recordJPEG(t, d, dir, rec, mark.Add(-12*time.Second), 35*time.Second)

		write := func(t *testing.T, opt playback.Options, limit int64) (map[string][]byte, map[string]evidence.MediaInfo) {
			t.Helper()
			opt.TempDir = t.TempDir()
			player := playback.New(d.Client, svc, testenv.Logger(), opt)
			t.Cleanup(player.Close)
			b, err := evidence.Load(ctx, d.Client, string(caseID))
			if err != nil {
				t.Fatal(err)
			}
			b.Clips, b.MaxClipBytes = player, limit
			var buf bytes.Buffer
			if _, err := b.Write(ctx, d.Client, &buf, store.Get, evidence.Downloader{Name: "店長", Kind: "USER", At: time.Now()}); err != nil {
				t.Fatal(err)
			}
			files, m := unzip(t, buf.Bytes())
			clips := map[string]evidence.MediaInfo{}
			for _, e := range m.Entries {
				clips[e.ReceiptNo] = e.Clip
			}
			for _, no := range []string{"0000", "0002"} {
				if c := clips[no]; c.Status != evidence.ClipNotRecorded || c.File != "" || c.From == "" {
					t.Errorf("receipt %s, nothing recorded: %+v", no, c)
				}
			}
			return files, clips
		}

		t.Run("included", func(t *testing.T) {
			if !haveFFmpeg {
				t.Skip("ffmpeg is not installed")
			}
			files, clips := write(t, playback.Options{}, 0)
			c := clips["0001"]
			if c.Status != evidence.ClipIncluded || c.File != evidence.ClipDir+"0001.mp4" {
				t.Fatalf("recorded receipt: %+v", c)
			}
			if mp4 := files[c.File]; len(mp4) < 12 || string(mp4[4:8]) != "ftyp" {
				t.Errorf("%s is not an MP4 (%d bytes)", c.File, len(mp4))
			}
			if page := string(files[evidence.ReceiptsHTML]); !strings.Contains(page, c.File) {
				t.Errorf("receipts.html does not name the clip")
			}
		})
		t.Run("no ffmpeg", func(t *testing.T) {
			off := false
			files, clips := write(t, playback.Options{FFmpeg: &off}, 0)
			if c := clips["0001"]; c.Status != evidence.ClipNotEncodable || c.File != "" || !strings.Contains(c.Reason, "ffmpeg") {
				t.Errorf("JPEG camera without ffmpeg: %+v", c)
			}
			for name := range files {
				if strings.HasPrefix(name, evidence.ClipDir) {
					t.Errorf("%s in the bundle", name)
				}
			}
		})
		t.Run("over the bound", func(t *testing.T) {
			if !haveFFmpeg {
				t.Skip("ffmpeg is not installed")
			}
			_, clips := write(t, playback.Options{}, 1)
			if c := clips["0001"]; c.Status != evidence.ClipOverLimit || c.File != "" {
				t.Errorf("clip past the bundle's bound: %+v", c)
			}
		})
	})
}
