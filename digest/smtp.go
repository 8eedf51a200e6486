package digest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/regicam/regicam/netguard"
)

// Server is where and how one message is submitted.
type Server struct {
	Host     string
	Port     int
	Security string // STARTTLS or TLS; there is no plain-text mode
	Username string
	Password string
	// RootCAs are trusted besides the system's (tests' own certificates).
	RootCAs *x509.CertPool
	// Timeout bounds the whole submission (dial to QUIT).
	Timeout time.Duration
	// DenyPrivate refuses loopback and private addresses (multi-tenant
	// hosting: an owner's mail server must not be the host's network).
	DenyPrivate bool
}

// Step names the part of a submission that failed.
type Step string

const (
	StepConnect Step = "connect" // dial, greeting, TLS
	StepAuth    Step = "auth"
	StepFrom    Step = "from"
	StepRcpt    Step = "rcpt"
	StepData    Step = "data"
)

// SendError is a failed submission: which step, the server's code (0 when
// the server did not answer) and whether trying again may help.
type SendError struct {
	Step Step
	Code int
	// Permanent: the server refused with a 5xx; sending the same again
	// would be refused again.
	Permanent bool
	err       error
}

func (e *SendError) Error() string { return string(e.Step) + ": " + e.err.Error() }
func (e *SendError) Unwrap() error { return e.err }

// Plain says what went wrong in plain Japanese, for the rule's status and
// the test mail's answer. It quotes the server's own words (which never
// carry our password: servers do not echo credentials) but not the Go
// error chain.
func (e *SendError) Plain() string {
	var reply string
	var se *smtp.SMTPError
	if errors.As(e.err, &se) {
		reply = fmt.Sprintf("（サーバーの応答: %d %s）", se.Code, clip(se.Message, 200))
	}
	switch e.Step {
	case StepConnect:
		var ce *tls.CertificateVerificationError
		var he x509.HostnameError
		var re *netguard.RefusedError
		switch {
		case errors.As(e.err, &re):
			return re.Message()
		case errors.As(e.err, &ce), errors.As(e.err, &he):
			return "メールサーバーの証明書を確認できませんでした。ホスト名と、サーバーの証明書が正しいか確かめてください。"
		case strings.Contains(e.err.Error(), "STARTTLS"):
			return "メールサーバーが STARTTLS に対応していません。暗号化の方式を TLS にするか、ポート番号を確かめてください。"
		case isTimeout(e.err):
			return "メールサーバーから時間内に応答がありませんでした。ホスト名とポート番号を確かめてください。"
		}
		return "メールサーバーに接続できませんでした。ホスト名、ポート番号、暗号化の方式を確かめてください。" + reply
	case StepAuth:
		return "メールサーバーがユーザー名かパスワードを受け付けませんでした。" + reply
	case StepFrom:
		return "メールサーバーが送信元アドレスを受け付けませんでした。" + reply
	case StepRcpt:
		if e.Permanent {
			return "メールサーバーが宛先を受け付けませんでした。宛先のアドレスを確かめてください。" + reply
		}
		return "メールサーバーが宛先を一時的に受け付けませんでした。あとで送り直します。" + reply
	}
	return "メールサーバーがメールを受け付けませんでした。" + reply
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// Send submits msg from one address to one recipient: dial, TLS (implicit
// or STARTTLS, never plain text), AUTH PLAIN when a username is set, MAIL,
// RCPT, DATA. A failure is a *SendError.
func Send(ctx context.Context, srv Server, from, to string, msg []byte) error {
	timeout := srv.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fail := func(step Step, err error) error {
		se := &SendError{Step: step, err: err}
		var sm *smtp.SMTPError
		if errors.As(err, &sm) {
			se.Code = sm.Code
			se.Permanent = sm.Code >= 500 && sm.Code < 600
		}
		return se
	}
	addr := net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port))
	tlsConf := &tls.Config{ServerName: srv.Host, MinVersion: tls.VersionTLS12}
	if srv.RootCAs != nil {
		tlsConf.RootCAs = srv.RootCAs
	}
	// The owner's own network may hold the mail server unless the operator
	// says otherwise; link-local and cloud metadata addresses stay out of
	// reach either way (netguard).
	conn, err := netguard.Policy{AllowPrivate: !srv.DenyPrivate}.Dialer(timeout).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail(StepConnect, err)
	}
	// The whole exchange ends with ctx: a server that stops answering
	// cannot hold the sender.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var c *smtp.Client
	switch srv.Security {
	case "TLS":
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fail(StepConnect, err)
		}
		c = smtp.NewClient(tc)
	case "STARTTLS":
		if c, err = smtp.NewClientStartTLS(conn, tlsConf); err != nil {
			conn.Close()
			return fail(StepConnect, err)
		}
	default:
		conn.Close()
		return fail(StepConnect, fmt.Errorf("security %q", srv.Security))
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = timeout, timeout
	if _, ok := c.TLSConnectionState(); !ok {
		return fail(StepConnect, errors.New("connection is not encrypted"))
	}
	if srv.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", srv.Username, srv.Password)); err != nil {
			return fail(StepAuth, err)
		}
	}
	if err := c.Mail(from, nil); err != nil {
		return fail(StepFrom, err)
	}
	if err := c.Rcpt(to, nil); err != nil {
		return fail(StepRcpt, err)
	}
	w, err := c.Data()
	if err != nil {
		return fail(StepData, err)
	}
	if _, err := bytes.NewReader(msg).WriteTo(w); err != nil {
		return fail(StepData, err)
	}
	if err := w.Close(); err != nil {
		return fail(StepData, err)
	}
	_ = c.Quit() // delivered already; a lost QUIT changes nothing
	return nil
}
