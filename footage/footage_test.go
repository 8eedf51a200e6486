package footage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/investigation"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/viewer"
)

// The simulated camera, grabbed by camera/fleet and tapped at the
// recording rate, is written to disk in one-second segments: rows and
// files agree frame for frame, rotation closes each as ROTATE, and the
// camera reads as one recorded span and RECORDING.
func TestRecordsSimulatedCameraThroughFleet(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := sys(t)
		tn := newTenant(t, d.Client)
		s := newTest(d.Client, testConfig(t.TempDir(), "replica-a"), quietLog())
		m := fleet.New(d.Client, nil, quietLog(), camera.RecorderOptions{Interval: time.Second})
		m.SetTap(s.Tap)
		mctx, stop := context.WithCancel(viewer.System(context.Background()))
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.Run(mctx, time.Hour)
		}()
		t.Cleanup(func() {
			stop()
			<-done
		})
		run(t, s)
		eventually(t, "three rotated segments", func() bool {
			return countBy(segments(t, d.Client, tn.camera.ID), recordingsegment.EndedByROTATE) >= 3
		})
		segs := segments(t, d.Client, tn.camera.ID)
		for _, sg := range segs {
			if sg.State != recordingsegment.StateCOMPLETE {
				continue
			}
			checkFile(t, s, sg)
			if sg.Width == 0 || sg.Height == 0 || sg.Format != recordingsegment.FormatJPEG_SEQ || sg.Owner != "replica-a" {
				t.Errorf("segment %s: %dx%d %s owner %q", sg.ID, sg.Width, sg.Height, sg.Format, sg.Owner)
			}
			want := strings.Join([]string{string(tn.account), string(tn.camera.ID), sg.StartAt.UTC().Format("20060102"), string(sg.ID) + ".jseq"}, "/")
			if sg.Path != want {
				t.Errorf("path %q, want %q", sg.Path, want)
			}
		}
		spans, gaps, err := s.Spans(ctx, tn.camera.ID, segs[0].StartAt, segs[len(segs)-2].EndAt)
		if err != nil {
			t.Fatal(err)
		}
		if len(spans) != 1 || len(gaps) != 0 {
			t.Errorf("continuous recording read as spans %v gaps %v", spans, gaps)
		}
		st, err := s.Status(ctx, tn.camera.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != StateRecording || st.Bytes == 0 || st.Oldest.IsZero() || !st.Newest.After(st.Oldest) {
			t.Errorf("status %+v", st)
		}
		used, err := s.UsedBytes(ctx, tn.account)
		if err != nil || used == 0 {
			t.Errorf("used bytes %d, %v", used, err)
		}
		// The WRITING segment's row moves while it is written.
		eventually(t, "a WRITING segment with frames", func() bool {
			for _, sg := range segments(t, d.Client, tn.camera.ID) {
				if sg.State == recordingsegment.StateWRITING && sg.Frames > 0 && sg.EndAt.After(sg.StartAt) {
					return true
				}
			}
			return false
		})
	})
}

