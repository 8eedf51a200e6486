package ingest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/regclock"
)

// recordingCamera is a Thumbnailer over a camera that recorded every
// moment: the picture of t is the simulated camera's frame of t, drawn
// with t's clock (camera.RenderAt), as a recording cloud gives it. What the
// picture shows is then exactly the moment ingest asked for, read back
// from the picture.
type recordingCamera struct {
	mu    sync.Mutex
	asked map[pulid.ID]time.Time
	pics  map[pulid.ID][]byte
	// draw: every how many-th picture is drawn and kept (drawing is the
	// slow part; the others are asked for the same way).
	draw int
	n    int
}

func newRecordingCamera(draw int) *recordingCamera {
	return &recordingCamera{asked: map[pulid.ID]time.Time{}, pics: map[pulid.ID][]byte{}, draw: draw}
}

func (c *recordingCamera) Capture(_ context.Context, _, entryID, cameraID pulid.ID, t time.Time) (*ingest.Shot, string, bool) {
	c.mu.Lock()
	c.n++
	drawIt := c.n%c.draw == 1 || c.draw == 1
	c.asked[entryID] = t
	c.mu.Unlock()
	var pic []byte
	if drawIt {
		var err error
		if pic, err = camera.RenderAt(camera.SimulatedConfig{Name: "レジ前カメラ"}, t); err != nil {
			return nil, "render: " + err.Error(), false
		}
		c.mu.Lock()
		c.pics[entryID] = pic
		c.mu.Unlock()
	}
	return &ingest.Shot{CameraID: cameraID, Key: "mem/" + string(entryID), RequestedAt: t, CapturedAt: t,
		Width: 640, Height: 360, Bytes: int64(len(pic)), SHA256: "0"}, "", false
}

func (c *recordingCamera) CaptureLate(ctx context.Context, acct, entryID, cameraID pulid.ID, t time.Time) (*ingest.Shot, string) {
	s, r, _ := c.Capture(ctx, acct, entryID, cameraID, t)
	return s, r
}

// register is one simulated register: its clock's offset from true time
// at true time t.
type register struct {
	name string
	off  func(t time.Time) time.Duration
}

// ringUp is one receipt as the provider has it.
type ringUp struct {
	reg              int
	ext              string
	truth            time.Time // the moment it was rung up
	register, server time.Time // whole seconds, as Smaregi gives them
}

// uploadDelay: mostly under a second, some seconds, a few minutes late.
func uploadDelay(r *rand.Rand) time.Duration {
	switch x := r.IntN(100); {
	case x < 2:
		return time.Duration(60+r.IntN(240)) * time.Second
	case x < 10:
		return time.Duration(1000+r.IntN(9000)) * time.Millisecond
	default:
		return time.Duration(100+r.IntN(800)) * time.Millisecond
	}
}

