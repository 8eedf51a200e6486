// Package recording keeps one camera.Recorder running for every camera that
// has a frame source, so a receipt's picture can be cut from what the
// camera saw at its second however late the POS data arrives.
package recording

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/netguard"
	"github.com/regicam/regicam/secrets"
)

// Credentials as stored (sealed) in Camera.source_credentials.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Scheme   string `json:"scheme,omitempty"`
}

// CredentialsAAD binds sealed camera credentials to their camera row.
func CredentialsAAD(cameraID pulid.ID) []byte {
	return []byte("camera:" + string(cameraID) + ":source_credentials")
}

// Manager runs the recorders of one server process.
type Manager struct {
	client *ent.Client
	box    *secrets.Box
	log    *slog.Logger
	opt    camera.RecorderOptions
	http   *http.Client // snapshots: one request per frame, bounded
	stream *http.Client // MJPEG: no Timeout, the stream never ends

	syncMu sync.Mutex // one Sync at a time: two would both start a new camera's recorder
	mu     sync.Mutex
	recs   map[pulid.ID]*running
}

type running struct {
	rec    *camera.Recorder
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

// Run syncs recorders with the cameras table every interval until ctx
// ends, then stops them all.
func (m *Manager) Run(ctx context.Context, every time.Duration) {
	defer m.stopAll()
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
	// Retired cameras stop recording; RTSP URLs are stored but not read
	// yet (the registry's source status says so).
	cams, err := m.client.Camera.Query().Where(entcamera.SourceKindNotNil(), entcamera.PosOption(true),
		entcamera.RetiredAtIsNil(), entcamera.SourceKindNEQ(entcamera.SourceKindRTSP)).All(ctx)
	if err != nil {
		return fmt.Errorf("load cameras: %w", err)
	}
	want := map[pulid.ID]bool{}
	for _, c := range cams {
		want[c.ID] = true
		cfg := configOf(c)
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
		g, err := m.grabber(c)
		if err != nil {
			m.log.Warn("camera source unusable", "camera", c.ID, "err", err)
			continue
		}
		opt := m.opt
		opt.Log = m.log.With("camera", c.ID)
		rec := camera.NewRecorder(g, opt)
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r := &running{rec: rec, config: cfg, cancel: cancel, done: make(chan struct{})}
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
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", *c.SourceKind, c.SourceURL, c.Name)
	h.Write(c.SourceCredentials)
	return hex.EncodeToString(h.Sum(nil))
}

func (m *Manager) grabber(c *ent.Camera) (camera.Grabber, error) {
	var creds *camera.Credentials
	if len(c.SourceCredentials) > 0 {
		if m.box == nil {
			return nil, fmt.Errorf("camera has credentials but no secret key is configured")
		}
		raw, err := m.box.Open(c.SourceCredentials, CredentialsAAD(c.ID))
		if err != nil {
			return nil, fmt.Errorf("open credentials: %w", err)
		}
		var cr Credentials
		if err := json.Unmarshal(raw, &cr); err != nil {
			return nil, fmt.Errorf("decode credentials: %w", err)
		}
		creds = &camera.Credentials{Username: cr.Username, Password: cr.Password, Scheme: camera.AuthScheme(cr.Scheme)}
	}
	switch *c.SourceKind {
	case entcamera.SourceKindSIMULATED:
		return camera.NewSimulated(c.Name, time.Now), nil
	case entcamera.SourceKindSNAPSHOT:
		return camera.NewSnapshot(c.SourceURL, creds, m.http), nil
	case entcamera.SourceKindMJPEG:
		mj := camera.NewMJPEG(c.SourceURL, creds, m.stream)
		mj.Log = m.log.With("camera", c.ID)
		return mj, nil
	}
	return nil, fmt.Errorf("unknown source kind %q", *c.SourceKind)
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
