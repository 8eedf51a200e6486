package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camera"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/netguard"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
)

// Reason is why a source test failed.
type Reason string

const (
	ReasonUnreachable Reason = "UNREACHABLE"  // connection refused, no route, name not found
	ReasonTimeout     Reason = "TIMEOUT"      // no frame within the test timeout
	ReasonAuthRefused Reason = "AUTH_REFUSED" // 401 (Basic or Digest refused) or 403
	ReasonNotJPEG     Reason = "NOT_JPEG"     // the answer is not a JPEG (or not an MJPEG stream)
	ReasonTLS         Reason = "TLS"          // certificate or handshake failure
	ReasonHTTPStatus  Reason = "HTTP_STATUS"  // any other HTTP status
	ReasonURLRefused  Reason = "URL_REFUSED"  // the URL policy (netguard)
	ReasonBadURL      Reason = "BAD_URL"      // malformed, wrong scheme for the kind
	ReasonRTSP        Reason = "RTSP"         // the RTSP stream has no H.264 video
)

// PreviewWidth is the largest preview a test returns.
const PreviewWidth = 320

// TestResult is what one frame fetch found.
type TestResult struct {
	OK     bool
	Reason Reason // empty when OK
	// Message is a sentence for the owner (Japanese, with the technical
	// detail in parentheses). It never contains credentials.
	Message string
	// Preview is a JPEG at most PreviewWidth wide (OK only).
	Preview []byte
	// Width and Height are the camera's frame size (OK only).
	Width, Height int
	Elapsed       time.Duration
}

// acceptable: saving with RequireSourceOK is allowed.
func (r TestResult) acceptable() bool { return r.OK }

// status is the one-line source status saved on the camera:
// "OK" or "REASON: message".
func (r TestResult) status() string {
	if r.OK {
		return "OK"
	}
	st := string(r.Reason) + ": " + r.Message
	if len(st) > maxStatus {
		st = strings.ToValidUTF8(st[:maxStatus], "") // a rune cut in half goes
	}
	return st
}

// TestSource fetches one frame from a source now. A source that does not
// validate is answered as BAD_URL or URL_REFUSED, not as an error: the
// owner is still typing.
func (s *Service) TestSource(ctx context.Context, in Source) TestResult {
	start := time.Now()
	src, err := s.parseSource(ctx, "source", in)
	if err != nil {
		return badSource(err, start)
	}
	release, busy := s.tests.acquire(ctx)
	if busy != nil {
		return *busy
	}
	defer release()
	return s.probe(ctx, src)
}

// TestSourceOf tests the stored source of a camera, its sealed credentials
// included, and saves what it found as the camera's source status.
func (s *Service) TestSourceOf(ctx context.Context, id pulid.ID) (TestResult, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return TestResult{}, err
	}
	if isCloud(c) {
		// Its picture comes from the cloud's API, not from a URL to test.
		return TestResult{}, cloudReadonly("id", fmt.Sprintf(cloudChangeMessage, c.Name))
	}
	if c.SourceKind == nil {
		return TestResult{Reason: ReasonBadURL, Message: Label(c) + " には映像の取得元が設定されていません (no source)"}, nil
	}
	start := time.Now()
	src, err := s.parseSource(ctx, "source", Source{Kind: *c.SourceKind, URL: c.SourceURL})
	if err != nil {
		// A URL saved under a laxer policy than the server runs now.
		return badSource(err, start), nil
	}
	if src.creds, err = s.open(c); err != nil {
		return TestResult{}, err
	}
	release, busy := s.tests.acquire(ctx)
	if busy != nil {
		return *busy, nil // not saved: it says nothing about the camera
	}
	defer release()
	res := s.probe(ctx, src)
	if c.RetiredAt == nil {
		if err := c.Update().SetSourceStatus(res.status()).Exec(ctx); err != nil {
			s.opt.Log.WarnContext(ctx, "camera registry: save source status", "camera", c.ID, "err", err)
		}
	}
	return res, nil
}

