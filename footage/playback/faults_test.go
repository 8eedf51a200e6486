package playback_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// Bad spans are refused naming the field; a span with nothing recorded
// says so with the nearest recorded spans before and after it.
func TestPlaybackBadInput(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		r := newRig(t, b, playback.Options{})
		cam := r.fx.CameraIDs[1]
		r.setKind(t, cam, entcamera.SourceKindSIMULATED)
		t0 := base()
		r.jpegSegment(t, cam, t0, 4*time.Second)
		r.jpegSegment(t, cam, t0.Add(2*time.Minute), 4*time.Second)

		for _, tc := range []struct {
			name, query, field, reason string
			status                     int
		}{
			{"from after to", "?from=" + rfc(t0.Add(time.Minute)) + "&to=" + rfc(t0), "to", "RANGE_REVERSED", 400},
			{"empty span", "?from=" + rfc(t0) + "&to=" + rfc(t0), "to", "RANGE_REVERSED", 400},
			{"over the cap", "?from=" + rfc(t0) + "&to=" + rfc(t0.Add(time.Hour+time.Second)), "to", "RANGE_TOO_LONG", 400},
			{"not RFC 3339", "?from=yesterday&to=" + rfc(t0), "from", "INVALID_FORMAT", 400},
			{"no to", "?from=" + rfc(t0), "to", "REQUIRED", 400},
		} {
			resp, body := get(t, r.c, "/cameras/"+string(cam)+"/playback"+tc.query)
			e := decodeError(t, body).Errors[0]
			if resp.StatusCode != tc.status || e.Extensions.Field != tc.field || e.Extensions.Reason != tc.reason {
				t.Errorf("%s: %d %s/%s %q", tc.name, resp.StatusCode, e.Extensions.Field, e.Extensions.Reason, e.Message)
			}
			if tc.reason == "RANGE_TOO_LONG" && !strings.Contains(e.Message, "1時間") {
				t.Errorf("cap message %q", e.Message)
			}
		}

		// Between the two recordings: nothing, and where there is.
		resp, body := get(t, r.c, playbackPath(cam, t0.Add(30*time.Second), t0.Add(90*time.Second), ""))
		e := decodeError(t, body).Errors[0]
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(e.Message, "この時間の録画はありません") {
			t.Fatalf("no recording: %d %q", resp.StatusCode, e.Message)
		}
		if n := e.Extensions.Nearest; len(n) != 2 || !strings.HasPrefix(n[0].From, t0.Format("2006-01-02T15:04:05")) ||
			!strings.HasPrefix(n[1].From, t0.Add(2*time.Minute).Format("2006-01-02T15:04:05")) {
			t.Errorf("nearest spans %+v", n)
		}
	})
}

// A corrupt or truncated segment on disk is skipped and named in the
// answer; a span made only of broken files is "no recording", never a 500.
func TestPlaybackCorruptSegments(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		r := newRig(t, b, playback.Options{})
		jcam, hcam := r.fx.CameraIDs[1], r.fx.CameraIDs[0]
		r.setKind(t, jcam, entcamera.SourceKindSIMULATED)
		r.setKind(t, hcam, entcamera.SourceKindRTSP)
		t0 := base()

		r.jpegSegment(t, jcam, t0, 5*time.Second)
		bad := r.jpegSegment(t, jcam, t0.Add(5*time.Second), 5*time.Second)
		r.jpegSegment(t, jcam, t0.Add(10*time.Second), 5*time.Second)
		// Bytes flipped inside the second frame: its checksum fails.
		path := filepath.Join(r.dir, filepath.FromSlash(bad.Path))
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		if _, err := f.WriteAt([]byte("garbage!"), st.Size()/5); err != nil {
			t.Fatal(err)
		}
		f.Close()
		resp, body := get(t, r.c, playbackPath(jcam, t0, t0.Add(15*time.Second), "&download=1"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if sk := resp.Header.Get(playback.HeaderSkipped); !strings.Contains(sk, string(bad.ID)+": corrupt") {
			t.Errorf("%s: %q", playback.HeaderSkipped, sk)
		}

		// An H.264 segment cut in the middle plays up to the cut.
		r.h264Segment(t, hcam, t0, 10*time.Second)
		cut := r.h264Segment(t, hcam, t0.Add(10*time.Second), 10*time.Second)
		path = filepath.Join(r.dir, filepath.FromSlash(cut.Path))
		st2, _ := os.Stat(path)
		if err := os.Truncate(path, st2.Size()*2/3); err != nil {
			t.Fatal(err)
		}
		from := t0.Add(5 * time.Second)
		resp, body = get(t, r.c, playbackPath(hcam, from, t0.Add(20*time.Second), ""))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("truncated H.264: %d %s", resp.StatusCode, body)
		}
		if sk := resp.Header.Get(playback.HeaderSkipped); !strings.Contains(sk, string(cut.ID)+": truncated") {
			t.Errorf("%s: %q", playback.HeaderSkipped, sk)
		}
		start, _ := time.Parse(time.RFC3339Nano, resp.Header.Get(playback.HeaderStart))
		within(t, "frame after the boundary", frameTime(t, body, t0.Add(11*time.Second).Sub(start)), t0.Add(11*time.Second), time.Second)

		// Nothing but garbage: no recording, said, and the file named.
		t1 := t0.Add(5 * time.Minute)
		junk, rel := r.segmentFile(t, hcam, ".mp4")
		_, _ = junk.WriteString(strings.Repeat("not an mp4 ", 200))
		junk.Close()
		only := r.row(t, hcam, "FMP4_H264", rel, t1, t1.Add(10*time.Second), 2200, 50)
		resp, body = get(t, r.c, playbackPath(hcam, t1, t1.Add(10*time.Second), ""))
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "この時間の録画はありません") {
			t.Errorf("garbage only: %d %s", resp.StatusCode, body)
		}
		if sk := resp.Header.Get(playback.HeaderSkipped); !strings.Contains(sk, string(only.ID)) {
			t.Errorf("garbage only, %s: %q", playback.HeaderSkipped, sk)
		}
	})
}

