// Package camcloud keeps an account's camera-cloud connections (Safie):
// the sealed credential, its status, and the cloud's POS-option devices in
// step with the account's cameras (new → camera, renamed → renamed,
// removed or option dropped → retired with history kept). It hands the
// other camera-cloud parts (pictures, presence) the paced client of a
// camera's connection, one per connection and process.
//
// Requests run as their viewer (OWNER and ADMIN only: connections are the
// administrators' settings); the periodic sync (Run) runs as the system,
// one replica per connection by a lease on the row.
package camcloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/oauthstate"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/textcheck"
	"github.com/regicam/regicam/viewer"
)

// Config of the service; zero values take the defaults.
type Config struct {
	BaseURL string       // the Safie API (default safie.DefaultBaseURL)
	HTTP    *http.Client // netguard-free: the cloud is a fixed public host
	// OAuth, when not nil, lets owners connect by OAuth2 instead of a key.
	OAuth *safie.OAuthConfig
	// OAuthDone is the dashboard page the OAuth callback sends the browser
	// back to, with ?cameraCloud=connected or ?cameraCloud=error&reason=…
	// (default "/#/settings").
	OAuthDone string
	// DefaultItemID is the POS option's item_id used when a connection
	// names none (--safie-pos-item-id); nil lists every device.
	DefaultItemID *int
	SyncEvery     time.Duration // default 1 min
	// SyncTimeout bounds the cloud's part of one connection's sync
	// (default 2 min), so one slow connection cannot stall a replica.
	SyncTimeout time.Duration
	// A camera missing from the cloud's list is retired once it has been
	// missing in MissingSyncs syncs in a row (default 3) and for
	// MissingGrace (default 10 min), whichever comes later.
	MissingSyncs int
	MissingGrace time.Duration
	Owner        string // this process, for the sync lease
	Now          func() time.Time
	// Alerter hears when a linked cloud camera stops / resumes recording.
	Alerter RecordingAlerter
	// Client tunes every safie.Client built (pacing, retries); BaseURL,
	// HTTP and Now are filled from the fields above.
	Client safie.Config
}

// RecordingAlerter is told of a camera's not-recording episodes (package
// alerts implements it: one CAMERA_NOT_RECORDING alert per episode).
type RecordingAlerter interface {
	CameraNotRecording(ctx context.Context, cam *ent.Camera, since time.Time) error
	CameraRecording(ctx context.Context, cam *ent.Camera, at time.Time) error
}

// Service is the account's camera-cloud connections.
type Service struct {
	client *ent.Client
	box    *secrets.Box
	cfg    Config
	log    *slog.Logger

	mu sync.Mutex
	// clients: one paced client per connection, rebuilt when the sealed
	// credential changes (a new key, a refreshed token).
	clients map[pulid.ID]*cachedClient
	// locks serialise the syncs and token refreshes of one connection in
	// this process (a refresh token may be single-use).
	locks map[pulid.ID]*sync.Mutex
	// refreshing serialises the token refreshes of one connection (apart
	// from locks: a sync holds its lock while it refreshes).
	refreshing map[pulid.ID]*sync.Mutex
	// failures counts a connection's failed syncs in a row (the backoff).
	failures map[pulid.ID]int
	// checks is each account's budget of key checks against the cloud
	// (Connect, a new key in Update): a loop of wrong keys must not earn
	// the whole server a 429 from Safie.
	checks map[pulid.ID]*rate.Limiter
	// asked is each connection's budget of syncs asked for (SyncNow).
	asked map[pulid.ID]*rate.Limiter
	// usedStates are the OAuth states callbacks of this process took.
	usedStates oauthstate.Used
}

// New returns the service.
func New(client *ent.Client, box *secrets.Box, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = safie.DefaultBaseURL
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = time.Minute
	}
	if cfg.MissingSyncs <= 0 {
		cfg.MissingSyncs = 3
	}
	if cfg.MissingGrace <= 0 {
		cfg.MissingGrace = 10 * time.Minute
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Owner == "" {
		cfg.Owner = string(pulid.MustNew("cs"))
	}
	if cfg.OAuthDone == "" {
		cfg.OAuthDone = "/#/settings"
	}
	return &Service{client: client, box: box, cfg: cfg, log: log,
		clients: map[pulid.ID]*cachedClient{}, locks: map[pulid.ID]*sync.Mutex{}, failures: map[pulid.ID]int{},
		checks: map[pulid.ID]*rate.Limiter{}, asked: map[pulid.ID]*rate.Limiter{}}
}

