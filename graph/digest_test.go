package graph_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"image/jpeg"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/digest"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/digestsend"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/mailsettings"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/internal/testclock"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// dgMail is one message the test's SMTP server accepted.
type dgMail struct {
	from, to string
	data     []byte
}

// dgServer is a real SMTP server (go-smtp) with STARTTLS on a certificate
// made for the test, AUTH PLAIN only after TLS, that records what it
// accepts; refuse decides each RCPT (n counts that recipient's tries).
type dgServer struct {
	addr    string
	pool    *x509.CertPool
	user    string
	pass    string
	refuse  func(to string, n int) error
	mu      sync.Mutex
	mails   []dgMail
	tries   map[string]int
	plainTx int // transactions begun without TLS
}

func startSMTP(t *testing.T, user, pass string) *dgServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	d := &dgServer{pool: x509.NewCertPool(), user: user, pass: pass, tries: map[string]int{}}
	d.pool.AddCert(cert)
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &dgSession{d: d, c: c}, nil }))
	s.Domain = "localhost"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.addr = l.Addr().String()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { s.Close() })
	return d
}

func (d *dgServer) port() int { return d.addrPort().Port }
func (d *dgServer) addrPort() *net.TCPAddr {
	a, _ := net.ResolveTCPAddr("tcp", d.addr)
	return a
}

func (d *dgServer) to(rcpt string) []dgMail {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []dgMail
	for _, m := range d.mails {
		if m.to == rcpt {
			out = append(out, m)
		}
	}
	return out
}

func (d *dgServer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.mails)
}

