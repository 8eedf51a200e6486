// Package harness is regicam's performance harness, run as
// cmd/regicam-bench: `seed` loads a realistic chain into PostgreSQL with
// COPY, `run` measures the journal page, live fan-out and ingest against
// same-run baselines (raw SQL, raw websocket push, raw COPY) and
// PostGraphile v5.
package harness

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/oklog/ulid/v2"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/account"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pulid"
)

// The seeded chain: 50 shops, each with its own POS contract, 4 cameras and
// 8 registers; every camera watches two registers.
const (
	Shops     = 50
	Cameras   = 200
	Terminals = 400
	Days      = 400
	copyChunk = 200_000
)

// AccountName names the seeded tenant; the server acts as the oldest
// account, so seed creates it first in an empty database.
const AccountName = "ベンチマーク株式会社"

// ParseSize reads "10M", "50k", "1_000_000" or "20000".
func ParseSize(s string) (int, error) {
	t := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", ""))
	mul := 1
	switch {
	case strings.HasSuffix(t, "m"):
		mul, t = 1_000_000, t[:len(t)-1]
	case strings.HasSuffix(t, "k"):
		mul, t = 1_000, t[:len(t)-1]
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("size %q: want a positive count such as 50k or 10M", s)
	}
	return int(f * float64(mul)), nil
}

// SizeLabel is the short form of n ("10M", "50k").
func SizeLabel(n int) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	case n >= 1000 && n%100 == 0:
		return strconv.FormatFloat(float64(n)/1e3, 'f', -1, 64) + "k"
	}
	return strconv.Itoa(n)
}

// Dataset describes a seeded database.
type Dataset struct {
	DSN       string
	AccountID pulid.ID
	CameraID  pulid.ID // camera 000, the one Q1 pages through
	Terminals []Terminal
	Rows      int
}

// Terminal is one register with what an entry of it references.
type Terminal struct {
	ID, ShopID, ConnectionID, CameraID pulid.ID
	Register                           string
}

// EnsureDatabase creates the database dsn names when it does not exist,
// connecting to the server's "postgres" database to do so.
func EnsureDatabase(ctx context.Context, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("--database-url must be a postgres:// URL")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return fmt.Errorf("--database-url names no database")
	}
	admin := *u
	admin.Path = "/postgres"
	q := admin.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	admin.RawQuery = q.Encode()
	db, err := sql.Open("postgres", admin.String())
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name))
	return err
}

// Seed makes sure the database holds at least want journal entries of the
// benchmark chain, creating schema (through the real migration) and
// fixture as needed. Progress goes to logw.
func Seed(ctx context.Context, dsn string, want int, logw io.Writer) (*Dataset, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(logw, format+"\n", a...) }
	if err := EnsureDatabase(ctx, dsn); err != nil {
		return nil, err
	}
	d, err := db.Open(ctx, dsn, "")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ds, err := fixture(ctx, d.Client)
	if err != nil {
		return nil, fmt.Errorf("fixture: %w", err)
	}
	ds.DSN = d.DSN
	have, err := d.Client.JournalEntry.Query().Where(journalentry.AccountID(ds.AccountID)).Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("count entries: %w", err)
	}
	if have < want {
		logf("seeding %d journal entries (the database has %d)", want-have, have)
		if err := copyEntries(ctx, d.SQL, ds, want-have, logf); err != nil {
			return nil, err
		}
		have = want
		// Sets hint bits and the visibility map, so the first measured
		// reads do not pay for the bulk load.
		t := time.Now()
		if _, err := d.SQL.ExecContext(ctx, "VACUUM (ANALYZE) journal_entries"); err != nil {
			return nil, fmt.Errorf("vacuum: %w", err)
		}
		logf("  VACUUM ANALYZE in %v", time.Since(t).Round(time.Millisecond))
	} else {
		logf("the database already holds %d entries (wanted %d): nothing to load", have, want)
	}
	ds.Rows = have
	return ds, nil
}

