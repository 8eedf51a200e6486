// Package fleet keeps one camera.Recorder running for every camera with a
// JPEG source (snapshot, MJPEG, simulated), so a receipt's picture can be
// cut from what the camera saw at its second however late the POS data
// arrives. An RTSP camera's stream is recorded by package footage; when it
// has a snapshot URL, a recorder here reads that URL into the short ring
// its thumbnails and live picture come from. CLOUD cameras are recorded by
// their cloud (camcloud/pictures), not here.
package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	entlink "github.com/regicam/regicam/ent/link"
	entshop "github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/netguard"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/thumbs"
)

// Credentials as stored (sealed) in Camera.source_credentials.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Scheme   string `json:"scheme,omitempty"`
}

// Manager runs the recorders of one server process.
type Manager struct {
	client *ent.Client
	box    *secrets.Box
	log    *slog.Logger
	opt    camera.RecorderOptions
	http   *http.Client // snapshots: one request per frame, bounded
	stream *http.Client // MJPEG: no Timeout, the stream never ends

	// tap hears every new frame of every camera recorded here (package
	// footage writes them to disk) and sets the grab rate; nil: none.
	tap func(id pulid.ID, f camera.Frame) time.Duration

	syncMu sync.Mutex // one Sync at a time: two would both start a new camera's recorder
	mu     sync.Mutex
	recs   map[pulid.ID]*running
}

