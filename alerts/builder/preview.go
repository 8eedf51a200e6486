package builder

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
)

// Preview bounds: entries read per query and in all, and examples kept.
const (
	PreviewPage     = 1000
	PreviewMaxScan  = 200_000
	PreviewExamples = 20
)

// PreviewInput is a rule tried over an account's stored history.
type PreviewInput struct {
	Account    pulid.ID
	Conditions Conditions
	Scope      *journal.Filter // nil: every entry
	Days       int
	Now        time.Time
	MaxScan    int // 0: PreviewMaxScan
}

// PreviewResult is how often the rule would have fired.
type PreviewResult struct {
	Days     int
	Hits     int
	PerDay   []int // oldest first, in the account's first shop's timezone
	Examples []*ent.JournalEntry
	Scanned  int
	// Capped is true when the scan stopped at MaxScan before the end.
	Capped bool
}

// Preview replays the last Days days (from local midnight, in the account's
// first shop's timezone) through the conditions as ingest would have met
// them: the database pre-filters on what it can decide (Predicates), then
// each candidate is decided here oldest first, a page at a time, at most
// MaxScan entries. Window rules are replayed in memory: a burst per staff
// with the same one-alert-per-window rule as at ingest, a quick cancel
// against its sale read in one query per page. A silence is replayed per
// register from its entry times instead (previewSilence): its hits are the
// silences that began in the range, its examples the entries that ended
// them.
func Preview(ctx context.Context, client *ent.Client, in PreviewInput) (PreviewResult, error) {
	res := PreviewResult{Days: in.Days, PerDay: make([]int, in.Days)}
	limit := in.MaxScan
	if limit <= 0 {
		limit = PreviewMaxScan
	}
	shops, err := client.Shop.Query().Where(shop.AccountID(in.Account)).Order(ent.Asc(shop.FieldCreatedAt), ent.Asc(shop.FieldID)).
		Select(shop.FieldID, shop.FieldTimezone, shop.FieldBusinessHours).Limit(10_000).All(ctx)
	if err != nil {
		return res, fmt.Errorf("preview shops: %w", err)
	}
	zones := make(map[pulid.ID]Zone, len(shops))
	for _, sh := range shops {
		zones[sh.ID] = Zone{Loc: LoadZone(sh.Timezone), Hours: sh.BusinessHours}
	}
	dayLoc := LoadZone("")
	if len(shops) > 0 {
		dayLoc = zones[shops[0].ID].Loc
	}
	now := in.Now.In(dayLoc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, dayLoc)
	start := today.AddDate(0, 0, -(in.Days - 1))
	dayOf := func(t time.Time) int {
		t = t.In(dayLoc)
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, dayLoc)
		// Calendar days, not 24 h: a DST day is still one day.
		n := 0
		for c := start; c.Before(d) && n <= in.Days; c = c.AddDate(0, 0, 1) {
			n++
		}
		return n
	}

	if in.Conditions.Silence != nil {
		r := &silenceReplay{in: in, limit: limit, zones: zones, start: start, now: in.Now, dayOf: dayOf, res: &res}
		if err := previewSilence(ctx, client, r); err != nil {
			return res, err
		}
		ids := make([]pulid.ID, len(r.newest))
		for i, x := range r.newest {
			ids[i] = x.id
		}
		res.Examples, err = previewExamples(ctx, client, in.Account, ids)
		return res, err
	}

	m := Compile(in.Conditions)
	preds := append(m.Predicates(), journalentry.AccountID(in.Account), journalentry.OccurredAtGTE(start.UTC()),
		journalentry.OccurredAtLTE(in.Now.UTC()))
	if in.Scope != nil {
		preds = append(preds, in.Scope.Predicates()...)
	}
	var (
		lastAt   time.Time
		lastID   pulid.ID
		newest   []pulid.ID // ring of the newest hits
		bursts   = map[string][]time.Time{}
		burstHit = map[string]time.Time{}
	)
	hit := func(e *ent.JournalEntry) {
		res.Hits++
		if d := dayOf(e.OccurredAt); d >= 0 && d < in.Days {
			res.PerDay[d]++
		}
		newest = append(newest, e.ID)
		if len(newest) > PreviewExamples {
			newest = newest[1:]
		}
	}
	for res.Scanned < limit {
		q := client.JournalEntry.Query().Where(preds...)
		if lastID != "" {
			// A range on occurred_at the index can seek to, then the tie.
			q = q.Where(journalentry.OccurredAtGTE(lastAt), journalentry.Or(journalentry.OccurredAtGT(lastAt), journalentry.IDGT(lastID)))
		}
		page, err := q.Order(ent.Asc(journalentry.FieldOccurredAt), ent.Asc(journalentry.FieldID)).
			Select(decideColumns...).Limit(min(PreviewPage, limit-res.Scanned)).All(ctx)
		if err != nil {
			return res, fmt.Errorf("preview page: %w", err)
		}
		if len(page) == 0 {
			break
		}
		res.Scanned += len(page)
		lastAt, lastID = page[len(page)-1].OccurredAt, page[len(page)-1].ID
		var cand []*ent.JournalEntry
		for _, e := range page {
			if in.Scope != nil && !in.Scope.Match(e) || !m.Entry(e, zones[e.ShopID]) {
				continue
			}
			cand = append(cand, e)
		}
		switch {
		case m.C.QuickCancel != nil:
			var saleIDs []pulid.ID
			for _, e := range cand {
				if e.RelatedID != nil {
					saleIDs = append(saleIDs, *e.RelatedID)
				}
			}
			sales := map[pulid.ID]*ent.JournalEntry{}
			if len(saleIDs) > 0 {
				rows, err := client.JournalEntry.Query().Where(journalentry.AccountID(in.Account), journalentry.IDIn(saleIDs...)).
					Select(journalentry.FieldID, journalentry.FieldOccurredAt, journalentry.FieldStaffID, journalentry.FieldStaffName).All(ctx)
				if err != nil {
					return res, fmt.Errorf("preview sales: %w", err)
				}
				for _, r := range rows {
					sales[r.ID] = r
				}
			}
			for _, e := range cand {
				if e.RelatedID == nil || sales[*e.RelatedID] == nil {
					continue
				}
				if _, ok := m.QuickGap(e, sales[*e.RelatedID]); ok {
					hit(e)
				}
			}
		case m.C.Burst != nil:
			w := time.Duration(m.C.Burst.WindowSeconds) * time.Second
			for _, e := range cand {
				if e.StaffID == "" && e.StaffName == "" {
					continue
				}
				key := "n:" + e.StaffName
				if e.StaffID != "" {
					key = "i:" + e.StaffID
				}
				since := e.OccurredAt.Add(-w)
				ts := bursts[key]
				i := 0
				for i < len(ts) && !ts[i].After(since) {
					i++
				}
				ts = append(ts[i:], e.OccurredAt)
				bursts[key] = ts
				if len(ts) < m.C.Burst.Count {
					continue
				}
				// One alert per burst, keyed by staff name as the stored alerts are.
				if last, ok := burstHit[e.StaffName]; ok && last.After(since) {
					continue
				}
				burstHit[e.StaffName] = e.OccurredAt
				hit(e)
			}
		default:
			for _, e := range cand {
				hit(e)
			}
		}
		if len(page) < PreviewPage {
			break
		}
	}
	res.Capped = res.Scanned >= limit
	res.Examples, err = previewExamples(ctx, client, in.Account, newest)
	return res, err
}

