// Package demo gives a fresh install something to look at: a seeded tenant
// with two simulated cameras and three registers, and a generator that rings
// up café receipts through the real ingester, so the timeline, the tabs and
// the live subscription all move without a POS contract. (With --demo-pos,
// app adds two more registers, each at a built-in fake of a real POS: one at
// Smaregi, fed by webhooks, and one at Ubiregi, polled over OAuth; see
// app/demopos.go and app/demoubiregi.go.)
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/account"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/privacy"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Names of the seeded rows; Seed finds them again by these.
const (
	AccountName = "デモ株式会社"
	ShopName    = "渋谷店"
	ContractID  = "demo"
)

type cameraSpec struct{ name, model, deviceID string }

var cameras = []cameraSpec{
	{"自宅カメラ", "CC-2L_SF", "201000192"},
	{"レジ前カメラ", "CC-2L_SF", "201000193"},
}

type terminalSpec struct {
	externalID, name string
	camera           int // index into cameras
}

var terminals = []terminalSpec{
	{"1", "レジ1", 0},
	{"2", "レジ2", 0},
	{"3", "レジ3", 1},
}

// linkEpoch is far in the past so receipts backdated by a provider (or a
// test) still fall inside the seeded links and resolve a camera.
var linkEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Seed makes sure the demo tenant exists and returns its account id. It is
// idempotent: rows are found again by camera device id (globally unique) and
// account name, and only missing rows are created, so a user's edits to the
// demo tenant (e.g. re-binding a terminal) survive a restart.
func Seed(ctx context.Context, client *ent.Client) (pulid.ID, error) {
	// Seeding runs before any request, so there is no viewer to authorize.
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	tx, err := client.Tx(ctx)
	if err != nil {
		return "", fmt.Errorf("demo seed: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // no-op after commit
	accountID, err := seed(ctx, tx)
	if err != nil {
		return "", fmt.Errorf("demo seed: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("demo seed: commit: %w", err)
	}
	return accountID, nil
}

func seed(ctx context.Context, tx *ent.Tx) (pulid.ID, error) {
	accountID, err := findAccount(ctx, tx)
	if err != nil {
		return "", err
	}
	if accountID == "" {
		acc, err := tx.Account.Create().SetName(AccountName).Save(ctx)
		if err != nil {
			return "", fmt.Errorf("create account: %w", err)
		}
		accountID = acc.ID
	}

	sh, err := tx.Shop.Query().Where(shop.AccountID(accountID), shop.Name(ShopName)).First(ctx)
	if ent.IsNotFound(err) {
		sh, err = tx.Shop.Create().SetAccountID(accountID).SetName(ShopName).
			SetTimezone("Asia/Tokyo").Save(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("shop: %w", err)
	}

	conn, err := tx.PosConnection.Query().Where(posconnection.AccountID(accountID),
		posconnection.ProviderEQ(posconnection.ProviderPARTNER), posconnection.ContractID(ContractID)).Only(ctx)
	if ent.IsNotFound(err) {
		conn, err = tx.PosConnection.Create().SetAccountID(accountID).
			SetProvider(posconnection.ProviderPARTNER).SetContractID(ContractID).
			SetMemo("デモ用の接続です (demo data generator)").Save(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("pos connection: %w", err)
	}

	camIDs := make([]pulid.ID, len(cameras))
	for i, c := range cameras {
		cam, err := tx.Camera.Query().Where(camera.DeviceID(c.deviceID)).Only(ctx)
		if ent.IsNotFound(err) {
			cam, err = tx.Camera.Create().SetAccountID(accountID).SetName(c.name).
				SetModel(c.model).SetDeviceID(c.deviceID).SetPosOption(true).
				SetSourceKind(camera.SourceKindSIMULATED).Save(ctx)
		}
		if err != nil {
			return "", fmt.Errorf("camera %s: %w", c.deviceID, err)
		}
		if cam.AccountID != accountID {
			return "", fmt.Errorf("camera %s belongs to account %s, not the demo account %s",
				c.deviceID, cam.AccountID, accountID)
		}
		camIDs[i] = cam.ID
	}

	for _, t := range terminals {
		term, err := tx.Terminal.Query().Where(terminal.ConnectionID(conn.ID), terminal.ExternalID(t.externalID)).Only(ctx)
		if ent.IsNotFound(err) {
			term, err = tx.Terminal.Create().SetAccountID(accountID).SetConnectionID(conn.ID).
				SetShopID(sh.ID).SetExternalID(t.externalID).SetName(t.name).Save(ctx)
		}
		if err != nil {
			return "", fmt.Errorf("terminal %s: %w", t.externalID, err)
		}
		// Any link at all, active or ended, means the terminal has a history
		// the user shaped; only a never-linked terminal gets the default.
		linked, err := tx.Link.Query().Where(link.TerminalID(term.ID)).Exist(ctx)
		if err != nil {
			return "", fmt.Errorf("links of terminal %s: %w", t.externalID, err)
		}
		if linked {
			continue
		}
		if _, err := tx.Link.Create().SetAccountID(accountID).SetTerminalID(term.ID).
			SetCameraID(camIDs[t.camera]).SetCreatedAt(linkEpoch).Save(ctx); err != nil {
			return "", fmt.Errorf("link terminal %s: %w", t.externalID, err)
		}
	}
	return accountID, nil
}

// findAccount prefers the owner of the demo cameras over the account name:
// the device ids are unique, a name is not, and the user may rename it.
func findAccount(ctx context.Context, tx *ent.Tx) (pulid.ID, error) {
	cam, err := tx.Camera.Query().Where(camera.DeviceID(cameras[0].deviceID)).Only(ctx)
	if err == nil {
		return cam.AccountID, nil
	}
	if !ent.IsNotFound(err) {
		return "", fmt.Errorf("find demo camera: %w", err)
	}
	acc, err := tx.Account.Query().Where(account.Name(AccountName)).Order(ent.Asc(account.FieldCreatedAt)).First(ctx)
	if ent.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find demo account: %w", err)
	}
	return acc.ID, nil
}

type menuItem struct {
	name  string
	price int64
}

var menu = []menuItem{
	{"ブレンドコーヒー", 450},
	{"アイスコーヒー", 480},
	{"カフェラテ", 520},
	{"カプチーノ", 540},
	{"抹茶ラテ", 580},
	{"紅茶", 420},
	{"オレンジジュース", 400},
	{"クロワッサン", 320},
	{"シナモンロール", 380},
	{"サンドイッチ", 680},
	{"ナポリタン", 980},
	{"チーズケーキ", 480},
	{"ショートケーキ", 550},
	{"プリン", 300},
	{"クッキー", 150},
	{"コーヒー豆 200g", 1600},
	{"ドリップバッグ 10袋", 1200},
	{"タンブラー", 2800},
	{"ギフトセット", 5400},
	{"コーヒーミル", 12800},
}

var staff = []struct{ id, name string }{
	{"101", "山田"},
	{"102", "佐藤"},
	{"103", "鈴木"},
	{"104", "高橋"},
	{"105", "田中"},
}

const (
	methodCash   = "現金"
	methodCredit = "クレジットカード"
	methodIC     = "交通系IC"
	methodQR     = "QR決済"
)

// Test-card BINs (Visa, Mastercard, JCB), never real customers' numbers.
var cardBINs = []string{"411111", "555555", "353011"}

const (
	maxTotal = 35_000
	// recentSize bounds the sales a later cancel/modify/delete may pick;
	// real corrections happen to receipts from the last few minutes.
	recentSize = 20
)

// Generator rings up demo receipts for one account. It is safe for
// concurrent use, though Run is meant to be its only caller.
type Generator struct {
	client    *ent.Client
	in        *ingest.Ingester
	accountID pulid.ID
	log       *slog.Logger

	mu       sync.Mutex
	rng      *rand.Rand
	terms    []*ent.Terminal // loaded lazily, dropped after a failure
	seq      int             // last receipt number
	lastNano int64           // keeps external ids unique on coarse clocks
	recent   []ingest.Receipt
}

// NewGenerator returns a generator for accountID (as returned by Seed). The
// same seed gives the same sequence of choices.
func NewGenerator(client *ent.Client, in *ingest.Ingester, accountID pulid.ID, log *slog.Logger, seed int64) *Generator {
	if log == nil {
		log = slog.Default()
	}
	s := uint64(seed)
	return &Generator{
		client: client, in: in, accountID: accountID, log: log,
		rng: rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15)),
	}
}

// Run rings up a receipt every `every`, jittered by ±50% so the timeline
// looks like customers rather than a metronome, until ctx ends; it then
// returns nil. Failures are logged and do not stop it.
func (g *Generator) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("demo generator: interval must be positive, got %s", every)
	}
	timer := time.NewTimer(g.jitter(every))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		res, err := g.Step(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil // shutting down mid-write is not worth a warning
		case err != nil:
			g.log.WarnContext(ctx, "demo receipt failed", "err", err)
		default:
			e := res.Entry
			g.log.DebugContext(ctx, "demo receipt", "status", res.Status, "kind", e.Kind,
				"external_id", e.ExternalID, "receipt_no", e.ReceiptNo, "register_no", e.RegisterNo,
				"total", e.Total, "entry_id", e.ID)
		}
		timer.Reset(g.jitter(every))
	}
}