type running struct {
	rec    *camera.Recorder
	kind   string // the source kind, the label of the skew metric
	config string // what the recorder was built from; a change restarts it
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Manager; opt applies to every recorder.
func New(client *ent.Client, box *secrets.Box, log *slog.Logger, opt camera.RecorderOptions) *Manager {
	if log == nil {
		log = slog.Default()
	}
	m := &Manager{client: client, box: box, log: log, opt: opt, recs: map[pulid.ID]*running{}}
	// Until UsePolicy says more, private addresses are fine (cameras on the
	// shop's network) and link-local/metadata ones are not.
	m.UsePolicy(netguard.Policy{AllowPrivate: true})
	return m
}

// UsePolicy makes every camera fetch dial through p, so a stored URL whose
// name now resolves to a refused address is never connected to. Call it
// before the first Sync.
func (m *Manager) UsePolicy(p netguard.Policy) {
	m.http = p.Client(camera.DefaultRequestTimeout)
	m.stream = p.Client(0)
}

// SetTap hands every new frame of every camera to fn, whose answer is how
// soon it wants the camera's next frame (camera.RecorderOptions.Tap): the
// disk recording takes its frame rate from the recorders that already
// grab the camera, rather than grabbing it a second time. Call it before
// the first Sync.
func (m *Manager) SetTap(fn func(id pulid.ID, f camera.Frame) time.Duration) {
	m.tap = fn
}

// Run syncs recorders with the cameras table every interval until ctx
// ends, then stops them all.
func (m *Manager) Run(ctx context.Context, every time.Duration) {
	defer m.stopAll()
	defer metrics.CameraStatuses(m.statuses)()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := m.Sync(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("camera sync failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sync starts recorders for new cameras, restarts changed ones, stops
// removed ones and saves last-seen times.
func (m *Manager) Sync(ctx context.Context) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	// Retired cameras stop recording; an RTSP camera is recorded to disk
	// by package footage (its H.264 stream, not JPEG frames), and only its
	// snapshot URL, when it has one, is read here; a CLOUD camera's
	// recording is the cloud's own, asked for by the second
	// (camcloud/pictures), so no recorder runs for it here.
	cams, err := m.client.Camera.Query().Where(entcamera.SourceKindNotNil(), entcamera.PosOption(true),
		entcamera.RetiredAtIsNil(), entcamera.SourceKindNEQ(entcamera.SourceKindCLOUD),
		entcamera.Or(entcamera.SourceKindNEQ(entcamera.SourceKindRTSP), entcamera.SnapshotURLNEQ(""))).All(ctx)
	if err != nil {
		return fmt.Errorf("load cameras: %w", err)
	}
	want := map[pulid.ID]bool{}
	for _, c := range cams {
		want[c.ID] = true
		var loc *time.Location
		if *c.SourceKind == entcamera.SourceKindSIMULATED {
			loc = m.zoneOf(ctx, c)
		}
		cfg := configOf(c)
		if loc != nil && loc.String() != "Asia/Tokyo" {
			// A shop's new timezone redraws the clock. The default is left
			// out, so linking a camera to a Tokyo shop does not restart its
			// recorder (and empty its buffer).
			cfg += " " + loc.String()
		}
		m.mu.Lock()
		cur := m.recs[c.ID]
		m.mu.Unlock()
		if cur != nil && cur.config == cfg {
			m.saveLastSeen(ctx, c, cur.rec.Status())
			continue
		}
		if cur != nil {
			m.stop(c.ID)
		}
		g, err := m.grabber(c, loc)
		if err != nil {
			m.log.Warn("camera source unusable", "camera", c.ID, "err", err)
			continue
		}
		opt := m.opt
		opt.Log = m.log.With("camera", c.ID)
		if tap := m.tap; tap != nil {
			id := c.ID
			opt.Tap = func(f camera.Frame) time.Duration { return tap(id, f) }
		}
		rec := camera.NewRecorder(counted(g, string(*c.SourceKind)), opt)
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r := &running{rec: rec, kind: string(*c.SourceKind), config: cfg, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			_ = rec.Run(rctx)
		}()
		m.mu.Lock()
		m.recs[c.ID] = r
		m.mu.Unlock()
	}
	m.mu.Lock()
	var gone []pulid.ID
	for id := range m.recs {
		if !want[id] {
			gone = append(gone, id)
		}
	}
	m.mu.Unlock()
	for _, id := range gone {
		m.stop(id)
	}
	return nil
}

// saveLastSeen persists the newest frame time so other replicas and
// restarts still show when the camera was last seen.
func (m *Manager) saveLastSeen(ctx context.Context, c *ent.Camera, st camera.Status) {
	if st.LastSeen.IsZero() || c.LastSeenAt != nil && !st.LastSeen.After(*c.LastSeenAt) {
		return
	}
	if err := m.client.Camera.UpdateOneID(c.ID).SetLastSeenAt(st.LastSeen.UTC()).Exec(ctx); err != nil {
		m.log.Warn("save camera last seen", "camera", c.ID, "err", err)
	}
}

func configOf(c *ent.Camera) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", *c.SourceKind, c.SourceURL, c.Name, c.SnapshotURL)
	h.Write(c.SourceCredentials)
	h.Write([]byte{0})
	h.Write(c.SnapshotCredentials)
	return hex.EncodeToString(h.Sum(nil))
}

// zoneOf is the timezone of the shop the camera films (through the
// registers linked to it now); nil, the simulated camera's Asia/Tokyo
// default, when it films none or shops disagree.
func (m *Manager) zoneOf(ctx context.Context, c *ent.Camera) *time.Location {
	zones, err := c.QueryLinks().Where(entlink.EndedAtIsNil()).QueryTerminal().QueryShop().Unique(true).Select(entshop.FieldTimezone).Strings(ctx)
	if err != nil || len(zones) != 1 {
		return nil
	}
	loc, err := time.LoadLocation(zones[0])
	if err != nil {
		return nil
	}
	return loc
}

func (m *Manager) grabber(c *ent.Camera, loc *time.Location) (camera.Grabber, error) {
	if *c.SourceKind == entcamera.SourceKindRTSP {
		creds, err := m.open(c.SnapshotCredentials, secrets.CameraSnapshotCredentialsAAD(c.ID))
		if err != nil {
			return nil, err
		}
		// A snapshot URL without its own login on the stream's host is the
		// same camera: it takes the login of the stream, as real IP cameras
		// do. Another host never sees the stream's password.
		if creds == nil && sameHost(c.SnapshotURL, c.SourceURL) {
			if creds, err = m.open(c.SourceCredentials, secrets.CameraCredentialsAAD(c.ID)); err != nil {
				return nil, err
			}
		}
		return camera.NewSnapshot(c.SnapshotURL, creds, m.http), nil
	}
	creds, err := m.open(c.SourceCredentials, secrets.CameraCredentialsAAD(c.ID))
	if err != nil {
		return nil, err
	}
	switch *c.SourceKind {
	case entcamera.SourceKindSIMULATED:
		return camera.NewSimulatedWith(camera.SimulatedConfig{Name: c.Name, Location: loc}), nil
	case entcamera.SourceKindSNAPSHOT:
		return camera.NewSnapshot(c.SourceURL, creds, m.http), nil
	case entcamera.SourceKindMJPEG:
		mj := camera.NewMJPEG(c.SourceURL, creds, m.stream)
		mj.Log = m.log.With("camera", c.ID)
		return mj, nil
	}
	return nil, fmt.Errorf("unknown source kind %q", *c.SourceKind)
}

// open unseals stored credentials; nil when none are stored.
func (m *Manager) open(sealed, aad []byte) (*camera.Credentials, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	if m.box == nil {
		return nil, fmt.Errorf("camera has credentials but no secret key is configured")
	}
	raw, err := m.box.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("open credentials: %w", err)
	}
	var cr Credentials
	if err := json.Unmarshal(raw, &cr); err != nil {
		return nil, fmt.Errorf("decode credentials: %w", err)
	}
	return &camera.Credentials{Username: cr.Username, Password: cr.Password, Scheme: camera.AuthScheme(cr.Scheme)}, nil
}

// sameHost: two camera URLs name the same host (any scheme or port: an
// RTSP stream and the HTTP snapshot of one camera).
func sameHost(a, b string) bool {
	ua, err := url.Parse(a)
	if err != nil || a == "" {
		return false
	}
	ub, err := url.Parse(b)
	if err != nil || b == "" {
		return false
	}
	return ua.Hostname() != "" && strings.EqualFold(ua.Hostname(), ub.Hostname())
}

// FrameAt serves thumbs.Frames from the cameras this process records. A
// camera it does not record says why (retired, no source …) from its row.
func (m *Manager) FrameAt(ctx context.Context, id pulid.ID, at time.Time) ([]byte, time.Time, error) {
	src, _ := m.Source(id)
	if src == nil {
		return nil, time.Time{}, m.notRecorded(ctx, id)
	}
	return frameAt(ctx, src, at)
}

// SourceKind implements thumbs.SourceKinder for the cameras recorded here.
func (m *Manager) SourceKind(id pulid.ID) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.recs[id]; r != nil {
		return r.kind
	}
	return ""
}

