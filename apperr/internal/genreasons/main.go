// Command genreasons writes the dashboard's list of reasons
// (frontend/src/errors/reasons.json) from apperr.Reasons, so the dashboard's
// tests know every reason the API can answer with. Run by go generate in
// apperr.
package main

import (
	"fmt"
	"os"

	"github.com/regicam/regicam/apperr"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genreasons <out.json>")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], apperr.ReasonsJSON(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