func (g *Generator) jitter(every time.Duration) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return every/2 + time.Duration(g.rng.Int64N(int64(every)))
}

// Step ingests one receipt: mostly new sales, sometimes a cancel, correction
// or deletion of a recent sale, sometimes a cash drawer movement.
func (g *Generator) Step(ctx context.Context) (ingest.Result, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	// The generator acts as a partner integration of the demo account.
	ctx = viewer.NewContext(ctx, viewer.Viewer{AccountID: g.accountID})
	if err := g.loadTerminals(ctx); err != nil {
		return ingest.Result{Status: ingest.Failed, Err: err}, err
	}
	now := time.Now().UTC()

	var (
		r      ingest.Receipt
		after  func() // bookkeeping once the receipt is stored
		roll   = g.rng.IntN(100)
		picked = -1
	)
	if len(g.recent) > 0 && roll < 16 {
		picked = g.rng.IntN(len(g.recent))
	}
	switch {
	case picked >= 0 && roll < 8:
		r = g.recent[picked]
		r.Kind = journalentry.KindCANCEL
		r.OccurredAt = now
		r.UpdatedAt = nil
		after = func() { g.forget(picked) }
	case picked >= 0 && roll < 13:
		r = g.modify(g.recent[picked], now)
		after = func() { g.recent[picked] = r }
	case picked >= 0 && roll < 16:
		r = g.recent[picked]
		r.Kind = journalentry.KindDELETE
		r.OccurredAt = now
		r.UpdatedAt = nil
		after = func() { g.forget(picked) }
	case roll >= 16 && roll < 20:
		r = g.drawer(now)
	default:
		r = g.sale(now)
		after = func() { g.remember(r) }
	}

	res := g.in.Ingest(ctx, g.accountID, r)
	if res.Err != nil {
		// The terminals may have been deleted or moved; look again next time.
		g.terms = nil
		return res, fmt.Errorf("demo %s %s: %w", r.Kind, r.ExternalID, res.Err)
	}
	if after != nil {
		after()
	}
	return res, nil
}