type dgSession struct {
	d      *dgServer
	c      *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (s *dgSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *dgSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.d.user || pass != s.d.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}
		}
		s.authed = true
		return nil
	}), nil
}
func (s *dgSession) Mail(from string, _ *smtp.MailOptions) error {
	if _, ok := s.c.TLSConnectionState(); !ok {
		s.d.mu.Lock()
		s.d.plainTx++
		s.d.mu.Unlock()
	}
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}
func (s *dgSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.d.mu.Lock()
	s.d.tries[to]++
	n := s.d.tries[to]
	s.d.mu.Unlock()
	if s.d.refuse != nil {
		if err := s.d.refuse(to, n); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}
func (s *dgSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	for _, to := range s.to {
		s.d.mails = append(s.d.mails, dgMail{from: s.from, to: to, data: b})
	}
	return nil
}
func (s *dgSession) Reset()        { s.from, s.to = "", nil }
func (s *dgSession) Logout() error { return nil }

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitPasses waits until every server's scheduler has made n more passes.
func waitPasses(t *testing.T, n int64, srvs ...*testenv.Server) {
	t.Helper()
	for _, s := range srvs {
		svc := digest.Of(s.DB.Client)
		start := svc.Passes()
		waitFor(t, "scheduler passes", func() bool { return svc.Passes() >= start+n })
	}
}

var jst = time.FixedZone("JST", 9*3600)

// dgStart starts two servers on one database, their digest schedulers on
// clock (every 10 ms) and trusting smtp's certificate.
// safieURL, when set, is the camera cloud the servers ask for pictures.
func dgStart(t *testing.T, b testenv.Backend, clock *testclock.Clock, smtpSrv *dgServer, safieURL ...string) (*testenv.Server, *testenv.Server) {
	dir := t.TempDir()
	conf := func(cfg *app.Config, _ string) {
		cfg.Digest = app.DigestConfig{Every: 10 * time.Millisecond, Now: clock.Now, RootCAs: smtpSrv.pool}
		if len(safieURL) > 0 {
			cfg.SafieBaseURL = safieURL[0]
		}
	}
	s1 := testenv.StartWith(t, b, dir, conf)
	s2 := testenv.StartWith(t, b, dir, conf)
	return s1, s2
}

func dgSettings(t *testing.T, srv gqlClient, port int, password string) {
	t.Helper()
	var out struct{ SetMailSettings struct{ HasPassword bool } }
	srv.MustQuery(t, `mutation($in: MailSettingsInput!) { setMailSettings(input: $in) { hasPassword } }`,
		map[string]any{"in": map[string]any{"host": "127.0.0.1", "port": port, "security": "STARTTLS", "username": "digest",
			"password": password, "fromAddress": "report@example.jp", "fromName": "レジカメ本部"}}, &out)
	if !out.SetMailSettings.HasPassword {
		t.Fatal("hasPassword false after storing one")
	}
}

func dgCreateRule(t *testing.T, srv gqlClient, recipients []string, shops []pulid.ID) string {
	t.Helper()
	var out struct{ CreateDigestRule struct{ ID string } }
	srv.MustQuery(t, `mutation($in: DigestRuleInput!) { createDigestRule(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": "閉店レポート", "recipients": recipients, "shopIDs": shops, "sendAt": "22:00"}}, &out)
	return out.CreateDigestRule.ID
}

func dgSends(t *testing.T, c *ent.Client) []*ent.DigestSend {
	t.Helper()
	rows, err := c.DigestSend.Query().Order(ent.Asc(digestsend.FieldRecipient)).All(viewer.System(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestDigestExactlyOnceAcrossServers: two servers on one database, one
// controlled clock. Before 22:00 nothing goes; after it each recipient
// gets the shop's day exactly once, over STARTTLS, with its headers,
// Japanese subject and figures, and the day's exception with the picture
// its camera took of it inline; later passes of both send nothing more.
// The password is in no answer and no log line.
func TestDigestExactlyOnceAcrossServers(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		password := testenv.Secret("smtp-pass-" + string(pulid.MustNew("PW")))
		mailSrv := startSMTP(t, "digest", password)
		// Yesterday in Japan: every receipt of it is in the past, and well
		// inside what the camera cloud keeps, whenever the test runs.
		y := time.Now().In(jst).AddDate(0, 0, -1)
		day := time.Date(y.Year(), y.Month(), y.Day(), 0, 0, 0, 0, jst)
		dayStr := day.Format(time.DateOnly)
		clock := testclock.New(day.Add(21*time.Hour + 50*time.Minute))
		// The register of D-1 is watched by a cloud camera, which keeps
		// pictures of past seconds: the late receipt still gets its own.
		cloud, stopCloud := fake.Start(fake.Options{})
		t.Cleanup(stopCloud)
		cloud.AddDevice(fake.Device{ID: "201000192", Serial: "201000192", Name: "レジ前カメラ", Model: "CC-2L_SF", ItemIDs: []int{5}, Streaming: true})
		s1, s2 := dgStart(t, b, clock, mailSrv, cloud.URL())
		fx := testenv.NewFixture(t, s1.DB.Client, s1.AccountID)
		var conn struct {
			ConnectCameraCloud struct{ Cameras []struct{ ID string } }
		}
		s1.MustQuery(t, `mutation($in: ConnectCameraCloudInput!) { connectCameraCloud(input: $in) { cameras { id } } }`,
			map[string]any{"in": map[string]any{"apiKey": cloud.APIKey(), "optionItemID": 5}}, &conn)
		if len(conn.ConnectCameraCloud.Cameras) != 1 {
			t.Fatalf("camera cloud: %+v", conn)
		}
		// The register has watched that camera since before the day (the
		// link portal would link it from now on, after the sale).
		ctx := viewer.System(t.Context())
		if _, err := s1.DB.Client.Link.Delete().Where(link.TerminalID(fx.TerminalIDs[0])).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s1.DB.Client.Link.Create().SetAccountID(s1.AccountID).SetTerminalID(fx.TerminalIDs[0]).
			SetCameraID(pulid.ID(conn.ConnectCameraCloud.Cameras[0].ID)).SetCreatedAt(testenv.LinkedSince).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		// The exception: a sale over ¥10,000, as the owner sets it up.
		s1.MustQuery(t, `mutation { createAlertRule(input: {name: "高額の売上", kind: CUSTOM, conditions: {kinds: [PAYMENT], amountMin: 10000}}) { rule { id } } }`, nil, nil)
		saleAt := day.Add(12*time.Hour + 34*time.Second + 400*time.Millisecond)
		ing := tjMustIngest(t, s1,
			tjReceipt(fx.TerminalIDs[0], "D-1", "PAYMENT", saleAt, map[string]any{"total": 12800, "deposit": 13000, "change": 200}),
			tjReceipt(fx.TerminalIDs[1], "D-2", "PAYMENT", day.Add(13*time.Hour), map[string]any{"total": 3000, "deposit": 3000}),
			tjReceipt(fx.TerminalIDs[1], "D-3", "CANCEL", day.Add(14*time.Hour), map[string]any{"total": 3000, "deposit": 3000}))
		// The picture comes from the cloud after the ingest answers; the
		// digest must not be due before it is stored.
		waitFor(t, "D-1's picture and alert", func() bool {
			var e struct {
				Node struct{ Thumbnail *struct{ URL string } }
			}
			s1.MustQuery(t, `query($id: ID!) { node(id: $id) { ... on JournalEntry { thumbnail { url } } } }`, map[string]any{"id": ing[0].Entry.ID}, &e)
			var a struct {
				Alerts struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
			s1.MustQuery(t, `{ alerts(first: 10) { edges { node { id } } } }`, nil, &a)
			return e.Node.Thumbnail != nil && len(a.Alerts.Edges) == 1
		})
		dgSettings(t, s1, mailSrv.port(), password)
		res := s2.Query(t, `{ mailSettings { host port security username hasPassword fromAddress fromName } }`, nil)
		if len(res.Errors) > 0 || strings.Contains(string(res.Data), password) || !strings.Contains(string(res.Data), `"hasPassword":true`) {
			t.Fatalf("mailSettings: %s %+v", res.Data, res.Errors)
		}
		rcpts := []string{"tencho@example.jp", "honbu@example.jp"}
		dgCreateRule(t, s1, rcpts, []pulid.ID{fx.ShopID})

		waitPasses(t, 3, s1, s2)
		if n := mailSrv.count(); n != 0 {
			t.Fatalf("%d mails before 22:00", n)
		}
		clock.Set(day.Add(22*time.Hour + time.Minute))
		waitFor(t, "both digests", func() bool { return mailSrv.count() >= 2 })
		waitPasses(t, 5, s1, s2)
		clock.Add(3 * time.Hour) // still the same day's digest: nothing new
		waitPasses(t, 5, s1, s2)
		if n := mailSrv.count(); n != 2 {
			t.Fatalf("%d mails, want 2 (one per recipient)", n)
		}
		if mailSrv.plainTx != 0 {
			t.Errorf("%d transactions without TLS", mailSrv.plainTx)
		}
		for _, rcpt := range rcpts {
			got := mailSrv.to(rcpt)
			if len(got) != 1 {
				t.Fatalf("%s got %d mails", rcpt, len(got))
			}
			r, err := mail.CreateReader(strings.NewReader(string(got[0].data)))
			if err != nil {
				t.Fatal(err)
			}
			from, _ := r.Header.AddressList("From")
			to, _ := r.Header.AddressList("To")
			date, derr := r.Header.Date()
			id, _ := r.Header.MessageID()
			subj, serr := r.Header.Subject()
			if len(from) != 1 || from[0].Address != "report@example.jp" || from[0].Name != "レジカメ本部" || got[0].from != "report@example.jp" {
				t.Errorf("From %v (envelope %s)", from, got[0].from)
			}
			if len(to) != 1 || to[0].Address != rcpt {
				t.Errorf("To %v, want %s", to, rcpt)
			}
			if derr != nil || !date.Equal(clock.Now().Add(-3*time.Hour).Truncate(time.Second)) && date.Before(day.Add(22*time.Hour)) {
				t.Errorf("Date %v %v", date, derr)
			}
			if !strings.HasPrefix(id, "digest.DS") || !strings.HasSuffix(id, "@example.jp") {
				t.Errorf("Message-ID %q", id)
			}
			if serr != nil || subj != "【regicam】渋谷店 "+dayStr+" の日次レポート" || !strings.Contains(r.Header.Get("Subject"), "=?utf-8?") {
				t.Errorf("subject %q (raw %q) %v", subj, r.Header.Get("Subject"), serr)
			}
			html, images := dgParts(t, got[0].data)
			// The exception's picture is inline: one JPEG part, named by its
			// Content-ID from the HTML and nowhere else, showing the sale's
			// second as the camera drew it.
			if len(images) != 1 {
				t.Fatalf("%s: %d inline images, want 1 (the exception's)", rcpt, len(images))
			}
			for cid, jpg := range images {
				if n := strings.Count(html, `src="cid:`); n != 1 || !strings.Contains(html, `src="cid:`+cid+`"`) {
					t.Errorf("%s: HTML names %d images, want cid:%s", rcpt, n, cid)
				}
				if _, err := jpeg.Decode(bytes.NewReader(jpg)); err != nil {
					t.Errorf("%s: inline image is not a JPEG: %v", rcpt, err)
				}
				shown, err := camera.DecodeTime(jpg)
				if err != nil {
					t.Fatalf("%s: read the clock in the inline picture: %v", rcpt, err)
				}
				if d := shown.Sub(saleAt.Truncate(time.Second)); d < -time.Second || d > time.Second {
					t.Errorf("%s: the picture shows %s, the sale was at %s", rcpt, shown.In(jst), saleAt)
				}
			}
			// 12,800 + 3,000 sold, 3,000 refunded: 売上額 15,800, 返金額 3,000, 差引額 12,800, 3 件.
			for _, want := range []string{"売上額", "¥15,800", "返金額", "¥3,000", "差引額", "¥12,800", "件数"} {
				if !strings.Contains(html, want) {
					t.Errorf("%s: HTML lacks %q", rcpt, want)
				}
			}
		}
		for _, row := range dgSends(t, s1.DB.Client) {
			if row.State != digestsend.StateSENT || row.MessageID == "" || row.Day != dayStr || row.Attempts != 1 {
				t.Errorf("send row %s: %s %q day %s attempts %d", row.Recipient, row.State, row.MessageID, row.Day, row.Attempts)
			}
		}
		var rules struct {
			DigestRules []struct {
				Status, LastError string
				LastSentAt        *string
			}
		}
		s2.MustQuery(t, `{ digestRules { status lastError lastSentAt } }`, nil, &rules)
		if len(rules.DigestRules) != 1 || rules.DigestRules[0].Status != "OK" || rules.DigestRules[0].LastSentAt == nil {
			t.Errorf("rules %+v", rules.DigestRules)
		}
		// Asked again for the same day: queued at most once, nothing new.
		var now struct{ SendDigestNow struct{ ID string } }
		ruleID := dgSends(t, s1.DB.Client)[0].DigestRuleID
		s2.MustQuery(t, `mutation($id: ID!, $day: String) { sendDigestNow(id: $id, day: $day) { id } }`, map[string]any{"id": ruleID, "day": dayStr}, &now)
		waitPasses(t, 3, s1, s2)
		if n := mailSrv.count(); n != 2 {
			t.Errorf("%d mails after sendDigestNow of a sent day, want 2", n)
		}
		if lines := testenv.Scan(password); len(lines) > 0 {
			t.Errorf("password logged: %q", lines)
		}
	})
}