// ConnectInput is connectCameraCloud's input.
type ConnectInput struct {
	Name          string
	APIKey        string
	OptionItemID  *int
	RetentionDays *int
}

// UpdateInput is updateCameraCloud's input; nil leaves a field alone.
type UpdateInput struct {
	Name          *string
	APIKey        *string
	OptionItemID  *int
	RetentionDays *int
}

// CameraRef is what the picture and presence parts need to ask the cloud
// about one camera.
type CameraRef struct {
	CameraID      pulid.ID
	AccountID     pulid.ID
	ConnectionID  pulid.ID
	DeviceID      string
	RetentionDays int
}

// ErrNotCloud: the camera is not a (live) CLOUD camera.
var ErrNotCloud = errors.New("camcloud: not a cloud camera")

// Limits of the inputs.
const (
	DefaultName          = "Safie"
	DefaultRetentionDays = 7
	maxName              = 200 // bytes, as the column counts them
	maxAPIKey            = 200
	maxRetentionDays     = 365
	// SyncNow may ask the cloud syncBurst times in a row, then once per
	// syncCooldown; beyond, it answers the last sync.
	syncBurst    = 3
	syncCooldown = 15 * time.Second
	// checksPerMinute is an account's budget of key checks (burst too).
	checksPerMinute = 10
)

// Connect checks the key against the cloud, seals it and syncs the devices.
// Nothing is stored when the cloud refuses the key or cannot be asked.
func (s *Service) Connect(ctx context.Context, in ConnectInput) (*ent.CameraCloudConnection, error) {
	v, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	return s.connect(ctx, v.AccountID, in, true)
}

// ConnectAccount is Connect for trusted in-process code that has no viewer
// (the demo, the unattended setup): it names the account itself.
func (s *Service) ConnectAccount(ctx context.Context, accountID pulid.ID, in ConnectInput) (*ent.CameraCloudConnection, error) {
	return s.connect(viewer.System(ctx), accountID, in, false)
}

