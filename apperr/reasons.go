package apperr

import (
	"bytes"
	"encoding/json"
	"sort"
)

//go:generate go run ./internal/genreasons ../frontend/src/errors/reasons.json

// Reasons, the value of extensions.reason: which failure an error is, so the
// dashboard can tell the owner what to do next in its own words
// (frontend/src/errors/messages.ts) while the message stays as partners read
// it. The names are spelled as on the wire, so one grep finds a reason in
// Go, in reasons.json and in the dashboard's table. A reason, once
// shipped, keeps its meaning: clients switch on it.
//
// Adding one: declare it here, list it in Reasons, run go generate ./...
// (reasons.json) and give it Japanese in messages.ts; tests in this
// package and in the dashboard fail until all three agree.
const (
	// The generic reason of each code (GenericReason): an error with
	// nothing more specific to say.
	BAD_USER_INPUT  = BadUserInput
	UNAUTHENTICATED = Unauthenticated
	FORBIDDEN       = Forbidden
	NOT_FOUND       = NotFound
	CONFLICT        = Conflict
	RATE_LIMITED    = RateLimited
	INTERNAL        = Internal
	BAD_REQUEST     = BadRequest
	UNAVAILABLE     = Unavailable

	// A field's value; the field names which one.
	REQUIRED               = "REQUIRED"
	VALUE_TOO_LONG         = "VALUE_TOO_LONG"
	LENGTH_OUT_OF_RANGE    = "LENGTH_OUT_OF_RANGE" // empty or too long
	VALUE_OUT_OF_RANGE     = "VALUE_OUT_OF_RANGE"
	INVALID_CHOICE         = "INVALID_CHOICE" // not one of the allowed values
	INVALID_FORMAT         = "INVALID_FORMAT"
	INVALID_ID             = "INVALID_ID"
	INVALID_TEXT           = "INVALID_TEXT" // NUL, line breaks or broken UTF-8
	INVALID_TIME           = "INVALID_TIME" // not HH:MM
	TIMEZONE_UNKNOWN       = "TIMEZONE_UNKNOWN"
	TOO_MANY_ITEMS         = "TOO_MANY_ITEMS"
	DUPLICATE_IN_LIST      = "DUPLICATE_IN_LIST"
	NOTHING_SELECTED       = "NOTHING_SELECTED"
	MUTUALLY_EXCLUSIVE     = "MUTUALLY_EXCLUSIVE" // two inputs that exclude each other
	RANGE_REVERSED         = "RANGE_REVERSED"     // start after end, minimum above maximum
	RANGE_TOO_LONG         = "RANGE_TOO_LONG"
	DATE_IN_FUTURE         = "DATE_IN_FUTURE"
	EXPIRY_IN_PAST         = "EXPIRY_IN_PAST"
	CURSOR_INVALID         = "CURSOR_INVALID"
	OPEN_EQUALS_CLOSE      = "OPEN_EQUALS_CLOSE"
	CARD_NUMBER_NOT_MASKED = "CARD_NUMBER_NOT_MASKED"
	MIXED_TIMEZONES        = "MIXED_TIMEZONES"
	STAFF_UNKNOWN          = "STAFF_UNKNOWN"
	QUERY_INVALID          = "QUERY_INVALID" // a GraphQL document that does not parse or validate

	// Clashes with what is stored.
	NAME_TAKEN              = "NAME_TAKEN"
	EMAIL_TAKEN             = "EMAIL_TAKEN"
	DEVICE_ID_TAKEN         = "DEVICE_ID_TAKEN"
	TERMINAL_ID_TAKEN       = "TERMINAL_ID_TAKEN"
	TERMINAL_ALREADY_LINKED = "TERMINAL_ALREADY_LINKED"
	CHANGED_CONCURRENTLY    = "CHANGED_CONCURRENTLY"
	LAST_OWNER              = "LAST_OWNER"
	BACKFILL_RUNNING        = "BACKFILL_RUNNING"

	// Signing in, sessions, API keys and who may do what.
	LOGIN_FAILED           = "LOGIN_FAILED"
	CURRENT_PASSWORD_WRONG = "CURRENT_PASSWORD_WRONG"
	NOT_SIGNED_IN          = "NOT_SIGNED_IN"
	SESSION_INVALID        = "SESSION_INVALID"
	SESSION_ENDED          = "SESSION_ENDED"
	IP_NOT_ALLOWED         = "IP_NOT_ALLOWED"
	IP_RANGE_INVALID       = "IP_RANGE_INVALID"
	API_KEY_INVALID        = "API_KEY_INVALID"
	API_KEY_REVOKED        = "API_KEY_REVOKED"
	API_KEY_EXPIRED        = "API_KEY_EXPIRED"
	OWNER_ONLY             = "OWNER_ONLY"
	ADMIN_ONLY             = "ADMIN_ONLY"
	CANNOT_DELETE_SELF     = "CANNOT_DELETE_SELF"
	EMAIL_INVALID          = "EMAIL_INVALID"

	// Password rules (auth/password.go) and history.
	PASSWORD_TOO_SHORT   = "PASSWORD_TOO_SHORT"
	PASSWORD_TOO_LONG    = "PASSWORD_TOO_LONG"
	PASSWORD_NEEDS_DIGIT = "PASSWORD_NEEDS_DIGIT"
	PASSWORD_NEEDS_UPPER = "PASSWORD_NEEDS_UPPER"
	PASSWORD_NEEDS_LOWER = "PASSWORD_NEEDS_LOWER"
	PASSWORD_REUSED      = "PASSWORD_REUSED"

	// Cameras: the form, the picture, and a source test that must pass
	// before saving (CameraTest maps the test's own reasons).
	CAMERA_RETIRED         = "CAMERA_RETIRED"
	CAMERA_STILL_LINKED    = "CAMERA_STILL_LINKED"
	CAMERA_NO_POS_OPTION   = "CAMERA_NO_POS_OPTION"
	CAMERA_NOT_RECORDED    = "CAMERA_NOT_RECORDED"
	CAMERA_NO_PICTURE_YET  = "CAMERA_NO_PICTURE_YET"
	CAMERA_URL_REQUIRED    = "CAMERA_URL_REQUIRED"
	CAMERA_URL_NOT_ALLOWED = "CAMERA_URL_NOT_ALLOWED" // a simulated camera has no URL
	CAMERA_URL_INVALID     = "CAMERA_URL_INVALID"
	CAMERA_URL_SCHEME      = "CAMERA_URL_SCHEME"
	CAMERA_URL_NO_HOST     = "CAMERA_URL_NO_HOST"
	CAMERA_URL_REFUSED     = "CAMERA_URL_REFUSED" // the URL policy (netguard)
	CAMERA_UNREACHABLE     = "CAMERA_UNREACHABLE"
	CAMERA_TIMEOUT         = "CAMERA_TIMEOUT"
	CAMERA_AUTH_REFUSED    = "CAMERA_AUTH_REFUSED"
	CAMERA_NOT_JPEG        = "CAMERA_NOT_JPEG"
	CAMERA_TLS             = "CAMERA_TLS"
	CAMERA_HTTP_STATUS     = "CAMERA_HTTP_STATUS"
	CAMERA_RTSP            = "CAMERA_RTSP"
	CAMERA_TEST_FAILED     = "CAMERA_TEST_FAILED"
	SECRET_KEY_MISSING     = "SECRET_KEY_MISSING" // the server cannot seal credentials

	// An RTSP camera's snapshot URL: only RTSP cameras have one, and it is
	// an HTTP(S) JPEG endpoint.
	CAMERA_SNAPSHOT_URL_NOT_RTSP = "CAMERA_SNAPSHOT_URL_NOT_RTSP"
	CAMERA_SNAPSHOT_URL_SCHEME   = "CAMERA_SNAPSHOT_URL_SCHEME"

	// POS connections, terminals, alerts' webhooks.
	FEATURE_DISABLED            = "FEATURE_DISABLED" // turned off on this server
	TERMINALS_FROM_PROVIDER     = "TERMINALS_FROM_PROVIDER"
	TERMINAL_LIMIT              = "TERMINAL_LIMIT"
	TERMINAL_ID_NOT_NUMERIC     = "TERMINAL_ID_NOT_NUMERIC"
	BACKFILL_UNSUPPORTED        = "BACKFILL_UNSUPPORTED"
	POLLING_UNSUPPORTED         = "POLLING_UNSUPPORTED"
	SMAREGI_CONTRACT_ID_INVALID = "SMAREGI_CONTRACT_ID_INVALID"
	SMAREGI_CONTRACT_NOT_FOUND  = "SMAREGI_CONTRACT_NOT_FOUND"
	SMAREGI_CLIENT_REJECTED     = "SMAREGI_CLIENT_REJECTED"
	SMAREGI_SCOPE_MISSING       = "SMAREGI_SCOPE_MISSING"
	SMAREGI_UNREACHABLE         = "SMAREGI_UNREACHABLE"
	WEBHOOK_URL_INVALID         = "WEBHOOK_URL_INVALID"
	WEBHOOK_URL_PRIVATE         = "WEBHOOK_URL_PRIVATE"
	ALERT_NO_WEBHOOK_URL        = "ALERT_NO_WEBHOOK_URL"

	// Coming back from Ubiregi's consent page (pos/ubiregi/storedconn),
	// answered as ?error=…&reason=… on the dashboard's URL.
	UBIREGI_STATE_MISMATCH = "UBIREGI_STATE_MISMATCH"
	UBIREGI_DENIED         = "UBIREGI_DENIED"
	UBIREGI_TOKEN_FAILED   = "UBIREGI_TOKEN_FAILED"
	UBIREGI_ACCOUNT_FAILED = "UBIREGI_ACCOUNT_FAILED"

	// The camera cloud (Safie, package camcloud): connecting, its cameras,
	// and what regicam reads of its recording.
	SAFIE_AUTH              = "SAFIE_AUTH"              // the cloud refused the API key or token
	SAFIE_UNREACHABLE       = "SAFIE_UNREACHABLE"       // no answer, or 5xx / 429 after retries
	SAFIE_BAD_RESPONSE      = "SAFIE_BAD_RESPONSE"      // an answer that is not what the API documents
	CLOUD_CAMERA_READONLY   = "CLOUD_CAMERA_READONLY"   // a CLOUD camera is changed at the cloud, not by hand
	CAMERA_CLOUD_NOT_FOUND  = "CAMERA_CLOUD_NOT_FOUND"  // no such camera-cloud connection in the account
	CAMERA_CLOUD_NAME_TAKEN = "CAMERA_CLOUD_NAME_TAKEN" // another connection of the account has the name
	RECORDINGS_RANGE        = "RECORDINGS_RANGE"        // Camera.recordings asked for more than 72 h
	// Coming back from Safie's consent page (/oauth/safie/callback),
	// answered as ?cameraCloud=error&reason=… on the dashboard's URL.
	SAFIE_OAUTH_STATE  = "SAFIE_OAUTH_STATE"  // the state is not this session's, or expired
	SAFIE_OAUTH_DENIED = "SAFIE_OAUTH_DENIED" // the owner did not grant access at Safie
)