// dgParts reads a received digest as any mail client would (net/mail and
// mime/multipart, not the library that wrote it): its root must be
// multipart/related; it returns the HTML body and the image/jpeg parts by
// Content-ID.
func dgParts(t *testing.T, raw []byte) (string, map[string][]byte) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		t.Fatalf("root Content-Type %q (%v), want multipart/related", msg.Header.Get("Content-Type"), err)
	}
	html := ""
	images := map[string][]byte{}
	var walk func(r *multipart.Reader)
	walk = func(r *multipart.Reader) {
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("read part: %v", err)
			}
			pt, pp, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if err != nil {
				t.Fatalf("part Content-Type %q: %v", p.Header.Get("Content-Type"), err)
			}
			if strings.HasPrefix(pt, "multipart/") {
				walk(multipart.NewReader(p, pp["boundary"]))
				continue
			}
			var body io.Reader = p
			if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
				body = base64.NewDecoder(base64.StdEncoding, p)
			}
			b, err := io.ReadAll(body)
			if err != nil {
				t.Fatalf("read %s part: %v", pt, err)
			}
			switch pt {
			case "text/html":
				html = string(b)
			case "image/jpeg":
				cid := strings.TrimSuffix(strings.TrimPrefix(p.Header.Get("Content-ID"), "<"), ">")
				if cid == "" {
					t.Fatalf("image/jpeg part without a Content-ID: %v", p.Header)
				}
				images[cid] = b
			}
		}
	}
	walk(multipart.NewReader(msg.Body, params["boundary"]))
	return html, images
}