// Sources serves thumbs.Frames from a fixed set of frame sources (tests and
// benchmarks that run recorders without a database).
type Sources map[pulid.ID]camera.FrameSource

// FrameAt implements thumbs.Frames.
func (s Sources) FrameAt(ctx context.Context, id pulid.ID, at time.Time) ([]byte, time.Time, error) {
	return frameAt(ctx, s[id], at)
}

func frameAt(ctx context.Context, src camera.FrameSource, at time.Time) ([]byte, time.Time, error) {
	if src == nil {
		return nil, time.Time{}, thumbs.ErrNotRecorded
	}
	f, err := src.FrameAt(ctx, at)
	var nf *camera.NoFrameError
	if errors.As(err, &nf) {
		return nil, time.Time{}, &noFrameError{err: nf, reason: noFrameReason(nf)}
	}
	return f.JPEG, f.CapturedAt, err
}

// Source returns the frame source of a recording camera.
func (m *Manager) Source(id pulid.ID) (camera.FrameSource, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok {
		return nil, false
	}
	return r.rec, true
}

// Status returns the recorder status of a camera; false when it is not
// recorded by this process.
func (m *Manager) Status(id pulid.ID) (camera.Status, bool) {
	m.mu.Lock()
	r, ok := m.recs[id]
	m.mu.Unlock()
	if !ok {
		return camera.Status{}, false
	}
	return r.rec.Status(), true
}

func (m *Manager) stop(id pulid.ID) {
	m.mu.Lock()
	r := m.recs[id]
	delete(m.recs, id)
	m.mu.Unlock()
	if r != nil {
		r.cancel()
		<-r.done
	}
}

func (m *Manager) stopAll() {
	m.mu.Lock()
	ids := make([]pulid.ID, 0, len(m.recs))
	for id := range m.recs {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	for _, id := range ids {
		m.stop(id)
	}
}

// statuses counts the recorders by status for regicam_cameras.
func (m *Manager) statuses() map[string]int {
	m.mu.Lock()
	recs := make([]*camera.Recorder, 0, len(m.recs))
	for _, r := range m.recs {
		recs = append(recs, r.rec)
	}
	m.mu.Unlock()
	out := map[string]int{}
	for _, r := range recs {
		switch st := r.Status(); {
		case st.Online:
			out[metrics.CameraRecording]++
		case st.LastError != "":
			out[metrics.CameraOffline]++
		default:
			out[metrics.CameraStarting]++
		}
	}
	return out
}

// counted counts g's grabs on regicam_camera_grabs_total by source kind;
// a grabber that holds a connection open stays a camera.Starter.
func counted(g camera.Grabber, kind string) camera.Grabber {
	c := countingGrabber{g: g, kind: kind}
	if s, ok := g.(camera.Starter); ok {
		return countingStarter{countingGrabber: c, Starter: s}
	}
	return c
}

type countingGrabber struct {
	g    camera.Grabber
	kind string
}

func (c countingGrabber) Grab(ctx context.Context) (camera.Frame, error) {
	f, err := c.g.Grab(ctx)
	if ctx.Err() == nil {
		metrics.FrameGrabbed(c.kind, err == nil)
	}
	return f, err
}

type countingStarter struct {
	countingGrabber
	camera.Starter
}