func badSource(err error, start time.Time) TestResult {
	e, ok := apperr.As(err)
	if !ok {
		return TestResult{Reason: ReasonBadURL, Message: "URL を確認してください (bad URL)", Elapsed: time.Since(start)}
	}
	r := ReasonBadURL
	if strings.Contains(e.Message, "URL refused") {
		r = ReasonURLRefused
	}
	return TestResult{Reason: r, Message: e.Message, Elapsed: time.Since(start)}
}

// probe fetches one frame within Options.TestTimeout.
func (s *Service) probe(ctx context.Context, src source) TestResult {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.opt.TestTimeout)
	defer cancel()
	var creds *camera.Credentials
	if src.creds != nil {
		creds = &camera.Credentials{Username: src.creds.Username, Password: src.creds.Password, Scheme: camera.AuthScheme(src.creds.Scheme)}
	}
	// A client per test: its connections close when the test ends rather
	// than idling for a minute and a half per owner who clicked テスト.
	client := s.opt.Policy.Client(0)
	defer client.CloseIdleConnections()
	var (
		f   camera.Frame
		err error
	)
	switch src.kind {
	case entcamera.SourceKindSIMULATED:
		f, err = camera.NewSimulated("テスト", time.Now).Grab(ctx)
	case entcamera.SourceKindSNAPSHOT:
		f, err = camera.NewSnapshot(src.url, creds, client).Grab(ctx)
	case entcamera.SourceKindMJPEG:
		f, err = s.firstMJPEGFrame(ctx, src.url, creds, client)
	case entcamera.SourceKindRTSP:
		return s.probeRTSP(ctx, src, start)
	}
	if err != nil {
		r, msg := s.explain(ctx, err)
		if r == ReasonAuthRefused && creds == nil {
			msg = "カメラが認証を求めています。ユーザー名とパスワードを入力してください (" + detail(err) + ")"
		}
		return TestResult{Reason: r, Message: msg, Elapsed: time.Since(start)}
	}
	res := TestResult{OK: true, Width: f.Width, Height: f.Height, Elapsed: time.Since(start)}
	th, err := thumbs.Make(f.JPEG, PreviewWidth, 75)
	if err != nil {
		// checkJPEG passed the header but the pixels do not decode.
		return TestResult{Reason: ReasonNotJPEG, Message: "画像を読み取れませんでした (" + err.Error() + ")", Elapsed: time.Since(start)}
	}
	res.Preview = th.JPEG
	res.Message = fmt.Sprintf("%d×%d の画像を取得できました (%d ms)", f.Width, f.Height, res.Elapsed.Milliseconds())
	return res
}

// firstMJPEGFrame opens the stream once and waits for its first frame. A
// failure that retrying cannot fix (refused, 401, not a stream) ends the
// wait at once; otherwise it lasts until ctx ends.
func (s *Service) firstMJPEGFrame(ctx context.Context, rawURL string, creds *camera.Credentials, client *http.Client) (camera.Frame, error) {
	m := camera.NewMJPEG(rawURL, creds, client)
	deadline, _ := ctx.Deadline()
	m.HeaderTimeout = time.Until(deadline)
	m.MinBackoff, m.MaxBackoff = time.Hour, time.Hour // one attempt
	m.Log = slog.New(slog.DiscardHandler)
	if err := m.Start(ctx); err != nil {
		return camera.Frame{}, err
	}
	defer m.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		f, err := m.Grab(context.WithoutCancel(ctx))
		if err == nil {
			return f, nil
		}
		last = err
		if r, _ := s.explain(ctx, err); r != ReasonTimeout && r != "" {
			return camera.Frame{}, err
		}
		select {
		case <-ctx.Done():
			return camera.Frame{}, fmt.Errorf("%w (%v)", context.DeadlineExceeded, last)
		case <-tick.C:
		}
	}
}

