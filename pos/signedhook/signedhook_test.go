package signedhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/signedhook"
	"github.com/regicam/regicam/pulid"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	now    = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
)

const body = `{"terminalId":"T-1","transactions":[{"id":"tx1","status":"CAPTURE","occurredAt":"2026-03-01T17:59:00+09:00","amount":1200}]}`

func TestSignMatchesDocumentedScheme(t *testing.T) {
	ts := now.Unix()
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10) + "." + body))
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if got := signedhook.Sign(secret, ts, []byte(body)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	ts := now.Unix()
	tsh := strconv.FormatInt(ts, 10)
	sig := signedhook.Sign(secret, ts, []byte(body))
	other := signedhook.Sign([]byte("another secret of the right size!"), ts, []byte(body))
	cases := []struct {
		name     string
		secret   []byte
		ts, sig  string
		body     string
		now      time.Time
		want     error
		wantNone bool
	}{
		{name: "valid", secret: secret, ts: tsh, sig: sig, body: body, now: now, wantNone: true},
		{name: "upper-case hex", secret: secret, ts: tsh, sig: "SHA256=" + strings.ToUpper(sig[7:]), body: body, now: now, wantNone: true},
		{name: "rotation list", secret: secret, ts: tsh, sig: other + ", " + sig, body: body, now: now, wantNone: true},
		{name: "clock 4m59s behind", secret: secret, ts: tsh, sig: sig, body: body, now: now.Add(-299 * time.Second), wantNone: true},
		{name: "tampered body", secret: secret, ts: tsh, sig: sig, body: strings.Replace(body, "1200", "120", 1), now: now, want: signedhook.ErrBadSignature},
		{name: "appended body", secret: secret, ts: tsh, sig: sig, body: body + " ", now: now, want: signedhook.ErrBadSignature},
		{name: "wrong secret", secret: secret, ts: tsh, sig: other, body: body, now: now, want: signedhook.ErrBadSignature},
		{name: "timestamp swapped", secret: secret, ts: strconv.FormatInt(ts+1, 10), sig: sig, body: body, now: now, want: signedhook.ErrBadSignature},
		{name: "replay after 5 min", secret: secret, ts: tsh, sig: sig, body: body, now: now.Add(5*time.Minute + time.Second), want: signedhook.ErrStale},
		{name: "from the future", secret: secret, ts: tsh, sig: sig, body: body, now: now.Add(-6 * time.Minute), want: signedhook.ErrStale},
		{name: "no signature", secret: secret, ts: tsh, sig: "", body: body, now: now, want: signedhook.ErrBadSignature},
		{name: "bare hex", secret: secret, ts: tsh, sig: sig[7:], body: body, now: now, want: signedhook.ErrBadSignature},
		{name: "short signature", secret: secret, ts: tsh, sig: sig[:20], body: body, now: now, want: signedhook.ErrBadSignature},
		{name: "no timestamp", secret: secret, ts: "", sig: sig, body: body, now: now, want: signedhook.ErrBadSignature},
		{name: "millisecond timestamp", secret: secret, ts: tsh + "000", sig: signedhook.Sign(secret, ts*1000, []byte(body)), body: body, now: now, want: signedhook.ErrBadSignature},
		{name: "negative timestamp", secret: secret, ts: "-" + tsh, sig: sig, body: body, now: now, want: signedhook.ErrBadSignature},
		{name: "empty secret", secret: nil, ts: tsh, sig: signedhook.Sign(nil, ts, []byte(body)), body: body, now: now, want: signedhook.ErrBadSignature},
		{name: "too many signatures", secret: secret, ts: tsh, sig: strings.Repeat(other+",", 5) + sig, body: body, now: now, want: signedhook.ErrBadSignature},
	}
	for _, c := range cases {
		err := signedhook.Verify(c.secret, c.ts, c.sig, []byte(c.body), c.now)
		if c.wantNone && err != nil || !c.wantNone && !errors.Is(err, c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestWebhookOverHTTP plays partner and receiver over real HTTP, the way
// the runtime's handler is meant to use the package: verify, then parse,
// 401 with nothing stored on any verification failure.
func TestWebhookOverHTTP(t *testing.T) {
	var mu sync.Mutex
	var stored []pos.Record
	clock := now
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := signedhook.VerifyRequest(r, secret, clock)
		if errors.Is(err, signedhook.ErrBadSignature) || errors.Is(err, signedhook.ErrStale) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		recs, err := signedhook.Parse(b)
		var items signedhook.ItemErrors
		if err != nil && !errors.As(err, &items) {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		stored = append(stored, recs...)
		mu.Unlock()
		w.Write([]byte(strconv.Itoa(len(items))))
	}))
	defer srv.Close()
	post := func(b string, sign func(*http.Request, []byte)) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(b))
		sign(req, []byte(b))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	signNow := func(r *http.Request, b []byte) { signedhook.SignRequest(r, secret, b, clock) }

	if code := post(body, signNow); code != 200 || len(stored) != 1 {
		t.Fatalf("valid: %d, stored %d", code, len(stored))
	}
	// Replay of the very same request 6 minutes later.
	var captured http.Header
	req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
	signNow(req, []byte(body))
	captured = req.Header.Clone()
	clock = clock.Add(6 * time.Minute)
	replay := func(r *http.Request, _ []byte) { r.Header = captured.Clone() }
	if code := post(body, replay); code != 401 {
		t.Fatalf("replay: %d", code)
	}
	// Tampered body under a valid, fresh signature of the original.
	req, _ = http.NewRequest(http.MethodPost, srv.URL, nil)
	signNow(req, []byte(body))
	captured = req.Header.Clone()
	if code := post(strings.Replace(body, "1200", "1", 1), replay); code != 401 {
		t.Fatalf("tampered: %d", code)
	}
	if code := post(body, func(*http.Request, []byte) {}); code != 401 {
		t.Fatalf("unsigned: %d", code)
	}
	if code := post(strings.Repeat(" ", signedhook.MaxBody+1), signNow); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized: %d", code)
	}
	if len(stored) != 1 {
		t.Fatalf("rejected requests stored %d records", len(stored)-1)
	}
}