// connect is Connect; limit spends the account's budget of key checks.
func (s *Service) connect(ctx context.Context, accountID pulid.ID, in ConnectInput, limit bool) (*ent.CameraCloudConnection, error) {
	key, err := checkKey(in.APIKey)
	if err != nil {
		return nil, err
	}
	name, err := s.checkName(ctx, accountID, in.Name, "")
	if err != nil {
		return nil, err
	}
	item, err := checkItem(in.OptionItemID)
	if err != nil {
		return nil, err
	}
	days := DefaultRetentionDays
	if in.RetentionDays != nil {
		if days, err = checkRetention(*in.RetentionDays); err != nil {
			return nil, err
		}
	}
	if s.box == nil {
		return nil, noSecretKey()
	}
	if limit {
		if err := s.allowCheck(accountID); err != nil {
			return nil, err
		}
	}
	devs, err := s.check(ctx, safie.Credentials{APIKey: key}, s.itemFor(item), "input.apiKey")
	if err != nil {
		return nil, err
	}
	id := pulid.MustNew("CC")
	sealed, err := s.seal(id, stored{APIKey: key})
	if err != nil {
		return nil, err
	}
	now := s.now()
	var conn *ent.CameraCloudConnection
	var res applied
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.Client()
		created, err := c.CameraCloudConnection.Create().SetID(id).SetAccountID(accountID).SetName(name).
			SetAuthKind(cameracloudconnection.AuthKindAPI_KEY).SetSecrets(sealed).SetSecretHint(secrets.Mask(key)).
			SetNillableOptionItemID(item).SetRetentionDays(days).Save(sys(ctx))
		if ent.IsConstraintError(err) {
			return nameTaken(name) // another request took the name between the check and the insert
		}
		if err != nil {
			return err
		}
		if res, err = s.apply(ctx, c, created, devs, now, true); err != nil {
			return err
		}
		conn, err = c.CameraCloudConnection.UpdateOneID(id).SetStatus(cameracloudconnection.StatusOK).
			SetLastError(res.problems()).SetLastSyncAt(now).Save(sys(ctx))
		if err != nil {
			return err
		}
		s.record(ctx, c, accountID, audit.Entry{Action: "camera_cloud.connected", TargetID: string(id),
			Detail: fmt.Sprintf("カメラクラウド「%s」を API キー (%s) で接続 (カメラ %d 台)", name, secrets.Mask(key), res.live)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.afterSync(ctx, conn, res)
	return s.reload(ctx, conn)
}

// Update changes a connection (a new key is checked before it replaces the old).
func (s *Service) Update(ctx context.Context, id pulid.ID, in UpdateInput) (*ent.CameraCloudConnection, error) {
	if _, err := admin(ctx); err != nil {
		return nil, err
	}
	conn, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	// The changes are collected first and written in the transaction below.
	var sets []func(*ent.CameraCloudConnectionUpdateOne)
	var changed []string
	if in.Name != nil {
		if strings.TrimSpace(*in.Name) == "" {
			return nil, apperr.Invalid("input.name", "名前を入力してください (name is required)").Because(apperr.REQUIRED)
		}
		name, err := s.checkName(ctx, conn.AccountID, *in.Name, conn.ID)
		if err != nil {
			return nil, err
		}
		if name != conn.Name {
			sets = append(sets, func(u *ent.CameraCloudConnectionUpdateOne) { u.SetName(name) })
			changed = append(changed, "名前「"+name+"」")
		}
	}
	item := conn.OptionItemID
	itemChanged := false
	if in.OptionItemID != nil {
		if item, err = checkItem(in.OptionItemID); err != nil {
			return nil, err
		}
		if conn.OptionItemID == nil || *conn.OptionItemID != *item {
			v := *item
			sets = append(sets, func(u *ent.CameraCloudConnectionUpdateOne) { u.SetOptionItemID(v) })
			itemChanged = true
			changed = append(changed, fmt.Sprintf("POS オプション ID %d", *item))
		}
	}
	if in.RetentionDays != nil {
		days, err := checkRetention(*in.RetentionDays)
		if err != nil {
			return nil, err
		}
		if days != conn.RetentionDays {
			sets = append(sets, func(u *ent.CameraCloudConnectionUpdateOne) { u.SetRetentionDays(days) })
			changed = append(changed, fmt.Sprintf("保存期間 %d日", days))
		}
	}
	var devs []safie.Device
	newKey := in.APIKey != nil
	if newKey {
		key, err := checkKey(*in.APIKey)
		if err != nil {
			return nil, err
		}
		if s.box == nil {
			return nil, noSecretKey()
		}
		if err := s.allowCheck(conn.AccountID); err != nil {
			return nil, err
		}
		if devs, err = s.check(ctx, safie.Credentials{APIKey: key}, s.itemFor(item), "input.apiKey"); err != nil {
			return nil, err
		}
		sealed, err := s.seal(conn.ID, stored{APIKey: key})
		if err != nil {
			return nil, err
		}
		sets = append(sets, func(u *ent.CameraCloudConnectionUpdateOne) {
			u.SetSecrets(sealed).SetAuthKind(cameracloudconnection.AuthKindAPI_KEY).SetSecretHint(secrets.Mask(key)).
				SetStatus(cameracloudconnection.StatusOK).SetLastError("").ClearNextRetryAt()
		})
		changed = append(changed, "API キー "+secrets.Mask(key))
	}
	if len(changed) == 0 {
		return conn, nil
	}
	now := s.now()
	var res applied
	var saved *ent.CameraCloudConnection
	// Not while this process syncs or marks the connection: the sync's
	// status would land on the new key. (Other replicas: their status
	// writes are conditional on the credential they used.)
	lock := s.lock(conn.ID)
	lock.Lock()
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.Client()
		u := c.CameraCloudConnection.UpdateOneID(conn.ID)
		for _, set := range sets {
			set(u)
		}
		var err error
		saved, err = u.Save(sys(ctx))
		if ent.IsConstraintError(err) {
			return nameTaken(*in.Name)
		}
		if err != nil {
			return err
		}
		if newKey {
			// The key was just checked with this list: apply it now.
			if res, err = s.apply(ctx, c, saved, devs, now, false); err != nil {
				return err
			}
			status, why := res.status()
			if saved, err = c.CameraCloudConnection.UpdateOneID(conn.ID).SetStatus(status).SetLastError(why).SetLastSyncAt(now).Save(sys(ctx)); err != nil {
				return err
			}
		}
		s.record(ctx, c, conn.AccountID, audit.Entry{Action: "camera_cloud.updated", TargetID: string(conn.ID),
			Detail: fmt.Sprintf("カメラクラウド「%s」を変更: %s", conn.Name, strings.Join(changed, "、"))})
		return nil
	})
	lock.Unlock()
	if err != nil {
		return nil, err
	}
	if newKey {
		s.resetFailures(conn.ID)
		s.afterSync(ctx, saved, res) // with the new key, not the old
	} else if itemChanged {
		// Another option id selects other devices: sync now rather than
		// in a minute. Its outcome is the connection's status.
		if _, err := s.sync(sys(ctx), conn.ID, false); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "camera cloud: sync after update", "connection", conn.ID, "err", err)
		}
	}
	return s.reload(ctx, conn)
}