// TestClockCorrectionSkew replays eight hours of four registers — one 45 s
// ahead, one 90 s behind, one drifting 2 s per hour (from 10 s ahead), one
// right — with realistic upload delays, polled every two minutes, on a
// controlled clock, and measures each thumbnail against the true moment of
// its sale: uncorrected (the register's own time, the baseline) and as
// ingest took it (corrected_at when correcting). A sale every 20–70 s;
// a register's first two receipts are uncorrected by design (too few
// samples). At least 99% of the skewed registers' pictures show a second
// within one of the sale's (the clock drawn in the picture against the
// true moment's); the right register is never corrected. The table is
// printed with -v, also to the millisecond.
func TestClockCorrectionSkew(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		ctx := context.Background()
		start := time.Now().Add(time.Minute).Truncate(time.Second) // after the fixture's links
		t0 := start
		regs := []register{
			{"+45 s", func(time.Time) time.Duration { return 45 * time.Second }},
			{"−90 s", func(time.Time) time.Duration { return -90 * time.Second }},
			{"drift +2 s/h", func(t time.Time) time.Duration {
				return 10*time.Second + time.Duration(float64(t.Sub(t0))/float64(time.Hour)*float64(2*time.Second))
			}},
			{"right", func(time.Time) time.Duration { return 0 }},
		}
		terms := append([]pulid.ID{}, fx.TerminalIDs...)
		terms = append(terms, extraTerminal(t, srv.DB.Client, fx, start.Add(-time.Hour)))

		var mu sync.Mutex
		clock := start
		now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
		in := ingest.New(srv.DB.Client, srv.DB.Dialect, srv.Bus, nil)
		in.SetClock(now)
		cam := newRecordingCamera(25)
		in.Thumbnails = cam

		r := rand.New(rand.NewPCG(17, 45))
		var sales []ringUp
		hours := 8 * time.Hour
		for i, reg := range regs {
			for at := start.Add(time.Duration(r.IntN(60_000)) * time.Millisecond); at.Before(start.Add(hours)); at = at.Add(time.Duration(20_000+r.IntN(50_000)) * time.Millisecond) {
				sales = append(sales, ringUp{reg: i, ext: fmt.Sprintf("r%d-%d", i, len(sales)), truth: at,
					register: at.Add(reg.off(at)).Truncate(time.Second), server: at.Add(uploadDelay(r)).Truncate(time.Second)})
			}
		}
		sort.Slice(sales, func(i, j int) bool { return sales[i].server.Before(sales[j].server) })
		next := 0
		for poll := start.Add(2 * time.Minute); next < len(sales); poll = poll.Add(2 * time.Minute) {
			mu.Lock()
			clock = poll
			mu.Unlock()
			var batch []ingest.Receipt
			for next < len(sales) && !sales[next].server.After(poll) && len(batch) < ingest.MaxBatch {
				s := sales[next]
				rc := saleAt(terms[s.reg], s.ext, s.register)
				sv := s.server
				rc.ServerAt = &sv
				batch = append(batch, rc)
				next++
			}
			if len(batch) == 0 {
				continue
			}
			res, err := in.IngestBatch(ctx, srv.AccountID, batch, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range res {
				if x.Status != ingest.Created {
					t.Fatalf("%s: %s %v", batch[i].ExternalID, x.Status, x.Err)
				}
			}
		}
		in.WaitLate()

		entries, err := srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(connOf(t, srv.DB.Client, terms[0]))).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byExt := make(map[string]*ent.JournalEntry, len(entries))
		for _, e := range entries {
			byExt[e.ExternalID] = e
		}
		type stat struct {
			n, rawIn, corrIn, strictIn, corrected, drawn int
			maxRaw, maxCorr, maxFixed                    time.Duration
		}
		stats := make([]stat, len(regs))
		for _, s := range sales {
			e := byExt[s.ext]
			if e == nil {
				t.Fatalf("%s not stored", s.ext)
			}
			st := &stats[s.reg]
			st.n++
			raw := e.OccurredAt.Sub(s.truth)
			asked, ok := cam.asked[e.ID]
			if !ok {
				t.Fatalf("%s: no picture asked for", s.ext)
			}
			if pic := cam.pics[e.ID]; pic != nil {
				shown, err := camera.DecodeTime(pic)
				if err != nil {
					t.Fatalf("%s: %v", s.ext, err)
				}
				if d := shown.Sub(asked).Abs(); d > time.Millisecond {
					t.Fatalf("%s: picture shows %v, asked %v", s.ext, shown, asked)
				}
				asked = shown
				st.drawn++
			}
			if e.CorrectedAt != nil {
				st.corrected++
				if !e.CorrectedAt.Equal(asked) {
					t.Fatalf("%s: picture of %v, corrected_at %v", s.ext, asked, e.CorrectedAt)
				}
			}
			corr := asked.Sub(s.truth)
			// The picture's clock shows its second, as the receipt's
			// true moment has one: within ±1 s is those seconds at most
			// one apart. strict is the same to the millisecond.
			sec := func(d time.Time) time.Time { return d.Truncate(time.Second) }
			if sec(e.OccurredAt).Sub(sec(s.truth)).Abs() <= time.Second {
				st.rawIn++
			}
			if sec(asked).Sub(sec(s.truth)).Abs() <= time.Second {
				st.corrIn++
			}
			if corr.Abs() <= time.Second {
				st.strictIn++
			}
			st.maxRaw, st.maxCorr = max(st.maxRaw, raw.Abs()), max(st.maxCorr, corr.Abs())
			if e.CorrectedAt != nil {
				st.maxFixed = max(st.maxFixed, corr.Abs())
			}
		}
		var tbl strings.Builder
		fmt.Fprintf(&tbl, "\n%-14s %6s %14s %12s %15s %14s %14s %12s %10s %6s\n", "register", "sales", "uncorrected≤1s", "corrected≤1s",
			"corrected≤1000ms", "max|skew| unc.", "max|skew| cor.", "of corrected", "corrected", "drawn")
		pct := func(a, n int) float64 { return 100 * float64(a) / float64(n) }
		for i, st := range stats {
			fmt.Fprintf(&tbl, "%-14s %6d %13.1f%% %11.1f%% %14.1f%% %14v %14v %12v %10d %6d\n", regs[i].name, st.n,
				pct(st.rawIn, st.n), pct(st.corrIn, st.n), pct(st.strictIn, st.n), st.maxRaw.Round(time.Millisecond), st.maxCorr.Round(time.Millisecond), st.maxFixed.Round(time.Millisecond), st.corrected, st.drawn)
		}
		t.Log(tbl.String())
		for i, st := range stats[:3] {
			if float64(st.corrIn) < 0.99*float64(st.n) {
				t.Errorf("%s: %d of %d pictures within ±1 s", regs[i].name, st.corrIn, st.n)
			}
		}
		if st := stats[3]; st.corrected != 0 {
			t.Errorf("right register: %d entries corrected", st.corrected)
		}
		for i, id := range terms {
			term, err := srv.DB.Client.Terminal.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if term.ClockOffsetMs == nil || term.ClockSamples < regclock.MinSamples || term.ClockUpdatedAt == nil {
				t.Fatalf("%s: estimate not stored: %+v", regs[i].name, term)
			}
			if want := regs[i].off(clock).Milliseconds(); abs64(*term.ClockOffsetMs-want) > 1000 && i < 3 {
				t.Errorf("%s: stored offset %d ms, want %d ±1000", regs[i].name, *term.ClockOffsetMs, want)
			}
			if i == 3 && ingest.ClockCorrecting(*term.ClockOffsetMs) {
				t.Errorf("right register: stored offset %d ms is correcting", *term.ClockOffsetMs)
			}
			if n := len(term.ClockWindow); n > 4096 {
				t.Errorf("%s: window of %d bytes", regs[i].name, n)
			}
		}
	})
}

