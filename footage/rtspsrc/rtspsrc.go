// Package rtspsrc reads an H.264 camera over RTSP (gortsplib): DESCRIBE,
// SETUP and PLAY, then the camera's access units, untouched, with the
// wall-clock time each was taken as well as the reader can tell.
//
// TCP (interleaved) is tried first — it passes NAT and firewalls and loses
// nothing — and UDP only when the camera refuses TCP. Errors are sorted
// with errors.Is into ErrBadURL, ErrUnreachable, ErrAuth and ErrNoH264, and
// never carry the URL's user or password.
package rtspsrc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/bluenviron/mediacommon/pkg/codecs/h264"
	"github.com/pion/rtp"
)

var (
	// ErrBadURL: not an rtsp:// or rtsps:// URL with a host.
	ErrBadURL = errors.New("rtspsrc: bad URL")
	// ErrUnreachable: the camera did not answer (refused, timed out, not
	// found, or the stream is not there).
	ErrUnreachable = errors.New("rtspsrc: camera unreachable")
	// ErrAuth: the camera refused the user and password (401).
	ErrAuth = errors.New("rtspsrc: authentication refused")
	// ErrNoH264: the camera offers no H.264 video.
	ErrNoH264 = errors.New("rtspsrc: no H.264 video")
)

// Options are how to reach the camera. User and Password, when set, win
// over any in the URL.
type Options struct {
	User, Password string
	// DialTimeout bounds the TCP connection (default 10 s).
	DialTimeout time.Duration
	// ReadTimeout bounds each answer of the camera and how long the
	// stream may stay silent before Read returns (default 10 s).
	ReadTimeout time.Duration
	// Dialer, when set, opens the TCP connection: its Control is how the
	// server's camera URL policy (netguard) checks the address actually
	// dialled, not only the one the URL named (DNS rebinding). Its Timeout
	// is DialTimeout when it has none.
	Dialer *net.Dialer
}

// queueLen bounds the access units waiting for Read; at 30 fps it is two
// seconds of a consumer that fell behind.
const queueLen = 64

type unit struct {
	at time.Time
	au [][]byte
}

// Session is one PLAY of one camera.
type Session struct {
	client *gortsplib.Client
	secret []string // user and password, scrubbed out of any error text

	mu       sync.Mutex
	sps, pps []byte

	queue     chan unit
	dropped   atomic.Int64
	needIDR   atomic.Bool
	closeOnce sync.Once
	done      chan struct{} // closed when the client ends
	waitErr   error

	// Wall-clock anchoring of the camera's PTS, touched by the client's
	// reading goroutine only.
	anchored  bool
	epoch     time.Time     // arrival of the first access unit
	offset    time.Duration // at = epoch + PTS + offset
	lastPTS   time.Duration
	clockRate int64
}

// Dial connects to the camera at rawURL and starts playing its H.264
// track. The access units wait (boundedly) for Read.
func Dial(ctx context.Context, rawURL string, opt Options) (*Session, error) {
	if opt.DialTimeout <= 0 {
		opt.DialTimeout = 10 * time.Second
	}
	if opt.ReadTimeout <= 0 {
		opt.ReadTimeout = 10 * time.Second
	}
	u, secret, err := parseURL(rawURL, opt)
	if err != nil {
		return nil, err
	}
	s, err := dial(ctx, u, opt, secret, gortsplib.TransportTCP)
	if err != nil && isUnsupportedTransport(err) {
		s, err = dial(ctx, u, opt, secret, gortsplib.TransportUDP)
	}
	return s, err
}

func parseURL(rawURL string, opt Options) (*base.URL, []string, error) {
	var secret []string
	pu, err := url.Parse(rawURL)
	if err == nil && pu.User != nil {
		p, _ := pu.User.Password()
		secret = append(secret, pu.User.Username(), p)
	}
	// url.Parse's error repeats the URL, credentials included: say only
	// what is wrong.
	if err != nil || (pu.Scheme != "rtsp" && pu.Scheme != "rtsps") || pu.Host == "" {
		return nil, nil, fmt.Errorf("%w: want rtsp://host[:port]/path", ErrBadURL)
	}
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: want rtsp://host[:port]/path", ErrBadURL)
	}
	if opt.User != "" || opt.Password != "" {
		u.User = url.UserPassword(opt.User, opt.Password)
		secret = append(secret, opt.User, opt.Password)
	}
	return u, secret, nil
}