// SyncNow syncs one connection's devices now, as the viewer in ctx. A
// failure of the cloud is not an error of the request: it is the
// connection's status (ERROR or NEEDS_REAUTH with the reason).
func (s *Service) SyncNow(ctx context.Context, id pulid.ID) (*ent.CameraCloudConnection, error) {
	if _, err := admin(ctx); err != nil {
		return nil, err
	}
	conn, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !s.allowSync(conn.ID) {
		// Asked again and again (a request of a thousand aliases, a
		// button held down): the answer is the last sync's, whatever its
		// status, and the cloud is not asked past the connection's
		// backoff.
		return conn, nil
	}
	if _, err := s.syncOnce(sys(ctx), conn.ID); err != nil && ctx.Err() != nil {
		return nil, err
	}
	return s.reload(ctx, conn)
}

// Disconnect retires the connection's cameras and deletes it.
func (s *Service) Disconnect(ctx context.Context, id pulid.ID) error {
	if _, err := admin(ctx); err != nil {
		return err
	}
	conn, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	lock := s.lock(id)
	lock.Lock()
	defer lock.Unlock()
	now := s.now()
	var res applied
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.Client()
		cams, err := c.Camera.Query().Where(cloudCameras(conn.ID)).All(sys(ctx))
		if err != nil {
			return err
		}
		for _, cam := range cams {
			if cam.RetiredAt == nil {
				if err := s.retire(ctx, c, conn, cam, now, statusDisconnected, &res); err != nil {
					return err
				}
			}
			// The camera outlives the connection (its history), pointing at
			// nothing: a later connection of the same cloud account takes
			// it back (apply).
			if err := c.Camera.UpdateOneID(cam.ID).ClearCloudConnectionID().Exec(sys(ctx)); err != nil {
				return err
			}
		}
		if err := c.CameraCloudConnection.DeleteOneID(conn.ID).Exec(sys(ctx)); err != nil {
			return err
		}
		s.record(ctx, c, conn.AccountID, audit.Entry{Action: "camera_cloud.disconnected", TargetID: string(conn.ID),
			Detail: fmt.Sprintf("カメラクラウド「%s」の接続を解除 (カメラ %d 台を退役)", conn.Name, res.retired)})
		return nil
	})
	if err != nil {
		return err
	}
	s.forget(id)
	s.resolve(ctx, res.resolved, now)
	return nil
}

// OAuthAvailable says whether an OAuth2 client is configured.
func (s *Service) OAuthAvailable() bool { return s.cfg.OAuth != nil }

// admin is the viewer of a request that manages connections: OWNER and
// ADMIN sessions (the scope admin), as the ent policy reads them.
func admin(ctx context.Context) (viewer.Viewer, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return v, apperr.Unauthenticatedf("ログインしてください (not signed in)").Because(apperr.NOT_SIGNED_IN)
	}
	if v.Restricted || !v.Allows(viewer.ScopeAdmin) {
		return v, apperr.Forbiddenf("カメラクラウドの接続を管理できるのはオーナーと管理者だけです (only owners and admins manage camera-cloud connections)").Because(apperr.ADMIN_ONLY)
	}
	return v, nil
}

