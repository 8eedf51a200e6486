package app

import (
	"os"
	"runtime/debug"
)

// TuneGC trades memory for CPU: a server's live heap is small, so Go's
// default (GOGC=100) collects several times a second under load; 400
// roughly halved the CPU per journal page in the bench (README,
// Performance). GOGC in the environment still wins.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}
