// Package bench holds the Go benchmarks that the load harness
// (bench/harness, `go run ./cmd/regicam-bench run`) does not cover:
//
//   - BenchmarkThumbnailAccuracy / BenchmarkThumbnailCost: how close a
//     receipt's picture is to its sale for late POS data, against capture on
//     arrival, and what a thumbnail costs.
//   - BenchmarkSmaregiEndToEnd / BenchmarkSmaregiSustained: a sale at the
//     Smaregi fake → webhook or poll → subscriber, against ingestJournal.
//
// Run them with
//
//	go test -run '^$' -bench 'Thumbnail|Smaregi' -timeout 30m ./bench/
//
// The journal page and subscription fan-out are measured by the harness
// against raw SQL, PostGraphile and a raw websocket push in the same run.
// Plain `go test ./bench/` only runs quick checks of the helpers.
package bench
