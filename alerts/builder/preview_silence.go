package builder

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pulid"
)

// silenceReplay is what a silence preview needs from Preview: the range it
// counts silences that began in, the shops' zones and how a time maps to
// a day of PerDay.
type silenceReplay struct {
	in         PreviewInput
	limit      int
	zones      map[pulid.ID]Zone
	start, now time.Time
	dayOf      func(time.Time) int
	res        *PreviewResult
	newest     []ended // the entries that ended the newest silences, newest first
}

// ended is an entry that ended a silence.
type ended struct {
	at time.Time
	id pulid.ID
}

// keepNewest keeps the newest PreviewExamples of r.newest and more: the
// registers are replayed one after another, not in time order.
func (r *silenceReplay) keepNewest(more []ended) {
	r.newest = append(r.newest, more...)
	slices.SortFunc(r.newest, func(a, b ended) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
	r.newest = r.newest[:min(len(r.newest), PreviewExamples)]
}

// period is one stretch a silence counts in: opened is what the live check
// reads as the opening time anywhere in it, closes the first closed minute.
type period struct{ opened, closes time.Time }

// previewSilence replays the silence check (package alerts, CheckSilent)
// over the stored history, as if it had run at every instant: per register
// in the rule's scope, each gap between two entries (or after the last, up
// to now) is cut by the hours the silence counts in, and each part whose
// quiet — from the opening or the entry before, whichever is later — lasted
// the window before the next entry or the closing is one silence, the one
// alert the check keys by register and start. Silences are counted where
// they began, from the range's first midnight on.
func previewSilence(ctx context.Context, client *ent.Client, r *silenceReplay) error {
	c := r.in.Conditions
	hrs, ok := SilenceHoursOf(&c)
	if !ok {
		return nil
	}
	window := time.Duration(max(c.Silence.WindowSeconds, 0)) * time.Second
	// A learned window is what the check would have learnt at each instant:
	// the entries of the seven days before it, so the scan starts a week
	// early.
	from := r.start
	if window == 0 {
		from = from.Add(-UsualSilenceOf)
	}
	q := client.Terminal.Query().Where(terminal.AccountID(r.in.Account))
	if s := r.in.Scope; s != nil {
		if len(s.TerminalIDs) > 0 {
			q = q.Where(terminal.IDIn(s.TerminalIDs...))
		}
		if len(s.ShopIDs) > 0 {
			q = q.Where(terminal.ShopIDIn(s.ShopIDs...))
		}
	}
	if len(c.TerminalIDs) > 0 {
		q = q.Where(terminal.IDIn(toIDs(c.TerminalIDs)...))
	}
	if len(c.ShopIDs) > 0 {
		q = q.Where(terminal.ShopIDIn(toIDs(c.ShopIDs)...))
	}
	terms, err := q.Order(ent.Asc(terminal.FieldID)).Select(terminal.FieldID, terminal.FieldShopID).All(ctx)
	if err != nil {
		return fmt.Errorf("preview terminals: %w", err)
	}
	periods := map[pulid.ID][]period{} // per shop: the hours are the shop's
	for _, t := range terms {
		if r.res.Scanned >= r.limit {
			break
		}
		z, ok := r.zones[t.ShopID]
		if !ok {
			z = Zone{Loc: LoadZone("")}
		}
		ps, ok := periods[t.ShopID]
		if !ok {
			// A day early: a period open at the range's start began before it.
			ps = hrs.periods(z, r.start.Add(-24*time.Hour), r.now)
			periods[t.ShopID] = ps
		}
		if err := r.terminal(ctx, client, t.ID, from, ps, window, hrs.WeekMinutes(z.Hours)); err != nil {
			return err
		}
	}
	r.res.Capped = r.res.Scanned >= r.limit
	return nil
}

// periods are the stretches [from, to] meets in which the silence counts,
// found a minute at a time (hours change only on the minute) with the same
// Open and OpenedAt the live check asks.
func (h SilenceHours) periods(z Zone, from, to time.Time) []period {
	var (
		out  []period
		open bool
	)
	for t := from.Truncate(time.Minute); !t.After(to); t = t.Add(time.Minute) {
		lt := t.In(z.Loc)
		now := h.Open(z.Hours, lt)
		// The rule's hours open anew at From each day even when they never
		// close (From == To): the check's opening time moves on there.
		anew := !h.Shop && open && lt.Hour()*60+lt.Minute() == h.From
		if open && (!now || anew) {
			out[len(out)-1].closes = t
		}
		if now && (!open || anew) {
			o, _ := h.OpenedAt(z.Hours, lt)
			out = append(out, period{opened: o})
		}
		open = now
	}
	if open {
		out[len(out)-1].closes = to.Add(time.Minute) // past now: now bounds it
	}
	return out
}

// terminal replays one register: its entry times in order, a page at a
// time, each gap checked against the periods it meets.
func (r *silenceReplay) terminal(ctx context.Context, client *ent.Client, id pulid.ID, from time.Time, ps []period, window time.Duration, week int) error {
	var (
		prev    *time.Time  // the entry before the gap
		ex      []ended     // this register's newest
		times   []time.Time // the entries since from, for a learned window
		p       int         // the first period that may meet the gap
		lastAt  time.Time
		lastID  pulid.ID
		counted = func(s time.Time) bool { return !s.Before(r.start) }
	)
	defer func() { r.keepNewest(ex) }()
	before, err := client.JournalEntry.Query().Where(journalentry.TerminalID(id), journalentry.OccurredAtLT(from)).
		Order(ent.Desc(journalentry.FieldOccurredAt)).Select(journalentry.FieldOccurredAt).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("preview entry before: %w", err)
	}
	if before != nil {
		prev = &before.OccurredAt
	}
	// gap counts the silences between prev and next (nil: none yet, up to
	// now included), the next entry's id naming them.
	gap := func(next *time.Time, nextID pulid.ID) {
		lim := r.now.Add(1) // the check at now itself still counts
		if next != nil {
			lim = *next
		}
		for p < len(ps) && prev != nil && !ps[p].closes.After(*prev) {
			p++
		}
		for k := p; k < len(ps) && ps[k].opened.Before(lim); k++ {
			s := ps[k].opened
			if prev != nil && prev.After(s) {
				s = *prev
			}
			end := ps[k].closes
			if end.After(lim) {
				end = lim
			}
			if !counted(s) || !s.Before(end) {
				continue
			}
			if !r.fires(s, end, window, week, times) {
				continue
			}
			r.res.Hits++
			if d := r.dayOf(s); d >= 0 && d < r.in.Days {
				r.res.PerDay[d]++
			}
			// A gap over several days may hold several silences; the entry
			// that ended them is one example.
			if next != nil && (len(ex) == 0 || ex[len(ex)-1].id != nextID) {
				ex = append(ex, ended{*next, nextID})
				if len(ex) > PreviewExamples {
					ex = ex[1:]
				}
			}
		}
	}
	for r.res.Scanned < r.limit {
		q := client.JournalEntry.Query().Where(journalentry.TerminalID(id), journalentry.OccurredAtGTE(from),
			journalentry.OccurredAtLTE(r.now))
		if lastID != "" {
			q = q.Where(journalentry.OccurredAtGTE(lastAt), journalentry.Or(journalentry.OccurredAtGT(lastAt), journalentry.IDGT(lastID)))
		}
		page, err := q.Order(ent.Asc(journalentry.FieldOccurredAt), ent.Asc(journalentry.FieldID)).
			Select(journalentry.FieldID, journalentry.FieldOccurredAt, journalentry.FieldTerminalID).
			Limit(min(PreviewPage, r.limit-r.res.Scanned)).All(ctx)
		if err != nil {
			return fmt.Errorf("preview page: %w", err)
		}
		r.res.Scanned += len(page)
		for _, e := range page {
			at := e.OccurredAt
			gap(&at, e.ID)
			prev = &at
			if window == 0 {
				times = append(times, at)
			}
		}
		if len(page) < PreviewPage {
			if r.res.Scanned < r.limit || len(page) == 0 {
				gap(nil, "")
			}
			return nil
		}
		lastAt, lastID = page[len(page)-1].OccurredAt, page[len(page)-1].ID
	}
	return nil
}