// Open returns the dataset already in dsn (Seed without loading).
func Open(ctx context.Context, dsn string) (*Dataset, error) {
	d, err := db.Open(ctx, dsn, "")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ds, err := fixture(ctx, d.Client)
	if err != nil {
		return nil, err
	}
	ds.DSN = d.DSN
	if ds.Rows, err = d.Client.JournalEntry.Query().Where(journalentry.AccountID(ds.AccountID)).Count(ctx); err != nil {
		return nil, err
	}
	return ds, nil
}

// fixture finds or creates the account, shops, contracts, cameras,
// registers and links.
func fixture(ctx context.Context, client *ent.Client) (*Dataset, error) {
	acc, err := client.Account.Query().Order(ent.Asc(account.FieldCreatedAt)).First(ctx)
	if ent.IsNotFound(err) {
		acc, err = client.Account.Create().SetName(AccountName).Save(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	n, err := client.Terminal.Query().Where(terminal.AccountID(acc.ID), terminal.ExternalIDHasPrefix("bench-t-")).Count(ctx)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		if err := createFixture(ctx, client, acc.ID); err != nil {
			return nil, err
		}
	}
	ts, err := client.Terminal.Query().Where(terminal.AccountID(acc.ID), terminal.ExternalIDHasPrefix("bench-t-")).
		Order(ent.Asc(terminal.FieldExternalID)).All(ctx)
	if err != nil {
		return nil, err
	}
	links, err := client.Link.Query().Where(link.AccountID(acc.ID), link.EndedAtIsNil()).All(ctx)
	if err != nil {
		return nil, err
	}
	camOf := make(map[pulid.ID]pulid.ID, len(links))
	for _, l := range links {
		camOf[l.TerminalID] = l.CameraID
	}
	ds := &Dataset{AccountID: acc.ID}
	for _, t := range ts {
		ds.Terminals = append(ds.Terminals, Terminal{ID: t.ID, ShopID: t.ShopID, ConnectionID: t.ConnectionID,
			CameraID: camOf[t.ID], Register: t.Name})
	}
	cam0, err := client.Camera.Query().Where(camera.AccountID(acc.ID), camera.DeviceID("bench-cam-000")).Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("camera 000: %w", err)
	}
	ds.CameraID = cam0.ID
	return ds, nil
}

func createFixture(ctx context.Context, client *ent.Client, acc pulid.ID) error {
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var shopB []*ent.ShopCreate
	var connB []*ent.PosConnectionCreate
	for s := range Shops {
		shopB = append(shopB, tx.Shop.Create().SetAccountID(acc).SetName(fmt.Sprintf("ベンチ店 %02d", s)))
		connB = append(connB, tx.PosConnection.Create().SetAccountID(acc).
			SetProvider(posconnection.ProviderPARTNER).SetContractID(fmt.Sprintf("bench-%02d", s)))
	}
	shops, err := tx.Shop.CreateBulk(shopB...).Save(ctx)
	if err != nil {
		return fmt.Errorf("shops: %w", err)
	}
	conns, err := tx.PosConnection.CreateBulk(connB...).Save(ctx)
	if err != nil {
		return fmt.Errorf("connections: %w", err)
	}
	var camB []*ent.CameraCreate
	for c := range Cameras {
		camB = append(camB, tx.Camera.Create().SetAccountID(acc).SetName(fmt.Sprintf("カメラ %03d", c)).
			SetModel("CC-2L_SF").SetDeviceID(fmt.Sprintf("bench-cam-%03d", c)).SetPosOption(true))
	}
	cams, err := tx.Camera.CreateBulk(camB...).Save(ctx)
	if err != nil {
		return fmt.Errorf("cameras: %w", err)
	}
	perShop := Terminals / Shops
	var termB []*ent.TerminalCreate
	for t := range Terminals {
		s := t / perShop
		termB = append(termB, tx.Terminal.Create().SetAccountID(acc).SetConnectionID(conns[s].ID).
			SetShopID(shops[s].ID).SetExternalID(fmt.Sprintf("bench-t-%03d", t)).
			SetName(fmt.Sprintf("レジ%d", t%perShop+1)))
	}
	terms, err := tx.Terminal.CreateBulk(termB...).Save(ctx)
	if err != nil {
		return fmt.Errorf("terminals: %w", err)
	}
	since := time.Now().Add(-(Days + 30) * 24 * time.Hour).UTC()
	var linkB []*ent.LinkCreate
	for t, term := range terms {
		linkB = append(linkB, tx.Link.Create().SetAccountID(acc).SetTerminalID(term.ID).
			SetCameraID(cams[t*Cameras/Terminals].ID).SetCreatedAt(since))
	}
	if _, err := tx.Link.CreateBulk(linkB...).Save(ctx); err != nil {
		return fmt.Errorf("links: %w", err)
	}
	return tx.Commit()
}