// load finds a connection the viewer may see; anything else is NOT_FOUND.
func (s *Service) load(ctx context.Context, id pulid.ID) (*ent.CameraCloudConnection, error) {
	conn, err := s.client.CameraCloudConnection.Query().Where(cameracloudconnection.ID(id)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Missing("id", "カメラクラウドの接続が見つかりません (camera-cloud connection not found)").Because(apperr.CAMERA_CLOUD_NOT_FOUND)
	}
	return conn, err
}

// reload reads a connection back as the caller sees it.
func (s *Service) reload(ctx context.Context, conn *ent.CameraCloudConnection) (*ent.CameraCloudConnection, error) {
	return s.load(ctx, conn.ID)
}

// checkKey trims an API key and refuses what cannot be one: a Safie key
// is printable ASCII without spaces.
func checkKey(k string) (string, error) {
	k = strings.TrimSpace(k)
	if k == "" {
		return "", apperr.Invalid("input.apiKey", "APIキーを入力してください (apiKey is required)").Because(apperr.REQUIRED)
	}
	if len(k) > maxAPIKey {
		return "", apperr.Invalid("input.apiKey", "APIキーが長すぎます (%d 文字まで) (apiKey is too long)", maxAPIKey).Because(apperr.VALUE_TOO_LONG)
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return "", apperr.Invalid("input.apiKey", "APIキーに使えない文字が含まれています。Safie Developers に表示されたキーをそのまま貼り付けてください (apiKey has characters a key does not have)").Because(apperr.INVALID_TEXT)
		}
	}
	return k, nil
}

// checkName trims a connection's name (default 「Safie」) and refuses one
// another connection of the account (other than self) has.
func (s *Service) checkName(ctx context.Context, accountID pulid.ID, name string, self pulid.ID) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = DefaultName
	}
	if err := textcheck.String("input.name", name); err != nil {
		return "", err
	}
	if strings.ContainsAny(name, "\r\n") {
		return "", apperr.Invalid("input.name", "名前に改行は使えません (name has a line break)").Because(apperr.INVALID_TEXT)
	}
	if n := len(name); n > maxName {
		return "", apperr.Invalid("input.name", "名前は %d バイト (全角で約 %d 文字) 以内で入力してください (%d bytes, at most %d)", maxName, maxName/3, n, maxName).Because(apperr.VALUE_TOO_LONG)
	}
	q := s.client.CameraCloudConnection.Query().Where(cameracloudconnection.AccountID(accountID),
		cameracloudconnection.ProviderEQ(cameracloudconnection.ProviderSAFIE), cameracloudconnection.Name(name))
	if self != "" {
		q.Where(cameracloudconnection.IDNEQ(self))
	}
	taken, err := q.Exist(sys(ctx))
	if err != nil {
		return "", err
	}
	if taken {
		return "", nameTaken(name)
	}
	return name, nil
}

func nameTaken(name string) error {
	return apperr.Conflictf("input.name", "「%s」という名前の接続は既にあります。別の名前を付けてください (name already in use)", name).Because(apperr.CAMERA_CLOUD_NAME_TAKEN)
}

func checkItem(item *int) (*int, error) {
	if item != nil && *item <= 0 {
		return nil, apperr.Invalid("input.optionItemID", "POS オプションの ID は 1 以上の数で入力してください (optionItemID must be positive)").Because(apperr.VALUE_OUT_OF_RANGE)
	}
	return item, nil
}

func checkRetention(days int) (int, error) {
	if days < 1 || days > maxRetentionDays {
		return 0, apperr.Invalid("input.retentionDays", "保存期間は 1〜%d 日で入力してください (retentionDays must be 1..%d)", maxRetentionDays, maxRetentionDays).Because(apperr.VALUE_OUT_OF_RANGE)
	}
	return days, nil
}

func noSecretKey() error {
	return apperr.Invalid("input.apiKey", "このサーバーには秘密鍵が設定されていないため、APIキーを保存できません (no secret key configured)").Because(apperr.SECRET_KEY_MISSING)
}

