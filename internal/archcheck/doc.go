// Package archcheck holds the test that keeps docs/ARCHITECTURE.md, the
// code comments and the layering in step: every package is described
// there and every described package exists, no Go comment cites a file
// the repository does not have, and the few import rules the page marks
// as checked hold. It has no code of its own.
package archcheck
