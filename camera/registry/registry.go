// Package registry is an account's list of cameras as the owner manages it:
// adding a camera with its picture source (credentials sealed, URL checked
// against the server's URL policy), changing it, retiring it (never
// deleting: its entries, thumbnails and links stay readable), and testing a
// source by fetching one frame. The GraphQL resolvers and the setup CLI are
// thin callers of Service.
//
// Tenancy comes from the ent privacy rules: with a viewer in ctx every read
// and write is confined to its account, so another account's camera reads
// exactly like one that does not exist. Without a viewer (the CLI, tests
// seeding data) the caller is trusted in-process code and names the
// account itself.
package registry

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/netguard"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

// Syncer is the recorder pool: Sync starts, restarts and stops recorders to
// match the cameras table (camera/fleet's Manager).
type Syncer interface {
	Sync(ctx context.Context) error
}

// Options configure a Service; zero values take the defaults.
type Options struct {
	// Policy decides which addresses a camera URL may point at.
	// Link-local and metadata addresses are always refused.
	Policy netguard.Policy
	// TestTimeout bounds one source test (connect, auth, first frame).
	// Default 5s.
	TestTimeout time.Duration
	// Recorders is told after every change so recording follows at once;
	// nil when nothing is recorded in this process.
	Recorders Syncer
	// RTSP reads RTSP cameras for source tests (app: over footage/rtspsrc);
	// nil: an RTSP source test says it cannot be read here.
	RTSP RTSPStream
	Log  *slog.Logger
	Now  func() time.Time
}

// Service manages the cameras of the accounts.
type Service struct {
	client *ent.Client
	box    *secrets.Box
	opt    Options
	tests  testLimiter
}

