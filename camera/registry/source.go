package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/netguard"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
)

// source is a checked Source: the URL without userinfo, the credentials
// lifted out of it or given beside it.
type source struct {
	kind  entcamera.SourceKind
	url   string
	creds *fleet.Credentials
}

// schemes are the URL schemes each kind reads.
var schemes = map[entcamera.SourceKind][]string{
	entcamera.SourceKindSNAPSHOT: {"http", "https"},
	entcamera.SourceKindMJPEG:    {"http", "https"},
	entcamera.SourceKindRTSP:     {"rtsp", "rtsps"},
}

// parseSource checks a source against its kind and the URL policy; field
// is the input path of the source ("input.source").
func (s *Service) parseSource(ctx context.Context, field string, in Source) (source, error) {
	if err := entcamera.SourceKindValidator(in.Kind); err != nil {
		return source{}, apperr.Invalid(field+".kind", "映像の種類 %q は使えません (SIMULATED, SNAPSHOT, MJPEG, RTSP)", in.Kind).Because(apperr.INVALID_CHOICE)
	}
	if in.Kind == entcamera.SourceKindCLOUD {
		return source{}, cloudReadonly(field+".kind", "クラウドカメラは手で追加・設定できません。設定の「カメラクラウド」で Safie と接続すると、POS オプションのあるカメラが自動で追加されます (CLOUD cameras come from a camera-cloud connection)")
	}
	out := source{kind: in.Kind}
	raw := strings.TrimSpace(in.URL)
	if in.Kind == entcamera.SourceKindSIMULATED {
		if raw != "" {
			return source{}, apperr.Invalid(field+".url", "シミュレーションカメラに URL は指定できません (SIMULATED has no URL)").Because(apperr.CAMERA_URL_NOT_ALLOWED)
		}
		return out, nil
	}
	want := schemes[in.Kind]
	if raw == "" {
		return source{}, apperr.Invalid(field+".url", "%s のカメラには %s:// の URL を入力してください (url is required)", in.Kind, strings.Join(want, ":// または ")).Because(apperr.CAMERA_URL_REQUIRED)
	}
	u, creds, err := liftURL(field+".url", "URL", raw, func(scheme, got string) error {
		for _, w := range want {
			if scheme == w {
				return nil
			}
		}
		return apperr.Invalid(field+".url", "スキーム %s は %s のカメラには使えません。%s:// で始まる URL を入力してください (scheme %q not supported for %s)",
			got, in.Kind, strings.Join(want, ":// か "), scheme, in.Kind).Because(apperr.CAMERA_URL_SCHEME)
	})
	if err != nil {
		return source{}, err
	}
	out.creds = creds
	if in.Username != nil || in.Password != nil {
		// Fields given beside the URL win over userinfo in it.
		out.creds = &fleet.Credentials{Username: deref(in.Username), Password: deref(in.Password)}
	}
	if out.creds != nil {
		if len(out.creds.Username) > maxCred || len(out.creds.Password) > maxCred {
			return source{}, apperr.Invalid(field+".password", "ユーザー名とパスワードは %d バイト以内にしてください (credentials too long)", maxCred).Because(apperr.VALUE_TOO_LONG)
		}
		if out.creds.Username == "" && out.creds.Password == "" {
			out.creds = nil // blank means "none", as the recorder reads it
		}
	}
	out.url = u.String()
	if err := s.opt.Policy.Resolve(ctx, u.Hostname()); err != nil {
		return source{}, apperr.Invalid(field+".url", "%s", refusedMessage(err)).Because(apperr.CAMERA_URL_REFUSED)
	}
	return out, nil
}

