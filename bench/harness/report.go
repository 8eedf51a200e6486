package harness

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

func verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "MISS"
}

func (r *Report) q1(variant string, clients int) *Q1Row {
	for i := range r.Q1 {
		if r.Q1[i].Variant == variant && r.Q1[i].Clients == clients {
			return &r.Q1[i]
		}
	}
	return nil
}

// targets judges the targets on this run (and prev, the smaller
// dataset, for the degradation check).
func targets(r *Report, prev *Report) []Target {
	var out []Target
	first := "first page"
	if row := r.q1(first, 8); row != nil {
		if row.Peer != nil && row.Peer.PerSec > 0 {
			x := row.Regicam.PerSec / row.Peer.PerSec
			out = append(out, Target{Name: "Q1 @8: regicam throughput ≥ 3× PostGraphile",
				Figure: fmt.Sprintf("%.0f/s vs %.0f/s = %.2f×", row.Regicam.PerSec, row.Peer.PerSec, x), Pass: x >= 3})
		} else {
			out = append(out, Target{Name: "Q1 @8: regicam throughput ≥ 3× PostGraphile", Skip: "peer not run: " + r.Peer})
		}
		x := row.Regicam.P99ms / row.Raw.P99ms
		out = append(out, Target{Name: "Q1 @8: regicam p99 ≤ 2× raw SQL p99",
			Figure: fmt.Sprintf("%.2f ms vs %.2f ms = %.2f×", row.Regicam.P99ms, row.Raw.P99ms, x), Pass: x <= 2})
		t := Target{Name: "Q1 @8: p99 ≤ 15 ms on 10M entries", Figure: fmt.Sprintf("%.2f ms on %s", row.Regicam.P99ms, r.Dataset),
			Pass: row.Regicam.P99ms <= 15}
		if r.Rows < 9_000_000 {
			t.Skip = "dataset smaller than 10M"
		}
		out = append(out, t)
		if prev != nil {
			if p := prev.q1(first, 8); p != nil && prev.Rows > 0 {
				growth := float64(r.Rows) / float64(prev.Rows)
				lat := row.Regicam.P99ms / p.Regicam.P99ms
				thr := p.Regicam.PerSec / row.Regicam.PerSec
				out = append(out, Target{Name: fmt.Sprintf("Q1 degrades at most linearly %s → %s", prev.Dataset, r.Dataset),
					Figure: fmt.Sprintf("rows ×%.1f; p99 ×%.2f (%.2f → %.2f ms); throughput ÷%.2f", growth, lat, p.Regicam.P99ms, row.Regicam.P99ms, thr),
					Pass:   lat <= growth && thr <= growth})
			}
		}
	}
	var s1 *S1Result
	for i := range r.S1 {
		if r.S1[i].Subs >= 10000 {
			s1 = &r.S1[i]
		}
	}
	if s1 != nil {
		out = append(out, Target{Name: "S1: 10,000 subscriptions @100/s, p99 ingest→client ≤ 100 ms",
			Figure: fmt.Sprintf("%.1f ms (raw push %.1f ms); %d/%d delivered, %d duplicates", s1.P99ms, s1.RawP99ms, s1.Delivered, s1.Expected, s1.Dups),
			Pass:   s1.P99ms <= 100 && s1.Missing == 0 && s1.Dups == 0})
		out = append(out, Target{Name: "S1: ≤ 32 KiB heap per idle subscription",
			Figure: fmt.Sprintf("%.1f KiB (RSS %.1f KiB)", s1.HeapPerSubKiB, s1.RSSPerSubKiB), Pass: s1.HeapPerSubKiB <= 32})
	} else {
		out = append(out, Target{Name: "S1: 10,000 subscriptions", Skip: "not run at 10,000"})
	}
	if r.S2 != nil {
		out = append(out, Target{Name: "S2: every event to every subscriber exactly once (2 processes)",
			Figure: fmt.Sprintf("%d/%d delivered, %d missing, %d duplicates", r.S2.Delivered, r.S2.Expected, r.S2.Missing, r.S2.Dups), Pass: r.S2.OK})
	}
	if r.I1 != nil {
		out = append(out, Target{Name: "I1: ingestJournal ≥ 25% of raw COPY rows/s",
			Figure: fmt.Sprintf("%.0f/s vs %.0f/s = %.0f%%", r.I1.GraphQLPS, r.I1.CopyPS, 100*r.I1.OfCopy), Pass: r.I1.OfCopy >= 0.25})
		out = append(out, Target{Name: "I1: ingestJournal ≥ 5,000 entries/s",
			Figure: fmt.Sprintf("%.0f/s", r.I1.GraphQLPS), Pass: r.I1.GraphQLPS >= 5000})
	}
	return out
}