// previewExamples reads the example entries whole, newest first.
func previewExamples(ctx context.Context, client *ent.Client, account pulid.ID, ids []pulid.ID) ([]*ent.JournalEntry, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ex, err := client.JournalEntry.Query().Where(journalentry.AccountID(account), journalentry.IDIn(ids...)).
		Select(journal.ListColumns...).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("preview examples: %w", err)
	}
	slices.SortFunc(ex, func(a, b *ent.JournalEntry) int {
		if c := b.OccurredAt.Compare(a.OccurredAt); c != 0 {
			return c
		}
		return strings.Compare(string(b.ID), string(a.ID))
	})
	return ex, nil
}

// decideColumns are what Entry, the window rules and a scope read: the
// scan reads no more (examples are read whole at the end).
var decideColumns = []string{journalentry.FieldID, journalentry.FieldAccountID, journalentry.FieldTerminalID,
	journalentry.FieldShopID, journalentry.FieldCameraID, journalentry.FieldKind, journalentry.FieldOccurredAt,
	journalentry.FieldReceiptNo, journalentry.FieldRegisterNo, journalentry.FieldStaffID, journalentry.FieldStaffName,
	journalentry.FieldTotal, journalentry.FieldEnteredAt, journalentry.FieldPaymentMethod, journalentry.FieldItems,
	journalentry.FieldRelatedID, journalentry.FieldCorrectedAt}

// LoadZone is a shop's timezone; an empty or unknown name is Asia/Tokyo,
// the zone a shop is created in.
func LoadZone(name string) *time.Location {
	if loc, err := time.LoadLocation(name); err == nil && name != "" {
		return loc
	}
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		return time.FixedZone("JST", 9*3600)
	}
	return loc
}
