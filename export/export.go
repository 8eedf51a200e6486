// Package export writes the journal as CSV for spreadsheets and
// accountants: streamed page by page (keyset), so a million rows cost the
// memory of one page, UTF-8 with a BOM so Excel reads the Japanese headers.
package export

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// BOM makes Excel open the file as UTF-8.
const BOM = "\uFEFF"

// Header is the first CSV line.
var Header = []string{"日時", "種別", "レシートNo", "レジNo", "担当", "合計", "預かり金", "釣り銭", "入店時間", "支払い方法", "店舗", "端末", "カメラ", "商品"}

// PageSize is how many entries are read (and held) at a time.
const PageSize = 1000

var kindLabels = map[journalentry.Kind]string{
	journalentry.KindPAYMENT: "支払い", journalentry.KindCANCEL: "キャンセル", journalentry.KindMODIFY: "修正",
	journalentry.KindDELETE: "削除", journalentry.KindOTHER: "その他",
}

// Restrict narrows f to the shops v may see (STAFF); asking for another
// shop reads as not found. ok is false when v can see no shop at all.
func Restrict(v viewer.Viewer, f *journal.Filter) (ok bool, err error) {
	f.AccountID = v.AccountID
	if !v.Restricted {
		return true, nil
	}
	for _, id := range f.ShopIDs {
		if !v.SeesShop(id) {
			return false, apperr.Missing("where.shopIDs", "店舗が見つかりません (no such shop): %s", id).Because(apperr.NOT_FOUND)
		}
	}
	if len(f.ShopIDs) == 0 {
		f.ShopIDs = v.ShopIDs
	}
	return len(f.ShopIDs) > 0, nil
}

// Count estimates the rows of an export (exact when nothing arrives meanwhile).
func Count(ctx context.Context, client *ent.Client, f journal.Filter) (int64, error) {
	n, err := client.JournalEntry.Query().Where(f.Predicates()...).Count(ctx)
	return int64(n), err
}

// Write streams every entry matching f to w, newest first, calling
// progress after each page with the rows written so far. The caller
// checks f's ids (journal.CheckIDs) first.
func Write(ctx context.Context, client *ent.Client, w io.Writer, f journal.Filter, progress func(rows int64)) (int64, error) {
	if _, err := io.WriteString(w, BOM); err != nil {
		return 0, err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(Header); err != nil {
		return 0, err
	}
	n := names{client: client, shops: map[pulid.ID]shopInfo{}, terms: map[pulid.ID]string{}, cams: map[pulid.ID]string{}}
	var after *journal.Cursor
	var rows int64
	rec := make([]string, len(Header))
	for {
		page, err := list(ctx, client, f, after)
		if err != nil {
			return rows, err
		}
		if err := n.load(ctx, page.Edges); err != nil {
			return rows, err
		}
		for _, e := range page.Edges {
			n.record(rec, e.Entry)
			if err := cw.Write(rec); err != nil {
				return rows, err
			}
			rows++
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return rows, err
		}
		if progress != nil {
			progress(rows)
		}
		if !page.HasNext || len(page.Edges) == 0 {
			return rows, nil
		}
		after = &page.Edges[len(page.Edges)-1].Cursor
	}
}

// columns are what a CSV row shows: decoding the rest of each entry would
// cost more than the query.
var columns = []string{
	journalentry.FieldID, journalentry.FieldOccurredAt, journalentry.FieldKind, journalentry.FieldReceiptNo,
	journalentry.FieldRegisterNo, journalentry.FieldStaffName, journalentry.FieldTotal, journalentry.FieldDeposit,
	journalentry.FieldChange, journalentry.FieldEnteredAt, journalentry.FieldPaymentMethod, journalentry.FieldShopID,
	journalentry.FieldTerminalID, journalentry.FieldCameraID, journalentry.FieldItems,
}

// list is one keyset page in journal order (newest first), older than after.
func list(ctx context.Context, client *ent.Client, f journal.Filter, after *journal.Cursor) (*journal.Page, error) {
	q := client.JournalEntry.Query().Where(f.Predicates()...)
	if after != nil {
		c := *after
		q = q.Where(func(s *sql.Selector) {
			s.Where(sql.P(func(b *sql.Builder) {
				b.WriteString("(").Ident(s.C(journalentry.FieldOccurredAt)).Comma().
					Ident(s.C(journalentry.FieldID)).WriteString(") < (").
					Args(c.OccurredAt, string(c.ID)).WriteString(")")
			}))
		})
	}
	es, err := q.Order(journalentry.ByOccurredAt(sql.OrderDesc()), journalentry.ByID(sql.OrderDesc())).Limit(PageSize + 1).
		Select(columns...).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("export page: %w", err)
	}
	p := &journal.Page{HasNext: len(es) > PageSize}
	if p.HasNext {
		es = es[:PageSize]
	}
	p.Edges = make([]journal.Edge, len(es))
	for i, e := range es {
		p.Edges[i] = journal.Edge{Entry: e, Cursor: journal.Cursor{OccurredAt: e.OccurredAt, ID: e.ID}}
	}
	return p, nil
}