// New returns a Service. box seals source credentials (nil: a source with
// credentials is refused).
func New(client *ent.Client, box *secrets.Box, opt Options) *Service {
	if opt.TestTimeout <= 0 {
		opt.TestTimeout = 5 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Service{client: client, box: box, opt: opt}
}

// Source is where the server reads a camera's picture.
type Source struct {
	Kind entcamera.SourceKind
	// URL for SNAPSHOT and MJPEG (http, https) and RTSP (rtsp, rtsps);
	// empty for SIMULATED. user:password@ in it is lifted out and sealed.
	URL string
	// Username and Password: nil means "not given" (Update keeps the stored
	// credentials when both are nil and the URL carries none).
	Username, Password *string
}

// Input is a new camera.
type Input struct {
	Name     string
	Model    string
	DeviceID string
	// PosOption defaults to true: a camera is added to regicam to watch
	// registers, and only cameras with the POS option can be linked.
	PosOption *bool
	Source    *Source
	// RequireSourceOK refuses to save when one frame cannot be fetched
	// now (otherwise the failure is saved as the camera's source status).
	RequireSourceOK bool
	// SnapshotURL: an RTSP camera's HTTP(S) JPEG snapshot URL (nil or
	// empty: none); user:password@ in it is lifted out and sealed.
	SnapshotURL *string
}

// Update changes a camera; nil fields stay as they are.
type Update struct {
	Name, Model, DeviceID *string
	PosOption             *bool
	// Source replaces the source; ClearSource removes it (no recording).
	Source      *Source
	ClearSource bool
	// SnapshotURL: nil keeps it (unless the camera stops being RTSP), ""
	// removes it, anything else replaces it.
	SnapshotURL *string
}

// Retirement is the answer of Retire: the retired camera, or nil with the
// registers it still watches when retirement was refused.
type Retirement struct {
	Camera           *ent.Camera
	WatchedTerminals []*ent.Terminal
}

const (
	maxName     = 200
	maxModel    = 100
	maxDeviceID = 100
	maxURL      = 2000
	maxCred     = 200
	maxStatus   = 500
)

// Label is how messages name a camera: 自宅カメラ (CC-2L_SF : 201000192).
// A CLOUD camera's name is already that label (the cloud's name, model
// and serial; its device id is the cloud's internal one).
func Label(c *ent.Camera) string {
	if isCloud(c) {
		return c.Name
	}
	if c.Model == "" {
		return fmt.Sprintf("%s (%s)", c.Name, c.DeviceID)
	}
	return fmt.Sprintf("%s (%s : %s)", c.Name, c.Model, c.DeviceID)
}

// Create adds a camera to account. The source is tested once (one frame,
// Options.TestTimeout) and what was found is saved as its source status;
// with RequireSourceOK a failed test is BAD_USER_INPUT on input.source and
// nothing is saved. A new camera with a source is recorded at once.
func (s *Service) Create(ctx context.Context, accountID pulid.ID, in Input) (*ent.Camera, error) {
	name, err := text("input.name", "カメラ名", in.Name, maxName, true)
	if err != nil {
		return nil, err
	}
	model, err := text("input.model", "機種", in.Model, maxModel, false)
	if err != nil {
		return nil, err
	}
	device, err := text("input.deviceID", "デバイス ID", in.DeviceID, maxDeviceID, true)
	if err != nil {
		return nil, err
	}
	if err := s.deviceFree(ctx, accountID, device, "", "input.deviceID"); err != nil {
		return nil, err
	}
	id := pulid.MustNew("CA")
	create := s.client.Camera.Create().SetID(id).SetAccountID(accountID).SetName(name).SetModel(model).
		SetDeviceID(device).SetPosOption(in.PosOption == nil || *in.PosOption)
	if in.SnapshotURL != nil && strings.TrimSpace(*in.SnapshotURL) != "" {
		var kind *entcamera.SourceKind
		if in.Source != nil {
			kind = &in.Source.Kind
		}
		// Checked before the source is tried: a refused snapshot URL saves
		// nothing, and costs no camera test.
		sn, err := s.parseSnapshot(ctx, "input.snapshotURL", *in.SnapshotURL, kind)
		if err != nil {
			return nil, err
		}
		sealed, err := s.sealSnapshot(id, sn.creds, "input.snapshotURL")
		if err != nil {
			return nil, err
		}
		create.SetSnapshotURL(sn.url)
		if sealed != nil {
			create.SetSnapshotCredentials(sealed)
		}
	}
	if in.Source != nil {
		src, err := s.parseSource(ctx, "input.source", *in.Source)
		if err != nil {
			return nil, err
		}
		res := s.probe(ctx, src)
		if in.RequireSourceOK && !res.acceptable() {
			return nil, apperr.Invalid("input.source", "%s", res.Message).Because(apperr.CameraTest(string(res.Reason)))
		}
		sealed, err := s.seal(id, src.creds, "input.source")
		if err != nil {
			return nil, err
		}
		create.SetSourceKind(src.kind).SetSourceURL(src.url).SetSourceStatus(res.status())
		if sealed != nil {
			create.SetSourceCredentials(sealed)
		}
	}
	c, err := create.Save(ctx)
	if ent.IsConstraintError(err) {
		// Another request took the device id between our check and insert.
		return nil, s.deviceTaken(ctx, accountID, device, "input.deviceID")
	}
	if err != nil {
		return nil, err
	}
	s.record(ctx, s.client, audit.Entry{Action: "camera.created", TargetID: string(c.ID), Detail: Label(c) + " を追加" + sourceNote(c) + snapshotNote(c)})
	s.sync(ctx)
	return c, nil
}

// Update changes a camera of the viewer's account. A retired camera is not
// changed.
func (s *Service) Update(ctx context.Context, id pulid.ID, in Update) (*ent.Camera, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if isCloud(c) {
		return nil, cloudReadonly("id", fmt.Sprintf(cloudChangeMessage, c.Name))
	}
	if c.RetiredAt != nil {
		return nil, apperr.Invalid("id", "%s は退役済みのため変更できません (camera is retired)", Label(c)).Because(apperr.CAMERA_RETIRED)
	}
	upd := c.Update()
	if in.Name != nil {
		name, err := text("input.name", "カメラ名", *in.Name, maxName, true)
		if err != nil {
			return nil, err
		}
		upd.SetName(name)
	}
	if in.Model != nil {
		model, err := text("input.model", "機種", *in.Model, maxModel, false)
		if err != nil {
			return nil, err
		}
		upd.SetModel(model)
	}
	var device string
	if in.DeviceID != nil {
		if device, err = text("input.deviceID", "デバイス ID", *in.DeviceID, maxDeviceID, true); err != nil {
			return nil, err
		}
		if err := s.deviceFree(ctx, c.AccountID, device, c.ID, "input.deviceID"); err != nil {
			return nil, err
		}
		upd.SetDeviceID(device)
	}
	if in.PosOption != nil {
		if !*in.PosOption && c.PosOption {
			watched, err := s.watched(ctx, s.client, c.ID)
			if err != nil {
				return nil, err
			}
			if len(watched) > 0 {
				return nil, apperr.Invalid("input.posOption", "%s はまだ %s を見守っています。先にレジとの連携を解除してください (camera still watches registers)",
					Label(c), terminalList(watched)).Because(apperr.CAMERA_STILL_LINKED)
			}
		}
		upd.SetPosOption(*in.PosOption)
	}
	// The snapshot URL is checked (and its login sealed) before the source
	// is tried, so a refused one leaves the camera as it was.
	snap, err := s.planSnapshot(ctx, c, in)
	if err != nil {
		return nil, err
	}
	snap.apply(upd)
	switch {
	case in.Source != nil && in.ClearSource:
		return nil, apperr.Invalid("input.clearSource", "source と clearSource は同時に指定できません (give either source or clearSource)").Because(apperr.MUTUALLY_EXCLUSIVE)
	case in.ClearSource:
		upd.ClearSourceKind().ClearSourceURL().ClearSourceCredentials().SetSourceStatus("")
	case in.Source != nil:
		src, err := s.parseSource(ctx, "input.source", *in.Source)
		if err != nil {
			return nil, err
		}
		// Stored credentials stay only while the URL points at the same
		// server (scheme, host and port): otherwise whoever may edit the
		// camera could point it at a server of their own, answer 401
		// Basic, and read the camera's password. A new server needs the
		// credentials given again; without them the source has none.
		keep := in.Source.Username == nil && in.Source.Password == nil && src.creds == nil &&
			src.kind != entcamera.SourceKindSIMULATED && len(c.SourceCredentials) > 0 &&
			sameServer(c.SourceURL, src.url)
		if keep {
			// The owner changed the path but not the password: test with
			// the stored one, and keep it sealed as it is.
			if src.creds, err = s.open(c); err != nil {
				return nil, err
			}
		} else {
			sealed, err := s.seal(c.ID, src.creds, "input.source")
			if err != nil {
				return nil, err
			}
			if sealed == nil {
				upd.ClearSourceCredentials()
			} else {
				upd.SetSourceCredentials(sealed)
			}
		}
		res := s.probe(ctx, src)
		upd.SetSourceKind(src.kind).SetSourceURL(src.url).SetSourceStatus(res.status())
	}
	account := c.AccountID
	c, err = upd.Save(ctx)
	if ent.IsConstraintError(err) {
		// Another request took the device id between our check and update.
		return nil, s.deviceTaken(ctx, account, device, "input.deviceID")
	}
	if err != nil {
		return nil, err
	}
	s.record(ctx, s.client, audit.Entry{Action: "camera.updated", TargetID: string(c.ID), Detail: Label(c) + " を変更" + sourceNote(c) + snap.note})
	s.sync(ctx)
	return c, nil
}

// Retire takes a camera out of service: it leaves the lists and stops
// recording; its entries, thumbnails and links stay. A CLOUD camera may be
// retired by hand too (the owner no longer wants it); the camera cloud's
// sync then leaves it retired. While it still
// watches registers the retirement is refused (Camera nil, the registers
// listed) unless force, which ends those links now as the portal does.
// Retiring a retired camera returns it unchanged.
func (s *Service) Retire(ctx context.Context, id pulid.ID, force bool) (*Retirement, error) {
	var out Retirement
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.Client()
		cam, err := loadWith(ctx, c, id)
		if err != nil {
			return err
		}
		if cam.RetiredAt != nil {
			// Unwrap: the caller reads edges after the transaction ends.
			out.Camera = cam.Unwrap()
			return nil
		}
		links, err := c.Link.Query().Where(link.CameraID(cam.ID), link.EndedAtIsNil()).WithTerminal().All(ctx)
		if err != nil {
			return err
		}
		if len(links) > 0 && !force {
			for _, l := range links {
				out.WatchedTerminals = append(out.WatchedTerminals, l.Edges.Terminal.Unwrap())
			}
			return nil
		}
		now := s.now()
		for _, l := range links {
			end := now
			if end.Before(l.CreatedAt) {
				end = l.CreatedAt // a link ended at once keeps an empty, not negative, span
			}
			// Only if still open: a link ended concurrently keeps its end.
			if _, err := c.Link.Update().Where(link.ID(l.ID), link.EndedAtIsNil()).SetEndedAt(end).Save(ctx); err != nil {
				return err
			}
			s.record(ctx, c, audit.Entry{Action: "link.ended", TargetID: string(l.ID),
				Detail: fmt.Sprintf("端末 %s と %s のリンクをカメラの退役で終了", l.Edges.Terminal.ExternalID, Label(cam))})
		}
		retired, err := cam.Update().SetRetiredAt(now).Save(ctx)
		if err != nil {
			return err
		}
		out.Camera = retired.Unwrap()
		s.record(ctx, c, audit.Entry{Action: "camera.retired", TargetID: string(cam.ID), Detail: Label(cam) + " を退役"})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.Camera != nil {
		s.sync(ctx)
	}
	return &out, nil
}

// load finds a camera the caller may see; anything else is NOT_FOUND on id.
func (s *Service) load(ctx context.Context, id pulid.ID) (*ent.Camera, error) {
	return loadWith(ctx, s.client, id)
}

func loadWith(ctx context.Context, c *ent.Client, id pulid.ID) (*ent.Camera, error) {
	cam, err := c.Camera.Query().Where(entcamera.ID(id)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Missing("id", "カメラが見つかりません (camera not found)").Because(apperr.NOT_FOUND)
	}
	return cam, err
}

// watched lists the registers a camera watches now.
func (s *Service) watched(ctx context.Context, c *ent.Client, id pulid.ID) ([]*ent.Terminal, error) {
	links, err := c.Link.Query().Where(link.CameraID(id), link.EndedAtIsNil()).WithTerminal().All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*ent.Terminal, 0, len(links))
	for _, l := range links {
		out = append(out, l.Edges.Terminal)
	}
	return out, nil
}

