package db

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/lib/pq"

	"github.com/regicam/regicam/apperr"
)

// ErrUnavailable is the API's answer while the database is away (restart,
// failover): the same words on every transport.
var ErrUnavailable = apperr.Unavailablef("データベースに一時的に接続できません。しばらくしてから再試行してください (database unavailable; retry later)").Because(apperr.UNAVAILABLE)

// Unavailable reports whether err means the database could not be reached
// or went away mid-request (a restart, a failover, a full connection
// table), as opposed to a query it refused. Such a request may succeed
// when retried unchanged, so the API answers UNAVAILABLE with Retry-After
// instead of INTERNAL.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch code := string(pe.Code); {
		case strings.HasPrefix(code, "08"): // connection exception
			return true
		case code == "57P01", code == "57P02", code == "57P03": // admin/crash shutdown, cannot connect now
			return true
		case code == "53300": // too many connections
			return true
		}
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	// database/sql does not export the error of a closed pool; the process
	// is shutting down and another replica may take the retry.
	return strings.Contains(err.Error(), "sql: database is closed")
}
