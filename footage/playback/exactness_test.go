package playback_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/pkg/codecs/h264"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/footage"
	"github.com/regicam/regicam/footage/ffmpeg"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/footage/rtspcam"
	"github.com/regicam/regicam/footage/segment"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/server"
	"github.com/regicam/regicam/viewer"
)

// TestClipExactness measures issue 15's time exactness: the frame the
// player shows at a receipt's mark is within ±1 s of the receipt's second
// (read back from the frame's drawn clock) for ≥ 99% of receipts, with
// the POS data 0 s, 30 s and 5 min late, for the simulated JPEG camera
// and for an ffmpeg RTSP H.264 camera, on SQLite and PostgreSQL.
//
// Everything a receipt goes through is the product's: a regicam app
// (testenv.StartWith) that records its cameras to disk (footage, Record
// on: camera/fleet taps the simulated camera at 5 fps, the RTSP recorder
// reads rtspcam's H.264 untranscoded, one-minute segments); a POS partner
// posts each receipt with ingestJournal (an API key with journal:write)
// N seconds after the moment it happened, occurredAt = that moment; then,
// at once, JournalEntry.clip is asked and its url fetched, as the
// dashboard does, and the picture at mark − X-Recording-Start of the
// served MP4 is decoded with ffmpeg (what the player seeks to) and its
// block code read (camera.DecodeTime). skew = shown − mark.
//
// The 0 s and 30 s receipts happen during the run and are played from
// what the recorder is writing. Recording is real-time only (no clock can
// be injected into the recorders or the RTSP camera), so the 5 min
// receipts are of moments before the app started: their footage is put
// on disk and in the index beforehand the way the recorder leaves it —
// one-minute COMPLETE segments written with package segment's writers
// (the recorder's own), the JPEG camera's frames drawn by the simulated
// camera for each past moment at 5 fps, the H.264 camera's encoded by
// ffmpeg as rtspcam encodes them (10 fps, a keyframe every second, no
// B-frames). The table says which path each row took.
//
// The clip is asked the moment the ingest answers (through the partner's
// key's server.PlaybacksPerCredential playbacks at once); the test's own
// decode of it waits for one of two slots. "clip answer" is the product's time from the clip's GET to its
// last byte (builds queue in the Player, two at a time).
//
// REGICAM_EXACTNESS_RECEIPTS=N measures N receipts per camera and
// lateness, asserting ≥ 99% within ±1 s (run with -v to see the table);
// without it the test is skipped;
// REGICAM_EXACTNESS_KEEP=dir keeps the clips that could not be decoded.
//
//	REGICAM_EXACTNESS_RECEIPTS=100 go test ./footage/playback -run TestClipExactness -v -timeout 20m
func TestClipExactness(t *testing.T) {
	// A measurement, not a check of every commit: it records minutes of
	// two cameras and encodes and decodes hundreds of clips, which under
	// the race detector on a 2-core CI box took past go test's limits.
	// The e2e run (frontend/e2e/recordings.mjs) checks the frame at the
	// mark of both cameras on every run.
	n, err := strconv.Atoi(os.Getenv("REGICAM_EXACTNESS_RECEIPTS"))
	if err != nil || n <= 0 {
		t.Skip("a measurement: REGICAM_EXACTNESS_RECEIPTS=20 go test ./footage/playback -run TestClipExactness -v -timeout 25m")
	}
	needFFmpeg(t)
	var mu sync.Mutex
	var table []string
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		cells := measureExactness(t, b, n)
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cells {
			table = append(table, c.row(b.Name))
			c.check(t)
		}
	})
	t.Logf("time exactness, %d receipts per cell (REGICAM_EXACTNESS_RECEIPTS):\n%s\n%s\n%s",
		n, exHeader, strings.Repeat("-", len(exHeader)), strings.Join(table, "\n"))
}

// The cells of the measure.
const (
	exJPEG = "simulated JPEG camera"
	exRTSP = "ffmpeg RTSP H.264 camera"
)

var exLateness = []time.Duration{0, 30 * time.Second, 5 * time.Minute}