// reasons lists every constant above; TestReasonsListsEveryConstant
// compares it with the declarations.
var reasons = []string{
	BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, CONFLICT, RATE_LIMITED, INTERNAL, BAD_REQUEST, UNAVAILABLE,

	REQUIRED, VALUE_TOO_LONG, LENGTH_OUT_OF_RANGE, VALUE_OUT_OF_RANGE, INVALID_CHOICE, INVALID_FORMAT, INVALID_ID,
	INVALID_TEXT, INVALID_TIME, TIMEZONE_UNKNOWN, TOO_MANY_ITEMS, DUPLICATE_IN_LIST, NOTHING_SELECTED,
	MUTUALLY_EXCLUSIVE, RANGE_REVERSED, RANGE_TOO_LONG, DATE_IN_FUTURE, EXPIRY_IN_PAST, CURSOR_INVALID,
	OPEN_EQUALS_CLOSE, CARD_NUMBER_NOT_MASKED, MIXED_TIMEZONES, STAFF_UNKNOWN, QUERY_INVALID,

	NAME_TAKEN, EMAIL_TAKEN, DEVICE_ID_TAKEN, TERMINAL_ID_TAKEN, TERMINAL_ALREADY_LINKED, CHANGED_CONCURRENTLY,
	LAST_OWNER, BACKFILL_RUNNING,

	LOGIN_FAILED, CURRENT_PASSWORD_WRONG, NOT_SIGNED_IN, SESSION_INVALID, SESSION_ENDED, IP_NOT_ALLOWED,
	IP_RANGE_INVALID, API_KEY_INVALID, API_KEY_REVOKED, API_KEY_EXPIRED, OWNER_ONLY, ADMIN_ONLY,
	CANNOT_DELETE_SELF, EMAIL_INVALID,

	PASSWORD_TOO_SHORT, PASSWORD_TOO_LONG, PASSWORD_NEEDS_DIGIT, PASSWORD_NEEDS_UPPER, PASSWORD_NEEDS_LOWER,
	PASSWORD_REUSED,

	CAMERA_RETIRED, CAMERA_STILL_LINKED, CAMERA_NO_POS_OPTION, CAMERA_NOT_RECORDED, CAMERA_NO_PICTURE_YET,
	CAMERA_URL_REQUIRED, CAMERA_URL_NOT_ALLOWED, CAMERA_URL_INVALID, CAMERA_URL_SCHEME, CAMERA_URL_NO_HOST,
	CAMERA_URL_REFUSED, CAMERA_SNAPSHOT_URL_NOT_RTSP, CAMERA_SNAPSHOT_URL_SCHEME, CAMERA_UNREACHABLE, CAMERA_TIMEOUT, CAMERA_AUTH_REFUSED, CAMERA_NOT_JPEG, CAMERA_TLS,
	CAMERA_HTTP_STATUS, CAMERA_RTSP, CAMERA_TEST_FAILED, SECRET_KEY_MISSING,

	FEATURE_DISABLED, TERMINALS_FROM_PROVIDER, TERMINAL_LIMIT, TERMINAL_ID_NOT_NUMERIC, BACKFILL_UNSUPPORTED,
	POLLING_UNSUPPORTED, SMAREGI_CONTRACT_ID_INVALID, SMAREGI_CONTRACT_NOT_FOUND, SMAREGI_CLIENT_REJECTED,
	SMAREGI_SCOPE_MISSING, SMAREGI_UNREACHABLE, WEBHOOK_URL_INVALID, WEBHOOK_URL_PRIVATE, ALERT_NO_WEBHOOK_URL,

	UBIREGI_STATE_MISMATCH, UBIREGI_DENIED, UBIREGI_TOKEN_FAILED, UBIREGI_ACCOUNT_FAILED,

	SAFIE_AUTH, SAFIE_UNREACHABLE, SAFIE_BAD_RESPONSE, CLOUD_CAMERA_READONLY, CAMERA_CLOUD_NOT_FOUND,
	CAMERA_CLOUD_NAME_TAKEN, RECORDINGS_RANGE, SAFIE_OAUTH_STATE, SAFIE_OAUTH_DENIED,
}