// A source that stops sending closes its segment as DISCONNECT and reads
// OFFLINE; when it comes back a new segment begins, and the outage is a
// gap between two spans.
func TestOutageIsAGap(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := sys(t)
		tn := newTenant(t, d.Client)
		s := newTest(d.Client, testConfig(t.TempDir(), "a"), quietLog())
		run(t, s)
		f := feed(t, tn.camera.ID, 10, s)
		eventually(t, "a rotated segment", func() bool {
			return countBy(segments(t, d.Client, tn.camera.ID), recordingsegment.EndedByROTATE) >= 1
		})
		f.paused.Store(true)
		eventually(t, "the camera OFFLINE", func() bool {
			st, err := s.Status(ctx, tn.camera.ID)
			return err == nil && st.State == StateOffline && st.Reason != ""
		})
		f.paused.Store(false)
		var disc *ent.RecordingSegment
		eventually(t, "a segment after the disconnect", func() bool {
			segs := segments(t, d.Client, tn.camera.ID)
			for i, sg := range segs {
				if sg.EndedBy != nil && *sg.EndedBy == recordingsegment.EndedByDISCONNECT && i+1 < len(segs) && segs[i+1].Frames > 0 {
					disc = sg
					return true
				}
			}
			return false
		})
		checkFile(t, s, disc)
		spans, gaps, err := s.Spans(ctx, tn.camera.ID, disc.StartAt.Add(-time.Second), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(spans) < 2 {
			t.Fatalf("spans %v gaps %v", spans, gaps)
		}
		var outage *Span
		for i := range gaps {
			if gaps[i].From.Equal(disc.EndAt) {
				outage = &gaps[i]
			}
		}
		if outage == nil || outage.To.Sub(outage.From) < 2*time.Second {
			t.Errorf("no gap from the disconnect at %s: %v", disc.EndAt, gaps)
		}
	})
}

// Another account's camera reads as not found.
func TestReadsAsTheViewer(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		tn := newTenant(t, d.Client)
		other := newTenant(t, d.Client)
		s := newTest(d.Client, testConfig(t.TempDir(), "a"), quietLog())
		writeSegment(t, s, d, tn.camera, time.Now().Add(-time.Hour), 3)
		u, err := d.Client.User.Create().SetAccountID(other.account).SetEmail("o@example.com").SetName("o").
			SetRole("OWNER").SetPasswordHash("x").Save(sys(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx := viewer.NewContext(t.Context(), viewer.Viewer{AccountID: other.account, UserID: u.ID, Role: viewer.RoleOwner,
			Scopes: []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeAdmin}})
		if _, _, err := s.Spans(ctx, tn.camera.ID, time.Now().Add(-2*time.Hour), time.Now()); !ent.IsNotFound(err) {
			t.Errorf("another account's camera: %v", err)
		}
		if _, err := s.Status(ctx, tn.camera.ID); !ent.IsNotFound(err) {
			t.Errorf("another account's status: %v", err)
		}
		if n, err := s.UsedBytes(ctx, tn.account); err != nil || n != 0 {
			t.Errorf("another account's bytes: %d %v", n, err)
		}
	})
}