// itemFor is the option id a connection filters its devices by.
func (s *Service) itemFor(item *int) *int {
	if item != nil {
		return item
	}
	return s.cfg.DefaultItemID
}

// check asks the cloud for the device list with credentials that are not
// stored yet: the answer decides whether they are. field names the input
// at fault when the cloud refuses them.
func (s *Service) check(ctx context.Context, creds safie.Credentials, item *int, field string) ([]safie.Device, error) {
	devs, err := safie.New(s.clientConfig(), creds).Devices(ctx, item)
	if err != nil {
		return nil, s.cloudError(ctx, err, field)
	}
	return devs, nil
}

// cloudError words a failed call of a request for the owner, one reason
// per cause; the cloud's own text (already without secrets) is logged.
func (s *Service) cloudError(ctx context.Context, err error, field string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.log.InfoContext(ctx, "camera cloud: check refused", "err", err)
	switch {
	case errors.Is(err, safie.ErrAuth):
		return apperr.Invalid(field, "APIキーが Safie に認証されませんでした。Safie Developers で発行したキーを確認してください (Safie refused the key)").Because(apperr.SAFIE_AUTH)
	case errors.Is(err, safie.ErrBadResponse), errors.Is(err, safie.ErrRefused), errors.Is(err, safie.ErrNotFound):
		return apperr.Unavailablef("Safie から想定外の応答がありました。時間をおいて再度お試しください (unexpected answer from Safie)").Because(apperr.SAFIE_BAD_RESPONSE)
	}
	return apperr.Unavailablef("Safie に接続できませんでした。時間をおいて再度お試しください (Safie could not be reached)").Because(apperr.SAFIE_UNREACHABLE)
}

func (s *Service) clientConfig() safie.Config {
	c := s.cfg.Client
	c.BaseURL, c.HTTP, c.Now = s.cfg.BaseURL, s.cfg.HTTP, s.cfg.Now
	return c
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) inTx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	return db.InTx(ctx, s.client, s.log, "camera cloud", fn)
}

// sys is ctx allowed everything by the privacy rules, keeping its viewer
// (if any) for the audit log. The account is always named explicitly.
func sys(ctx context.Context) context.Context { return viewer.System(ctx) }

// record writes the audit log of account: as the viewer who acted, or
// with no actor when the sync (the system) changed something.
func (s *Service) record(ctx context.Context, c *ent.Client, account pulid.ID, e audit.Entry) {
	if _, ok := viewer.FromContext(ctx); !ok {
		ctx = viewer.NewContext(ctx, viewer.Viewer{AccountID: account})
	}
	if err := audit.Record(ctx, c, e); err != nil {
		s.log.WarnContext(ctx, "camera cloud: audit", "action", e.Action, "err", err)
	}
}

func (s *Service) lock(id pulid.ID) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		s.locks[id] = l
	}
	return l
}

func (s *Service) forget(id pulid.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, id)
	delete(s.failures, id)
}

// allowCheck spends one of the account's key checks, or refuses.
func (s *Service) allowCheck(account pulid.ID) error {
	if !s.allow(s.checks, account, time.Minute/checksPerMinute, checksPerMinute) {
		return apperr.RateLimitedf("APIキーの確認が続いたため、しばらく受け付けません。1 分ほどおいて再度お試しください (too many key checks)").Because(apperr.RATE_LIMITED)
	}
	return nil
}

// allowSync spends one of the connection's asked-for syncs.
func (s *Service) allowSync(id pulid.ID) bool {
	return s.allow(s.asked, id, syncCooldown, syncBurst)
}

// allow spends one token of id's bucket in m (one per every, burst
// deep), on the service's clock.
func (s *Service) allow(m map[pulid.ID]*rate.Limiter, id pulid.ID, every time.Duration, burst int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := m[id]
	if l == nil {
		if len(m) > 10000 {
			clear(m) // bounded: a fresh budget is the worst this costs
		}
		l = rate.NewLimiter(rate.Every(every), burst)
		m[id] = l
	}
	return l.AllowN(s.cfg.Now(), 1)
}

func (s *Service) resetFailures(id pulid.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, id)
}