// explain turns a fetch error into a reason and a sentence for the owner.
// An MJPEG "no frame yet" explains to ReasonTimeout (keep waiting).
func (s *Service) explain(ctx context.Context, err error) (Reason, string) {
	secs := fmt.Sprintf("%g", s.opt.TestTimeout.Seconds())
	var (
		re   *netguard.RefusedError
		hs   *camera.HTTPStatusError
		cv   *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
		hn   x509.HostnameError
		ci   x509.CertificateInvalidError
		rh   tls.RecordHeaderError
		dns  *net.DNSError
		ne   net.Error
		aerr tls.AlertError
	)
	switch {
	case errors.As(err, &re):
		return ReasonURLRefused, refusedMessage(re)
	case errors.Is(err, camera.ErrUnauthorized):
		return ReasonAuthRefused, "カメラが認証を拒否しました。ユーザー名とパスワードを確認してください (" + detail(err) + ")"
	case errors.As(err, &hs) && (hs.Code == 401 || hs.Code == 403):
		return ReasonAuthRefused, fmt.Sprintf("カメラがアクセスを拒否しました (%s)。ユーザー名・パスワードや権限を確認してください", hs.Status())
	case errors.As(err, &hs):
		return ReasonHTTPStatus, fmt.Sprintf("カメラが %s を返しました。URL のパスを確認してください", hs.Status())
	case errors.Is(err, camera.ErrNotMJPEG):
		return ReasonNotJPEG, "MJPEG のストリームではありません。静止画の URL なら種類を SNAPSHOT にしてください (" + detail(err) + ")"
	case errors.Is(err, camera.ErrNotJPEG):
		return ReasonNotJPEG, "カメラの応答が JPEG 画像ではありません。スナップショット画像の URL か確認してください (" + detail(err) + ")"
	case errors.Is(err, camera.ErrTooLarge):
		return ReasonNotJPEG, "画像が大きすぎます (" + detail(err) + ")"
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci):
		return ReasonTLS, "カメラの TLS 証明書を検証できませんでした (信頼されていない・期限切れ・ホスト名違い)。http:// の URL を使うか、正しい証明書を設定してください (" + detail(err) + ")"
	case errors.As(err, &rh), errors.As(err, &aerr):
		return ReasonTLS, "TLS の接続に失敗しました。https:// と http:// を取り違えていないか確認してください (" + detail(err) + ")"
	case errors.As(err, &dns):
		return ReasonUnreachable, fmt.Sprintf("ホスト名 %s が見つかりません (%s)", dns.Name, detail(err))
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout, secs + " 秒以内にカメラから画像が届きませんでした。カメラの電源とネットワークを確認してください (" + detail(err) + ")"
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonUnreachable, "カメラに接続できません (接続を拒否されました)。アドレスとポート番号を確認してください (" + detail(err) + ")"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ReasonUnreachable, "カメラのネットワークに届きません。アドレスを確認してください (" + detail(err) + ")"
	case errors.Is(err, camera.ErrOffline):
		return ReasonTimeout, "" // no frame yet
	}
	var op *net.OpError
	if errors.As(err, &op) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return ReasonUnreachable, "カメラとの接続に失敗しました (" + detail(err) + ")"
	}
	if ctx.Err() != nil {
		return ReasonTimeout, secs + " 秒以内にカメラから画像が届きませんでした (" + detail(err) + ")"
	}
	return ReasonUnreachable, "カメラから画像を取得できませんでした (" + detail(err) + ")"
}

// detail is the technical error, short. Camera URLs in errors are already
// redacted (userinfo never reaches a grabber: it is lifted out first).
func detail(err error) string {
	m := err.Error()
	if len(m) > 300 {
		m = m[:300] + "…"
	}
	return strings.ToValidUTF8(m, "")
}

// RTSPStream reads an RTSP camera for a source test: DESCRIBE, SETUP and
// PLAY until the H.264 parameters (and, when it can, the first keyframe as
// a JPEG) arrive. app implements it over footage/rtspsrc, as the recorder
// reads the camera; camera/ may not import footage/, which imports camera.
// Its errors wrap the ErrRTSP… sentinels below (and the cause).
type RTSPStream interface {
	ProbeRTSP(ctx context.Context, rawURL, user, pass string, timeout time.Duration, dialer *net.Dialer) (RTSPProbe, error)
}

// RTSPProbe is what an RTSP source test saw.
type RTSPProbe struct {
	Width, Height int
	// Keyframe is the first keyframe as a JPEG; nil when it could not be
	// decoded (no ffmpeg, no keyframe in time).
	Keyframe []byte
}