// Retention deletes by age and then by budget, oldest first, file and
// row, and keeps what a share link or an open case holds.
func TestRetention(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := sys(t)
		tn := newTenant(t, d.Client)
		cfg := testConfig(t.TempDir(), "a")
		cfg.Retention = 24 * time.Hour
		s := newTest(d.Client, cfg, quietLog())
		now := time.Now().UTC().Truncate(time.Second)
		day := 24 * time.Hour
		// Ten minute-long segments 3 days old, three of them held, and five
		// recent ones.
		var old, recent []*ent.RecordingSegment
		for i := range 10 {
			old = append(old, writeSegment(t, s, d, tn.camera, now.Add(-3*day+time.Duration(i)*time.Minute), 60))
		}
		for i := range 5 {
			recent = append(recent, writeSegment(t, s, d, tn.camera, now.Add(-5*time.Hour+time.Duration(i)*time.Minute), 60))
		}
		term := tn.terminal
		entry := func(at time.Time, ext string) *ent.JournalEntry {
			e, err := d.Client.JournalEntry.Create().SetAccountID(tn.account).SetConnectionID(term.ConnectionID).
				SetTerminalID(term.ID).SetShopID(tn.shop).SetKind(journalentry.KindPAYMENT).
				SetCameraID(tn.camera.ID).SetOccurredAt(at).SetExternalID(ext).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		// A live share link over segment 1, an expired one over 2, a
		// revoked one over 3.
		shared := entry(old[1].StartAt.Add(30*time.Second), "shared")
		link := func(from, to, expires time.Time, revoked bool) {
			c := d.Client.ShareLink.Create().SetAccountID(tn.account).SetEntryID(shared.ID).SetCameraID(tn.camera.ID).
				SetClipFrom(from).SetClipTo(to).SetTokenHash([]byte(from.String())).SetExpiresAt(expires)
			if revoked {
				c.SetRevokedAt(now)
			}
			if _, err := c.Save(ctx); err != nil {
				t.Fatal(err)
			}
		}
		link(old[1].StartAt.Add(20*time.Second), old[1].StartAt.Add(50*time.Second), now.Add(day), false)
		link(old[2].StartAt.Add(20*time.Second), old[2].StartAt.Add(50*time.Second), now.Add(-time.Hour), false)
		link(old[3].StartAt.Add(20*time.Second), old[3].StartAt.Add(50*time.Second), now.Add(day), true)
		// An OPEN case holds a receipt 5 s before segment 6 ends: its 20 s
		// lead-out reaches into segment 7. A CLOSED case holds nothing.
		open := entry(old[6].StartAt.Add(55*time.Second), "open case")
		closed := entry(old[8].StartAt.Add(30*time.Second), "closed case")
		if _, err := d.Client.Investigation.Create().SetAccountID(tn.account).SetTitle("open").AddEntryIDs(open.ID).Save(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Client.Investigation.Create().SetAccountID(tn.account).SetTitle("closed").
			SetStatus(investigation.StatusCLOSED).AddEntryIDs(closed.ID).Save(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := s.Sweep(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if n != 7 {
			t.Errorf("age sweep deleted %d segments, want 7", n)
		}
		held := map[int]bool{1: true, 6: true, 7: true}
		for i, sg := range old {
			_, ferr := os.Stat(filepath.Join(cfg.Dir, sg.Path))
			_, rerr := d.Client.RecordingSegment.Get(ctx, sg.ID)
			if held[i] != (ferr == nil) || held[i] != (rerr == nil) {
				t.Errorf("old segment %d (held %v): file %v, row %v", i, held[i], ferr, rerr)
			}
		}

		// Budget: room for the three held and two recent segments; the
		// oldest recent ones go, the held ones stay although older.
		s.cfg.Budget = old[1].Bytes + old[6].Bytes + old[7].Bytes + recent[3].Bytes + recent[4].Bytes
		if n, err = s.Sweep(ctx, now); err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Errorf("budget sweep deleted %d, want 3", n)
		}
		left := segments(t, d.Client, tn.camera.ID)
		var ids []string
		for _, sg := range left {
			ids = append(ids, string(sg.ID))
		}
		want := []string{string(old[1].ID), string(old[6].ID), string(old[7].ID), string(recent[3].ID), string(recent[4].ID)}
		if strings.Join(ids, " ") != strings.Join(want, " ") {
			t.Errorf("left %v, want %v", ids, want)
		}
		if used, _ := s.UsedBytes(ctx, tn.account); used > s.cfg.Budget {
			t.Errorf("%d bytes left over a budget of %d", used, s.cfg.Budget)
		}

		// Holds that outgrow the budget do not keep it from holding: the
		// unheld go first, then the oldest held.
		s.cfg.Budget = old[6].Bytes + old[7].Bytes
		if n, err = s.Sweep(ctx, now); err != nil {
			t.Fatal(err)
		}
		ids = ids[:0]
		for _, sg := range segments(t, d.Client, tn.camera.ID) {
			ids = append(ids, string(sg.ID))
		}
		want = []string{string(old[6].ID), string(old[7].ID)}
		if n != 3 || strings.Join(ids, " ") != strings.Join(want, " ") {
			t.Errorf("over-held budget sweep deleted %d, left %v, want 3 and %v", n, ids, want)
		}
	})
}

// A replica that dies mid-segment (no clean-up: its lease not released,
// its segment left WRITING) is replaced within seconds by another sharing
// the directory and the database, which closes the dead one's segment
// from its file and records on.
func TestTakeoverAfterHolderDies(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := sys(t)
		tn := newTenant(t, d.Client)
		dir := t.TempDir()
		// Minute-long segments: A is always inside one when it dies.
		cfgA, cfgB := testConfig(dir, "replica-a"), testConfig(dir, "replica-b")
		cfgA.SegmentLength, cfgB.SegmentLength = time.Minute, time.Minute
		a := newTest(d.Client, cfgA, quietLog())
		b := newTest(d.Client, cfgB, quietLog())
		killA := run(t, a)
		feed(t, tn.camera.ID, 10, a, b)
		eventually(t, "replica A records", func() bool {
			for _, sg := range segments(t, d.Client, tn.camera.ID) {
				if sg.Owner == "replica-a" && sg.State == recordingsegment.StateWRITING && sg.Frames > 0 {
					return true
				}
			}
			return false
		})
		run(t, b)
		// B runs beside a live A and never records: one camera, one writer.
		time.Sleep(2 * a.cfg.LeaseTTL)
		for _, sg := range segments(t, d.Client, tn.camera.ID) {
			if sg.Owner != "replica-a" {
				t.Fatalf("replica %s wrote while A held the lease", sg.Owner)
			}
		}
		// A dies mid-segment.
		a.dead.Store(true)
		killA()
		var writing *ent.RecordingSegment
		for _, sg := range segments(t, d.Client, tn.camera.ID) {
			if sg.State == recordingsegment.StateWRITING {
				writing = sg
			}
		}
		if writing == nil {
			t.Fatal("A left no WRITING segment")
		}
		eventually(t, "replica B records", func() bool {
			for _, sg := range segments(t, d.Client, tn.camera.ID) {
				if sg.Owner == "replica-b" && sg.Frames > 0 {
					return true
				}
			}
			return false
		})
		fixed, err := d.Client.RecordingSegment.Get(ctx, writing.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fixed.State != recordingsegment.StateCOMPLETE || fixed.EndedBy == nil || *fixed.EndedBy != recordingsegment.EndedByERROR ||
			fixed.Note == "" || fixed.EndAt.Before(writing.EndAt) {
			t.Errorf("dead holder's segment: %s ended by %v, note %q, end %s (last saved %s)", fixed.State, fixed.EndedBy, fixed.Note, fixed.EndAt, writing.EndAt)
		}
		checkFile(t, b, fixed)
		cam, err := d.Client.Camera.Get(ctx, tn.camera.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cam.RecordOwner != "replica-b" {
			t.Errorf("lease held by %q", cam.RecordOwner)
		}
	})
}

// Segments left WRITING are closed from their files: a torn last frame is
// dropped, a file of garbage or a missing file is CORRUPT with a note.
func TestRepair(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := sys(t)
		tn := newTenant(t, d.Client)
		s := newTest(d.Client, testConfig(t.TempDir(), "a"), quietLog())
		start := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
		writing := func(sg *ent.RecordingSegment) {
			if err := d.Client.RecordingSegment.UpdateOneID(sg.ID).SetState(recordingsegment.StateWRITING).ClearEndedBy().
				SetEndAt(sg.StartAt).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		torn := writeSegment(t, s, d, tn.camera, start, 10)
		path := filepath.Join(s.cfg.Dir, torn.Path)
		if err := os.Truncate(path, torn.Bytes-100); err != nil {
			t.Fatal(err)
		}
		writing(torn)
		garbage := writeSegment(t, s, d, tn.camera, start.Add(time.Minute), 3)
		if err := os.WriteFile(filepath.Join(s.cfg.Dir, garbage.Path), []byte("not a segment at all"), 0o600); err != nil {
			t.Fatal(err)
		}
		writing(garbage)
		missing := writeSegment(t, s, d, tn.camera, start.Add(2*time.Minute), 3)
		os.Remove(filepath.Join(s.cfg.Dir, missing.Path))
		writing(missing)

		if err := s.repair(ctx, tn.camera.ID); err != nil {
			t.Fatal(err)
		}
		got, _ := d.Client.RecordingSegment.Get(ctx, torn.ID)
		if got.State != recordingsegment.StateCOMPLETE || got.Frames != 9 || !got.EndAt.Equal(start.Add(8*time.Second)) {
			t.Errorf("torn segment: %s, %d frames, end %s", got.State, got.Frames, got.EndAt)
		}
		for _, sg := range []*ent.RecordingSegment{garbage, missing} {
			got, _ := d.Client.RecordingSegment.Get(ctx, sg.ID)
			if got.State != recordingsegment.StateCORRUPT || got.Note == "" {
				t.Errorf("segment %s: %s, note %q", sg.ID, got.State, got.Note)
			}
		}
		// Playback lists no CORRUPT segment.
		segs, err := s.Segments(ctx, tn.camera.ID, start, start.Add(time.Hour))
		if err != nil || len(segs) != 1 {
			t.Errorf("segments %v, %v", segs, err)
		}
	})
}