// TestDigestRefusals: a 4xx on a recipient is retried after the backoff
// and then delivered once; a 5xx fails only that recipient's row and
// marks the rule ERROR with the reason in Japanese.
func TestDigestRefusals(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		password := testenv.Secret("smtp-pass-" + string(pulid.MustNew("PW")))
		mailSrv := startSMTP(t, "digest", password)
		mailSrv.refuse = func(to string, n int) error {
			switch {
			case to == "busy@example.jp" && n == 1:
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
			case to == "gone@example.jp":
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}
			return nil
		}
		clock := testclock.New(time.Date(2026, 12, 2, 21, 50, 0, 0, jst))
		s1, s2 := dgStart(t, b, clock, mailSrv)
		fx := testenv.NewFixture(t, s1.DB.Client, s1.AccountID)
		dgSettings(t, s1, mailSrv.port(), password)
		dgCreateRule(t, s1, []string{"ok@example.jp", "busy@example.jp", "gone@example.jp"}, []pulid.ID{fx.ShopID})
		clock.Set(time.Date(2026, 12, 2, 22, 1, 0, 0, jst))
		state := func(rcpt string) *ent.DigestSend {
			for _, r := range dgSends(t, s1.DB.Client) {
				if r.Recipient == rcpt {
					return r
				}
			}
			return nil
		}
		waitFor(t, "first attempts", func() bool {
			ok, busy, gone := state("ok@example.jp"), state("busy@example.jp"), state("gone@example.jp")
			return ok != nil && ok.State == digestsend.StateSENT && busy != nil && busy.Attempts == 1 &&
				busy.State == digestsend.StatePENDING && gone != nil && gone.State == digestsend.StateFAILED
		})
		gone := state("gone@example.jp")
		if gone.Attempts != 1 || !strings.Contains(gone.LastError, "宛先を受け付けませんでした") || !strings.Contains(gone.LastError, "550") {
			t.Errorf("refused row: attempts %d, %q", gone.Attempts, gone.LastError)
		}
		var rules struct {
			DigestRules []struct{ Status, LastError string }
		}
		s2.MustQuery(t, `{ digestRules { status lastError } }`, nil, &rules)
		if len(rules.DigestRules) != 1 || rules.DigestRules[0].Status != "ERROR" || rules.DigestRules[0].LastError == "" ||
			strings.Contains(rules.DigestRules[0].LastError, password) {
			t.Fatalf("rule after refusals: %+v", rules.DigestRules)
		}
		// Before the backoff ends nothing is retried.
		waitPasses(t, 3, s1, s2)
		if n := len(mailSrv.to("busy@example.jp")); n != 0 {
			t.Fatalf("busy got %d mails before its retry", n)
		}
		clock.Add(2 * time.Minute)
		waitFor(t, "the retry", func() bool { return state("busy@example.jp").State == digestsend.StateSENT })
		waitPasses(t, 5, s1, s2)
		if n := len(mailSrv.to("busy@example.jp")); n != 1 {
			t.Errorf("busy got %d mails, want 1", n)
		}
		if n := len(mailSrv.to("ok@example.jp")); n != 1 {
			t.Errorf("ok got %d mails, want 1", n)
		}
		if n := len(mailSrv.to("gone@example.jp")); n != 0 {
			t.Errorf("gone got %d mails", n)
		}
		if r := state("gone@example.jp"); r.State != digestsend.StateFAILED || r.Attempts != 1 {
			t.Errorf("refused row retried: %s attempts %d", r.State, r.Attempts)
		}
		// The refused recipient of this day keeps the rule in ERROR.
		s2.MustQuery(t, `{ digestRules { status lastError } }`, nil, &rules)
		if rules.DigestRules[0].Status != "ERROR" {
			t.Errorf("rule status %s after a day with a refused recipient", rules.DigestRules[0].Status)
		}
	})
}

