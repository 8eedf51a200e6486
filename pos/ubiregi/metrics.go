package ubiregi

import (
	"net/http"

	"github.com/regicam/regicam/metrics"
)

// outcome is the metrics outcome of one answered request.
func outcome(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return metrics.OutcomeRateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return metrics.OutcomeAuth
	case status >= 200 && status < 300:
		return metrics.OutcomeOK
	default:
		return metrics.OutcomeError
	}
}