func terminalList(ts []*ent.Terminal) string {
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		n := "端末 " + t.ExternalID
		if t.Name != "" {
			n += " (" + t.Name + ")"
		}
		names = append(names, n)
	}
	return strings.Join(names, "、")
}

// deviceFree is CONFLICT when another camera of the account has device.
func (s *Service) deviceFree(ctx context.Context, account pulid.ID, device string, self pulid.ID, field string) error {
	q := s.client.Camera.Query().Where(entcamera.AccountID(account), entcamera.DeviceID(device))
	if self != "" {
		q.Where(entcamera.IDNEQ(self))
	}
	other, err := q.First(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return conflict(other, field)
}

// deviceTaken reports a unique-constraint failure on (account, device) by
// the camera that holds the id; both backends raise it as a constraint
// error.
func (s *Service) deviceTaken(ctx context.Context, account pulid.ID, device, field string) error {
	other, err := s.client.Camera.Query().Where(entcamera.AccountID(account), entcamera.DeviceID(device)).First(ctx)
	if err != nil {
		return apperr.Conflictf(field,
			"デバイス ID %s は既に使われています (device id already in use)", device).Because(apperr.DEVICE_ID_TAKEN)
	}
	return conflict(other, field)
}

func conflict(other *ent.Camera, field string) error {
	retired := ""
	if other.RetiredAt != nil {
		retired = " (退役済み)"
	}
	return apperr.Conflictf(field,
		"デバイス ID %s は既に %s%s で使われています (device id already in use)", other.DeviceID, Label(other), retired).Because(apperr.DEVICE_ID_TAKEN)
}

// text trims and checks one text input.
func text(field, what, v string, max int, required bool) (string, error) {
	v = strings.TrimSpace(v)
	if required && v == "" {
		return "", apperr.Invalid(field, "%sを入力してください (%s is required)", what, field).Because(apperr.REQUIRED)
	}
	if !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\r\n") {
		return "", apperr.Invalid(field, "%sに使えない文字が含まれています (%s has invalid characters)", what, field).Because(apperr.INVALID_TEXT)
	}
	// Bytes, as the database column counts them: a kanji is three.
	if n := len(v); n > max {
		return "", apperr.Invalid(field, "%sは %d バイト (全角で約 %d 文字) 以内で入力してください (%d bytes, at most %d)", what, max, max/3, n, max).Because(apperr.VALUE_TOO_LONG)
	}
	return v, nil
}

