package camcloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/oauthstate"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// StartOAuthInput is startCameraCloudOAuth's input.
type StartOAuthInput struct {
	Name          string
	OptionItemID  *int
	RetentionDays *int
}

// stateTTL is how long Safie's consent page may stay open.
const stateTTL = 10 * time.Minute

// stateAAD binds sealed OAuth states to their use.
var stateAAD = []byte("oauth_state:safie")

// oauthState is what the callback needs, sealed into the state parameter
// by oauthstate (as pos/ubiregi/storedconn does): no server-side store,
// so any replica can take the callback, and a state lifted from another
// session does not open for this one.
type oauthState struct {
	// Conn is the connection of that name when one exists: the grant
	// renews its tokens (「Safie で再ログイン」) instead of adding another.
	Conn pulid.ID `json:"c,omitempty"`
	Name string   `json:"n"`
	Item *int     `json:"i,omitempty"`
	Days int      `json:"d"`
}

// StartOAuth returns where to send the owner's browser. A name that an
// existing connection has means that connection: the grant renews it.
func (s *Service) StartOAuth(ctx context.Context, in StartOAuthInput) (string, error) {
	v, err := admin(ctx)
	if err != nil {
		return "", err
	}
	if s.cfg.OAuth == nil {
		return "", apperr.Invalid("input", "このサーバーには Safie の OAuth 設定がありません。APIキーで接続してください (no Safie OAuth client configured)").Because(apperr.FEATURE_DISABLED)
	}
	if s.box == nil {
		return "", noSecretKey()
	}
	st := oauthState{Days: DefaultRetentionDays}
	name, err := s.checkName(ctx, v.AccountID, in.Name, "")
	if e, ok := apperr.As(err); ok && e.Reason == apperr.CAMERA_CLOUD_NAME_TAKEN {
		name = strings.TrimSpace(in.Name)
		if name == "" {
			name = DefaultName
		}
		existing, lerr := s.client.CameraCloudConnection.Query().Where(cameracloudconnection.AccountID(v.AccountID),
			cameracloudconnection.ProviderEQ(cameracloudconnection.ProviderSAFIE), cameracloudconnection.Name(name)).Only(ctx)
		if lerr != nil {
			return "", lerr
		}
		st.Conn, st.Days, st.Item, err = existing.ID, existing.RetentionDays, existing.OptionItemID, nil
	}
	if err != nil {
		return "", err
	}
	st.Name = name
	if in.OptionItemID != nil {
		if st.Item, err = checkItem(in.OptionItemID); err != nil {
			return "", err
		}
	}
	if in.RetentionDays != nil {
		if st.Days, err = checkRetention(*in.RetentionDays); err != nil {
			return "", err
		}
	}
	state, _, err := oauthstate.Seal(s.box, stateAAD, v, time.Now(), stateTTL, st)
	if err != nil {
		return "", err
	}
	return s.cfg.OAuth.AuthCodeURL(state), nil
}

// openState opens a state for v, once: a state already taken by a
// callback of this process is refused (a replay from the browser's
// history must not connect again).
func (s *Service) openState(state string, v viewer.Viewer) (oauthState, bool) {
	var st oauthState
	now := time.Now()
	o, ok := oauthstate.Open(s.box, stateAAD, state, v, now, &st)
	if !ok || !s.usedStates.Spend(o, now) {
		return st, false
	}
	return st, true
}

// OAuthCallback serves GET /oauth/safie/callback: the owner's browser back
// from Safie's consent page, signed in (the session names the account;
// the sealed state must be this session's). It trades the code for
// tokens, checks them with the device list, stores the connection (tokens
// sealed) with its cameras, and sends the browser to the dashboard's
// settings with ?cameraCloud=connected, or ?cameraCloud=error&reason=…
// (apperr/reasons.go, which the dashboard words).
func (s *Service) OAuthCallback() http.Handler {
	return http.HandlerFunc(s.callback)
}

func (s *Service) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, ok := viewer.FromContext(ctx)
	if !ok {
		s.finish(w, r, "", apperr.NOT_SIGNED_IN)
		return
	}
	q := r.URL.Query()
	st, ok := s.openState(q.Get("state"), v)
	if !ok || s.cfg.OAuth == nil {
		s.finish(w, r, "", apperr.SAFIE_OAUTH_STATE)
		return
	}
	// The viewer may have lost the right to manage connections while at
	// Safie's consent page (demoted, a restricted session): nothing is
	// saved for them.
	if _, err := admin(ctx); err != nil {
		s.finish(w, r, "", apperr.ADMIN_ONLY)
		return
	}
	if e := q.Get("error"); e != "" {
		s.log.InfoContext(ctx, "camera cloud: consent refused", "error", oauthCode(e))
		s.finish(w, r, "", apperr.SAFIE_OAUTH_DENIED)
		return
	}
	tok, err := s.cfg.OAuth.Exchange(ctx, s.cfg.HTTP, q.Get("code"))
	if err != nil {
		s.log.WarnContext(ctx, "camera cloud: token exchange", "err", err)
		s.finish(w, r, "", reasonOf(err))
		return
	}
	devs, err := safie.New(s.clientConfig(), safie.Credentials{AccessToken: tok.AccessToken}).Devices(ctx, s.itemFor(st.Item))
	if err != nil {
		s.log.WarnContext(ctx, "camera cloud: device list with the new token", "err", err)
		s.finish(w, r, "", reasonOf(err))
		return
	}
	conn, res, err := s.saveOAuth(ctx, v.AccountID, st, tok, devs)
	if err != nil {
		reason := apperr.INTERNAL
		if e, ok := apperr.As(err); ok {
			reason = apperr.ReasonOf(e)
		} else {
			s.log.ErrorContext(ctx, "camera cloud: save the OAuth connection", "err", err)
		}
		s.finish(w, r, "", reason)
		return
	}
	s.resetFailures(conn.ID)
	s.forgetClient(conn.ID)
	s.afterSync(ctx, conn, res)
	s.finish(w, r, conn.ID, "")
}