func (g *Generator) loadTerminals(ctx context.Context) error {
	if len(g.terms) > 0 {
		return nil
	}
	terms, err := g.client.Terminal.Query().
		Where(terminal.AccountID(g.accountID), terminal.HasConnectionWith(
			posconnection.ProviderEQ(posconnection.ProviderPARTNER), posconnection.ContractID(ContractID))).
		Order(ent.Asc(terminal.FieldExternalID)).All(ctx)
	if err != nil {
		return fmt.Errorf("demo: load terminals: %w", err)
	}
	if len(terms) == 0 {
		return errors.New("demo: the demo account has no terminals (was Seed run?)")
	}
	g.terms = terms
	return nil
}

func (g *Generator) nextExternalID(now time.Time) string {
	n := now.UnixNano()
	if n <= g.lastNano {
		n = g.lastNano + 1
	}
	g.lastNano = n
	return "demo-" + strconv.FormatInt(n, 10)
}

func (g *Generator) nextReceiptNo() string {
	g.seq = g.seq%9999 + 1
	return fmt.Sprintf("%04d", g.seq)
}

// header fills what every register record carries: who, where, when.
func (g *Generator) header(now time.Time, kind journalentry.Kind) ingest.Receipt {
	t := g.terms[g.rng.IntN(len(g.terms))]
	s := staff[g.rng.IntN(len(staff))]
	// A few ms ago: the register's clock and the network sit between the
	// sale and us, and the ingester rejects times in the future.
	at := now.Add(-time.Duration(1+g.rng.IntN(50)) * time.Millisecond)
	return ingest.Receipt{
		TerminalID: t.ID,
		ExternalID: g.nextExternalID(now),
		Kind:       kind,
		OccurredAt: at,
		ReceiptNo:  g.nextReceiptNo(),
		RegisterNo: t.ExternalID,
		StaffID:    s.id,
		StaffName:  s.name,
	}
}