// entryColumns is the COPY column list; rowGen.next fills them in order.
var entryColumns = []string{
	"id", "account_id", "connection_id", "terminal_id", "shop_id", "camera_id", "kind",
	"occurred_at", "received_at", "external_id", "revision", "receipt_no", "register_no",
	"staff_id", "staff_name", "total", "deposit", "change", "entered_at", "payment_method",
	"items", "masked_card", "related_id", "raw", "fingerprint",
}

// copyEntries bulk-loads n entries with COPY, oldest first (the order
// receipts arrive in), in chunks of one transaction each. A large load
// drops the secondary indexes and rebuilds them afterwards and skips the
// per-row foreign-key triggers, checking every reference once at the end:
// together several times faster than row-by-row index maintenance.
func copyEntries(ctx context.Context, db *sql.DB, ds *Dataset, n int, logf func(string, ...any)) error {
	if len(ds.Terminals) == 0 {
		return fmt.Errorf("no terminals")
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	// Discard the connection afterwards so no session setting outlives it.
	defer func() { _ = conn.Raw(func(any) error { return driver.ErrBadConn }); _ = conn.Close() }()
	bulk := n >= 100_000
	var indexes [][2]string
	if bulk {
		_, _ = conn.ExecContext(ctx, "SET maintenance_work_mem = '1GB'")
		_, _ = conn.ExecContext(ctx, "SET max_parallel_maintenance_workers = 2")
		if _, err := conn.ExecContext(ctx, "SET session_replication_role = replica"); err != nil {
			logf("  foreign-key triggers stay on (%v)", err)
		}
		if indexes, err = dropSecondaryIndexes(ctx, conn); err != nil {
			return err
		}
	}
	g := newRowGen(uint64(time.Now().UnixNano()), ds.AccountID, ds.Terminals, n, time.Now().Add(-time.Minute))
	began := time.Now()
	for done := 0; done < n; {
		k := min(copyChunk, n-done)
		if err := copyChunkOf(ctx, conn, g, k); err != nil {
			return err
		}
		done += k
		el := time.Since(began)
		logf("  %d/%d entries (%.0f rows/s, %v elapsed, ~%v left)", done, n, float64(done)/el.Seconds(),
			el.Round(time.Second), (time.Duration(float64(el) / float64(done) * float64(n-done))).Round(time.Second))
	}
	if !bulk {
		return nil
	}
	for _, ix := range indexes {
		t := time.Now()
		if _, err := conn.ExecContext(ctx, ix[1]); err != nil {
			return fmt.Errorf("rebuild index %s: %w", ix[0], err)
		}
		logf("  rebuilt %s in %v", ix[0], time.Since(t).Round(time.Millisecond))
	}
	t := time.Now()
	if err := checkReferences(ctx, conn); err != nil {
		return err
	}
	logf("  checked references in %v", time.Since(t).Round(time.Millisecond))
	return nil
}

// dropSecondaryIndexes drops every index of journal_entries but the primary
// key and returns their definitions. Should the rebuild not happen, the
// migration at the next start creates them again.
func dropSecondaryIndexes(ctx context.Context, conn *sql.Conn) ([][2]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'journal_entries' AND indexname <> 'journal_entries_pkey'`)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for rows.Next() {
		var ix [2]string
		if err := rows.Scan(&ix[0], &ix[1]); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, ix := range out {
		if _, err := conn.ExecContext(ctx, "DROP INDEX "+pq.QuoteIdentifier(ix[0])); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", ix[0], err)
		}
	}
	return out, nil
}

// checkReferences fails if any entry points at a row that does not exist
// (the foreign-key triggers were off during the load).
func checkReferences(ctx context.Context, conn *sql.Conn) error {
	var bad int
	err := conn.QueryRowContext(ctx, `SELECT count(*) FROM journal_entries j
		LEFT JOIN terminals t ON t.id = j.terminal_id AND t.shop_id = j.shop_id AND t.connection_id = j.connection_id
		LEFT JOIN cameras c ON c.id = j.camera_id
		WHERE t.id IS NULL OR (j.camera_id IS NOT NULL AND c.id IS NULL)
		   OR j.account_id <> t.account_id`).Scan(&bad)
	if err != nil {
		return fmt.Errorf("check references: %w", err)
	}
	if bad > 0 {
		return fmt.Errorf("%d entries reference missing rows", bad)
	}
	return nil
}

func copyChunkOf(ctx context.Context, conn *sql.Conn, g *rowGen, k int) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn("journal_entries", entryColumns...))
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	for range k {
		if _, err := stmt.ExecContext(ctx, g.next()...); err != nil {
			return fmt.Errorf("copy row: %w", err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("copy flush: %w", err)
	}
	if err := stmt.Close(); err != nil {
		return fmt.Errorf("copy close: %w", err)
	}
	return tx.Commit()
}

var (
	staffNames = []string{
		"山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健", "伊藤 さくら", "渡辺 翔", "中村 結衣",
		"小林 大輔", "加藤 愛", "吉田 拓海", "山本 七海", "松本 蓮", "井上 陽菜", "木村 悠斗", "林 美月",
	}
	products = []struct {
		name  string
		price int64
	}{
		{"ブレンドコーヒー", 450}, {"カフェラテ", 520}, {"抹茶ラテ", 580}, {"クロワッサン", 280},
		{"サンドイッチ", 650}, {"チーズケーキ", 480}, {"プリン", 300}, {"クッキー", 150},
		{"コーヒー豆 200g", 1600}, {"ドリップバッグ 10袋", 1200}, {"タンブラー", 2800}, {"ギフトセット", 5400},
	}
	cardBINs = []string{"411111", "555555", "353011"}
	// hourWeight is the share of a day's receipts per hour (JST): shops open
	// 9–21 with a lunch peak and a smaller evening one.
	hourWeight = [24]float64{9: 3, 10: 5, 11: 9, 12: 16, 13: 12, 14: 6, 15: 5, 16: 5, 17: 8, 18: 12, 19: 10, 20: 6}
	jst        = time.FixedZone("JST", 9*3600)
)

// rowGen produces realistic journal rows: ~88% PAYMENT, 5% CANCEL, 2.5%
// MODIFY, 1.5% DELETE, 3% OTHER, over Days days up to end, oldest first,
// with lunch and evening bursts; each shop has its own staff of four and
// each register its own receipt numbers.
type rowGen struct {
	src       *rand.ChaCha8
	rng       *rand.Rand
	acc       pulid.ID
	terms     []Terminal
	receiptNo []int
	lastSale  []string
	firstDay  time.Time // midnight JST of the first day
	n, i      int
	day       int
	times     []time.Time // the current day's remaining times, newest last
	cum       [24]float64
}

func newRowGen(seed uint64, acc pulid.ID, terms []Terminal, n int, end time.Time) *rowGen {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	src := rand.NewChaCha8(key)
	e := end.In(jst)
	g := &rowGen{
		src: src, rng: rand.New(src), acc: acc, terms: terms, n: n,
		receiptNo: make([]int, len(terms)), lastSale: make([]string, len(terms)),
		firstDay: time.Date(e.Year(), e.Month(), e.Day(), 0, 0, 0, 0, jst).AddDate(0, 0, -Days), day: -1, // the last day is yesterday: no entry lies in the future
	}
	var sum float64
	for h, w := range hourWeight {
		sum += w
		g.cum[h] = sum
	}
	for h := range g.cum {
		g.cum[h] /= sum
	}
	return g
}

// fillDay draws the times of day d's receipts; weekends are busier.
func (g *rowGen) fillDay() {
	g.day++
	date := g.firstDay.AddDate(0, 0, g.day)
	count := (g.day+1)*g.n/Days - g.day*g.n/Days
	g.times = g.times[:0]
	for range count {
		p := g.rng.Float64()
		h := 0
		for h < 23 && g.cum[h] < p {
			h++
		}
		at := date.Add(time.Duration(h)*time.Hour + time.Duration(g.rng.Int64N(int64(time.Hour))))
		g.times = append(g.times, at.UTC().Truncate(time.Microsecond))
	}
	slices.SortFunc(g.times, func(a, b time.Time) int { return b.Compare(a) })
}

func (g *rowGen) kind() journalentry.Kind {
	switch p := g.rng.IntN(1000); {
	case p < 880:
		return journalentry.KindPAYMENT
	case p < 930:
		return journalentry.KindCANCEL
	case p < 955:
		return journalentry.KindMODIFY
	case p < 970:
		return journalentry.KindDELETE
	default:
		return journalentry.KindOTHER
	}
}

func (g *rowGen) next() []any {
	for len(g.times) == 0 {
		g.fillDay()
	}
	at := g.times[len(g.times)-1]
	g.times = g.times[:len(g.times)-1]
	g.i++
	ti := g.rng.IntN(len(g.terms))
	t := g.terms[ti]
	kind := g.kind()
	id := "JE" + ulid.MustNew(ulid.Timestamp(at), g.src).String()

	var items []schematype.Item
	var total int64
	for range 1 + g.rng.IntN(4) {
		p := products[g.rng.IntN(len(products))]
		q := 1 + g.rng.IntN(3)
		items = append(items, schematype.Item{Name: p.name, Quantity: q, Amount: p.price * int64(q)})
		total += p.price * int64(q)
	}
	if kind == journalentry.KindCANCEL {
		total = -total
	}
	if kind == journalentry.KindOTHER { // 入金・出金
		items, total = nil, int64(1000*(1+g.rng.IntN(10)))
	}
	method, deposit, change, card := "現金", total, int64(0), ""
	switch p := g.rng.IntN(100); {
	case p < 60:
		if total > 0 {
			deposit = (total/1000 + 1) * 1000
			change = deposit - total
		} else {
			deposit = 0
		}
	case p < 85:
		method = "クレジットカード"
		card = cardBINs[g.rng.IntN(len(cardBINs))] + "******" + fmt.Sprintf("%02d", g.rng.IntN(100))
	case p < 95:
		method = "交通系IC"
	default:
		method = "QR決済"
	}
	if deposit < 0 {
		deposit = 0
	}
	perShop := Terminals / Shops
	staff := (ti/perShop*4 + g.rng.IntN(4)) % len(staffNames)
	staffID := strconv.Itoa(101 + staff)
	g.receiptNo[ti]++
	var fp [12]byte
	_, _ = g.src.Read(fp[:])
	fingerprint := hex.EncodeToString(fp[:])
	revision := ""
	if kind == journalentry.KindMODIFY {
		revision = fingerprint + "@" + strconv.FormatInt(at.UnixMicro(), 10)
	}
	var related any
	if kind != journalentry.KindPAYMENT && kind != journalentry.KindOTHER && g.lastSale[ti] != "" {
		related = g.lastSale[ti]
	}
	if kind == journalentry.KindPAYMENT {
		g.lastSale[ti] = id
	}
	var entered any
	if g.rng.IntN(2) == 0 {
		entered = at.Add(-time.Duration(1+g.rng.IntN(30)) * time.Minute)
	}
	var itemsJSON any
	if items != nil {
		b, _ := json.Marshal(items)
		itemsJSON = string(b)
	}
	receipt := fmt.Sprintf("%06d", g.receiptNo[ti])
	raw, _ := json.Marshal(map[string]any{
		"transactionHeadId": id[len(id)-10:], "transactionDateTime": at.In(jst).Format(time.RFC3339),
		"terminalId": t.Register, "receiptNo": receipt, "staffId": staffID,
		"total": strconv.FormatInt(total, 10), "paymentMethod": method,
	})
	return []any{
		id, string(g.acc), string(t.ConnectionID), string(t.ID), string(t.ShopID), string(t.CameraID), string(kind),
		at, at.Add(time.Duration(1+g.rng.IntN(5)) * time.Second), "bench-" + id[2:], revision, receipt, t.Register,
		staffID, staffNames[staff], total, deposit, change, entered, method,
		itemsJSON, card, related, string(raw), fingerprint,
	}
}
