package bench

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/oklog/ulid/v2"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/account"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/store"
)

// The seeded chain: 50 shops, each with its own POS contract, 4 cameras and
// 8 registers; every camera watches two registers.
const (
	benchShops     = 50
	benchCameras   = 200
	benchTerminals = 400
	benchSpan      = 400 * 24 * time.Hour
	defaultRows    = 1_000_000
	copyChunk      = 100_000
)

func adminURL() string {
	if u := os.Getenv("REGICAM_TEST_PG_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func benchDBName() string {
	if n := os.Getenv("REGICAM_BENCH_DB"); n != "" {
		return n
	}
	return "regicam_bench"
}

func benchRows(tb testing.TB) int {
	s := os.Getenv("REGICAM_BENCH_ROWS")
	if s == "" {
		return defaultRows
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || n < 1 {
		tb.Fatalf("REGICAM_BENCH_ROWS=%q: want a positive integer", s)
	}
	return n
}

// requirePostgres skips tb when the PostgreSQL server is unreachable.
func requirePostgres(tb testing.TB, admin string) {
	tb.Helper()
	db, err := sql.Open("postgres", admin)
	if err != nil {
		tb.Fatalf("open %s: %v", redact(admin), err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		tb.Skipf("PostgreSQL unreachable at %s: %v", redact(admin), err)
	}
}

// withDatabase points the admin DSN at dbname (URL or key=value form).
func withDatabase(admin, dbname string) (string, error) {
	if strings.HasPrefix(admin, "postgres://") || strings.HasPrefix(admin, "postgresql://") {
		u, err := url.Parse(admin)
		if err != nil {
			return "", err
		}
		u.Path, u.RawPath = "/"+dbname, ""
		q := u.Query()
		q.Set("sslmode", "disable")
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return admin + " dbname='" + dbname + "' sslmode=disable", nil
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "$REGICAM_TEST_PG_URL"
}

// seeded describes the benchmark database.
type seeded struct {
	DSN       string
	AccountID pulid.ID
	CameraID  pulid.ID // camera 000, the one the benchmark pages through
	Rows      int      // journal entries of the account
	Inserted  int      // how many this process added
	Took      time.Duration
}

var (
	seedOnce sync.Once
	seedRes  seeded
	seedErr  error
)

// seedBenchDB makes sure the benchmark database holds at least
// REGICAM_BENCH_ROWS entries, once per process.
func seedBenchDB(tb testing.TB, admin string) seeded {
	tb.Helper()
	rows := benchRows(tb)
	seedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		seedRes, seedErr = seed(ctx, admin, rows, tb.Logf)
	})
	if seedErr != nil {
		tb.Fatalf("seed %s: %v", benchDBName(), seedErr)
	}
	return seedRes
}

func seed(ctx context.Context, admin string, want int, logf func(string, ...any)) (seeded, error) {
	began := time.Now()
	name := benchDBName()
	adm, err := sql.Open("postgres", admin)
	if err != nil {
		return seeded{}, err
	}
	defer adm.Close()
	var exists bool
	if err := adm.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return seeded{}, fmt.Errorf("look for database: %w", err)
	}
	if !exists {
		if _, err := adm.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
			return seeded{}, fmt.Errorf("create database: %w", err)
		}
		logf("created database %s", name)
	}
	dsn, err := withDatabase(admin, name)
	if err != nil {
		return seeded{}, err
	}
	// store.Open migrates exactly as the server does.
	d, err := store.Open(ctx, dsn, "")
	if err != nil {
		return seeded{}, err
	}
	defer d.Close()

	// The server acts as the oldest account, so the entries go there.
	acc, err := d.Client.Account.Query().Order(ent.Asc(account.FieldCreatedAt)).First(ctx)
	if ent.IsNotFound(err) {
		acc, err = d.Client.Account.Create().SetName("ベンチマーク株式会社").Save(ctx)
	}
	if err != nil {
		return seeded{}, fmt.Errorf("account: %w", err)
	}
	terms, cam0, err := ensureFixture(ctx, d.Client, acc.ID)
	if err != nil {
		return seeded{}, fmt.Errorf("fixture: %w", err)
	}
	res := seeded{DSN: dsn, AccountID: acc.ID, CameraID: cam0}
	have, err := d.Client.JournalEntry.Query().Where(journalentry.AccountID(acc.ID)).Count(ctx)
	if err != nil {
		return seeded{}, fmt.Errorf("count entries: %w", err)
	}
	if have < want {
		logf("seeding %d journal entries into %s (it has %d; kept for later runs)", want-have, name, have)
		if err := copyEntries(ctx, d.SQL, acc.ID, terms, want-have, logf); err != nil {
			return seeded{}, err
		}
		res.Inserted = want - have
		// Sets hint bits and the visibility map, so the benchmark does not
		// pay for the first reads after a bulk load.
		if _, err := d.SQL.ExecContext(ctx, "VACUUM (ANALYZE) journal_entries"); err != nil {
			return seeded{}, fmt.Errorf("vacuum: %w", err)
		}
		have = want
	} else if _, err := d.SQL.ExecContext(ctx, "ANALYZE journal_entries"); err != nil {
		return seeded{}, fmt.Errorf("analyze: %w", err)
	}
	res.Rows, res.Took = have, time.Since(began)
	return res, nil
}