// Reasons returns every reason the API can answer with, sorted.
func Reasons() []string {
	out := append([]string(nil), reasons...)
	sort.Strings(out)
	return out
}

// GenericReason is the reason of an error of code that says nothing more
// specific: the code itself, for the codes above, and INTERNAL for any
// other (gqlgen's own codes are QUERY_INVALID, set by the presenter).
func GenericReason(code string) string {
	switch code {
	case BadUserInput, Unauthenticated, Forbidden, NotFound, Conflict, RateLimited, Internal, BadRequest, Unavailable:
		return code
	}
	return INTERNAL
}

// CameraTest is the reason of a camera source test's failure, from the
// test's own reason (camera/registry's Reason, also answered as
// CameraSourceTest.reason).
func CameraTest(testReason string) string {
	switch testReason {
	case "UNREACHABLE":
		return CAMERA_UNREACHABLE
	case "TIMEOUT":
		return CAMERA_TIMEOUT
	case "AUTH_REFUSED":
		return CAMERA_AUTH_REFUSED
	case "NOT_JPEG":
		return CAMERA_NOT_JPEG
	case "TLS":
		return CAMERA_TLS
	case "HTTP_STATUS":
		return CAMERA_HTTP_STATUS
	case "URL_REFUSED":
		return CAMERA_URL_REFUSED
	case "BAD_URL":
		return CAMERA_URL_INVALID
	case "RTSP":
		return CAMERA_RTSP
	case "RATE_LIMITED":
		return RATE_LIMITED
	}
	return CAMERA_TEST_FAILED
}

// ReasonsJSON is frontend/src/errors/reasons.json as go generate writes it:
// Reasons as a JSON array, one a line.
func ReasonsJSON() []byte {
	rs := Reasons()
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, r := range rs {
		q, _ := json.Marshal(r)
		b.WriteString("  ")
		b.Write(q)
		if i < len(rs)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n")
	return b.Bytes()
}
