// Package footage records every camera with a source to disk, continuously,
// on exactly one replica per camera (a lease on the camera row, as the
// pollers have), and answers what is recorded: segments, spans and gaps,
// the camera's recording status and the disk it uses.
//
// JPEG sources (snapshot, MJPEG, the simulated camera) reach it through the
// frame tap of camera/fleet (Tap) at Config.JPEGFPS and are written as
// JPEG_SEQ segments; RTSP cameras are read with footage/rtspsrc and their
// H.264 access units written, untranscoded, as FMP4_H264 segments. A
// segment is a file under Config.Dir (every replica reaches it) and a
// RecordingSegment row (the index); the time between one segment's end
// and the next one's start is a gap. Retention deletes segments past
// Config.Retention and the oldest past Config.Budget; what an active share
// link or an open case holds is spared by age and goes last past the
// budget, which every account's recording shares.
package footage

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/netguard"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
)

// Config is how this process records; zero values take the defaults.
type Config struct {
	// Dir holds the segment files: Dir/<account>/<camera>/<yyyymmdd>/<segment id>.<ext>.
	// Every replica that serves playback must reach it (a shared volume).
	Dir string
	// Record: this process takes camera leases and records. False on API
	// replicas, which only serve what the recorders wrote.
	Record bool
	// Retention: segments older than this go (default 7 days).
	Retention time.Duration
	// Budget: the bytes all segments together may use; the oldest go first
	// past it (default 20 GiB).
	Budget int64
	// SegmentLength: a segment file is closed and the next one begun after
	// this long (default 1 min; an H.264 segment at the first keyframe after).
	SegmentLength time.Duration
	// JPEGFPS is the rate JPEG sources are recorded at (default 5).
	JPEGFPS float64
	// Owner names this process in the camera leases (default a new id).
	Owner string
	// LeaseTTL is how long a lease runs without renewal: another replica
	// takes the camera over that long after its holder died (default 10s;
	// renewed every third of it).
	LeaseTTL time.Duration
	// MinFree is the free space under which recording pauses as DISK_FULL
	// (default 256 MiB).
	MinFree int64
	// SweepEvery is how often retention runs (default 1 min).
	SweepEvery time.Duration
}