// reasonOf is the reason of a failed call to the cloud.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, safie.ErrAuth):
		return apperr.SAFIE_AUTH
	case errors.Is(err, safie.ErrBadResponse), errors.Is(err, safie.ErrRefused), errors.Is(err, safie.ErrNotFound):
		return apperr.SAFIE_BAD_RESPONSE
	}
	return apperr.SAFIE_UNREACHABLE
}

// saveOAuth stores a granted connection: the state's existing connection
// renewed, or a new one, with its cameras, in one transaction.
func (s *Service) saveOAuth(ctx context.Context, account pulid.ID, st oauthState, tok safie.Token, devs []safie.Device) (*ent.CameraCloudConnection, applied, error) {
	var res applied
	var conn *ent.CameraCloudConnection
	if st.Conn != "" {
		// As Update: not while this process syncs the connection.
		lock := s.lock(st.Conn)
		lock.Lock()
		defer lock.Unlock()
	}
	now := s.now()
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.Client()
		sctx := sys(ctx)
		var cur *ent.CameraCloudConnection
		if st.Conn != "" {
			var err error
			cur, err = c.CameraCloudConnection.Query().Where(cameracloudconnection.ID(st.Conn),
				cameracloudconnection.AccountID(account)).Only(sctx)
			if err != nil && !ent.IsNotFound(err) {
				return err
			}
		}
		id := pulid.MustNew("CC")
		if cur != nil {
			id = cur.ID
		}
		sealed, err := s.seal(id, stored{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry})
		if err != nil {
			return err
		}
		action, detail := "camera_cloud.connected", fmt.Sprintf("カメラクラウド「%s」を Safie の OAuth 連携で接続", st.Name)
		if cur == nil {
			cur, err = c.CameraCloudConnection.Create().SetID(id).SetAccountID(account).SetName(st.Name).
				SetAuthKind(cameracloudconnection.AuthKindOAUTH).SetSecrets(sealed).SetSecretHint("").
				SetNillableOptionItemID(st.Item).SetRetentionDays(st.Days).Save(sctx)
			if ent.IsConstraintError(err) {
				return nameTaken(st.Name)
			}
		} else {
			action, detail = "camera_cloud.updated", fmt.Sprintf("カメラクラウド「%s」を Safie の OAuth 連携で再認証", cur.Name)
			cur, err = c.CameraCloudConnection.UpdateOneID(id).SetAuthKind(cameracloudconnection.AuthKindOAUTH).
				SetSecrets(sealed).SetSecretHint("").Save(sctx)
		}
		if err != nil {
			return err
		}
		if res, err = s.apply(ctx, c, cur, devs, now, true); err != nil {
			return err
		}
		status, why := res.status()
		conn, err = c.CameraCloudConnection.UpdateOneID(id).SetStatus(status).
			SetLastError(why).SetLastSyncAt(now).ClearNextRetryAt().Save(sctx)
		if err != nil {
			return err
		}
		s.record(ctx, c, account, audit.Entry{Action: action, TargetID: string(id),
			Detail: fmt.Sprintf("%s (カメラ %d 台)", detail, res.live)})
		return nil
	})
	return conn, res, err
}

// finish sends the browser back to the dashboard's settings page.
func (s *Service) finish(w http.ResponseWriter, r *http.Request, connID pulid.ID, reason string) {
	u, err := url.Parse(s.cfg.OAuthDone)
	if err != nil || !oauthstate.LocalPath(s.cfg.OAuthDone) {
		u = &url.URL{Path: "/"}
	}
	q := u.Query()
	if reason == "" {
		q.Set("cameraCloud", "connected")
		q.Set("connected", string(connID))
	} else {
		q.Set("cameraCloud", "error")
		q.Set("reason", reason)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// oauthCode is the ?error= value as far as it is an OAuth error code
// (RFC 6749 §4.1.2.1), clipped: the value comes from an address anyone
// can write, so the log keeps no more of it than a real code needs.
func oauthCode(e string) string {
	const max = 64
	b := make([]byte, 0, min(len(e), max))
	for i := 0; i < len(e) && len(b) < max; i++ {
		if c := e[i]; c == '_' || c == '-' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}