func TestParseMapping(t *testing.T) {
	b := []byte(`{"terminalId":" T-9 ","storeId":"S-1","storeName":"渋谷店","transactions":[
	 {"id":"s1","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00+09:00","amount":"1200","receiptNo":"0042",
	  "staffId":"7","staffName":"山田","paymentMethod":"VISA","maskedCard":"4111 11** **** **11",
	  "items":[{"name":"コーヒー","quantity":2,"amount":800},{"name":"ケーキ","quantity":"1","amount":"400.0"}],
	  "cardNumber":"4111111111111111"},
	 {"id":"r1","status":"売上取消","occurredAt":"2026-03-01T17:05:00+09:00","relatedId":"s1","amount":-1200},
	 {"id":"s1","status":"REFUND","occurredAt":"2026-03-01T17:06:00+09:00","relatedId":"s1","amount":1200},
	 {"id":"a1","status":"与信","occurredAt":"2026-03-01T17:07:00+09:00","amount":500},
	 {"id":"a1","status":"キャンセル（与信）","occurredAt":"2026-03-01T17:08:00+09:00","amount":500},
	 {"id":"f1","status":"failed","occurredAt":"2026-03-01T17:09:00Z"},
	 {"id":"s2","status":"CAPTURE","occurredAt":"2026-03-01T17:10:00Z","updatedAt":"2026-03-01T17:20:00Z","amount":10}
	]}`)
	recs, err := signedhook.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 7 {
		t.Fatalf("%d records", len(recs))
	}
	type want struct {
		kind     journalentry.Kind
		ext, rel string
		total    int64
	}
	for i, w := range []want{
		{journalentry.KindPAYMENT, "s1", "", 1200},
		{journalentry.KindCANCEL, "r1", "s1", -1200},
		{journalentry.KindCANCEL, "s1", "", 1200},
		{journalentry.KindOTHER, "a1#AUTH", "", 500},
		{journalentry.KindOTHER, "a1#AUTH_CANCEL", "", 500},
		{journalentry.KindOTHER, "f1#FAILED", "", 0},
		{journalentry.KindPAYMENT, "s2", "", 10},
	} {
		rc := recs[i].Receipt
		if rc.Kind != w.kind || rc.ExternalID != w.ext || rc.RelatedExternalID != w.rel || rc.Total != w.total {
			t.Errorf("record %d: %s %q rel %q total %d; want %+v", i, rc.Kind, rc.ExternalID, rc.RelatedExternalID, rc.Total, w)
		}
		if recs[i].TerminalExternalID != "T-9" || recs[i].StoreExternalID != "S-1" || recs[i].StoreName != "渋谷店" {
			t.Errorf("record %d: terminal/store %+v", i, recs[i])
		}
		rc.TerminalID = pulid.MustNew("TE")
		if err := rc.Validate(now.Add(9 * time.Hour)); err != nil {
			t.Errorf("record %d does not validate: %v", i, err)
		}
	}
	s := recs[0].Receipt
	if s.Deposit != 1200 || s.MaskedCard != "411111********11" || s.StaffName != "山田" || s.ReceiptNo != "0042" ||
		len(s.Items) != 2 || s.Items[1].Amount != 400 || s.Items[1].Quantity != 1 ||
		!s.OccurredAt.Equal(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("capture: %+v", s)
	}
	if bytes.Contains(s.Raw, []byte("4111111111111111")) || !bytes.Contains(s.Raw, []byte(`"amount":1200`)) {
		t.Fatalf("raw must be rebuilt without unknown fields: %s", s.Raw)
	}
	if u := recs[6].Receipt.UpdatedAt; u == nil || !u.Equal(time.Date(2026, 3, 1, 17, 20, 0, 0, time.UTC)) {
		t.Fatalf("updatedAt: %v", u)
	}
}