func (g *Generator) sale(now time.Time) ingest.Receipt {
	r := g.header(now, journalentry.KindPAYMENT)
	entered := r.OccurredAt.Add(-time.Duration(2*60+g.rng.IntN(13*60)) * time.Second)
	r.EnteredAt = &entered
	r.Items = g.items(1 + g.rng.IntN(4))
	switch p := g.rng.IntN(100); {
	case p < 40:
		r.PaymentMethod = methodCash
	case p < 70:
		r.PaymentMethod = methodCredit
		r.MaskedCard = fmt.Sprintf("%s********%02d", cardBINs[g.rng.IntN(len(cardBINs))], g.rng.IntN(100))
	case p < 85:
		r.PaymentMethod = methodIC
	default:
		r.PaymentMethod = methodQR
	}
	g.settle(&r)
	return r
}

// settle derives total, deposit and change from the items and payment.
func (g *Generator) settle(r *ingest.Receipt) {
	r.Total = 0
	for _, it := range r.Items {
		r.Total += it.Amount
	}
	r.Deposit, r.Change = r.Total, 0
	if r.PaymentMethod == methodCash {
		r.Deposit = (r.Total + 999) / 1000 * 1000
		// Some customers hand over a ¥10,000 note for a small bill.
		if r.Deposit < 10_000 && g.rng.IntN(4) == 0 {
			r.Deposit = 10_000
		}
		r.Change = r.Deposit - r.Total
	}
	r.Raw = rawOf(r)
}

// items picks n distinct menu lines whose sum stays within maxTotal.
func (g *Generator) items(n int) []schematype.Item {
	var out []schematype.Item
	var sum int64
	for _, i := range g.rng.Perm(len(menu))[:n] {
		m := menu[i]
		qty := 1
		if m.price < 1000 && g.rng.IntN(3) == 0 {
			qty = 2 + g.rng.IntN(3)
		}
		for qty > 0 && sum+m.price*int64(qty) > maxTotal {
			qty--
		}
		if qty == 0 {
			continue
		}
		sum += m.price * int64(qty)
		out = append(out, schematype.Item{Name: m.name, Quantity: qty, Amount: m.price * int64(qty)})
	}
	return out
}

// modify re-sends sale as the register would after a correction: same id,
// new content, a new update time. The content must really differ, or the
// ingester rightly treats it as a duplicate.
func (g *Generator) modify(sale ingest.Receipt, now time.Time) ingest.Receipt {
	r := sale
	r.Items = append([]schematype.Item(nil), sale.Items...)
	i := g.rng.IntN(len(r.Items))
	it := &r.Items[i]
	price := it.Amount / int64(it.Quantity)
	switch {
	case it.Quantity > 1 && (g.rng.IntN(2) == 0 || r.Total+price > maxTotal):
		it.Quantity--
		it.Amount = price * int64(it.Quantity)
	case r.Total+price <= maxTotal:
		it.Quantity++
		it.Amount = price * int64(it.Quantity)
	case len(r.Items) > 1:
		r.Items = append(r.Items[:i], r.Items[i+1:]...)
	default:
		// One expensive line at the cap: the cashier rang up the wrong item.
		m := menu[0]
		if m.name == it.Name {
			m = menu[1]
		}
		r.Items = []schematype.Item{{Name: m.name, Quantity: 1, Amount: m.price}}
	}
	updated := now
	r.UpdatedAt = &updated
	g.settle(&r)
	return r
}

// drawer is a 入金/出金: cash put into or taken out of the drawer, no items.
func (g *Generator) drawer(now time.Time) ingest.Receipt {
	r := g.header(now, journalentry.KindOTHER)
	r.PaymentMethod = methodCash
	r.Total = int64(1+g.rng.IntN(30)) * 1000
	r.Deposit = r.Total
	label := "入金"
	if g.rng.IntN(2) == 0 {
		label = "出金"
	}
	r.Raw, _ = json.Marshal(map[string]any{"source": "demo", "type": label, "amount": r.Total})
	return r
}

func rawOf(r *ingest.Receipt) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"source": "demo", "receiptNo": r.ReceiptNo, "registerNo": r.RegisterNo,
		"total": r.Total, "paymentMethod": r.PaymentMethod, "items": r.Items,
	})
	return b
}

func (g *Generator) remember(r ingest.Receipt) {
	if len(g.recent) == recentSize {
		g.recent = append(g.recent[:0], g.recent[1:]...)
	}
	g.recent = append(g.recent, r)
}

func (g *Generator) forget(i int) {
	g.recent = append(g.recent[:i], g.recent[i+1:]...)
}
