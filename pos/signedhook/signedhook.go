// Package signedhook authenticates and reads the signed webhook through
// which card terminals (mPOS-style) and other partners push journal lines.
//
// # Signature scheme
//
// Each connection has its own secret (at least 32 random bytes, shown to
// the partner once). The partner sends
//
//	POST <webhook URL>
//	Content-Type: application/json
//	X-Regicam-Timestamp: 1767225600            (unix seconds, UTC)
//	X-Regicam-Signature: sha256=<hex>          (lower- or upper-case hex)
//
// where <hex> is HMAC-SHA256(secret, timestamp + "." + body) over the raw
// body bytes exactly as sent. Signing the timestamp with the body stops a
// captured request from being replayed with a fresh timestamp; the
// receiver refuses timestamps more than 5 minutes from its clock, so a
// captured request is dead after that. To rotate secrets without
// downtime, a partner may send several comma-separated signatures
// ("sha256=<old>,sha256=<new>"); one valid signature is enough.
//
// A request that fails Verify must get 401 and store nothing.
//
// # Payload
//
// See Parse.
package signedhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the scheme.
const (
	HeaderTimestamp = "X-Regicam-Timestamp"
	HeaderSignature = "X-Regicam-Signature"
)

// MaxSkew is how far the timestamp may be from the receiver's clock, in
// either direction: the replay window, and the clock skew tolerated.
const MaxSkew = 5 * time.Minute

// MaxBody bounds a webhook body; a thousand transactions fit easily.
const MaxBody = 1 << 20

// Verification failures. Both mean 401; the difference is for the log
// and for telling a partner whose clock is off from one whose secret is.
var (
	ErrBadSignature = errors.New("signedhook: bad or missing signature")
	ErrStale        = errors.New("signedhook: timestamp outside the 5-minute window")
)

const prefix = "sha256="

// Sign returns the X-Regicam-Signature value for body sent at ts (unix
// seconds).
func Sign(secret []byte, ts int64, body []byte) string {
	return prefix + hex.EncodeToString(mac(secret, strconv.FormatInt(ts, 10), body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks the headers of a webhook against body and the receiver's
// clock. The signature is checked before the age, so ErrStale always means
// "authentic but old" (a replay or a skewed clock), never a forgery.
func Verify(secret []byte, timestampHeader, signatureHeader string, body []byte, now time.Time) error {
	if len(secret) == 0 {
		// An empty key would let anyone who guesses that compute valid
		// signatures; a connection without a secret accepts nothing.
		return fmt.Errorf("%w: no secret configured for this connection", ErrBadSignature)
	}
	ts := strings.TrimSpace(timestampHeader)
	if ts == "" || len(ts) > 12 || strings.Trim(ts, "0123456789") != "" {
		return fmt.Errorf("%w: %s must be unix seconds", ErrBadSignature, HeaderTimestamp)
	}
	sigs := strings.Split(signatureHeader, ",")
	if len(sigs) > 5 {
		return fmt.Errorf("%w: too many signatures", ErrBadSignature)
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		s = strings.TrimSpace(s)
		if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
			continue
		}
		got, err := hex.DecodeString(s[len(prefix):])
		if err != nil {
			continue
		}
		// hmac.Equal is constant-time: timing must not reveal how many
		// leading bytes of a forged signature were right.
		if hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	sec, _ := strconv.ParseInt(ts, 10, 64)
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return fmt.Errorf("%w: sent %s, received %s", ErrStale,
			time.Unix(sec, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// VerifyRequest reads r's body (at most MaxBody) and verifies it. It
// returns the body only when the request is authentic.
func VerifyRequest(r *http.Request, secret []byte, now time.Time) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("signedhook: read body: %w", err)
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("signedhook: body over %d bytes", MaxBody)
	}
	if err := Verify(secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, now); err != nil {
		return nil, err
	}
	return body, nil
}

// SignRequest sets both headers on a request carrying body, for partners
// written in Go, the demo and tests.
func SignRequest(r *http.Request, secret, body []byte, now time.Time) {
	ts := now.Unix()
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	r.Header.Set(HeaderSignature, Sign(secret, ts, body))
}