func TestParseErrors(t *testing.T) {
	for _, b := range []string{``, `[]`, `{"transactions":[]}`, `{"terminalId":"T"}`, `{"terminalId":"T","transactions":[]}`,
		`{"terminalId":"","transactions":[{}]}`, `{"terminalId":"T","transactions":{}}`, `{"terminalId":"T","transactions":[{}]`} {
		recs, err := signedhook.Parse([]byte(b))
		if !errors.Is(err, signedhook.ErrPayload) || len(recs) != 0 {
			t.Errorf("%q: %v, %d records", b, err, len(recs))
		}
	}

	pan := "4111111111111111"
	b := `{"terminalId":"T","transactions":[
	 {"id":"ok","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":1},
	 {"id":"u1","status":"SETTLED","occurredAt":"2026-03-01T17:00:00Z","amount":1},
	 {"id":"u2","status":"CAPTURE","occurredAt":"2026-03-01 17:00","amount":1},
	 {"id":"u3","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":"12.5"},
	 {"id":"u4","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":"千円"},
	 {"id":"u5","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":1,"maskedCard":"` + pan + `"},
	 {"id":"u6","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":1,"maskedCard":"411111**1111**11"},
	 {"id":"u7","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z"},
	 {"id":"u8","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":1,"items":[{"name":"x","quantity":0,"amount":1}]},
	 {"status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":1},
	 {"id":7,"status":"CAPTURE"},
	 "junk",
	 {"id":"u9","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":1e3}
	]}`
	recs, err := signedhook.Parse([]byte(b))
	var items signedhook.ItemErrors
	if !errors.As(err, &items) || len(recs) != 1 || recs[0].Receipt.ExternalID != "ok" {
		t.Fatalf("%v, %d records", err, len(recs))
	}
	if len(items) != 12 || items[0].Index != 1 || items[0].ID != "u1" || !strings.Contains(items[0].Error(), "SETTLED") {
		t.Fatalf("item errors: %v", items)
	}
	for _, it := range items {
		if strings.Contains(it.Error(), pan) || strings.Contains(err.Error(), pan) {
			t.Fatalf("card number echoed in %q", it.Error())
		}
	}
}

// TestParseRefusesNUL: a NUL (which PostgreSQL cannot store) in a
// transaction refuses that transaction, naming the field; in the payload's
// own fields it refuses the payload. Nothing is silently cleaned.
func TestParseRefusesNUL(t *testing.T) {
	b := `{"terminalId":"T","transactions":[
	 {"id":"ok","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":1,"staffName":"山田"},
	 {"id":"n1","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":1,"staffName":"山\u0000田"},
	 {"id":"n2","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":1,"items":[{"name":"\u0000","quantity":1,"amount":1}]}
	]}`
	recs, err := signedhook.Parse([]byte(b))
	var items signedhook.ItemErrors
	if !errors.As(err, &items) || len(recs) != 1 || recs[0].Receipt.StaffName != "山田" {
		t.Fatalf("%v, %d records", err, len(recs))
	}
	if len(items) != 2 || !strings.Contains(items[0].Error(), "staffName: 文字列に使えない文字 (NUL)") ||
		!strings.Contains(items[1].Error(), "items[0].name: 文字列に使えない文字 (NUL)") {
		t.Fatalf("item errors: %v", items)
	}
	for _, field := range []string{"terminalId", "storeId", "storeName"} {
		body := `{"terminalId":"T","` + field + `":"x\u0000","transactions":[{"id":"ok","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":1}]}`
		if field == "terminalId" {
			body = strings.Replace(body, `"terminalId":"T",`, "", 1)
		}
		recs, err := signedhook.Parse([]byte(body))
		if !errors.Is(err, signedhook.ErrPayload) || len(recs) != 0 || !strings.Contains(err.Error(), field+": ") {
			t.Errorf("%s with NUL: %v, %d records", field, err, len(recs))
		}
	}
}