// fires reports whether the check, run at some instant in [s, end), would
// have found the register quiet since s for its window. A learned window
// is the one the check learns at that instant: the entries in the seven
// days before it (times, all at or before s's gap) through UsualSilence;
// it only grows as entries age out, so each stretch of one count is tried.
func (r *silenceReplay) fires(s, end time.Time, window time.Duration, week int, times []time.Time) bool {
	if window > 0 {
		return s.Add(window).Before(end)
	}
	// At instant t the check counts entries in [t-7d, t): those from index j on.
	j, _ := slices.BinarySearchFunc(times, s.Add(-UsualSilenceOf), func(a, b time.Time) int { return a.Compare(b) })
	t := s
	for t.Before(end) {
		n := len(times) - j
		w := UsualSilence(n, week)
		if w == 0 {
			return false
		}
		// This count holds while times[j] is within the seven days.
		hi := times[j].Add(UsualSilenceOf).Add(1)
		at, until := t, hi
		if s.Add(w).After(at) {
			at = s.Add(w)
		}
		if end.Before(until) {
			until = end
		}
		if at.Before(until) {
			return true
		}
		t = hi
		for j < len(times) && times[j].Add(UsualSilenceOf).Before(t) {
			j++
		}
	}
	return false
}

func toIDs(ss []string) []pulid.ID {
	out := make([]pulid.ID, len(ss))
	for i, s := range ss {
		out[i] = pulid.ID(s)
	}
	return out
}
