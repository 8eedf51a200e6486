package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
)

// snapshotURL is a checked snapshot URL: without userinfo, the login lifted
// out of it.
type snapshotURL struct {
	url   string
	creds *fleet.Credentials
}

// parseSnapshot checks an RTSP camera's snapshot URL as a source URL is
// checked (length, form, a host, the URL policy), with messages that name
// the 静止画URL field. kind is the camera's source kind once saved.
func (s *Service) parseSnapshot(ctx context.Context, field, raw string, kind *entcamera.SourceKind) (snapshotURL, error) {
	raw = strings.TrimSpace(raw)
	if kind == nil || *kind != entcamera.SourceKindRTSP {
		return snapshotURL{}, apperr.Invalid(field, "静止画URL は映像の種類が RTSP のカメラにだけ設定できます (snapshotURL is for RTSP cameras only)").
			Because(apperr.CAMERA_SNAPSHOT_URL_NOT_RTSP)
	}
	u, creds, err := liftURL(field, "静止画URL", raw, func(scheme, got string) error {
		if scheme == "http" || scheme == "https" {
			return nil
		}
		return apperr.Invalid(field, "静止画URL のスキーム %s は使えません。http:// か https:// で始まる URL を入力してください (scheme %q not supported for a snapshot URL)",
			got, scheme).Because(apperr.CAMERA_SNAPSHOT_URL_SCHEME)
	})
	if err != nil {
		return snapshotURL{}, err
	}
	out := snapshotURL{creds: creds}
	if creds != nil {
		if len(creds.Username) > maxCred || len(creds.Password) > maxCred {
			return snapshotURL{}, apperr.Invalid(field, "静止画URL のユーザー名とパスワードは %d バイト以内にしてください (credentials too long)", maxCred).Because(apperr.VALUE_TOO_LONG)
		}
		if creds.Username == "" && creds.Password == "" {
			out.creds = nil
		}
	}
	out.url = u.String()
	if err := s.opt.Policy.Resolve(ctx, u.Hostname()); err != nil {
		return snapshotURL{}, apperr.Invalid(field, "静止画URL: %s", refusedMessage(err)).Because(apperr.CAMERA_URL_REFUSED)
	}
	return out, nil
}

// sealSnapshot seals a snapshot URL's login for camera id in its own
// column's binding; nil creds seal to nil.
func (s *Service) sealSnapshot(id pulid.ID, creds *fleet.Credentials, field string) ([]byte, error) {
	if creds == nil {
		return nil, nil
	}
	if s.box == nil {
		return nil, apperr.Invalid(field, "このサーバーには秘密鍵が設定されていないため、静止画URL の認証情報を保存できません (no secret key configured)").Because(apperr.SECRET_KEY_MISSING)
	}
	raw, err := json.Marshal(creds)
	if err != nil {
		return nil, err
	}
	return s.box.Seal(raw, secrets.CameraSnapshotCredentialsAAD(id))
}

// snapshotChange is what an update does to the snapshot URL, decided
// before anything is written.
type snapshotChange struct {
	set, clear bool
	url        string
	sealed     []byte // with set: nil clears the stored login
	keepCreds  bool   // with set: the stored login stays as it is
	note       string // for the audit log
}

// planSnapshot decides an update's snapshot URL: given (""
// removes it), or removed with the RTSP source it belonged to.
func (s *Service) planSnapshot(ctx context.Context, c *ent.Camera, in Update) (snapshotChange, error) {
	kind := c.SourceKind
	switch {
	case in.ClearSource:
		kind = nil
	case in.Source != nil:
		k := in.Source.Kind
		kind = &k
	}
	if in.SnapshotURL == nil || strings.TrimSpace(*in.SnapshotURL) == "" {
		stillRTSP := kind != nil && *kind == entcamera.SourceKindRTSP
		if c.SnapshotURL != "" && (in.SnapshotURL != nil || !stillRTSP) {
			return snapshotChange{clear: true, note: "、静止画URL を削除"}, nil
		}
		return snapshotChange{}, nil
	}
	snap, err := s.parseSnapshot(ctx, "input.snapshotURL", *in.SnapshotURL, kind)
	if err != nil {
		return snapshotChange{}, err
	}
	out := snapshotChange{set: true, url: snap.url, note: "、静止画URL を設定"}
	if c.SnapshotURL != "" {
		out.note = "、静止画URL を変更"
	}
	// As for the source: a stored login stays only while the URL names the
	// same server, or whoever may edit the camera could send it elsewhere.
	if snap.creds == nil && len(c.SnapshotCredentials) > 0 && sameServer(c.SnapshotURL, snap.url) {
		out.keepCreds = true
		if snap.url == c.SnapshotURL {
			out.note = ""
		}
		return out, nil
	}
	if out.sealed, err = s.sealSnapshot(c.ID, snap.creds, "input.snapshotURL"); err != nil {
		return snapshotChange{}, err
	}
	return out, nil
}

func (p snapshotChange) apply(upd *ent.CameraUpdateOne) {
	switch {
	case p.clear:
		upd.ClearSnapshotURL().ClearSnapshotCredentials()
	case p.set:
		upd.SetSnapshotURL(p.url)
		if p.keepCreds {
			return
		}
		if p.sealed == nil {
			upd.ClearSnapshotCredentials()
		} else {
			upd.SetSnapshotCredentials(p.sealed)
		}
	}
}

func snapshotNote(c *ent.Camera) string {
	if c.SnapshotURL == "" {
		return ""
	}
	return fmt.Sprintf("、静止画URL: %s", c.SnapshotURL)
}