func printReport(w io.Writer, r *Report, prev *Report) {
	fmt.Fprintf(w, "\n=== regicam-bench — dataset %s (%d journal entries), PostgreSQL %s, %d CPUs, load avg %s ===\n",
		r.Dataset, r.Rows, r.Postgres, r.CPUs, strings.Join(r.LoadAvg, " → "))
	fmt.Fprintf(w, "peer: %s\n\n", r.Peer)
	fmt.Fprintln(w, "Q1 timeline page (50 entries, one camera, newest first), closed-loop clients over HTTP")
	fmt.Fprintf(w, "%-18s %4s │ %9s %7s %7s │ %9s %7s %7s │ %9s %7s %7s │ %6s %7s\n",
		"variant", "cl", "regicam/s", "p50ms", "p99ms", "rawSQL/s", "p50ms", "p99ms", "PostGr/s", "p50ms", "p99ms", "×peer", "p99/raw")
	for _, q := range r.Q1 {
		peer, xp := fmt.Sprintf("%9s %7s %7s", "—", "—", "—"), "—"
		if q.Peer != nil {
			peer = fmt.Sprintf("%9.0f %7.2f %7.2f", q.Peer.PerSec, q.Peer.P50ms, q.Peer.P99ms)
			if q.Peer.PerSec > 0 {
				xp = fmt.Sprintf("%.1f×", q.Regicam.PerSec/q.Peer.PerSec)
			}
		}
		fmt.Fprintf(w, "%-18s %4d │ %9.0f %7.2f %7.2f │ %9.0f %7.2f %7.2f │ %s │ %6s %6.2f×\n",
			q.Variant, q.Clients, q.Regicam.PerSec, q.Regicam.P50ms, q.Regicam.P99ms, q.Raw.PerSec, q.Raw.P50ms, q.Raw.P99ms,
			peer, xp, q.Regicam.P99ms/q.Raw.P99ms)
		for _, l := range []*Load{&q.Regicam, &q.Raw, q.Peer} {
			if l != nil && l.Errors > 0 {
				fmt.Fprintf(w, "    %d errors, first: %.300s\n", l.Errors, l.FirstErr)
			}
		}
	}
	if prev != nil {
		fmt.Fprintf(w, "\nQ1 on %s (%d entries) from %s, for comparison:\n", prev.Dataset, prev.Rows, prev.Started.Format("2006-01-02 15:04"))
		for _, q := range prev.Q1 {
			fmt.Fprintf(w, "%-18s %4d │ %9.0f %7.2f %7.2f │ %9.0f %7.2f %7.2f\n",
				q.Variant, q.Clients, q.Regicam.PerSec, q.Regicam.P50ms, q.Regicam.P99ms, q.Raw.PerSec, q.Raw.P50ms, q.Raw.P99ms)
		}
	}
	fmt.Fprintln(w, "\nS1 fan-out: N websocket subscriptions on one process (70% one camera, 15% its 支払い tab, 10% a shop, 1% everything),")
	fmt.Fprintln(w, "   entries rung up at a steady rate on registers across the chain; raw push = same frames per event to N plain gorilla sockets")
	fmt.Fprintf(w, "%7s %5s %6s %6s │ %11s %7s %7s │ %11s %7s %7s │ %9s %9s %6s\n",
		"subs", "rate", "events", "groups", "delivered/s", "p50ms", "p99ms", "raw push/s", "p50ms", "p99ms", "heap/sub", "RSS/sub", "frame")
	for _, s := range r.S1 {
		fmt.Fprintf(w, "%7d %5d %6d %6d │ %11.0f %7.1f %7.1f │ %11.0f %7.1f %7.1f │ %7.1fKiB %7.1fKiB %5dB\n",
			s.Subs, s.Rate, s.Events, s.Groups, s.DeliveredPS, s.P50ms, s.P99ms, s.RawDeliveredPS, s.RawP50ms, s.RawP99ms,
			s.HeapPerSubKiB, s.RSSPerSubKiB, s.FrameBytes)
		fmt.Fprintf(w, "    of which the ingest call itself (write + commit, serialised by the event lock): p50 %.1f ms, p99 %.1f ms; %d/%d deliveries, %d duplicates\n",
			s.IngestP50ms, s.IngestP99ms, s.Delivered, s.Expected, s.Dups)
		if s.Note != "" {
			fmt.Fprintf(w, "    %s\n", s.Note)
		}
	}
	if s := r.S2; s != nil {
		fmt.Fprintf(w, "\nS2: %d subscriptions over %d server processes on one PostgreSQL, %d events: %d/%d delivered, %d missing, %d duplicates → %s\n",
			s.Subs, s.Servers, s.Events, s.Delivered, s.Expected, s.Missing, s.Dups, map[bool]string{true: "exactly once", false: "NOT exactly once"}[s.OK])
	}
	if i := r.I1; i != nil {
		fmt.Fprintf(w, "\nI1 ingest, %d entries each, batches of %d, %d concurrent writers:\n", i.Entries, i.Batch, i.Clients)
		fmt.Fprintf(w, "  ingestJournal (GraphQL, entry + event + publish) %8.0f entries/s\n", i.GraphQLPS)
		fmt.Fprintf(w, "  raw multi-row INSERT (entries only)              %8.0f rows/s\n", i.InsertPS)
		fmt.Fprintf(w, "  raw COPY (entries only)                          %8.0f rows/s\n", i.CopyPS)
	}
	fmt.Fprintln(w, "\nEXPLAIN (ANALYZE, BUFFERS) of the Q1 page query:")
	names := make([]string, 0, len(r.Explain))
	for n := range r.Explain {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "--- %s\n%s\n", n, r.Explain[n])
	}
	fmt.Fprintln(w, "\nTargets:")
	for _, t := range r.Targets {
		v := verdict(t.Pass)
		if t.Skip != "" {
			v = "SKIP"
		}
		fmt.Fprintf(w, "  [%s] %-62s %s", v, t.Name, t.Figure)
		if t.Skip != "" {
			fmt.Fprintf(w, " (%s)", t.Skip)
		}
		fmt.Fprintln(w)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  ERROR %s\n", e)
	}
	fmt.Fprintf(w, "took %s\n", r.Took)
}