func isUnsupportedTransport(err error) bool {
	var bs liberrors.ErrClientBadStatusCode
	return errors.As(err, &bs) && bs.Code == base.StatusUnsupportedTransport
}

func dial(ctx context.Context, u *base.URL, opt Options, secret []string, tr gortsplib.Transport) (*Session, error) {
	s := &Session{
		secret:    secret,
		queue:     make(chan unit, queueLen),
		done:      make(chan struct{}),
		clockRate: 90000,
	}
	dialer := &net.Dialer{Timeout: opt.DialTimeout}
	if opt.Dialer != nil {
		d := *opt.Dialer
		if d.Timeout == 0 {
			d.Timeout = opt.DialTimeout
		}
		dialer = &d
	}
	c := &gortsplib.Client{
		Transport:   &tr,
		ReadTimeout: opt.ReadTimeout,
		DialContext: func(dctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		// The camera's wall clock in RTCP is not trusted (many cameras never
		// set theirs); arrival time anchors the PTS instead.
	}
	s.client = c
	if err := c.Start(u.Scheme, u.Host); err != nil {
		return nil, s.classify(err)
	}
	// A cancelled ctx aborts a dial that hangs inside gortsplib, and the
	// setup (DESCRIBE to PLAY) has a deadline of its own: gortsplib follows
	// DESCRIBE redirects without counting them, so a server that redirects
	// to itself would otherwise hold the recorder for ever.
	sctx, cancelSetup := context.WithTimeout(ctx, opt.DialTimeout+3*opt.ReadTimeout)
	defer cancelSetup()
	stop := context.AfterFunc(sctx, c.Close)
	defer stop()
	fail := func(err error) (*Session, error) {
		c.Close()
		if sctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnreachable, sctx.Err())
		}
		return nil, s.classify(err)
	}

	desc, _, err := c.Describe(u)
	if err != nil {
		return fail(err)
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		c.Close()
		return nil, ErrNoH264
	}
	s.sps, s.pps = forma.SafeParams()
	s.clockRate = int64(forma.ClockRate())
	dec, err := forma.CreateDecoder()
	if err != nil {
		return fail(err)
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return fail(err)
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) { s.onPacket(medi, dec, pkt) })
	if _, err := c.Play(nil); err != nil {
		return fail(err)
	}
	go func() {
		s.waitErr = c.Wait()
		close(s.done)
	}()
	// Without parameters in the SDP, wait for them in-band: a writer needs
	// them before the first fragment.
	if s.SPS() == nil || s.PPS() == nil {
		t := time.NewTimer(opt.ReadTimeout)
		defer t.Stop()
		for s.SPS() == nil || s.PPS() == nil {
			select {
			case <-ctx.Done():
				s.Close()
				return nil, fmt.Errorf("%w: %w", ErrUnreachable, ctx.Err())
			case <-s.done:
				return nil, s.classify(s.waitErr)
			case <-t.C:
				s.Close()
				return nil, fmt.Errorf("%w: no SPS/PPS within %v", ErrNoH264, opt.ReadTimeout)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return s, nil
}

func (s *Session) onPacket(medi *description.Media, dec *rtph264.Decoder, pkt *rtp.Packet) {
	pts, ok := s.client.PacketPTS2(medi, pkt)
	if !ok {
		return
	}
	au, err := dec.Decode(pkt)
	if err != nil {
		return // more packets needed, or a lost one: the decoder resyncs
	}
	// The NAL units may point into the packet's buffer, which is not ours
	// after this callback; Read runs on another goroutine.
	au = cloneAU(au)
	// Parameters in-band (a camera that changes resolution) replace the
	// SDP's; the writer notices the change and starts a new segment.
	idr := false
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			s.mu.Lock()
			s.sps = append(s.sps[:0:0], n...)
			s.mu.Unlock()
		case h264.NALUTypePPS:
			s.mu.Lock()
			s.pps = append(s.pps[:0:0], n...)
			s.mu.Unlock()
		case h264.NALUTypeIDR:
			idr = true
		}
	}
	// The camera's clock says the spacing, arrival says where the stream
	// is: at = PTS + offset, with offset the lower envelope of arrival −
	// PTS (the least-delayed frame is the truest; a late first frame must
	// not shift every time after it). The envelope rises 1 ms per second
	// of stream so it follows a camera clock that runs slow, and a jump
	// (the camera restarted its timestamps) starts it afresh.
	now := time.Now()
	p := ticksToDuration(pts, s.clockRate)
	if !s.anchored {
		s.anchored, s.epoch, s.offset, s.lastPTS = true, now, 0, p
	}
	s.offset += (p - s.lastPTS) / 1000
	s.lastPTS = p
	if off := now.Sub(s.epoch) - p; off < s.offset || now.Sub(s.epoch.Add(p+s.offset)) > 5*time.Second {
		s.offset = off
	}
	at := s.epoch.Add(p + s.offset)
	if s.needIDR.Load() {
		if !idr {
			return
		}
		s.needIDR.Store(false)
	}
	select {
	case s.queue <- unit{at: at, au: au}:
	default:
		// Read fell behind: drop until the next IDR, since frames after a
		// missing one do not decode.
		s.dropped.Add(1)
		s.needIDR.Store(true)
	}
}

