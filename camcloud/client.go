package camcloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
)

// stored is a connection's sealed credential: an API key, or OAuth tokens.
type stored struct {
	APIKey       string    `json:"api_key,omitempty"`
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

func (s *Service) seal(id pulid.ID, st stored) ([]byte, error) {
	if s.box == nil {
		return nil, noSecretKey()
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return s.box.Seal(raw, secrets.CameraCloudSecretsAAD(id))
}

func (s *Service) open(conn *ent.CameraCloudConnection) (stored, error) {
	var st stored
	if len(conn.Secrets) == 0 {
		return st, fmt.Errorf("%w: 認証情報が保存されていません (no credential stored)", safie.ErrAuth)
	}
	if s.box == nil {
		return st, errors.New("camcloud: a credential is stored but no secret key is configured")
	}
	raw, err := s.box.Open(conn.Secrets, secrets.CameraCloudSecretsAAD(conn.ID))
	if err != nil {
		return st, fmt.Errorf("camcloud: open the credential of %s: %w", conn.ID, err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("camcloud: decode the credential of %s: %w", conn.ID, err)
	}
	return st, nil
}

// cachedClient is the client built from one sealed value.
type cachedClient struct {
	sealed string
	client *safie.Client
	expiry time.Time // of the OAuth access token; zero for a key
}

// refreshAhead renews an access token this long before it expires, so a
// request does not carry one that dies on the way.
const refreshAhead = time.Minute

// Camera resolves a CLOUD camera to its connection (ErrNotCloud otherwise,
// and for a camera the viewer in ctx may not see). The connection itself
// is read as the system: STAFF may not see connections (the
// administrators' settings) but may watch a camera of their shops.
func (s *Service) Camera(ctx context.Context, cameraID pulid.ID) (CameraRef, error) {
	cam, err := s.client.Camera.Query().Where(entcamera.ID(cameraID), entcamera.SourceKindEQ(entcamera.SourceKindCLOUD),
		entcamera.RetiredAtIsNil(), entcamera.CloudConnectionIDNotNil()).Only(ctx)
	if ent.IsNotFound(err) {
		return CameraRef{}, ErrNotCloud
	}
	if err != nil {
		return CameraRef{}, err
	}
	conn, err := s.client.CameraCloudConnection.Get(sys(ctx), *cam.CloudConnectionID)
	if ent.IsNotFound(err) {
		return CameraRef{}, ErrNotCloud
	}
	if err != nil {
		return CameraRef{}, err
	}
	return CameraRef{CameraID: cam.ID, AccountID: cam.AccountID, ConnectionID: conn.ID, DeviceID: cam.DeviceID,
		RetentionDays: conn.RetentionDays}, nil
}

// Client returns the paced client of a connection (one per connection and
// process, so pacing is shared; OAuth tokens refreshed as needed). A
// connection that needs the owner (NEEDS_REAUTH) answers an error wrapping
// safie.ErrAuth without asking the cloud. The id comes from a CameraRef
// (Camera checked the viewer), so the connection is read as the system.
func (s *Service) Client(ctx context.Context, connectionID pulid.ID) (*safie.Client, error) {
	conn, err := s.client.CameraCloudConnection.Get(sys(ctx), connectionID)
	if err != nil {
		return nil, fmt.Errorf("camcloud: connection %s: %w", connectionID, err)
	}
	if conn.Status == cameracloudconnection.StatusNEEDS_REAUTH {
		return nil, fmt.Errorf("%w: %s", safie.ErrAuth, conn.LastError)
	}
	return s.build(ctx, conn, false)
}

// build returns the cached client of conn while its sealed value and
// token are current, else a new one (refreshing the OAuth token when it
// is about to expire, or when force says the cloud refused it).
func (s *Service) build(ctx context.Context, conn *ent.CameraCloudConnection, force bool) (*safie.Client, error) {
	cl, _, err := s.buildUsed(ctx, conn, force)
	return cl, err
}

// buildUsed is build, also saying which sealed value the client's
// credential came from: a status written because of that client is
// written only while the row still holds it (see markIfCurrent).
func (s *Service) buildUsed(ctx context.Context, conn *ent.CameraCloudConnection, force bool) (*safie.Client, []byte, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	cc := s.clients[conn.ID]
	s.mu.Unlock()
	if cc != nil && !force && cc.sealed == string(conn.Secrets) && (cc.expiry.IsZero() || now.Before(cc.expiry.Add(-refreshAhead))) {
		return cc.client, conn.Secrets, nil
	}
	st, err := s.open(conn)
	if err != nil {
		return nil, conn.Secrets, err
	}
	sealed := conn.Secrets
	creds := safie.Credentials{APIKey: st.APIKey}
	if st.APIKey == "" && (conn.AuthKind == cameracloudconnection.AuthKindOAUTH || st.RefreshToken != "") {
		if force || !now.Before(st.Expiry.Add(-refreshAhead)) {
			if st, sealed, err = s.refresh(ctx, conn, st); err != nil {
				return nil, sealed, err
			}
		}
		creds = safie.Credentials{AccessToken: st.AccessToken, APIKey: st.APIKey}
	}
	if cc != nil && cc.sealed == string(sealed) && !force {
		return cc.client, sealed, nil
	}
	cl := safie.New(s.clientConfig(), creds)
	s.mu.Lock()
	s.clients[conn.ID] = &cachedClient{sealed: string(sealed), client: cl, expiry: st.Expiry}
	s.mu.Unlock()
	return cl, sealed, nil
}

// refresh renews conn's access token and stores it before use (a rotated
// refresh token exists nowhere else). Every write is conditional on the
// sealed value this refresh started from: an owner's new key or another
// replica's refresh written meanwhile wins, and its credential is used.
// A refresh the cloud refuses marks the connection NEEDS_REAUTH only if
// nobody changed the stored credential in the meantime. It answers the
// credential to use and the sealed value it came from.
func (s *Service) refresh(ctx context.Context, conn *ent.CameraCloudConnection, st stored) (stored, []byte, error) {
	lock := s.refreshLock(conn.ID)
	lock.Lock()
	defer lock.Unlock()
	sctx := sys(ctx)
	// Another caller of this process may have refreshed while this one
	// waited for the lock.
	if cur, ok := s.newer(sctx, conn); ok {
		if fresh, err := s.open(cur); err == nil && s.usable(fresh) {
			return fresh, cur.Secrets, nil
		}
		conn = cur
		var err error
		if st, err = s.open(cur); err != nil {
			return st, cur.Secrets, err
		}
	}
	used := conn.Secrets
	if s.cfg.OAuth == nil {
		return st, used, fmt.Errorf("%w: このサーバーに Safie の OAuth 設定がないため、トークンを更新できません (no OAuth client configured)", safie.ErrAuth)
	}
	if st.RefreshToken == "" {
		return st, used, fmt.Errorf("%w: リフレッシュトークンがありません (no refresh token)", safie.ErrAuth)
	}
	tok, err := s.cfg.OAuth.Refresh(ctx, s.cfg.HTTP, st.RefreshToken)
	if err != nil {
		if errors.Is(err, safie.ErrAuth) {
			// Another replica may have refreshed (a single-use refresh
			// token is then refused here) or the owner given a new key.
			if cur, ok := s.newer(sctx, conn); ok {
				if fresh, oerr := s.open(cur); oerr == nil && s.usable(fresh) {
					return fresh, cur.Secrets, nil
				}
			}
			s.log.WarnContext(ctx, "camera cloud: token refresh refused", "connection", conn.ID, "err", err)
			s.markReauth(ctx, conn, used)
		}
		return st, used, err
	}
	next := stored{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}
	if next.RefreshToken == "" {
		next.RefreshToken = st.RefreshToken // not rotated
	}
	sealed, err := s.seal(conn.ID, next)
	if err != nil {
		return st, used, err
	}
	n, err := s.client.CameraCloudConnection.Update().
		Where(cameracloudconnection.ID(conn.ID), cameracloudconnection.SecretsEQ(used)).SetSecrets(sealed).Save(sctx)
	if err != nil {
		return st, used, fmt.Errorf("camcloud: store the refreshed token: %w", err)
	}
	if n == 0 {
		// Written over meanwhile (a new key, another replica's refresh):
		// that credential is the connection's now.
		cur, ok := s.newer(sctx, conn)
		if !ok {
			return st, used, fmt.Errorf("%w: the connection changed while its token was refreshed", safie.ErrUnavailable)
		}
		fresh, err := s.open(cur)
		if err != nil {
			return st, cur.Secrets, err
		}
		return fresh, cur.Secrets, nil
	}
	return next, sealed, nil
}

// newer reads conn's row again: ok when it holds another sealed value
// than conn does.
func (s *Service) newer(ctx context.Context, conn *ent.CameraCloudConnection) (*ent.CameraCloudConnection, bool) {
	cur, err := s.client.CameraCloudConnection.Get(ctx, conn.ID)
	if err != nil || string(cur.Secrets) == string(conn.Secrets) {
		return nil, false
	}
	return cur, true
}

// usable: a key, or an access token not about to expire.
func (s *Service) usable(st stored) bool {
	return st.APIKey != "" || (st.AccessToken != "" && s.cfg.Now().Before(st.Expiry.Add(-refreshAhead)))
}

// markReauth stores that the connection needs the owner, unless its
// credential changed since `used` was read (then the refusal was of a
// credential it no longer has).
func (s *Service) markReauth(ctx context.Context, conn *ent.CameraCloudConnection, used []byte) {
	s.markIfCurrent(ctx, conn.ID, used, func(u *ent.CameraCloudConnectionUpdate) {
		u.SetStatus(cameracloudconnection.StatusNEEDS_REAUTH).SetLastError(reauthReason(conn)).SetNextRetryAt(s.now().Add(reauthWait))
	})
	s.forgetClient(conn.ID)
}

// markIfCurrent writes a status of the connection only while it still
// holds the sealed credential `used` (compare and swap): a failure of an
// old credential must not undo the owner's new key or another replica's
// refresh written meanwhile.
func (s *Service) markIfCurrent(ctx context.Context, id pulid.ID, used []byte, set func(*ent.CameraCloudConnectionUpdate)) bool {
	u := s.client.CameraCloudConnection.Update().Where(cameracloudconnection.ID(id))
	if used == nil {
		u.Where(cameracloudconnection.SecretsIsNil())
	} else {
		u.Where(cameracloudconnection.SecretsEQ(used))
	}
	set(u)
	n, err := u.Save(sys(ctx))
	if err != nil {
		s.log.WarnContext(ctx, "camera cloud: record status", "connection", id, "err", err)
	}
	return n == 1
}

func (s *Service) refreshLock(id pulid.ID) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refreshing == nil {
		s.refreshing = map[pulid.ID]*sync.Mutex{}
	}
	l := s.refreshing[id]
	if l == nil {
		l = &sync.Mutex{}
		s.refreshing[id] = l
	}
	return l
}

func (s *Service) forgetClient(id pulid.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, id)
}