// benchTerminal is one register with what an entry of it references.
type benchTerminal struct {
	ID, ShopID, ConnectionID, CameraID pulid.ID
	Register                           string
}

// ensureFixture creates the chain's shops, contracts, cameras, registers and
// links once, and returns the registers and camera 000.
func ensureFixture(ctx context.Context, client *ent.Client, acc pulid.ID) ([]benchTerminal, pulid.ID, error) {
	n, err := client.Terminal.Query().Where(terminal.AccountID(acc), terminal.ExternalIDHasPrefix("bench-t-")).Count(ctx)
	if err != nil {
		return nil, "", err
	}
	if n == 0 {
		if err := createFixture(ctx, client, acc); err != nil {
			return nil, "", err
		}
	}
	ts, err := client.Terminal.Query().Where(terminal.AccountID(acc), terminal.ExternalIDHasPrefix("bench-t-")).
		Order(ent.Asc(terminal.FieldExternalID)).All(ctx)
	if err != nil {
		return nil, "", err
	}
	links, err := client.Link.Query().Where(link.AccountID(acc), link.EndedAtIsNil()).All(ctx)
	if err != nil {
		return nil, "", err
	}
	camOf := make(map[pulid.ID]pulid.ID, len(links))
	for _, l := range links {
		camOf[l.TerminalID] = l.CameraID
	}
	out := make([]benchTerminal, 0, len(ts))
	for _, t := range ts {
		out = append(out, benchTerminal{ID: t.ID, ShopID: t.ShopID, ConnectionID: t.ConnectionID,
			CameraID: camOf[t.ID], Register: t.Name})
	}
	cam0, err := client.Camera.Query().Where(camera.AccountID(acc), camera.DeviceID("bench-cam-000")).Only(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("camera 000: %w", err)
	}
	return out, cam0.ID, nil
}