// TestDigestBadInput: every field names itself in Japanese; another
// account's shops and rules answer NOT_FOUND; the test mail reports the
// server's refusal in plain words.
func TestDigestBadInput(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		password := testenv.Secret("smtp-pass-" + string(pulid.MustNew("PW")))
		mailSrv := startSMTP(t, "digest", password)
		clock := testclock.New(time.Date(2026, 12, 2, 10, 0, 0, 0, jst))
		srv, _ := dgStart(t, b, clock, mailSrv)
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		other, owner := srv.NewAccount(t, "B社")
		bfx := testenv.NewFixture(t, srv.DB.Client, other)
		wantErr := func(doc string, vars map[string]any, code, field string) {
			t.Helper()
			res := srv.Query(t, doc, vars)
			if len(res.Errors) == 0 || res.Errors[0].Code() != code || res.Errors[0].Field() != field {
				t.Errorf("want %s on %s, got %+v", code, field, res.Errors)
				return
			}
			if m := res.Errors[0].Message; !strings.ContainsFunc(m, func(r rune) bool { return r >= 0x3040 }) {
				t.Errorf("message not Japanese: %q", m)
			}
		}
		set := `mutation($in: MailSettingsInput!) { setMailSettings(input: $in) { host } }`
		good := func(k string, v any) map[string]any {
			in := map[string]any{"host": "127.0.0.1", "port": mailSrv.port(), "fromAddress": "report@example.jp"}
			in[k] = v
			return map[string]any{"in": in}
		}
		wantErr(set, good("port", 0), "BAD_USER_INPUT", "port")
		wantErr(set, good("port", 70000), "BAD_USER_INPUT", "port")
		wantErr(set, good("host", "smtp example"), "BAD_USER_INPUT", "host")
		wantErr(set, good("fromAddress", "本部 <hq@example.jp>"), "BAD_USER_INPUT", "fromAddress")
		wantErr(set, good("fromName", "a\r\nBcc: x@example.jp"), "BAD_USER_INPUT", "fromName")
		rule := `mutation($in: DigestRuleInput!) { createDigestRule(input: $in) { id } }`
		many := make([]string, 21)
		for i := range many {
			many[i] = "r" + string(rune('a'+i)) + "@example.jp"
		}
		wantErr(rule, map[string]any{"in": map[string]any{"name": "x", "recipients": many}}, "BAD_USER_INPUT", "recipients")
		wantErr(rule, map[string]any{"in": map[string]any{"name": "x", "recipients": []string{"not-an-address"}}}, "BAD_USER_INPUT", "recipients.0")
		wantErr(rule, map[string]any{"in": map[string]any{"name": "x", "recipients": []string{"a@example.jp"}, "sendAt": "24:00"}}, "BAD_USER_INPUT", "sendAt")
		wantErr(rule, map[string]any{"in": map[string]any{"name": "x", "recipients": []string{"a@example.jp"}, "shopIDs": []pulid.ID{bfx.ShopID}}}, "NOT_FOUND", "shopIDs")
		foreign := seedForeignDigestOn(t, owner, bfx.ShopID)
		wantErr(`mutation($id: ID!) { sendDigestNow(id: $id) { id } }`, map[string]any{"id": foreign[0]}, "NOT_FOUND", "id")
		wantErr(`mutation($id: ID!) { deleteDigestRule(id: $id) }`, map[string]any{"id": foreign[0]}, "NOT_FOUND", "id")
		wantErr(`mutation($id: ID!, $in: DigestRuleInput!) { updateDigestRule(id: $id, input: $in) { id } }`,
			map[string]any{"id": foreign[0], "in": map[string]any{"name": "x", "recipients": []string{"a@example.jp"}}}, "NOT_FOUND", "id")
		var mine struct{ DigestRules []struct{ ID string } }
		srv.MustQuery(t, `{ digestRules { id } }`, nil, &mine)
		if len(mine.DigestRules) != 0 {
			t.Errorf("A sees %d rules", len(mine.DigestRules))
		}
		// The test mail: a wrong password is the server's refusal in words.
		dgSettings(t, srv, mailSrv.port(), "wrong-"+password)
		wantErr(`mutation { testMailSettings(to: "tencho@example.jp") }`, nil, "BAD_USER_INPUT", "password")
		dgSettings(t, srv, mailSrv.port(), password)
		var ok struct{ TestMailSettings bool }
		srv.MustQuery(t, `mutation { testMailSettings(to: "tencho@example.jp") }`, nil, &ok)
		if !ok.TestMailSettings || len(mailSrv.to("tencho@example.jp")) != 1 {
			t.Errorf("test mail: %v, %d received", ok.TestMailSettings, len(mailSrv.to("tencho@example.jp")))
		}
		limited := false
		for range 6 {
			if res := srv.Query(t, `mutation { testMailSettings(to: "tencho@example.jp") }`, nil); len(res.Errors) > 0 && res.Errors[0].Code() == "RATE_LIMITED" {
				limited = true
				break
			}
		}
		if !limited {
			t.Error("test mails are not rate limited")
		}
		// The kept password never follows the settings to another server,
		// port or login: those need it typed again, and nothing changes.
		moved := map[string]any{"host": "localhost", "port": mailSrv.port(), "security": "STARTTLS", "username": "digest", "fromAddress": "report@example.jp"}
		wantErr(set, map[string]any{"in": moved}, "BAD_USER_INPUT", "password")
		moved["host"], moved["username"] = "127.0.0.1", "other"
		wantErr(set, map[string]any{"in": moved}, "BAD_USER_INPUT", "password")
		var kept struct {
			MailSettings struct {
				Host, Username string
				HasPassword    bool
			}
		}
		srv.MustQuery(t, `{ mailSettings { host username hasPassword } }`, nil, &kept)
		if kept.MailSettings.Host != "127.0.0.1" || kept.MailSettings.Username != "digest" || !kept.MailSettings.HasPassword {
			t.Errorf("refused change stored something: %+v", kept.MailSettings)
		}
		// The same server keeps it (a new sender name needs no password).
		moved["username"], moved["fromName"] = "digest", "本部"
		srv.MustQuery(t, set, map[string]any{"in": moved}, nil)
		srv.MustQuery(t, `{ mailSettings { host username hasPassword } }`, nil, &kept)
		if !kept.MailSettings.HasPassword {
			t.Error("password dropped by a change of the sender name")
		}
		// Where the account's figures are mailed leaves a trace, never the password.
		var log struct {
			AuditLog struct {
				Edges []struct {
					Node struct{ Action, Detail string }
				}
			}
		}
		srv.MustQuery(t, `{ auditLog(first: 100) { edges { node { action detail } } } }`, nil, &log)
		seen := map[string]bool{}
		for _, e := range log.AuditLog.Edges {
			seen[e.Node.Action] = true
			if strings.Contains(e.Node.Detail, password) {
				t.Errorf("audit detail holds the mail password: %q", e.Node.Detail)
			}
		}
		for _, a := range []string{"mail_settings.created", "mail_settings.updated"} {
			if !seen[a] {
				t.Errorf("no %s audit row (%v)", a, seen)
			}
		}
		// Rules per account are capped.
		for i := range digest.MaxRules {
			srv.MustQuery(t, rule, map[string]any{"in": map[string]any{"name": fmt.Sprintf("r%d", i), "recipients": []string{"a@example.jp"}}}, nil)
		}
		wantErr(rule, map[string]any{"in": map[string]any{"name": "one too many", "recipients": []string{"a@example.jp"}}}, "BAD_USER_INPUT", "input")
		srv.MustQuery(t, `{ auditLog(first: 100, action: "digest_rule.created") { edges { node { action detail } } } }`, nil, &log)
		if len(log.AuditLog.Edges) != digest.MaxRules {
			t.Errorf("%d digest_rule.created audit rows, want %d", len(log.AuditLog.Edges), digest.MaxRules)
		}
		_ = fx
	})
}

