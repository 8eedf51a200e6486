// Package bench holds the performance benchmarks of issue 2 ("Measured, in
// benchmarks"):
//
//   - BenchmarkJournalFirstPage: Query.journal's first page (50 entries, one
//     camera, one kind) over HTTP on a PostgreSQL table of a million entries,
//     against the SQL it runs executed directly through lib/pq in the same
//     run (sub-benchmarks raw-sql, ent, graphql).
//   - BenchmarkIngestToSubscriber: Ingester.Ingest → arrival at each of 1,000
//     websocket subscriptions, on SQLite and PostgreSQL, against a plain
//     gorilla push of a frame of the same size to 1,000 connections.
//
// Run them with
//
//	go test -run '^$' -bench . -benchtime=2000x -timeout 60m ./bench/
//
// Plain `go test ./bench/` only runs quick checks of the helpers.
//
// The journal benchmark seeds the database REGICAM_BENCH_DB (default
// regicam_bench) once with REGICAM_BENCH_ROWS entries (default 1,000,000)
// and keeps it, so later runs start at once. REGICAM_BENCH_SUBS (default
// 1000) sets the number of subscriptions, REGICAM_BENCH_BURST (default 25)
// the flood burst length. REGICAM_BENCH_PLANS=1 makes TestJournalFilterPlans
// print the plans of the other dashboard filters on the seeded database.
package bench
