package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/regclock"
)

// minShared is the smallest run of new records worth a shared
// transaction.
const minShared = 2

// captureWorkers bounds the pictures taken at once for one batch.
const captureWorkers = 16

// batchItem is a new record planned for a shared transaction.
type batchItem struct {
	i       int
	term    *ent.Terminal
	d       decision
	id      pulid.ID
	shot    *Shot
	reason  string
	pending bool
}

// storeInOrder stores rs[todo] in input order. Consecutive new PAYMENT and
// OTHER records (no entry with their key yet, no other item of the batch
// referring to them) share one transaction: one entry insert, one event
// insert and one commit for all of them instead of one each, which is what
// makes partner ingest fast. Everything else is stored on its own. Should a
// shared transaction fail (a concurrent ingest of the same record, a lost
// connection), it is rolled back and its items are stored one by one, so
// the outcome is always what per-item transactions give.
func (in *Ingester) storeInOrder(ctx context.Context, accountID pulid.ID, rs []Receipt, todo []int, out []Result) {
	plan := in.planBatch(ctx, accountID, rs, todo)
	var run []*batchItem
	flush := func() {
		if len(run) >= minShared && in.storeShared(ctx, rs, run, out) {
			run = run[:0]
			return
		}
		for _, it := range run {
			in.storeOne(ctx, accountID, rs, it.i, out)
		}
		run = run[:0]
	}
	for _, i := range todo {
		if it := plan[i]; it != nil {
			run = append(run, it)
			continue
		}
		flush()
		in.storeOne(ctx, accountID, rs, i, out)
	}
	flush()
}

// planBatch picks the items a shared transaction may take, with their
// terminal and camera; nil when the batch is too small or a lookup fails.
func (in *Ingester) planBatch(ctx context.Context, accountID pulid.ID, rs []Receipt, todo []int) map[int]*batchItem {
	if len(todo) < minShared {
		return nil
	}
	// Items some other item of the batch changes keep their own path.
	referenced := make(map[string]bool)
	for _, i := range todo {
		if r := &rs[i]; r.Kind != journalentry.KindPAYMENT && r.Kind != journalentry.KindOTHER {
			referenced[r.ExternalID] = true
			if r.RelatedExternalID != "" {
				referenced[r.RelatedExternalID] = true
			}
		}
	}
	var cand []int
	termIDs := make(map[pulid.ID]bool)
	for _, i := range todo {
		r := &rs[i]
		if (r.Kind == journalentry.KindPAYMENT || r.Kind == journalentry.KindOTHER) && !referenced[r.ExternalID] {
			cand = append(cand, i)
			termIDs[r.TerminalID] = true
		}
	}
	if len(cand) < minShared {
		return nil
	}
	ids := make([]pulid.ID, 0, len(termIDs))
	for id := range termIDs {
		ids = append(ids, id)
	}
	terms, err := in.client.Terminal.Query().Where(terminal.IDIn(ids...), terminal.AccountID(accountID)).All(ctx)
	if err != nil {
		return nil
	}
	termOf := make(map[pulid.ID]*ent.Terminal, len(terms))
	conns := make(map[pulid.ID]bool)
	for _, t := range terms {
		termOf[t.ID] = t
		conns[t.ConnectionID] = true
	}
	if len(terms) == 0 {
		return nil
	}
	links, err := in.client.Link.Query().Where(link.TerminalIDIn(ids...)).All(ctx)
	if err != nil {
		return nil
	}
	// Records already stored go one by one: duplicates and edits.
	exts := make([]string, 0, len(cand))
	for _, i := range cand {
		exts = append(exts, rs[i].ExternalID)
	}
	connIDs := make([]pulid.ID, 0, len(conns))
	for id := range conns {
		connIDs = append(connIDs, id)
	}
	known, err := in.client.JournalEntry.Query().Where(journalentry.ConnectionIDIn(connIDs...), journalentry.ExternalIDIn(exts...),
		journalentry.KindIn(journalentry.KindPAYMENT, journalentry.KindOTHER), journalentry.Revision("")).
		Select(journalentry.FieldConnectionID, journalentry.FieldExternalID, journalentry.FieldKind).All(ctx)
	if err != nil {
		return nil
	}
	type key struct {
		conn pulid.ID
		ext  string
		kind journalentry.Kind
	}
	stored := make(map[key]bool, len(known))
	for _, e := range known {
		stored[key{e.ConnectionID, e.ExternalID, e.Kind}] = true
	}
	plan := make(map[int]*batchItem, len(cand))
	// Each register's clock window runs through the batch in input order,
	// so a first batch of a register already corrects from its third
	// receipt on (clock.go).
	clocks := make(map[pulid.ID]*regclock.State)
	for _, i := range cand {
		r := &rs[i]
		t := termOf[r.TerminalID]
		if t == nil {
			continue // not found: the one-by-one path says so
		}
		k := key{t.ConnectionID, r.ExternalID, r.Kind}
		if stored[k] {
			continue
		}
		stored[k] = true
		st := clocks[t.ID]
		if st == nil {
			w := windowOf(t)
			st = &w
			clocks[t.ID] = st
		}
		d := decision{kind: r.Kind, at: r.OccurredAt, fp: r.fingerprint()}
		d.corrected = in.correction(st, r, &d)
		d.cameraID = cameraFrom(links, t.ID, d.pictureAt())
		plan[i] = &batchItem{i: i, term: t, d: d, id: pulid.MustNew("JE")}
	}
	return plan
}