type shopInfo struct {
	name string
	loc  *time.Location
}

// names caches what a row shows besides the entry itself; a chain has few
// shops, terminals and cameras, so the cache stays small.
type names struct {
	client *ent.Client
	shops  map[pulid.ID]shopInfo
	terms  map[pulid.ID]string
	cams   map[pulid.ID]string
}

func (n *names) load(ctx context.Context, edges []journal.Edge) error {
	var shops, terms, cams []pulid.ID
	for _, e := range edges {
		if _, ok := n.shops[e.Entry.ShopID]; !ok {
			shops = append(shops, e.Entry.ShopID)
			n.shops[e.Entry.ShopID] = shopInfo{loc: tokyo}
		}
		if _, ok := n.terms[e.Entry.TerminalID]; !ok {
			terms = append(terms, e.Entry.TerminalID)
			n.terms[e.Entry.TerminalID] = ""
		}
		if c := e.Entry.CameraID; c != nil {
			if _, ok := n.cams[*c]; !ok {
				cams = append(cams, *c)
				n.cams[*c] = ""
			}
		}
	}
	if len(shops) > 0 {
		rows, err := n.client.Shop.Query().Where(shop.IDIn(shops...)).Select(shop.FieldName, shop.FieldTimezone).All(ctx)
		if err != nil {
			return fmt.Errorf("export shops: %w", err)
		}
		for _, s := range rows {
			loc, err := time.LoadLocation(s.Timezone)
			if err != nil || s.Timezone == "" {
				loc = tokyo
			}
			n.shops[s.ID] = shopInfo{name: s.Name, loc: loc}
		}
	}
	if len(terms) > 0 {
		rows, err := n.client.Terminal.Query().Where(terminal.IDIn(terms...)).Select(terminal.FieldName).All(ctx)
		if err != nil {
			return fmt.Errorf("export terminals: %w", err)
		}
		for _, t := range rows {
			n.terms[t.ID] = t.Name
		}
	}
	if len(cams) > 0 {
		rows, err := n.client.Camera.Query().Where(camera.IDIn(cams...)).Select(camera.FieldName).All(ctx)
		if err != nil {
			return fmt.Errorf("export cameras: %w", err)
		}
		for _, c := range rows {
			n.cams[c.ID] = c.Name
		}
	}
	return nil
}

var tokyo = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		return time.FixedZone("JST", 9*3600)
	}
	return loc
}()

func (n *names) record(rec []string, e *ent.JournalEntry) {
	sh := n.shops[e.ShopID]
	rec[0] = e.OccurredAt.In(sh.loc).Format("2006/01/02 15:04:05")
	rec[1] = kindLabels[e.Kind]
	rec[2] = text(e.ReceiptNo)
	rec[3] = text(e.RegisterNo)
	rec[4] = text(e.StaffName)
	rec[5] = strconv.FormatInt(e.Total, 10)
	rec[6] = strconv.FormatInt(e.Deposit, 10)
	rec[7] = strconv.FormatInt(e.Change, 10)
	rec[8] = ""
	if e.EnteredAt != nil {
		rec[8] = e.EnteredAt.In(sh.loc).Format("2006/01/02 15:04")
	}
	rec[9] = text(e.PaymentMethod)
	rec[10] = text(sh.name)
	rec[11] = text(n.terms[e.TerminalID])
	rec[12] = ""
	if e.CameraID != nil {
		rec[12] = text(n.cams[*e.CameraID])
	}
	var items strings.Builder
	for i, it := range e.Items {
		if i > 0 {
			items.WriteString(" / ")
		}
		fmt.Fprintf(&items, "%s ×%d ¥%d", it.Name, it.Quantity, it.Amount)
	}
	rec[13] = text(items.String())
}