func createFixture(ctx context.Context, client *ent.Client, acc pulid.ID) error {
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var shopB []*ent.ShopCreate
	var connB []*ent.PosConnectionCreate
	for s := range benchShops {
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
	for c := range benchCameras {
		camB = append(camB, tx.Camera.Create().SetAccountID(acc).SetName(fmt.Sprintf("カメラ %03d", c)).
			SetModel("CC-2L_SF").SetDeviceID(fmt.Sprintf("bench-cam-%03d", c)).SetPosOption(true))
	}
	cams, err := tx.Camera.CreateBulk(camB...).Save(ctx)
	if err != nil {
		return fmt.Errorf("cameras: %w", err)
	}
	perShop := benchTerminals / benchShops
	var termB []*ent.TerminalCreate
	for t := range benchTerminals {
		s := t / perShop
		termB = append(termB, tx.Terminal.Create().SetAccountID(acc).SetConnectionID(conns[s].ID).
			SetShopID(shops[s].ID).SetExternalID(fmt.Sprintf("bench-t-%03d", t)).
			SetName(fmt.Sprintf("レジ%d", t%perShop+1)))
	}
	terms, err := tx.Terminal.CreateBulk(termB...).Save(ctx)
	if err != nil {
		return fmt.Errorf("terminals: %w", err)
	}
	since := time.Now().Add(-benchSpan - 30*24*time.Hour).UTC()
	var linkB []*ent.LinkCreate
	for t, term := range terms {
		linkB = append(linkB, tx.Link.Create().SetAccountID(acc).SetTerminalID(term.ID).
			SetCameraID(cams[t*benchCameras/benchTerminals].ID).SetCreatedAt(since))
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

// copyEntries bulk-loads n entries with COPY, in chunks of one transaction
// each, oldest first (the order receipts arrive in). A large load drops the
// secondary indexes and rebuilds them afterwards, and (when allowed) skips
// the per-row foreign-key triggers, checking every reference once at the
// end instead: together several times faster than row-by-row maintenance.
func copyEntries(ctx context.Context, db *sql.DB, acc pulid.ID, terms []benchTerminal, n int, logf func(string, ...any)) error {
	if len(terms) == 0 {
		return fmt.Errorf("no terminals")
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	// Closing a pooled *sql.Conn returns it to the pool; discard it instead
	// so no session setting outlives the load.
	defer func() { _ = conn.Raw(func(any) error { return driver.ErrBadConn }); _ = conn.Close() }()
	bulk := n >= 100_000
	var indexes [][2]string
	if bulk {
		_, _ = conn.ExecContext(ctx, "SET maintenance_work_mem = '512MB'")
		if _, err := conn.ExecContext(ctx, "SET session_replication_role = replica"); err != nil {
			logf("  foreign-key triggers stay on (%v)", err)
		}
		if indexes, err = dropSecondaryIndexes(ctx, conn); err != nil {
			return err
		}
	}
	g := newRowGen(uint64(time.Now().UnixNano()), acc, terms, n, time.Now().Add(-time.Minute))
	began := time.Now()
	for done := 0; done < n; {
		k := min(copyChunk, n-done)
		if err := copyChunkOf(ctx, conn, g, k); err != nil {
			return err
		}
		done += k
		logf("  %d/%d entries (%.0f rows/s)", done, n, float64(done)/time.Since(began).Seconds())
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
	return checkReferences(ctx, conn)
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

// checkReferences fails if any entry points at a row that does not exist.
func checkReferences(ctx context.Context, conn *sql.Conn) error {
	var bad int
	err := conn.QueryRowContext(ctx, `SELECT count(*) FROM journal_entries j
		LEFT JOIN accounts a ON a.id = j.account_id
		LEFT JOIN terminals t ON t.id = j.terminal_id AND t.shop_id = j.shop_id AND t.connection_id = j.connection_id
		LEFT JOIN shops s ON s.id = j.shop_id
		LEFT JOIN pos_connections pc ON pc.id = j.connection_id
		LEFT JOIN cameras c ON c.id = j.camera_id
		LEFT JOIN journal_entries r ON r.id = j.related_id
		WHERE a.id IS NULL OR t.id IS NULL OR s.id IS NULL OR pc.id IS NULL
			OR (j.camera_id IS NOT NULL AND c.id IS NULL) OR (j.related_id IS NOT NULL AND r.id IS NULL)`).Scan(&bad)
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
	benchStaff = []struct{ id, name string }{
		{"101", "山田 太郎"}, {"102", "佐藤 花子"}, {"103", "鈴木 一郎"}, {"104", "高橋 美咲"},
		{"105", "田中 健"}, {"106", "伊藤 さくら"}, {"107", "渡辺 翔"}, {"108", "中村 結衣"},
	}
	benchProducts = []struct {
		name  string
		price int64
	}{
		{"ブレンドコーヒー", 450}, {"カフェラテ", 520}, {"抹茶ラテ", 580}, {"クロワッサン", 280},
		{"サンドイッチ", 650}, {"チーズケーキ", 480}, {"プリン", 300}, {"クッキー", 150},
		{"コーヒー豆 200g", 1600}, {"ドリップバッグ 10袋", 1200}, {"タンブラー", 2800}, {"ギフトセット", 5400},
	}
	benchCardBINs = []string{"411111", "555555", "353011"}
)

// rowGen produces realistic journal rows: ~90% PAYMENT, 5% CANCEL, 3%
// MODIFY, 2% DELETE, spread evenly over benchSpan up to end, oldest first.
type rowGen struct {
	src       *rand.ChaCha8
	rng       *rand.Rand
	acc       pulid.ID
	terms     []benchTerminal
	receiptNo []int
	lastSale  []string
	start     time.Time
	step      time.Duration
	i         int
}

func newRowGen(seed uint64, acc pulid.ID, terms []benchTerminal, n int, end time.Time) *rowGen {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	src := rand.NewChaCha8(key)
	return &rowGen{
		src: src, rng: rand.New(src), acc: acc, terms: terms,
		receiptNo: make([]int, len(terms)), lastSale: make([]string, len(terms)),
		start: end.Add(-benchSpan).UTC(), step: max(benchSpan/time.Duration(n), time.Microsecond),
	}
}

func (g *rowGen) kind() journalentry.Kind {
	switch p := g.rng.IntN(100); {
	case p < 90:
		return journalentry.KindPAYMENT
	case p < 95:
		return journalentry.KindCANCEL
	case p < 98:
		return journalentry.KindMODIFY
	default:
		return journalentry.KindDELETE
	}
}

func (g *rowGen) next() []any {
	at := g.start.Add(time.Duration(g.i)*g.step + time.Duration(g.rng.Int64N(int64(g.step)))).Truncate(time.Microsecond)
	g.i++
	ti := g.rng.IntN(len(g.terms))
	t := g.terms[ti]
	kind := g.kind()
	id := "JE" + ulid.MustNew(ulid.Timestamp(at), g.src).String()

	var items []schematype.Item
	var total int64
	for range 1 + g.rng.IntN(4) {
		p := benchProducts[g.rng.IntN(len(benchProducts))]
		q := 1 + g.rng.IntN(3)
		items = append(items, schematype.Item{Name: p.name, Quantity: q, Amount: p.price * int64(q)})
		total += p.price * int64(q)
	}
	if kind == journalentry.KindCANCEL {
		total = -total
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
		card = benchCardBINs[g.rng.IntN(len(benchCardBINs))] + "******" + fmt.Sprintf("%02d", g.rng.IntN(100))
	case p < 95:
		method = "交通系IC"
	default:
		method = "QR決済"
	}
	if deposit < 0 {
		deposit = 0
	}
	staff := benchStaff[g.rng.IntN(len(benchStaff))]
	g.receiptNo[ti]++
	var fp [12]byte
	_, _ = g.src.Read(fp[:])
	fingerprint := hex.EncodeToString(fp[:])
	revision := ""
	if kind == journalentry.KindMODIFY {
		revision = fingerprint + "@" + strconv.FormatInt(at.UnixMicro(), 10)
	}
	var related any
	if kind != journalentry.KindPAYMENT && g.lastSale[ti] != "" {
		related = g.lastSale[ti]
	}
	if kind == journalentry.KindPAYMENT {
		g.lastSale[ti] = id
	}
	var entered any
	if g.rng.IntN(2) == 0 {
		entered = at.Add(-time.Duration(1+g.rng.IntN(30)) * time.Minute)
	}
	itemsJSON, _ := json.Marshal(items)
	receipt := fmt.Sprintf("%06d", g.receiptNo[ti])
	raw, _ := json.Marshal(map[string]any{
		"transactionHeadId": id[len(id)-10:], "transactionDateTime": at.Format(time.RFC3339),
		"terminalId": t.Register, "receiptNo": receipt, "staffId": staff.id,
		"total": strconv.FormatInt(total, 10), "paymentMethod": method,
	})
	return []any{
		id, string(g.acc), string(t.ConnectionID), string(t.ID), string(t.ShopID), string(t.CameraID), string(kind),
		at, at.Add(time.Duration(1+g.rng.IntN(5)) * time.Second), "bench-" + id[2:], revision, receipt, t.Register,
		staff.id, staff.name, total, deposit, change, entered, method,
		string(itemsJSON), card, related, string(raw), fingerprint,
	}
}

func TestRowGen(t *testing.T) {
	terms := []benchTerminal{
		{ID: pulid.MustNew("TE"), ShopID: pulid.MustNew("SH"), ConnectionID: pulid.MustNew("PC"), CameraID: pulid.MustNew("CA"), Register: "レジ1"},
		{ID: pulid.MustNew("TE"), ShopID: pulid.MustNew("SH"), ConnectionID: pulid.MustNew("PC"), CameraID: pulid.MustNew("CA"), Register: "レジ2"},
	}
	const n = 20000
	end := time.Now()
	g := newRowGen(1, pulid.MustNew("AC"), terms, n, end)
	kinds := map[string]int{}
	ids := map[string]bool{}
	var last time.Time
	for range n {
		row := g.next()
		if len(row) != len(entryColumns) {
			t.Fatalf("row has %d values for %d columns", len(row), len(entryColumns))
		}
		id := row[0].(string)
		if !pulid.Valid(id, "JE") || ids[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		ids[id] = true
		kinds[row[6].(string)]++
		at := row[7].(time.Time)
		if at.Before(last) || at.After(end) || at.Before(end.Add(-benchSpan-time.Second)) {
			t.Fatalf("occurred_at %v out of order or range", at)
		}
		last = at
		var items []schematype.Item
		if err := json.Unmarshal([]byte(row[20].(string)), &items); err != nil || len(items) == 0 {
			t.Fatalf("items %q: %v", row[20], err)
		}
	}
	for k, want := range map[string]float64{"PAYMENT": .90, "CANCEL": .05, "MODIFY": .03, "DELETE": .02} {
		if got := float64(kinds[k]) / n; got < want*0.8 || got > want*1.2 {
			t.Errorf("%s share %.3f, want about %.2f", k, got, want)
		}
	}
}