// storeShared writes items in one transaction and reports whether it
// committed.
func (in *Ingester) storeShared(ctx context.Context, rs []Receipt, items []*batchItem, out []Result) bool {
	// Pictures are taken before the transaction, as for a single receipt,
	// several at once since each may wait a moment for its frame.
	if in.Thumbnails != nil {
		var wg sync.WaitGroup
		sem := make(chan struct{}, captureWorkers)
		for _, it := range items {
			if it.d.cameraID == nil {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				it.shot, it.reason, it.pending = in.Thumbnails.Capture(ctx, it.term.AccountID, it.id, *it.d.cameraID, it.d.pictureAt())
			}()
		}
		wg.Wait()
	}
	tx, err := in.client.Tx(ctx)
	if err != nil {
		return false
	}
	defer func() { _ = tx.Rollback() }()
	creates := make([]*ent.JournalEntryCreate, len(items))
	for n, it := range items {
		creates[n] = in.entryCreate(tx, it.term, &rs[it.i], it.d, it.id, in.entryReason(it.d.cameraID, it.shot, it.reason))
	}
	entries, err := tx.JournalEntry.CreateBulk(creates...).Save(ctx)
	if err != nil {
		in.log.DebugContext(ctx, "shared ingest transaction falls back to one by one", "err", err)
		return false
	}
	for n, it := range items {
		if it.shot != nil {
			if err := saveShot(ctx, tx, entries[n], it.shot); err != nil {
				return false
			}
		}
	}
	evs := make([]eventOf, len(entries))
	for n, e := range entries {
		evs[n] = eventOf{e, event.TypeADDED}
	}
	samples := make(map[pulid.ID][]clockSample)
	for _, it := range items {
		if s, ok := sampleOf(&rs[it.i], it.d.kind); ok {
			samples[it.term.ID] = append(samples[it.term.ID], s)
		}
	}
	clock, err := in.recordClock(ctx, tx, samples)
	if err != nil {
		return false
	}
	last, err := in.appendEvents(ctx, tx, evs...)
	if err != nil {
		return false
	}
	if err := tx.Commit(); err != nil {
		return false
	}
	reportClock(clock)
	in.publish(ctx, last)
	for n, it := range items {
		e := entries[n].Unwrap()
		out[it.i] = Result{Status: Created, Entry: e}
		in.observe(ctx, e)
		if it.pending && it.d.cameraID != nil && in.Thumbnails != nil {
			in.late.Add(1)
			go func() {
				defer in.late.Done()
				in.lateThumbnail(context.WithoutCancel(ctx), e)
			}()
		}
	}
	return true
}

// cameraFrom is cameraAt over links already loaded: the camera linked to
// the terminal at t, links being half-open intervals [created_at, ended_at).
func cameraFrom(links []*ent.Link, terminalID pulid.ID, t time.Time) *pulid.ID {
	var best *ent.Link
	for _, l := range links {
		if l.TerminalID != terminalID || l.CreatedAt.After(t) || (l.EndedAt != nil && !l.EndedAt.After(t)) {
			continue
		}
		if best == nil || l.CreatedAt.After(best.CreatedAt) {
			best = l
		}
	}
	if best == nil {
		return nil
	}
	id := best.CameraID
	return &id
}