// receipt ingests a sale on terminal (linked to camera 0 for terminals 0
// and 1 in the fixture) at at.
func receipt(t testing.TB, r *rig, terminal pulid.ID, no string, at time.Time) *ingestResult {
	t.Helper()
	res := r.app.Ingester.Ingest(viewer.System(context.Background()), r.app.AccountID, ingest.Receipt{
		TerminalID: terminal, ExternalID: "x-" + no, Kind: journalentry.KindPAYMENT, OccurredAt: at,
		ReceiptNo: no, Total: 1200,
	})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	return &ingestResult{ID: res.Entry.ID, CameraID: res.Entry.CameraID}
}

type ingestResult struct {
	ID       pulid.ID
	CameraID *pulid.ID
}

// A receipt's clip: the account's lead-in/out around its second (10 s and
// 20 s by default, then as updateRecordingSettings sets them), played,
// downloaded under the receipt's name; GraphQL says the same span and
// URLs. Another account's ids are 404; an API key needs journal:read.
func TestClip(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		r := newRig(t, b, playback.Options{})
		cam := r.fx.CameraIDs[0]
		r.setKind(t, cam, entcamera.SourceKindRTSP)
		t0 := base()
		r.h264Segment(t, cam, t0, 60*time.Second)
		mark := t0.Add(30*time.Second + 400*time.Millisecond)
		e := receipt(t, r, r.fx.TerminalIDs[0], "0042", mark)
		if e.CameraID == nil || *e.CameraID != cam {
			t.Fatalf("entry camera %v", e.CameraID)
		}

		const q = `query($id: ID!) { node(id: $id) { ... on JournalEntry { clip { from to mark url downloadURL contentType unavailableReason } } } }`
		var got struct {
			Node struct {
				Clip struct {
					From, To, Mark   time.Time
					URL, DownloadURL *string
					ContentType      *string
					Unavailable      *string `json:"unavailableReason"`
				}
			}
		}
		r.c.MustQuery(t, q, map[string]any{"id": e.ID}, &got)
		c := got.Node.Clip
		if !c.Mark.Equal(mark) || !c.From.Equal(mark.Add(-10*time.Second)) || !c.To.Equal(mark.Add(20*time.Second)) {
			t.Errorf("clip %v–%v mark %v, want 10 s / 20 s around %v", c.From, c.To, c.Mark, mark)
		}
		if c.URL == nil || *c.URL != "/entries/"+string(e.ID)+"/clip" || c.DownloadURL == nil || *c.DownloadURL != *c.URL+"?download=1" ||
			c.ContentType == nil || *c.ContentType != "video/mp4" || c.Unavailable != nil {
			t.Errorf("clip urls %v %v %v %v", c.URL, c.DownloadURL, c.ContentType, c.Unavailable)
		}

		resp, body := get(t, r.c, *c.URL)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("clip: %d %s", resp.StatusCode, body)
		}
		start, _ := time.Parse(time.RFC3339Nano, resp.Header.Get(playback.HeaderStart))
		hmark, _ := time.Parse(time.RFC3339Nano, resp.Header.Get("X-Recording-Mark"))
		if !hmark.Equal(mark) || start.After(mark.Add(-10*time.Second)) {
			t.Errorf("clip headers: mark %v start %v", hmark, start)
		}
		within(t, "the receipt's second", frameTime(t, body, mark.Sub(start)), mark, time.Second)

		resp, _ = get(t, r.c, *c.DownloadURL)
		want := "receipt-0042-" + mark.UTC().Format("20060102-150405") + ".mp4"
		if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, want) {
			t.Errorf("Content-Disposition %q, want %s", cd, want)
		}

		// Per account: 5 s before, 7 s after; bad values name their field.
		const upd = `mutation($in: UpdateRecordingSettingsInput!) { updateRecordingSettings(input: $in) { clipLeadInSeconds clipLeadOutSeconds recordingEnabled } }`
		res := r.c.Query(t, upd, map[string]any{"in": map[string]any{"clipLeadInSeconds": 301}})
		if len(res.Errors) != 1 || res.Errors[0].Field() != "input.clipLeadInSeconds" || !strings.Contains(res.Errors[0].Message, "0〜300") {
			t.Errorf("301 s: %+v", res.Errors)
		}
		res = r.c.Query(t, upd, map[string]any{"in": map[string]any{"clipLeadOutSeconds": -1}})
		if len(res.Errors) != 1 || res.Errors[0].Field() != "input.clipLeadOutSeconds" {
			t.Errorf("-1 s: %+v", res.Errors)
		}
		r.c.MustQuery(t, upd, map[string]any{"in": map[string]any{"clipLeadInSeconds": 5, "clipLeadOutSeconds": 7}}, nil)
		r.c.MustQuery(t, q, map[string]any{"id": e.ID}, &got)
		if c := got.Node.Clip; !c.From.Equal(mark.Add(-5*time.Second)) || !c.To.Equal(mark.Add(7*time.Second)) {
			t.Errorf("after the update: %v–%v", c.From, c.To)
		}
		n, err := r.app.DB.Client.AuditLog.Query().Count(sys())
		if err != nil {
			t.Fatal(err)
		}
		var rs struct {
			RecordingSettings struct{ ClipLeadInSeconds, ClipLeadOutSeconds int }
		}
		r.c.MustQuery(t, `{ recordingSettings { clipLeadInSeconds clipLeadOutSeconds } }`, nil, &rs)
		if rs.RecordingSettings.ClipLeadInSeconds != 5 || rs.RecordingSettings.ClipLeadOutSeconds != 7 || n == 0 {
			t.Errorf("settings %+v, %d audit rows", rs, n)
		}

		// A receipt of a register no camera watches.
		term, err := r.app.DB.Client.Terminal.Create().SetAccountID(r.app.AccountID).
			SetConnectionID(mustConn(t, r)).SetShopID(r.fx.ShopID).SetExternalID("99").SetName("レジ99").Save(sys())
		if err != nil {
			t.Fatal(err)
		}
		lone := receipt(t, r, term.ID, "0099", mark)
		r.c.MustQuery(t, q, map[string]any{"id": lone.ID}, &got)
		if c := got.Node.Clip; c.URL != nil || c.Unavailable == nil || !strings.Contains(*c.Unavailable, "カメラ") {
			t.Errorf("clip without camera: %+v", c)
		}
		resp, body = get(t, r.c, "/entries/"+string(lone.ID)+"/clip")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("HTTP clip without camera: %d %s", resp.StatusCode, body)
		}

		// Tenancy and scopes.
		_, other := r.c.NewAccount(t, "別の会社")
		for _, path := range []string{"/entries/" + string(e.ID) + "/clip", playbackPath(cam, t0, t0.Add(time.Minute), "")} {
			if resp, body := get(t, other, path); resp.StatusCode != http.StatusNotFound {
				t.Errorf("another account, %s: %d %s", path, resp.StatusCode, body)
			}
		}
		_, reader := r.c.NewAPIKey(t, r.app.AccountID, viewer.ScopeJournalRead)
		if resp, body := get(t, reader, *c.URL); resp.StatusCode != http.StatusOK {
			t.Errorf("API key with journal:read: %d %s", resp.StatusCode, body)
		}
		_, writer := r.c.NewAPIKey(t, r.app.AccountID, viewer.ScopeLinksWrite)
		if resp, _ := get(t, writer, *c.URL); resp.StatusCode != http.StatusForbidden {
			t.Errorf("API key without journal:read: %d", resp.StatusCode)
		}
		if resp, _ := get(t, r.c.As(testenv.Credential{}), *c.URL); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("anonymous: %d", resp.StatusCode)
		}
	})
}