// One receipt's measure.
type exReceipt struct {
	cam    string
	late   time.Duration
	moment time.Time // occurredAt
	// ingestedAt − moment, as it happened (the scheduler's own delay).
	actualLate time.Duration
	fetchWait  time.Duration // from the ingest's answer to the clip's GET
	skew       time.Duration // shown − mark
	took       time.Duration // the clip's answer (asked → last byte)
	start      time.Time     // X-Recording-Start
	err        error
}

type exCell struct {
	cam      string
	late     time.Duration
	path     string
	stale    time.Duration // the RTSP camera's own worst lag (rtspcam.MaxStaleness)
	receipts []exReceipt
}

const exHeader = "backend  | camera                   | late  | receipts | within ±1 s | max |skew| | p50 |skew| | footage path                         | failed | p50 clip answer"

func (c exCell) stats() (within int, maxSkew, p50 time.Duration, failed int, wait time.Duration) {
	var abs, waits []time.Duration
	for _, r := range c.receipts {
		if r.err != nil {
			failed++
			continue
		}
		a := r.skew.Abs()
		abs = append(abs, a)
		waits = append(waits, r.took)
		if a <= time.Second {
			within++
		}
	}
	slices.Sort(abs)
	slices.Sort(waits)
	if len(abs) > 0 {
		maxSkew, p50 = abs[len(abs)-1], abs[(len(abs)-1)/2]
		wait = waits[(len(waits)-1)/2]
	}
	return
}