// seedForeignDigestOn gives B (its owner) mail settings and a digest rule
// on shop through GraphQL and returns the rule's id.
func seedForeignDigestOn(t *testing.T, owner gqlClient, shop pulid.ID) []pulid.ID {
	t.Helper()
	var ms struct{ SetMailSettings struct{ Host string } }
	owner.MustQuery(t, `mutation { setMailSettings(input: {host: "smtp.himitsu.example", fromAddress: "himitsu@example.jp", fromName: "ひみつ", password: "himitsu-mail-pass"}) { host } }`, nil, &ms)
	var r struct{ CreateDigestRule struct{ ID pulid.ID } }
	owner.MustQuery(t, `mutation($in: DigestRuleInput!) { createDigestRule(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": "ひみつレポート", "recipients": []string{"himitsu@example.jp"}, "shopIDs": []pulid.ID{shop}}}, &r)
	return []pulid.ID{r.CreateDigestRule.ID}
}

// seedForeignDigest gives account B mail settings and a digest rule on its
// first shop, through GraphQL as B's owner, for the tenant walk; it
// returns their ids (the settings' id read back: the API never shows it).
func seedForeignDigest(t *testing.T, owner *gqlEnv, acct pulid.ID) []pulid.ID {
	t.Helper()
	ctx := viewer.System(context.Background())
	shopID, err := owner.DB.Client.Shop.Query().Where(shop.AccountID(acct)).FirstID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := seedForeignDigestOn(t, owner, shopID)
	ms, err := owner.DB.Client.MailSettings.Query().Where(mailsettings.AccountID(acct)).OnlyID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return append(ids, ms)
}