func mustConn(t testing.TB, r *rig) pulid.ID {
	t.Helper()
	id, err := r.app.DB.Client.PosConnection.Query().FirstID(sys())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Camera.recordings of a camera regicam records is LOCAL, its spans and
// gaps from the index; recordingStatus reports the disk it uses. A JPEG
// camera on a server without ffmpeg offers its clip as a download only.
func TestRecordingsAndStatus(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		off := false
		r := newRig(t, b, playback.Options{FFmpeg: &off})
		cam := r.fx.CameraIDs[1]
		r.setKind(t, cam, entcamera.SourceKindSIMULATED)
		t0 := base()
		r.jpegSegment(t, cam, t0, 10*time.Second)
		r.jpegSegment(t, cam, t0.Add(time.Minute), 10*time.Second)
		var got struct {
			Node struct {
				Recordings struct {
					Source      string
					Spans, Gaps []struct{ From, To time.Time }
				}
				RecordingStatus struct {
					State          string
					Bytes          float64
					Oldest, Newest *time.Time
				}
			}
		}
		r.c.MustQuery(t, `query($id: ID!, $from: Time!, $to: Time!) { node(id: $id) { ... on Camera {
			recordings(from: $from, to: $to) { source spans { from to } gaps { from to } }
			recordingStatus { state bytes oldest newest } } } }`,
			map[string]any{"id": cam, "from": t0.Add(-time.Minute), "to": t0.Add(2 * time.Minute)}, &got)
		rec := got.Node.Recordings
		if rec.Source != "LOCAL" || len(rec.Spans) != 2 || len(rec.Gaps) != 3 || !rec.Spans[0].From.Equal(t0) {
			t.Errorf("recordings %+v", rec)
		}
		st := got.Node.RecordingStatus
		if st.Bytes <= 0 || st.Oldest == nil || !st.Oldest.Equal(t0) {
			t.Errorf("status %+v", st)
		}

		e := receipt(t, r, r.fx.TerminalIDs[2], "0007", t0.Add(5*time.Second))
		var clip struct {
			Node struct {
				Clip struct {
					URL, DownloadURL, UnavailableReason *string
				}
			}
		}
		r.c.MustQuery(t, `query($id: ID!) { node(id: $id) { ... on JournalEntry { clip { url downloadURL unavailableReason } } } }`,
			map[string]any{"id": e.ID}, &clip)
		c := clip.Node.Clip
		if c.URL != nil || c.DownloadURL == nil || c.UnavailableReason == nil || !strings.Contains(*c.UnavailableReason, "ffmpeg") {
			t.Errorf("JPEG clip without ffmpeg: %+v", c)
		}
		// Nothing recorded around this one.
		e2 := receipt(t, r, r.fx.TerminalIDs[2], "0008", t0.Add(-30*time.Minute))
		r.c.MustQuery(t, `query($id: ID!) { node(id: $id) { ... on JournalEntry { clip { url downloadURL unavailableReason } } } }`,
			map[string]any{"id": e2.ID}, &clip)
		if c := clip.Node.Clip; c.URL != nil || c.UnavailableReason == nil || *c.UnavailableReason != playback.NoRecordingMessage {
			t.Errorf("clip with nothing recorded: %+v", c)
		}
	})
}