func (c exCell) row(backend string) string {
	within, maxSkew, p50, failed, wait := c.stats()
	pct := 0.0
	if len(c.receipts) > 0 {
		pct = 100 * float64(within) / float64(len(c.receipts))
	}
	return fmt.Sprintf("%-8s | %-24s | %-5s | %8d | %10.1f%% | %10s | %10s | %-36s | %6d | %s",
		backend, c.cam, lateName(c.late), len(c.receipts), pct, ms(maxSkew), ms(p50), c.path, failed, ms(wait))
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func lateName(d time.Duration) string {
	switch {
	case d == 0:
		return "0 s"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	return fmt.Sprintf("%d min", int(d.Minutes()))
}

// check asserts ≥ 99% within ±1 s and names every receipt outside it.
func (c exCell) check(t *testing.T) {
	t.Helper()
	within, _, _, _, _ := c.stats()
	for _, r := range c.receipts {
		switch {
		case r.err != nil:
			t.Logf("%s, %s late: receipt of %s: %v", c.cam, lateName(c.late), r.moment.Format(playback.TimeLayout), r.err)
		case r.skew.Abs() > time.Second:
			t.Logf("%s, %s late: receipt of %s (ingested %v after it, clip asked %v later, answered in %v, video from %s): the frame at the mark is %v off (camera's own worst lag %v)",
				c.cam, lateName(c.late), r.moment.Format(playback.TimeLayout), r.actualLate.Round(time.Millisecond),
				r.fetchWait.Round(time.Millisecond), r.took.Round(time.Millisecond), r.start.Format(playback.TimeLayout), r.skew, c.stale)
		}
	}
	if len(c.receipts) == 0 || within*100 < 99*len(c.receipts) {
		t.Errorf("%s, %s late: %d of %d receipts show their second ±1 s at the mark, want ≥ 99%%",
			c.cam, lateName(c.late), within, len(c.receipts))
	}
}

// exSetup is one backend's app, cameras and partner.
type exSetup struct {
	a       *testenv.Server
	partner *testenv.Server // an API key with journal:write and journal:read
	dir     string
	cams    map[string]pulid.ID
	terms   map[string]pulid.ID
	rc      *rtspcam.Camera
	plays   chan struct{}
}

func measureExactness(t *testing.T, b testenv.Backend, n int) []exCell {
	// Between one cell's receipts: 12 receipts a second (two cameras, one
	// window at a time) are what this 2-core box builds and decodes
	// without falling behind; larger samples go slower.
	step := 500 * time.Millisecond
	if n > 20 {
		step = time.Second
	}
	s := startExactness(t, b)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))

	// The receipts are ingested in three windows of n·step: the 0 s ones
	// from t0, the 5 min ones from tp = t0 + n·step + 5 s, the 30 s ones
	// from t0 + 30 s (the clip builds of one window at a time, where they
	// fit). The 5 min ones are of moments before the app started: their
	// footage is written first (t0 leaves time for it).
	span := time.Duration(n) * step
	t0 := time.Now().Add(pastBudget(t, span+32*time.Second)).Truncate(time.Millisecond)
	tp := t0.Add(span + 5*time.Second)
	lead := playback.DefaultLeadIn + time.Second
	from, to := tp.Add(-5*time.Minute-lead), tp.Add(-5*time.Minute+span+playback.DefaultLeadOut+time.Second)
	began := time.Now()
	s.writePastJPEG(t, s.cams[exJPEG], from, to)
	s.writePastH264(t, s.cams[exRTSP], from, to)
	t.Logf("%s: wrote the footage of %s–%s in %v (%v before the first receipt)", b.Name, from.Format(playback.TimeLayout),
		to.Format(playback.TimeLayout), time.Since(began).Round(time.Millisecond), time.Until(t0).Round(time.Millisecond))

	// The live receipts can wait for a slow write of the past: they are
	// of moments still to come.
	if d := time.Until(t0); d < 2*time.Second {
		t0 = t0.Add(2*time.Second - d)
	}

	// Each cell's n moments, step apart with a random phase (marks fall
	// anywhere between frames), each receipt ingested at its moment + its
	// lateness.
	type job struct {
		cell   int
		moment time.Time
	}
	var cells []exCell
	var jobs []job
	for _, cam := range []string{exJPEG, exRTSP} {
		for _, late := range exLateness {
			c := exCell{cam: cam, late: late, path: "live: the app's recorder, real time"}
			first := t0 // the first moment
			if late >= time.Minute {
				c.path = "past: segment writers, then indexed"
				first = tp.Add(-late)
			}
			cells = append(cells, c)
			for i := range n {
				at := first.Add(time.Duration(i)*step + time.Duration(rng.Int64N(int64(step)))).Truncate(time.Millisecond)
				jobs = append(jobs, job{cell: len(cells) - 1, moment: at})
			}
		}
	}

	results := make([][]exReceipt, len(cells))
	var mu sync.Mutex
	var wg sync.WaitGroup
	decode := make(chan struct{}, 2) // the test's own ffmpeg decodes at once (2 cores)
	// The partner's one API key plays at most server.PlaybacksPerCredential
	// clips at once (more is a 429): the clips are asked through that many.
	s.plays = make(chan struct{}, server.PlaybacksPerCredential)
	for i, j := range jobs {
		c := cells[j.cell]
		due := j.moment.Add(c.late)
		if time.Until(due) < -200*time.Millisecond {
			// Cannot be ingested at its lateness any more (the past took
			// longer to write than tp allowed): left out, and said.
			t.Errorf("%s, %s late: the receipt of %s is due %v ago; not measured", c.cam, lateName(c.late), j.moment.Format(playback.TimeLayout), -time.Until(due))
			continue
		}
		wg.Go(func() {
			time.Sleep(time.Until(due))
			r := s.measure(c.cam, c.late, j.moment, fmt.Sprintf("ex-%d", i), decode)
			mu.Lock()
			results[j.cell] = append(results[j.cell], r)
			mu.Unlock()
		})
	}
	wg.Wait()
	for i := range cells {
		cells[i].receipts = results[i]
		if cells[i].cam == exRTSP {
			cells[i].stale = s.rc.MaxStaleness()
		}
		for _, r := range results[i] {
			if r.err != nil || r.skew.Abs() > time.Second {
				s.dumpSegments(t, cells[i].cam, r.moment)
				break
			}
		}
	}
	return cells
}