// liftURL checks a camera URL's length, form, scheme and host, with
// messages on field that start with label ("URL", "静止画URL"); schemeErr
// refuses a scheme (given as is and as a message shows it). The login
// typed into the URL is lifted out: a login never stays in a stored URL.
func liftURL(field, label, raw string, schemeErr func(scheme, shown string) error) (*url.URL, *fleet.Credentials, error) {
	if len(raw) > maxURL {
		return nil, nil, apperr.Invalid(field, "%s は %d 文字以内で入力してください (URL too long)", label, maxURL).Because(apperr.VALUE_TOO_LONG)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, apperr.Invalid(field, "%s の形式が正しくありません (%s)", label, redactParseError(err)).Because(apperr.CAMERA_URL_INVALID)
	}
	scheme := strings.ToLower(u.Scheme)
	shown := scheme
	if shown == "" {
		shown = "(なし)"
	}
	if err := schemeErr(scheme, shown); err != nil {
		return nil, nil, err
	}
	if u.Hostname() == "" || u.Opaque != "" {
		return nil, nil, apperr.Invalid(field, "%s にホスト名がありません (%s://ホスト/パス の形で入力してください)", label, scheme).Because(apperr.CAMERA_URL_NO_HOST)
	}
	u.Scheme = scheme
	var creds *fleet.Credentials
	if u.User != nil {
		p, _ := u.User.Password()
		creds = &fleet.Credentials{Username: u.User.Username(), Password: p}
		u.User = nil
	}
	return u, creds, nil
}

// refusedMessage says which rule of the URL policy refused an address.
func refusedMessage(err error) string {
	var re *netguard.RefusedError
	if !errors.As(err, &re) {
		return "この URL は使えません (URL refused)"
	}
	m := re.Message()
	if re.Rule == netguard.RulePrivate {
		m += "。このサーバーは --camera-allow-private=false で運用されています"
	}
	return m + " (URL refused: " + string(re.Rule) + ")"
}

// redactParseError keeps a password typed into a malformed URL out of the
// message (url.Error quotes the whole input).
func redactParseError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "parse error"
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// seal encrypts credentials for camera id exactly as the recorder opens
// them (fleet.Credentials, bound to the row by secrets.CameraCredentialsAAD); nil
// creds seal to nil.
func (s *Service) seal(id pulid.ID, creds *fleet.Credentials, field string) ([]byte, error) {
	if creds == nil {
		return nil, nil
	}
	if s.box == nil {
		return nil, apperr.Invalid(field+".password", "このサーバーには秘密鍵が設定されていないため、カメラの認証情報を保存できません (no secret key configured)").Because(apperr.SECRET_KEY_MISSING)
	}
	raw, err := json.Marshal(creds)
	if err != nil {
		return nil, err
	}
	return s.box.Seal(raw, secrets.CameraCredentialsAAD(id))
}

// open returns a camera's stored credentials, nil when it has none.
func (s *Service) open(c *ent.Camera) (*fleet.Credentials, error) {
	if len(c.SourceCredentials) == 0 {
		return nil, nil
	}
	if s.box == nil {
		return nil, fmt.Errorf("camera %s has credentials but no secret key is configured", c.ID)
	}
	raw, err := s.box.Open(c.SourceCredentials, secrets.CameraCredentialsAAD(c.ID))
	if err != nil {
		return nil, fmt.Errorf("open camera credentials: %w", err)
	}
	var cr fleet.Credentials
	if err := json.Unmarshal(raw, &cr); err != nil {
		return nil, fmt.Errorf("decode camera credentials: %w", err)
	}
	return &cr, nil
}

// cloudReadonly refuses a change to a CLOUD camera, or making one by hand:
// the camera cloud's sync (package camcloud) owns those rows, and would
// overwrite or retire whatever the owner typed here.
func cloudReadonly(field, msg string) error {
	return apperr.Invalid(field, "%s", msg).Because(apperr.CLOUD_CAMERA_READONLY)
}

// isCloud: the camera comes from a camera-cloud connection.
func isCloud(c *ent.Camera) bool {
	return c.SourceKind != nil && *c.SourceKind == entcamera.SourceKindCLOUD
}

const cloudChangeMessage = "%s はクラウドカメラです。名前などの設定は Safie 側で変更してください (CLOUD cameras are changed at the camera cloud; the next sync brings the change)"