// text defuses spreadsheet formulas: a staff name or item typed as
// "=HYPERLINK(…)" must stay text when the owner opens the file.
func text(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Progress remembers the exports running in this process, for a progress
// bar: the dashboard passes its own exportID and polls
// Query.journalExportProgress. Finished exports are kept a few minutes.
type Progress struct {
	mu   sync.Mutex
	jobs map[string]*Job
}

// Job is one export's progress.
type Job struct {
	ID       string
	account  pulid.ID
	Estimate int64
	mu       sync.Mutex
	rows     int64
	done     bool
	err      string
	ended    time.Time
}

// Snapshot is a consistent copy of a Job.
type Snapshot struct {
	ID             string
	Rows, Estimate int64
	Done           bool
	Err            string
}

// NewProgress returns an empty registry.
func NewProgress() *Progress { return &Progress{jobs: map[string]*Job{}} }

// MaxIDLen bounds client-chosen export ids.
const MaxIDLen = 64

// Start registers an export.
func (p *Progress) Start(account pulid.ID, id string, estimate int64) *Job {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, j := range p.jobs {
		j.mu.Lock()
		stale := j.done && time.Since(j.ended) > 10*time.Minute
		j.mu.Unlock()
		if stale {
			delete(p.jobs, k)
		}
	}
	j := &Job{ID: id, account: account, Estimate: estimate}
	p.jobs[string(account)+"/"+id] = j
	return j
}

// Get returns the progress of account's export id.
func (p *Progress) Get(account pulid.ID, id string) (Snapshot, bool) {
	p.mu.Lock()
	j, ok := p.jobs[string(account)+"/"+id]
	p.mu.Unlock()
	if !ok {
		return Snapshot{}, false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return Snapshot{ID: j.ID, Rows: j.rows, Estimate: j.Estimate, Done: j.done, Err: j.err}, true
}

// Set records rows written so far.
func (j *Job) Set(rows int64) {
	j.mu.Lock()
	j.rows = rows
	j.mu.Unlock()
}

// Finish marks the export ended, with err when it failed.
func (j *Job) Finish(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.done, j.ended = true, time.Now()
	if err != nil {
		j.err = err.Error()
	}
}

// WriteEntries writes entries as Write writes the journal (BOM, Header,
// the same columns, shop times and formula guard), in the order given: a
// hand-picked set, such as a case's receipts (package evidence), reads the
// same as the export of the journal it came from. The entries must carry
// at least the fields Write selects.
func WriteEntries(ctx context.Context, client *ent.Client, w io.Writer, entries []*ent.JournalEntry) (int64, error) {
	if _, err := io.WriteString(w, BOM); err != nil {
		return 0, err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(Header); err != nil {
		return 0, err
	}
	n := names{client: client, shops: map[pulid.ID]shopInfo{}, terms: map[pulid.ID]string{}, cams: map[pulid.ID]string{}}
	edges := make([]journal.Edge, len(entries))
	for i, e := range entries {
		edges[i].Entry = e
	}
	if err := n.load(ctx, edges); err != nil {
		return 0, err
	}
	var rows int64
	rec := make([]string, len(Header))
	for _, e := range entries {
		n.record(rec, e)
		if err := cw.Write(rec); err != nil {
			return rows, err
		}
		rows++
	}
	cw.Flush()
	return rows, cw.Error()
}

// KindLabel is the 種別 a row shows for kind.
func KindLabel(kind journalentry.Kind) string { return kindLabels[kind] }