const (
	defaultRetention = 7 * 24 * time.Hour
	defaultBudget    = 20 << 30
	defaultMinFree   = 256 << 20
	// flushEvery: a WRITING segment's row (end_at, bytes) moves at least
	// this often, so playback reads the live tail.
	flushEvery = 2 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Retention <= 0 {
		c.Retention = defaultRetention
	}
	if c.Budget <= 0 {
		c.Budget = defaultBudget
	}
	if c.SegmentLength <= 0 {
		c.SegmentLength = time.Minute
	}
	if c.JPEGFPS <= 0 {
		c.JPEGFPS = 5
	}
	if c.Owner == "" {
		c.Owner = string(pulid.MustNew("fo"))
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.MinFree <= 0 {
		c.MinFree = defaultMinFree
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = time.Minute
	}
	return c
}

// Alerter hears when a camera stops recording because the disk is full and
// when it records again (alerts.Service implements it, as it does
// camcloud.RecordingAlerter: one CAMERA_NOT_RECORDING alert per episode).
type Alerter interface {
	CameraNotRecording(ctx context.Context, cam *ent.Camera, since time.Time) error
	CameraRecording(ctx context.Context, cam *ent.Camera, at time.Time) error
}

// Option adds to a Service what not every process has.
type Option func(*Service)

// WithAlerter raises DISK_FULL as CAMERA_NOT_RECORDING alerts through a.
func WithAlerter(a Alerter) Option { return func(s *Service) { s.alerter = a } }

// WithPolicy dials RTSP cameras through the camera URL policy, as the
// recorders and source tests of JPEG cameras do.
func WithPolicy(p netguard.Policy) Option { return func(s *Service) { s.policy = &p } }

// Service records this process's cameras and reads every camera's
// recordings.
type Service struct {
	client  *ent.Client
	box     *secrets.Box
	cfg     Config
	log     *slog.Logger
	alerter Alerter
	policy  *netguard.Policy // nil: RTSP cameras are dialled directly (tests)
	// flushEvery: how often a WRITING row moves (tests shorten it).
	flushEvery time.Duration
	// freeSpace reports the bytes free under Dir (tests make the disk full).
	freeSpace func(dir string) (int64, error)

	// dead makes the recorders stop as a killed process would: no segment
	// closed, no lease released (tests of takeover and repair).
	dead atomic.Bool

	mu   sync.Mutex
	recs map[pulid.ID]*recorder
}

// New returns a Service; Run starts recording.
func New(client *ent.Client, box *secrets.Box, cfg Config, log *slog.Logger, opts ...Option) *Service {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{client: client, box: box, cfg: cfg.withDefaults(), log: log,
		flushEvery: flushEvery, freeSpace: diskFree, recs: map[pulid.ID]*recorder{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Config is the configuration in force (defaults filled in).
func (s *Service) Config() Config { return s.cfg }

// Run takes the leases of the cameras to record, records them, and sweeps
// retention, until ctx ends. With Record off it returns at once.
func (s *Service) Run(ctx context.Context) {
	if !s.cfg.Record {
		return
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o750); err != nil {
		s.log.Error("recordings directory", "err", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.runRetention(ctx)
	}()
	defer wg.Wait()
	defer s.stopAll()
	t := time.NewTicker(s.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		if err := s.scan(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("recording scan", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cameras are those recorded to disk: the ones camera/fleet grabs (a
// source, the POS option, not retired; not CLOUD, whose cloud records them
// itself) and the RTSP ones.
func (s *Service) cameras(ctx context.Context) ([]*ent.Camera, error) {
	return s.client.Camera.Query().Where(entcamera.SourceKindNotNil(), entcamera.PosOption(true),
		entcamera.RetiredAtIsNil(), entcamera.SourceKindNEQ(entcamera.SourceKindCLOUD)).All(ctx)
}

// scan starts a recorder for every recordable camera whose lease this
// process can take, and stops those whose camera changed or went.
func (s *Service) scan(ctx context.Context) error {
	cams, err := s.cameras(ctx)
	if err != nil {
		return fmt.Errorf("load cameras: %w", err)
	}
	want := map[pulid.ID]*ent.Camera{}
	for _, c := range cams {
		want[c.ID] = c
	}
	s.mu.Lock()
	var stale []*recorder
	for id, r := range s.recs {
		if c := want[id]; c == nil || configOf(c) != r.config {
			stale = append(stale, r)
		}
	}
	s.mu.Unlock()
	for _, r := range stale {
		r.stop()
	}
	for _, c := range cams {
		s.mu.Lock()
		_, running := s.recs[c.ID]
		s.mu.Unlock()
		if running {
			continue
		}
		ok, err := s.lease(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("recording lease: %w", err)
		}
		if ok {
			s.start(ctx, c)
		}
	}
	return nil
}

// lease takes or renews the right to record camera id: the holder, or
// anyone once the lease has run out (its holder stopped or died). A
// conditional update on the shared row decides, as pos/polling's lease.
func (s *Service) lease(ctx context.Context, id pulid.ID) (bool, error) {
	now := time.Now().UTC()
	n, err := s.client.Camera.Update().Where(entcamera.ID(id), entcamera.Or(
		entcamera.RecordOwner(s.cfg.Owner), entcamera.RecordLeaseUntilIsNil(), entcamera.RecordLeaseUntilLT(now))).
		SetRecordOwner(s.cfg.Owner).SetRecordLeaseUntil(now.Add(s.cfg.LeaseTTL)).Save(ctx)
	return n == 1, err
}

// release gives the lease up at a clean stop, so another replica takes the
// camera at once rather than after LeaseTTL.
func (s *Service) release(ctx context.Context, id pulid.ID) {
	if err := s.client.Camera.Update().Where(entcamera.ID(id), entcamera.RecordOwner(s.cfg.Owner)).
		ClearRecordLeaseUntil().Exec(ctx); err != nil {
		s.log.Warn("release recording lease", "camera", id, "err", err)
	}
}

func (s *Service) stopAll() {
	s.mu.Lock()
	recs := make([]*recorder, 0, len(s.recs))
	for _, r := range s.recs {
		recs = append(recs, r)
	}
	s.mu.Unlock()
	for _, r := range recs {
		r.stop()
	}
}

// filePath is where a segment's file lives, relative to Dir (as stored).
func filePath(accountID, cameraID, segID pulid.ID, start time.Time, ext string) string {
	return strings.Join([]string{string(accountID), string(cameraID), start.UTC().Format("20060102"), string(segID) + ext}, "/")
}

// Open opens a segment's file for reading. The stored path is relative to
// Dir; one that would leave Dir is refused.
func (s *Service) Open(seg *ent.RecordingSegment) (*os.File, error) {
	rel := filepath.FromSlash(seg.Path)
	if !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("footage: segment %s: path leaves the recordings directory", seg.ID)
	}
	return os.Open(filepath.Join(s.cfg.Dir, rel))
}