type fakeAlerter struct {
	mu              sync.Mutex
	down, up        int
	lastCameraSince time.Time
}

func (f *fakeAlerter) CameraNotRecording(_ context.Context, _ *ent.Camera, since time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down++
	f.lastCameraSince = since
	return nil
}

func (f *fakeAlerter) CameraRecording(context.Context, *ent.Camera, time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up++
	return nil
}

func (f *fakeAlerter) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down, f.up
}

// With the disk under its floor, recording pauses as DISK_FULL with an
// alert and the frames are dropped (the tap never blocks); when space is
// back it records again and the alert is resolved.
func TestDiskFullPausesAndResumes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := sys(t)
		tn := newTenant(t, d.Client)
		al := &fakeAlerter{}
		s := newTest(d.Client, testConfig(t.TempDir(), "a"), quietLog(), WithAlerter(al))
		var free atomic.Int64
		free.Store(1 << 40)
		s.freeSpace = func(string) (int64, error) { return free.Load(), nil }
		run(t, s)
		feed(t, tn.camera.ID, 10, s)
		eventually(t, "recording", func() bool {
			st, err := s.Status(ctx, tn.camera.ID)
			return err == nil && st.State == StateRecording
		})
		free.Store(0)
		eventually(t, "DISK_FULL with an alert", func() bool {
			st, err := s.Status(ctx, tn.camera.ID)
			down, _ := al.counts()
			return err == nil && st.State == StateDiskFull && st.Reason != "" && down == 1
		})
		n := len(segments(t, d.Client, tn.camera.ID))
		if countBy(segments(t, d.Client, tn.camera.ID), recordingsegment.EndedByDISK_FULL) != 1 {
			t.Errorf("no segment ended by DISK_FULL")
		}
		free.Store(1 << 40)
		eventually(t, "recording again, alert resolved", func() bool {
			st, err := s.Status(ctx, tn.camera.ID)
			_, up := al.counts()
			return err == nil && st.State == StateRecording && up == 1 && len(segments(t, d.Client, tn.camera.ID)) > n
		})
	})
}

// With Record off a process takes no lease and writes nothing.
func TestRecordOffTakesNoLease(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := sys(t)
		tn := newTenant(t, d.Client)
		cfg := testConfig(t.TempDir(), "api")
		cfg.Record = false
		s := newTest(d.Client, cfg, quietLog())
		s.Run(ctx) // returns at once
		cam, err := d.Client.Camera.Get(ctx, tn.camera.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cam.RecordOwner != "" || cam.RecordLeaseUntil != nil {
			t.Errorf("lease taken: %q until %v", cam.RecordOwner, cam.RecordLeaseUntil)
		}
		st, err := s.Status(ctx, tn.camera.ID)
		if err != nil || st.State != StateOff || st.Reason == "" {
			t.Errorf("status %+v %v", st, err)
		}
	})
}