// An RTSP camera's thumbnail is decoded from its recording with ffmpeg;
// where there is no ffmpeg the reason says so; other cameras go to Next.
func TestFramesRTSP(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		r := newRig(t, b, playback.Options{})
		cam := r.fx.CameraIDs[0]
		r.setKind(t, cam, entcamera.SourceKindRTSP)
		t0 := base()
		r.h264Segment(t, cam, t0, 20*time.Second)
		at := t0.Add(13*time.Second + 300*time.Millisecond)
		jpeg, taken, err := r.player.Frames(nil).FrameAt(context.Background(), cam, at)
		if err != nil {
			t.Fatal(err)
		}
		if !taken.Equal(at) {
			t.Errorf("captured at %v", taken)
		}
		shown, err := camera.DecodeTime(jpeg)
		if err != nil {
			t.Fatal(err)
		}
		within(t, "thumbnail", shown, at, time.Second)

		// A moment long past with no recording: final, said.
		_, _, err = r.player.Frames(nil).FrameAt(context.Background(), cam, t0.Add(-time.Hour))
		var nf interface{ NoFrameReason() string }
		if !errors.As(err, &nf) || !strings.HasPrefix(nf.NoFrameReason(), "NO_RECORDING") {
			t.Errorf("no recording: %v", err)
		}
		// Another kind of camera: Next's answer.
		_, _, err = r.player.Frames(nil).FrameAt(context.Background(), r.fx.CameraIDs[1], at)
		if !errors.Is(err, thumbs.ErrNotRecorded) {
			t.Errorf("other camera: %v", err)
		}

		off := false
		r2 := newRig(t, b, playback.Options{FFmpeg: &off})
		r2.setKind(t, r2.fx.CameraIDs[0], entcamera.SourceKindRTSP)
		_, _, err = r2.player.Frames(nil).FrameAt(context.Background(), r2.fx.CameraIDs[0], at)
		if !errors.As(err, &nf) || !strings.Contains(nf.NoFrameReason(), "ffmpeg") || !strings.Contains(nf.NoFrameReason(), "RTSP") {
			t.Errorf("without ffmpeg: %v", err)
		}
	})
}