// TestClockBadInput: too few samples leave the offset unknown and nothing
// corrected; absurd provider times are ignored and counted; a register an
// hour ahead (beyond the 10 minutes other times may lie ahead) is stored
// at its own time and, before its offset is known, pictured at the
// server's; a right clock with seconds of upload delay is left alone.
func TestClockBadInput(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		ctx := context.Background()
		clock := time.Now().Add(time.Minute).Truncate(time.Second)
		in := ingest.New(srv.DB.Client, srv.DB.Dialect, srv.Bus, nil)
		in.SetClock(func() time.Time { return clock })
		cam := newRecordingCamera(1000)
		in.Thumbnails = cam
		ingestOne := func(term pulid.ID, ext string, register time.Time, server *time.Time) *ent.JournalEntry {
			t.Helper()
			rc := saleAt(term, ext, register)
			rc.ServerAt = server
			res := in.Ingest(ctx, srv.AccountID, rc)
			if res.Status != ingest.Created {
				t.Fatalf("%s: %s %v", ext, res.Status, res.Err)
			}
			return res.Entry
		}
		load := func(id pulid.ID) *ent.Terminal {
			t.Helper()
			term, err := srv.DB.Client.Terminal.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return term
		}
		ptr := func(t time.Time) *time.Time { return &t }

		// Register 0, an hour ahead: two samples are too few.
		ahead := fx.TerminalIDs[0]
		for i := range 2 {
			sv := clock.Add(time.Duration(i-2) * time.Minute)
			e := ingestOne(ahead, fmt.Sprintf("a%d", i), sv.Add(time.Hour), ptr(sv))
			if !e.OccurredAt.Equal(sv.Add(time.Hour)) || e.CorrectedAt == nil || !e.CorrectedAt.Equal(sv) {
				t.Fatalf("an hour ahead, %d samples: occurred %v corrected %v, want the register's and the server's time", i+1, e.OccurredAt, e.CorrectedAt)
			}
		}
		if term := load(ahead); term.ClockOffsetMs != nil || term.ClockSamples != 2 {
			t.Fatalf("two samples: offset %v, samples %d", term.ClockOffsetMs, term.ClockSamples)
		}
		e := ingestOne(ahead, "a2", clock.Add(time.Hour), ptr(clock))
		if e.CorrectedAt == nil || e.CorrectedAt.Sub(clock).Abs() > time.Second {
			t.Fatalf("three samples: corrected %v, want %v", e.CorrectedAt, clock)
		}
		if term := load(ahead); term.ClockOffsetMs == nil || abs64(*term.ClockOffsetMs-3_600_000) > 1000 {
			t.Fatalf("three samples: offset %v", term.ClockOffsetMs)
		}
		// A deletion is at the time the provider (or the reconciliation)
		// noticed it, not on the register's clock: never corrected.
		del := saleAt(ahead, "a2", clock)
		del.Kind = journalentry.KindDELETE
		if res := in.Ingest(ctx, srv.AccountID, del); res.Status != ingest.Created || res.Entry.CorrectedAt != nil {
			t.Fatalf("deletion on a corrected register: %s, corrected %v; want created and not corrected", res.Status, res.Entry.CorrectedAt)
		}
		// Without the server's time, an hour ahead is still refused.
		rc := saleAt(ahead, "a-noserver", clock.Add(time.Hour))
		if res := in.Ingest(ctx, srv.AccountID, rc); res.Status != ingest.Failed {
			t.Fatalf("an hour ahead without the server's time: %s", res.Status)
		}

		// Register 1: absurd provider times are stored (the sale counts)
		// and refused by the estimator, which counts them.
		odd := fx.TerminalIDs[1]
		ingestOne(odd, "o1", clock.Add(-time.Minute), ptr(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)))
		ingestOne(odd, "o2", clock.Add(-time.Minute), ptr(clock.Add(24*time.Hour)))
		ingestOne(odd, "o3", clock.Add(-time.Minute), ptr(time.Time{}))
		rc = saleAt(odd, "o4", clock)
		rc.ServerAt, rc.RegisterAt = ptr(clock), ptr(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
		if res := in.Ingest(ctx, srv.AccountID, rc); res.Status != ingest.Created || res.Entry.CorrectedAt != nil {
			t.Fatalf("year-2000 register: %s %+v", res.Status, res.Entry)
		}
		term := load(odd)
		st := regclock.Parse(term.ClockWindow)
		if term.ClockOffsetMs != nil || term.ClockSamples != 0 || st.Refusals() != 4 {
			t.Fatalf("absurd times: offset %v samples %d refused %v", term.ClockOffsetMs, term.ClockSamples, st.Refused)
		}

		// Register 2, right, uploads 2–6 s late: never corrected.
		right := fx.TerminalIDs[2]
		for i := range 20 {
			at := clock.Add(time.Duration(i-20) * time.Minute)
			e := ingestOne(right, fmt.Sprintf("r%d", i), at, ptr(at.Add(time.Duration(2+i%5)*time.Second)))
			if e.CorrectedAt != nil {
				t.Fatalf("right clock corrected at sale %d: %v", i, e.CorrectedAt)
			}
		}
		if term := load(right); term.ClockOffsetMs == nil || ingest.ClockCorrecting(*term.ClockOffsetMs) {
			t.Fatalf("right clock: offset %v", term.ClockOffsetMs)
		}
	})
}

// saleAt is sale (batch_test.go) at the register's time at.
func saleAt(term pulid.ID, ext string, at time.Time) ingest.Receipt { return sale(term, ext, at) }

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// extraTerminal adds a fourth register to the fixture's connection,
// linked to its first camera since since.
func extraTerminal(t *testing.T, c *ent.Client, fx testenv.Fixture, since time.Time) pulid.ID {
	t.Helper()
	ctx := context.Background()
	first, err := c.Terminal.Get(ctx, fx.TerminalIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	term, err := c.Terminal.Create().SetAccountID(first.AccountID).SetConnectionID(first.ConnectionID).
		SetShopID(first.ShopID).SetExternalID("4").SetName("レジ4").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Link.Create().SetAccountID(first.AccountID).SetTerminalID(term.ID).SetCameraID(fx.CameraIDs[0]).
		SetCreatedAt(since).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return term.ID
}

func connOf(t *testing.T, c *ent.Client, term pulid.ID) pulid.ID {
	t.Helper()
	x, err := c.Terminal.Query().Where(terminal.ID(term)).Only(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return x.ConnectionID
}