func startExactness(t *testing.T, b testenv.Backend) *exSetup {
	t.Helper()
	rc, err := rtspcam.Start(context.Background(), rtspcam.Options{Width: 640, Height: 360, FPS: 10})
	if errors.Is(err, rtspcam.ErrNoFFmpeg) {
		needFFmpeg(t)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	dir := t.TempDir()
	a := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) {
		// The recorder takes the cameras' leases within a second or two.
		cfg.Footage = footage.Config{Record: true, Dir: dir, LeaseTTL: 3 * time.Second}
	})
	fx := testenv.NewFixture(t, a.DB.Client, a.AccountID)
	s := &exSetup{a: a, dir: dir, rc: rc,
		// Terminal 0 is watched by camera 0, terminal 2 by camera 1.
		cams:  map[string]pulid.ID{exRTSP: fx.CameraIDs[0], exJPEG: fx.CameraIDs[1]},
		terms: map[string]pulid.ID{exRTSP: fx.TerminalIDs[0], exJPEG: fx.TerminalIDs[2]},
	}
	ctx := sys()
	if err := a.DB.Client.Camera.UpdateOneID(s.cams[exRTSP]).SetSourceKind(entcamera.SourceKindRTSP).
		SetSourceURL(rc.URL()).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.DB.Client.Camera.UpdateOneID(s.cams[exJPEG]).SetSourceKind(entcamera.SourceKindSIMULATED).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Recorders.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	_, s.partner = a.NewAPIKey(t, a.AccountID, viewer.ScopeJournalWrite, viewer.ScopeJournalRead)
	// Both cameras on disk before the first receipt.
	deadline := time.Now().Add(60 * time.Second)
	for _, cam := range s.cams {
		for {
			st, err := a.Footage.Status(ctx, cam)
			if err == nil && st.State == footage.StateRecording && time.Since(st.Newest) < 3*time.Second {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("camera %s not recording within 60 s: %+v %v", cam, st, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return s
}

// dumpSegments logs what the index holds of cam around at (a miss's
// diagnosis: gaps, segments closed early, repaired or corrupt).
func (s *exSetup) dumpSegments(t *testing.T, cam string, at time.Time) {
	t.Helper()
	segs, err := s.a.DB.Client.RecordingSegment.Query().Where(recordingsegment.CameraID(s.cams[cam]),
		recordingsegment.StartAtLTE(at.Add(time.Minute)), recordingsegment.EndAtGTE(at.Add(-time.Minute))).
		Order(ent.Asc(recordingsegment.FieldStartAt)).All(sys())
	if err != nil {
		t.Logf("segments of %s: %v", cam, err)
		return
	}
	var b strings.Builder
	for _, sg := range segs {
		by, note := "", sg.Note
		if sg.EndedBy != nil {
			by = string(*sg.EndedBy)
		}
		fmt.Fprintf(&b, "\n  %s %s–%s %s %s frames %d %s", sg.ID, sg.StartAt.Format(playback.TimeLayout), sg.EndAt.Format(playback.TimeLayout), sg.State, by, sg.Frames, note)
	}
	t.Logf("segments of the %s within a minute of %s:%s", cam, at.Format(playback.TimeLayout), b.String())
}

// measure ingests one receipt of moment as a partner does, now (its
// lateness), asks its clip at once and reads the picture at its mark
// (the decode waits for a slot; the clip's bytes are those served at once).
func (s *exSetup) measure(cam string, late time.Duration, moment time.Time, id string, decode chan struct{}) exReceipt {
	r := exReceipt{cam: cam, late: late, moment: moment}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r.actualLate = time.Since(moment)
	var ing struct {
		IngestJournal []struct {
			Status string
			Entry  *struct{ ID pulid.ID }
			Error  *struct{ Code, Message string }
		}
	}
	err := exQuery(ctx, s.partner, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { status entry { id } error { code message } } }`,
		map[string]any{"in": []map[string]any{{
			"terminalID": s.terms[cam], "externalID": id, "kind": "PAYMENT", "receiptNo": id,
			"occurredAt": moment.UTC().Format(time.RFC3339Nano), "total": 1200,
		}}}, &ing)
	if err == nil && (len(ing.IngestJournal) != 1 || ing.IngestJournal[0].Entry == nil) {
		err = fmt.Errorf("ingestJournal: %+v", ing.IngestJournal)
	}
	if err != nil {
		r.err = err
		return r
	}
	r.skew, r.start, r.took, r.fetchWait, r.err = s.frameAtMark(ctx, ing.IngestJournal[0].Entry.ID, time.Now(), decode)
	return r
}

// frameAtMark plays an entry's clip as the dashboard does: JournalEntry.clip,
// its url fetched, the picture at mark − X-Recording-Start.
func (s *exSetup) frameAtMark(ctx context.Context, entry pulid.ID, ingested time.Time, decode chan struct{}) (skew time.Duration, start time.Time, took, wait time.Duration, err error) {
	var got struct {
		Node struct {
			Clip struct {
				Mark              time.Time
				URL               *string
				UnavailableReason *string
			}
		}
	}
	if err = exQuery(ctx, s.partner, `query($id: ID!) { node(id: $id) { ... on JournalEntry { clip { mark url unavailableReason } } } }`,
		map[string]any{"id": entry}, &got); err != nil {
		return 0, start, took, wait, err
	}
	c := got.Node.Clip
	if c.URL == nil {
		reason := ""
		if c.UnavailableReason != nil {
			reason = *c.UnavailableReason
		}
		return 0, start, took, wait, fmt.Errorf("no clip url: %s", reason)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.partner.URL+*c.URL, nil)
	if err != nil {
		return 0, start, took, wait, err
	}
	s.partner.Credential().Apply(req.Header)
	s.plays <- struct{}{}
	asked := time.Now()
	wait = asked.Sub(ingested)
	var resp *http.Response
	var body []byte
	for try := 0; ; try++ {
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			<-s.plays
			return 0, start, took, wait, err
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		// A slot given back just after its answer: the dashboard waits as
		// Retry-After says and asks again.
		if resp.StatusCode != http.StatusTooManyRequests || try == 10 {
			break
		}
		after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		time.Sleep(time.Duration(max(after, 1)) * time.Second)
	}
	took = time.Since(asked)
	<-s.plays
	if err != nil {
		return 0, start, took, wait, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, start, took, wait, fmt.Errorf("clip: %d %.300s", resp.StatusCode, body)
	}
	start, err = time.Parse(time.RFC3339Nano, resp.Header.Get(playback.HeaderStart))
	if err != nil {
		return 0, start, took, wait, fmt.Errorf("%s: %v", playback.HeaderStart, err)
	}
	decode <- struct{}{}
	defer func() { <-decode }()
	jpeg, err := ffmpeg.FrameAt(ctx, bytes.NewReader(body), c.Mark.Sub(start))
	if err != nil {
		if dir := os.Getenv("REGICAM_EXACTNESS_KEEP"); dir != "" {
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-at-%dms.mp4", entry, c.Mark.Sub(start).Milliseconds())), body, 0o644)
		}
		return 0, start, took, wait, fmt.Errorf("decode the frame at %v of a %d-byte clip: %w", c.Mark.Sub(start), len(body), err)
	}
	shown, err := camera.DecodeTime(jpeg)
	if err != nil {
		return 0, start, took, wait, fmt.Errorf("read the frame's clock: %w", err)
	}
	return shown.Sub(c.Mark), start, took, wait, nil
}

// exQuery posts a GraphQL operation as c; errors are returned, not fatal
// (it runs off the test's goroutine).
func exQuery(ctx context.Context, c *testenv.Server, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	c.Credential().Apply(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage
		Errors []testenv.GQLError
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("graphql answer (%d): %w", resp.StatusCode, err)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("graphql: %s", r.Errors[0].Message)
	}
	return json.Unmarshal(r.Data, out)
}

// pastBudget is how long writing d of past footage will take here: its
// pictures (5 + 10 per second) drawn at the speed this machine draws
// them now (ten times slower under the race detector), with room to spare.
func pastBudget(t *testing.T, d time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for i := range 3 {
		if _, err := camera.RenderAt(camera.SimulatedConfig{Name: "budget"}, began.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	per := time.Since(began) / 3
	return 10*time.Second + time.Duration(d.Seconds()*15)*per*2
}

// pastSegment makes a COMPLETE segment's file and row as the recorder
// leaves them (footage's layout: account/camera/day/id.ext).
func (s *exSetup) pastFile(t *testing.T, cam pulid.ID, start time.Time, ext string) (*os.File, pulid.ID, string) {
	t.Helper()
	id := pulid.MustNew("RS")
	rel := strings.Join([]string{string(s.a.AccountID), string(cam), start.UTC().Format("20060102"), string(id) + ext}, "/")
	full := filepath.Join(s.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(full)
	if err != nil {
		t.Fatal(err)
	}
	return f, id, rel
}

// minutes splits [from, to] into the recorder's one-minute segments.
func minutes(from, to time.Time) [][2]time.Time {
	var out [][2]time.Time
	for at := from; at.Before(to); at = at.Add(time.Minute) {
		out = append(out, [2]time.Time{at, minTime(at.Add(time.Minute), to)})
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// writePastJPEG records the simulated camera over [from, to] at 5 fps,
// its frames drawn for each past moment, into JPEG_SEQ segments.
func (s *exSetup) writePastJPEG(t *testing.T, cam pulid.ID, from, to time.Time) {
	t.Helper()
	cfg := camera.SimulatedConfig{Name: "レジ前カメラ"}
	for _, span := range minutes(from, to) {
		f, id, rel := s.pastFile(t, cam, span[0], ".jseq")
		w, err := segment.NewJPEGWriter(f)
		if err != nil {
			t.Fatal(err)
		}
		var kfs []schematype.Keyframe
		var last time.Time
		for at := span[0]; at.Before(span[1]); at = at.Add(time.Second / 5) {
			jpeg, err := camera.RenderAt(cfg, at)
			if err != nil {
				t.Fatal(err)
			}
			off, err := w.WriteFrame(at, jpeg)
			if err != nil {
				t.Fatal(err)
			}
			kfs = append(kfs, schematype.Keyframe{At: at.Sub(span[0]).Milliseconds(), Offset: off})
			last = at
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		s.pastRow(t, cam, id, rel, recordingsegment.FormatJPEG_SEQ, span[0], last, w.Bytes(), len(kfs), kfs, "")
	}
}

func (s *exSetup) pastRow(t *testing.T, cam, id pulid.ID, rel string, format recordingsegment.Format, start, end time.Time, size int64, frames int, kfs []schematype.Keyframe, codec string) {
	t.Helper()
	c := s.a.DB.Client.RecordingSegment.Create().SetID(id).SetAccountID(s.a.AccountID).SetCameraID(cam).
		SetFormat(format).SetPath(rel).SetStartAt(start.UTC()).SetEndAt(end.UTC()).SetBytes(size).SetFrames(frames).
		SetKeyframes(kfs).SetWidth(640).SetHeight(360).SetState(recordingsegment.StateCOMPLETE).
		SetEndedBy(recordingsegment.EndedByROTATE).SetOwner("exactness-past")
	if codec != "" {
		c.SetCodec(codec)
	}
	if err := c.Exec(sys()); err != nil {
		t.Fatal(err)
	}
}

// writePastH264 records the RTSP camera's pictures over [from, to] as
// rtspcam sends them (10 fps, 640×360, libx264 ultrafast zerolatency, no
// B-frames, a keyframe every second) into FMP4_H264 segments, each
// access unit at the moment its picture shows, as the RTSP recorder
// writes them.
func (s *exSetup) writePastH264(t *testing.T, cam pulid.ID, from, to time.Time) {
	t.Helper()
	const fps = 10
	for _, span := range minutes(from, to) {
		var times []time.Time
		for at := span[0]; at.Before(span[1]); at = at.Add(time.Second / fps) {
			times = append(times, at)
		}
		aus := encodeLikeRTSPCam(t, times, fps)
		f, id, rel := s.pastFile(t, cam, span[0], ".mp4")
		var sps, pps []byte
		for _, n := range aus[0] {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				sps = n
			case h264.NALUTypePPS:
				pps = n
			}
		}
		w, err := segment.NewH264Writer(f, span[0], sps, pps)
		if err != nil {
			t.Fatal(err)
		}
		for i, au := range aus {
			if err := w.WriteAccessUnit(times[i], au); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		s.pastRow(t, cam, id, rel, recordingsegment.FormatFMP4_H264, span[0], w.End(), w.Bytes(), w.Frames(), w.Keyframes(), w.Codec())
	}
}

// encodeLikeRTSPCam encodes the simulated camera's pictures of times with
// rtspcam's encoder settings and splits the Annex-B output into access
// units at each delimiter.
func encodeLikeRTSPCam(t *testing.T, times []time.Time, fps int) [][][]byte {
	t.Helper()
	return encodeAUs(t, "RTSP", times, fps, "-vf", "scale=640:360", "-fps_mode", "passthrough",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-bf", "0",
		"-g", strconv.Itoa(fps*10), "-force_key_frames", "expr:gte(t,n_forced*1)", "-sc_threshold", "0")
}