// What an RTSPStream's error may wrap.
var (
	ErrRTSPBadURL = errors.New("registry: bad RTSP URL")
	ErrRTSPAuth   = errors.New("registry: RTSP authentication refused")
	ErrRTSPNoH264 = errors.New("registry: no H.264 video in the RTSP stream")
)

// probeRTSP plays the camera's stream as footage's recorder does until it
// has the H.264 parameters, so OK means the camera can be recorded; the
// preview is its first keyframe. The URL policy was applied to the host by
// parseSource and is applied again to the address dialled.
func (s *Service) probeRTSP(ctx context.Context, src source, start time.Time) TestResult {
	if s.opt.RTSP == nil {
		return TestResult{Reason: ReasonRTSP, Message: "このサーバーでは RTSP カメラを確認できません (RTSP is not read here)", Elapsed: time.Since(start)}
	}
	var user, pass string
	if src.creds != nil {
		user, pass = src.creds.Username, src.creds.Password
	}
	got, err := s.opt.RTSP.ProbeRTSP(ctx, src.url, user, pass, s.opt.TestTimeout, s.opt.Policy.Dialer(s.opt.TestTimeout))
	if err != nil {
		r, msg := s.explainRTSP(err, src.creds != nil)
		return TestResult{Reason: r, Message: msg, Elapsed: time.Since(start)}
	}
	res := TestResult{OK: true, Width: got.Width, Height: got.Height}
	if got.Keyframe != nil {
		if th, err := thumbs.Make(got.Keyframe, PreviewWidth, 75); err == nil {
			res.Preview = th.JPEG
		}
	}
	res.Elapsed = time.Since(start)
	if res.Width > 0 && res.Height > 0 {
		res.Message = fmt.Sprintf("%d×%d の H.264 映像を受信できました (%d ms)", res.Width, res.Height, res.Elapsed.Milliseconds())
	} else {
		res.Message = fmt.Sprintf("H.264 の映像を受信できました (%d ms)", res.Elapsed.Milliseconds())
	}
	return res
}

// explainRTSP turns an RTSPStream's error into a reason and a sentence.
// Only its kind and an RTSP status code are repeated: the rest of the
// text comes from whatever answered on that port.
func (s *Service) explainRTSP(err error, withCreds bool) (Reason, string) {
	switch {
	case errors.Is(err, ErrRTSPBadURL):
		return ReasonBadURL, "URL の形式が正しくありません。rtsp://ホスト[:ポート]/パス の形で入力してください (bad RTSP URL)"
	case errors.Is(err, ErrRTSPAuth) && !withCreds:
		return ReasonAuthRefused, "カメラが認証を求めています。ユーザー名とパスワードを入力してください (RTSP 401)"
	case errors.Is(err, ErrRTSPAuth):
		return ReasonAuthRefused, "カメラが認証を拒否しました。ユーザー名とパスワードを確認してください (RTSP 401)"
	case errors.Is(err, ErrRTSPNoH264):
		return ReasonRTSP, "カメラの映像に H.264 がありません。カメラの設定で映像の圧縮方式を H.264 にするか、H.264 のストリームの URL を指定してください (no H.264 video in the stream)"
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout, fmt.Sprintf("%g 秒以内にカメラから映像が届きませんでした。カメラの電源とネットワークを確認してください (RTSP timeout)", s.opt.TestTimeout.Seconds())
	}
	if m := rtspBadStatus.FindStringSubmatch(err.Error()); m != nil {
		return ReasonUnreachable, "カメラが RTSP " + m[1] + " を返しました。URL のパスを確認してください (RTSP " + m[1] + ")"
	}
	return ReasonUnreachable, "カメラに接続できません。アドレス・ポート番号と、RTSP サーバーかどうかを確認してください (RTSP camera unreachable)"
}

// rtspBadStatus finds the status code in gortsplib's "bad status code:
// 404 (Not Found)".
var rtspBadStatus = regexp.MustCompile(`bad status code: ([1-9][0-9]{2})\b`)