// SPS is the newest sequence parameter set (from the SDP, or in-band).
func (s *Session) SPS() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sps
}

// PPS is the newest picture parameter set.
func (s *Session) PPS() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pps
}

// Dropped is how many access units were dropped because Read fell behind.
func (s *Session) Dropped() int64 { return s.dropped.Load() }

// Read calls fn with each access unit (its NAL units) and the wall-clock
// time it was taken: the arrival of the first one plus the camera's PTS
// since, so the spacing is the camera's. It returns when the stream ends
// (the camera disconnects or stays silent ReadTimeout long: an error
// wrapping ErrUnreachable), ctx ends, or Close is called. fn runs on
// Read's goroutine and must not keep au past its return.
func (s *Session) Read(ctx context.Context, fn func(at time.Time, au [][]byte)) error {
	for {
		select {
		case u := <-s.queue:
			fn(u.at, u.au)
			continue
		default:
		}
		select {
		case u := <-s.queue:
			fn(u.at, u.au)
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			// Deliver what arrived before the end.
			for {
				select {
				case u := <-s.queue:
					fn(u.at, u.au)
					continue
				default:
				}
				break
			}
			return s.classify(s.waitErr)
		}
	}
}

// Close stops the session.
func (s *Session) Close() error {
	s.closeOnce.Do(s.client.Close)
	return nil
}

// classify sorts a gortsplib error and scrubs credentials out of its text.
func (s *Session) classify(err error) error {
	if err == nil {
		return fmt.Errorf("%w: stream ended", ErrUnreachable)
	}
	var kind error
	var bs liberrors.ErrClientBadStatusCode
	var ne net.Error
	switch {
	case errors.As(err, &bs) && bs.Code == base.StatusUnauthorized:
		kind = ErrAuth
	case errors.As(err, &bs):
		kind = ErrUnreachable
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		kind = ErrUnreachable
	default:
		var ae liberrors.ErrClientAuthSetup
		if errors.As(err, &ae) {
			kind = ErrAuth
		} else {
			kind = ErrUnreachable
		}
	}
	return &scrubbed{kind: kind, msg: scrub(err.Error(), s.secret)}
}

// scrubbed keeps the kind for errors.Is and only a cleaned message of the
// cause (the cause itself could print the URL).
type scrubbed struct {
	kind error
	msg  string
}

func (e *scrubbed) Error() string { return e.kind.Error() + ": " + e.msg }
func (e *scrubbed) Unwrap() error { return e.kind }

func scrub(msg string, secret []string) string {
	for _, x := range secret {
		if len(x) >= 1 {
			msg = strings.ReplaceAll(msg, x, "***")
		}
	}
	return msg
}

// cloneAU copies an access unit into one allocation.
func cloneAU(au [][]byte) [][]byte {
	n := 0
	for _, x := range au {
		n += len(x)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(au))
	for i, x := range au {
		buf = append(buf, x...)
		out[i] = buf[len(buf)-len(x) : len(buf) : len(buf)]
	}
	return out
}

// ticksToDuration converts without overflow for days of PTS.
func ticksToDuration(t, rate int64) time.Duration {
	return time.Duration(t/rate*int64(time.Second) + t%rate*int64(time.Second)/rate)
}
