package demo

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "modernc.org/sqlite"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/link"
	_ "github.com/regicam/regicam/ent/runtime"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
)

func openClient(t *testing.T) *ent.Client {
	t.Helper()
	// modernc registers "sqlite" while ent calls the dialect "sqlite3", so
	// the driver is opened by hand. A per-test name keeps shared-cache
	// in-memory databases apart.
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	dsn := fmt.Sprintf("file:%s?mode=memory&cache=shared&_pragma=foreign_keys(1)&_time_format=sqlite", name)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.SQLite, db)))
	t.Cleanup(func() { _ = client.Close() })
	if err := client.Schema.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return client
}

func newIngester(client *ent.Client) *ingest.Ingester {
	return ingest.New(client, dialect.SQLite, pubsub.NewMemory(), nil)
}

func seedT(t *testing.T, client *ent.Client) pulid.ID {
	t.Helper()
	id, err := Seed(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// activeLinks maps terminal external id to the device id of its camera.
func activeLinks(t *testing.T, client *ent.Client, accountID pulid.ID) map[string]string {
	t.Helper()
	ctx := context.Background()
	links, err := client.Link.Query().Where(link.AccountID(accountID), link.EndedAtIsNil()).
		WithTerminal().WithCamera().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range links {
		if _, dup := out[l.Edges.Terminal.ExternalID]; dup {
			t.Errorf("terminal %s has two active links", l.Edges.Terminal.ExternalID)
		}
		out[l.Edges.Terminal.ExternalID] = l.Edges.Camera.DeviceID
	}
	return out
}

func TestSeedIdempotent(t *testing.T) {
	ctx := context.Background()
	client := openClient(t)
	first := seedT(t, client)
	second := seedT(t, client)
	if first != second {
		t.Fatalf("second Seed returned %s, first %s", second, first)
	}
	if acc := client.Account.GetX(ctx, first); acc.Name != AccountName {
		t.Errorf("account name %q", acc.Name)
	}
	if n := client.Account.Query().CountX(ctx); n != 1 {
		t.Errorf("%d accounts, want 1", n)
	}
	if n := client.Shop.Query().CountX(ctx); n != 1 {
		t.Errorf("%d shops, want 1", n)
	}
	if sh := client.Shop.Query().OnlyX(ctx); sh.Name != ShopName || sh.Timezone != "Asia/Tokyo" || sh.AccountID != first {
		t.Errorf("shop %+v", sh)
	}
	conn := client.PosConnection.Query().OnlyX(ctx)
	if conn.Provider != "PARTNER" || conn.ContractID != ContractID || conn.AccountID != first {
		t.Errorf("connection %+v", conn)
	}

	cams := client.Camera.Query().Order(ent.Asc(camera.FieldDeviceID)).AllX(ctx)
	if len(cams) != 2 {
		t.Fatalf("%d cameras, want 2", len(cams))
	}
	for i, want := range cameras {
		c := cams[i]
		if c.Name != want.name || c.Model != want.model || c.DeviceID != want.deviceID ||
			!c.PosOption || c.SourceKind == nil || *c.SourceKind != camera.SourceKindSIMULATED || c.AccountID != first {
			t.Errorf("camera %d = %+v, want %+v", i, c, want)
		}
	}
	terms := client.Terminal.Query().Order(ent.Asc(terminal.FieldExternalID)).AllX(ctx)
	if len(terms) != 3 {
		t.Fatalf("%d terminals, want 3", len(terms))
	}
	for i, want := range terminals {
		if tm := terms[i]; tm.ExternalID != want.externalID || tm.Name != want.name || tm.ConnectionID != conn.ID || tm.AccountID != first {
			t.Errorf("terminal %d = %+v", i, tm)
		}
	}
	if n := client.Link.Query().CountX(ctx); n != 3 {
		t.Errorf("%d links, want 3", n)
	}
	got := activeLinks(t, client, first)
	want := map[string]string{"1": "201000192", "2": "201000192", "3": "201000193"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("active links %v, want %v", got, want)
	}
	for _, l := range client.Link.Query().AllX(ctx) {
		if !l.CreatedAt.Equal(linkEpoch) {
			t.Errorf("link created at %v, want %v", l.CreatedAt, linkEpoch)
		}
	}
}

// A user who re-binds a demo terminal keeps that choice across restarts.
func TestSeedKeepsRebinding(t *testing.T) {
	ctx := context.Background()
	client := openClient(t)
	accountID := seedT(t, client)
	t1 := client.Terminal.Query().Where(terminal.ExternalID("1")).OnlyX(ctx)
	cam2 := client.Camera.Query().Where(camera.DeviceID("201000193")).OnlyX(ctx)
	now := time.Now().UTC()
	client.Link.Update().Where(link.TerminalID(t1.ID), link.EndedAtIsNil()).SetEndedAt(now).ExecX(ctx)
	client.Link.Create().SetAccountID(accountID).SetTerminalID(t1.ID).SetCameraID(cam2.ID).SetCreatedAt(now).ExecX(ctx)

	if again := seedT(t, client); again != accountID {
		t.Fatalf("Seed returned %s, want %s", again, accountID)
	}
	got := activeLinks(t, client, accountID)
	want := map[string]string{"1": "201000193", "2": "201000192", "3": "201000193"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("active links %v, want %v", got, want)
	}
	if n := client.Link.Query().CountX(ctx); n != 4 {
		t.Errorf("%d links, want 4", n)
	}
}

// Seed finds the account through its cameras even after a rename.
func TestSeedFindsRenamedAccount(t *testing.T) {
	ctx := context.Background()
	client := openClient(t)
	accountID := seedT(t, client)
	client.Account.UpdateOneID(accountID).SetName("渋谷コーヒー").ExecX(ctx)
	if again := seedT(t, client); again != accountID {
		t.Fatalf("Seed returned %s, want %s", again, accountID)
	}
	if n := client.Account.Query().CountX(ctx); n != 1 {
		t.Errorf("%d accounts, want 1", n)
	}
}

var (
	receiptNoRE  = regexp.MustCompile(`^[0-9]{4}$`)
	maskedCardRE = regexp.MustCompile(`^[0-9]{6}\*{8}[0-9]{2}$`)
	staffNames   = map[string]string{"101": "山田", "102": "佐藤", "103": "鈴木", "104": "高橋", "105": "田中"}
)

func TestStepsProduceConsistentJournal(t *testing.T) {
	ctx := context.Background()
	client := openClient(t)
	accountID := seedT(t, client)
	g := NewGenerator(client, newIngester(client), accountID, nil, 1)

	const steps = 300
	for i := range steps {
		res, err := g.Step(ctx)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if res.Status != ingest.Created {
			t.Fatalf("step %d: status %s, want CREATED", i, res.Status)
		}
	}

	entries := client.JournalEntry.Query().WithTerminal().WithCamera().WithRelated().
		Order(ent.Asc(journalentry.FieldOccurredAt)).AllX(ctx)
	// content is what each sale looked like after its latest version.
	content := map[string]string{}
	contentOf := func(e *ent.JournalEntry) string {
		return fmt.Sprint(e.Total, e.Deposit, e.PaymentMethod, e.StaffID, e.Items)
	}
	if len(entries) != steps {
		t.Fatalf("%d entries, want %d", len(entries), steps)
	}
	kinds := map[journalentry.Kind]int{}
	for _, e := range entries {
		kinds[e.Kind]++
		if e.AccountID != accountID {
			t.Errorf("%s: account %s", e.ID, e.AccountID)
		}
		if e.CameraID == nil {
			t.Errorf("%s (%s): no camera", e.ID, e.Kind)
			continue
		}
		wantCam := "201000192"
		if e.Edges.Terminal.ExternalID == "3" {
			wantCam = "201000193"
		}
		if e.Edges.Camera.DeviceID != wantCam {
			t.Errorf("%s: terminal %s shown on camera %s", e.ID, e.Edges.Terminal.ExternalID, e.Edges.Camera.DeviceID)
		}
		if e.RegisterNo != e.Edges.Terminal.ExternalID {
			t.Errorf("%s: register %q on terminal %q", e.ID, e.RegisterNo, e.Edges.Terminal.ExternalID)
		}
		if !receiptNoRE.MatchString(e.ReceiptNo) {
			t.Errorf("%s: receipt no %q", e.ID, e.ReceiptNo)
		}
		if staffNames[e.StaffID] != e.StaffName {
			t.Errorf("%s: staff %q/%q", e.ID, e.StaffID, e.StaffName)
		}
		if !strings.HasPrefix(e.ExternalID, "demo-") {
			t.Errorf("%s: external id %q", e.ID, e.ExternalID)
		}
		if time.Since(e.OccurredAt) > time.Minute || e.OccurredAt.After(time.Now()) {
			t.Errorf("%s: occurred at %v", e.ID, e.OccurredAt)
		}

		switch e.Kind {
		case journalentry.KindCANCEL, journalentry.KindMODIFY, journalentry.KindDELETE:
			orig := e.Edges.Related
			if orig == nil {
				t.Errorf("%s (%s): no related entry", e.ID, e.Kind)
				break
			}
			if orig.Kind != journalentry.KindPAYMENT || orig.ExternalID != e.ExternalID {
				t.Errorf("%s (%s): related to %s %s", e.ID, e.Kind, orig.Kind, orig.ExternalID)
			}
			if !orig.OccurredAt.Before(e.OccurredAt) {
				t.Errorf("%s (%s) at %v, not after its sale at %v", e.ID, e.Kind, e.OccurredAt, orig.OccurredAt)
			}
			marked := map[journalentry.Kind]*time.Time{
				journalentry.KindCANCEL: orig.CanceledAt, journalentry.KindMODIFY: orig.ModifiedAt,
				journalentry.KindDELETE: orig.DeletedAt,
			}[e.Kind]
			if marked == nil {
				t.Errorf("%s: original %s not marked %s", e.ID, orig.ID, e.Kind)
			}
			if e.Kind == journalentry.KindMODIFY {
				if contentOf(e) == content[e.ExternalID] {
					t.Errorf("%s: MODIFY changes nothing", e.ID)
				}
				content[e.ExternalID] = contentOf(e)
			}
			if e.Kind != journalentry.KindMODIFY && e.ReceiptNo != orig.ReceiptNo {
				t.Errorf("%s: receipt no %s, sale %s", e.ID, e.ReceiptNo, orig.ReceiptNo)
			}
		}

		if e.Kind == journalentry.KindPAYMENT {
			content[e.ExternalID] = contentOf(e)
		}
		switch e.Kind {
		case journalentry.KindOTHER:
			if e.PaymentMethod != "現金" || len(e.Items) != 0 || e.Total <= 0 {
				t.Errorf("%s: OTHER %+v", e.ID, e)
			}
		default:
			checkSale(t, e)
		}
	}
	for _, k := range []journalentry.Kind{journalentry.KindPAYMENT, journalentry.KindCANCEL,
		journalentry.KindMODIFY, journalentry.KindDELETE, journalentry.KindOTHER} {
		if kinds[k] == 0 {
			t.Errorf("no %s among %v", k, kinds)
		}
	}
	t.Logf("kinds: %v", kinds)
	// A canceled or deleted sale is never changed again: the generator
	// forgets it.
	ended := map[string]time.Time{}
	for _, e := range entries {
		if e.Kind == journalentry.KindCANCEL || e.Kind == journalentry.KindDELETE {
			if _, dup := ended[e.ExternalID]; dup {
				t.Errorf("%s canceled/deleted twice", e.ExternalID)
			}
			ended[e.ExternalID] = e.OccurredAt
		}
	}
	for _, e := range entries {
		if at, ok := ended[e.ExternalID]; ok && e.OccurredAt.After(at) {
			t.Errorf("%s: %s after the sale ended", e.ID, e.Kind)
		}
	}
}

func checkSale(t *testing.T, e *ent.JournalEntry) {
	t.Helper()
	if e.Total < 100 || e.Total > 35_000 {
		t.Errorf("%s: total %d out of ¥100–¥35,000", e.ID, e.Total)
	}
	if len(e.Items) < 1 || len(e.Items) > 4 {
		t.Errorf("%s: %d items", e.ID, len(e.Items))
	}
	var sum int64
	for _, it := range e.Items {
		if it.Quantity < 1 || it.Amount <= 0 || it.Amount%int64(it.Quantity) != 0 {
			t.Errorf("%s: item %+v", e.ID, it)
		}
		sum += it.Amount
	}
	if sum != e.Total {
		t.Errorf("%s: items sum to %d, total %d", e.ID, sum, e.Total)
	}
	if e.EnteredAt == nil || !e.EnteredAt.Before(e.OccurredAt) {
		t.Errorf("%s: entered at %v, occurred at %v", e.ID, e.EnteredAt, e.OccurredAt)
	}
	switch e.PaymentMethod {
	case "現金":
		roundUp := (e.Total + 999) / 1000 * 1000
		if e.Deposit-e.Total != e.Change || e.Deposit != roundUp && e.Deposit != 10_000 || e.Deposit < e.Total {
			t.Errorf("%s: cash total %d deposit %d change %d", e.ID, e.Total, e.Deposit, e.Change)
		}
	case "クレジットカード", "交通系IC", "QR決済":
		if e.Deposit != e.Total || e.Change != 0 {
			t.Errorf("%s: %s total %d deposit %d change %d", e.ID, e.PaymentMethod, e.Total, e.Deposit, e.Change)
		}
	default:
		t.Errorf("%s: payment method %q", e.ID, e.PaymentMethod)
	}
	if (e.PaymentMethod == "クレジットカード") != maskedCardRE.MatchString(e.MaskedCard) {
		t.Errorf("%s: %s with card %q", e.ID, e.PaymentMethod, e.MaskedCard)
	}
}

func TestSameSeedSameSequence(t *testing.T) {
	trace := func(t *testing.T) []string {
		ctx := context.Background()
		client := openClient(t)
		g := NewGenerator(client, newIngester(client), seedT(t, client), nil, 42)
		var out []string
		for range 60 {
			res, err := g.Step(ctx)
			if err != nil {
				t.Fatal(err)
			}
			e := res.Entry
			out = append(out, fmt.Sprint(e.Kind, e.ReceiptNo, e.RegisterNo, e.StaffID, e.Total, e.Deposit, e.PaymentMethod, e.Items))
		}
		return out
	}
	var a, b []string
	t.Run("a", func(t *testing.T) { a = trace(t) })
	t.Run("b", func(t *testing.T) { b = trace(t) })
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("same seed, different receipts:\n%v\n%v", a, b)
	}
}

func TestStepWithoutSeed(t *testing.T) {
	client := openClient(t)
	g := NewGenerator(client, newIngester(client), pulid.MustNew("AC"), nil, 1)
	res, err := g.Step(context.Background())
	if err == nil || res.Status != ingest.Failed {
		t.Fatalf("Step without terminals = %v, %v; want an error", res.Status, err)
	}
}

// syncBuffer lets the test read the log while Run may still be writing.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunUntilCanceled(t *testing.T) {
	client := openClient(t)
	accountID := seedT(t, client)
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g := NewGenerator(client, newIngester(client), accountID, log, 7)

	if err := g.Run(context.Background(), 0); err == nil {
		t.Error("Run with a zero interval should fail")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, 2*time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for client.JournalEntry.Query().CountX(context.Background()) < 10 {
		if time.Now().After(deadline) {
			t.Fatal("Run stored fewer than 10 receipts in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
	out := logBuf.String()
	if !strings.Contains(out, "level=DEBUG msg=\"demo receipt\"") {
		t.Errorf("no debug log per receipt:\n%s", out)
	}
	if strings.Contains(out, "level=WARN") {
		t.Errorf("unexpected warnings:\n%s", out)
	}
}

func TestRunKeepsGoingAfterErrors(t *testing.T) {
	client := openClient(t)
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	// No Seed: every step fails, and Run must log and carry on.
	g := NewGenerator(client, newIngester(client), pulid.MustNew("AC"), log, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := g.Run(ctx, 5*time.Millisecond); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if n := strings.Count(logBuf.String(), "level=WARN"); n < 2 {
		t.Errorf("%d warnings, want several:\n%s", n, logBuf.String())
	}
}
