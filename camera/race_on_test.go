//go:build race

package camera

// raceEnabled trims the pixel-heavy round-trip tests, which the race
// detector slows down tenfold without adding anything to check.
const raceEnabled = true
