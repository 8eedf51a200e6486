package db

import (
	"errors"
	"fmt"

	"github.com/lib/pq"
)

// Loggable is err as a log line may show it. PostgreSQL's messages can
// quote the value a statement was given ("invalid input syntax for type
// …: \"…\"") — a client's input, perhaps a secret — so a *pq.Error is
// logged by its code and the names it carries, never its message.
func Loggable(err error) string {
	var pe *pq.Error
	if !errors.As(err, &pe) {
		return err.Error()
	}
	return fmt.Sprintf("postgres %s (%s) table=%q column=%q constraint=%q in %T",
		pe.Code, pe.Code.Name(), pe.Table, pe.Column, pe.Constraint, err)
}