// sameServer: two source URLs name the same scheme, host and port (the
// scheme's default port when none is written).
func sameServer(a, b string) bool {
	ua, err := url.Parse(a)
	if err != nil || a == "" {
		return false
	}
	ub, err := url.Parse(b)
	if err != nil || b == "" {
		return false
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return defaultPorts[strings.ToLower(u.Scheme)]
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && ua.Hostname() != "" &&
		strings.EqualFold(ua.Hostname(), ub.Hostname()) && port(ua) == port(ub)
}

var defaultPorts = map[string]string{"http": "80", "https": "443", "rtsp": "554", "rtsps": "322"}

func sourceNote(c *ent.Camera) string {
	if c.SourceKind == nil {
		return ""
	}
	return fmt.Sprintf(" (映像: %s)", *c.SourceKind)
}

// sync tells the recorders about a change. It runs as the server: a
// viewer-scoped Sync would see only this account's cameras and stop every
// other account's recorders.
func (s *Service) sync(ctx context.Context) {
	if s.opt.Recorders == nil {
		return
	}
	if err := s.opt.Recorders.Sync(viewer.System(context.WithoutCancel(ctx))); err != nil {
		s.opt.Log.WarnContext(ctx, "camera registry: recorder sync", "err", err)
	}
}

// record writes the audit log when a viewer acts; the CLI has none and its
// operator's shell history is the record.
func (s *Service) record(ctx context.Context, c *ent.Client, e audit.Entry) {
	if _, ok := viewer.FromContext(ctx); !ok {
		return
	}
	if err := audit.Record(ctx, c, e); err != nil {
		s.opt.Log.WarnContext(ctx, "camera registry: audit", "action", e.Action, "err", err)
	}
}

func (s *Service) now() time.Time { return s.opt.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) inTx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	return db.InTx(ctx, s.client, s.opt.Log, "camera registry", fn)
}
