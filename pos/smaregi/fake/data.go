package fake

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

var jst = time.FixedZone("JST", 9*3600)

const timeLayout = "2006-01-02T15:04:05-07:00"

// Transaction is a transaction head as the fake stores it. It renders the
// way Smaregi does: every value a JSON string, null when empty or zero
// time. Extra overrides or adds keys after rendering (any JSON value), so
// a test can serve junk: {"total": "abc"}, {"transactionHeadDivision": "99"}.
type Transaction struct {
	TransactionHeadID              string
	TransactionDateTime            time.Time // server receipt time
	TerminalTranDateTime           time.Time // sale time on the register
	TransactionHeadDivision        string
	CancelDivision                 string
	DisposeDivision                string
	DisposeServerTransactionHeadID string
	ReturnSales                    string
	CancelDateTime                 time.Time
	UpdDateTime                    time.Time
	StoreID                        string
	TerminalID                     string
	TerminalTranID                 string
	TransactionUUID                string
	StaffID                        string
	StaffName                      string
	Subtotal                       int64
	Total                          int64
	Deposit                        int64
	DepositCash                    int64
	DepositCredit                  int64
	Change                         int64
	CashTotal                      int64
	CreditTotal                    int64
	EnterDateTime                  time.Time
	GuestNumbers                   int
	Memo                           string
	DepositOthers                  []DepositOther
	Details                        []Detail
	Extra                          map[string]any
}

// DepositOther is a payment by another method (電子マネー, QR…).
type DepositOther struct {
	PaymentMethodID   string
	PaymentMethodName string
	Amount            int64
	PaymentDivision   string
}

// Detail is a line item, served with with_details=all|summary.
type Detail struct {
	ProductID   string
	ProductName string
	Quantity    int
	SalesPrice  int64
}

func (t *Transaction) clone() *Transaction {
	c := *t
	c.DepositOthers = append([]DepositOther(nil), t.DepositOthers...)
	c.Details = append([]Detail(nil), t.Details...)
	if t.Extra != nil {
		c.Extra = make(map[string]any, len(t.Extra))
		for k, v := range t.Extra {
			c.Extra[k] = v
		}
	}
	return &c
}

func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func num(n int64) any { return strconv.FormatInt(n, 10) }

func tm(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.In(jst).Format(timeLayout)
}

// render is the JSON object Smaregi would send.
func (t *Transaction) render(withDetails, withOthers bool) map[string]any {
	m := map[string]any{
		"transactionHeadId":              t.TransactionHeadID,
		"transactionDateTime":            tm(t.TransactionDateTime),
		"transactionHeadDivision":        str(t.TransactionHeadDivision),
		"cancelDivision":                 str(t.CancelDivision),
		"unitNonDiscountsubtotal":        num(t.Subtotal),
		"subtotal":                       num(t.Subtotal),
		"subtotalDiscountPrice":          "0",
		"pointDiscount":                  "0",
		"couponDiscount":                 "0",
		"total":                          num(t.Total),
		"taxInclude":                     num(t.Total * 10 / 110),
		"taxExclude":                     "0",
		"roundingDivision":               "00",
		"roundingPrice":                  "0",
		"cashTotal":                      num(t.CashTotal),
		"creditTotal":                    num(t.CreditTotal),
		"deposit":                        num(t.Deposit),
		"depositCash":                    num(t.DepositCash),
		"depositCredit":                  num(t.DepositCredit),
		"change":                         num(t.Change),
		"tipCash":                        nil,
		"tipCredit":                      nil,
		"amount":                         strconv.Itoa(len(t.Details)),
		"returnAmount":                   "0",
		"storeId":                        str(t.StoreID),
		"terminalId":                     str(t.TerminalID),
		"customerId":                     nil,
		"terminalTranId":                 str(t.TerminalTranID),
		"terminalTranDateTime":           tm(t.TerminalTranDateTime),
		"sumDivision":                    "2",
		"adjustmentDateTime":             nil,
		"sumDate":                        t.TransactionDateTime.In(jst).Format("2006-01-02"),
		"staffId":                        str(t.StaffID),
		"staffName":                      str(t.StaffName),
		"memo":                           str(t.Memo),
		"receiptMemo":                    nil,
		"guestNumbers":                   strconv.Itoa(t.GuestNumbers),
		"enterDateTime":                  tm(t.EnterDateTime),
		"returnSales":                    str(t.ReturnSales),
		"disposeDivision":                str(t.DisposeDivision),
		"disposeServerTransactionHeadId": str(t.DisposeServerTransactionHeadID),
		"cancelDateTime":                 tm(t.CancelDateTime),
		"sellDivision":                   "0",
		"taxRate":                        "10.000",
		"taxRounding":                    "0",
		"discountRoundingDivision":       "0",
		"transactionUuid":                str(t.TransactionUUID),
		"exchangeTicketNo":               nil,
		"giftReceiptValidDays":           nil,
		"barcode":                        nil,
		"updDateTime":                    tm(t.UpdDateTime),
	}
	if withOthers {
		others := make([]map[string]any, 0, len(t.DepositOthers))
		for _, o := range t.DepositOthers {
			others = append(others, map[string]any{
				"paymentMethodId":   str(o.PaymentMethodID),
				"paymentMethodName": str(o.PaymentMethodName),
				"depositOthers":     num(o.Amount),
				"paymentDivision":   str(o.PaymentDivision),
			})
		}
		m["depositOthers"] = others
	}
	if withDetails {
		details := make([]map[string]any, 0, len(t.Details))
		for i, d := range t.Details {
			details = append(details, map[string]any{
				"transactionHeadId":         t.TransactionHeadID,
				"transactionDetailId":       strconv.Itoa(i + 1),
				"parentTransactionDetailId": nil,
				"transactionDetailDivision": "1",
				"productId":                 str(d.ProductID),
				"productName":               str(d.ProductName),
				"salesPrice":                num(d.SalesPrice),
				"quantity":                  strconv.Itoa(d.Quantity),
				"unitDiscountedSum":         num(d.SalesPrice * int64(d.Quantity)),
			})
		}
		m["details"] = details
	}
	for k, v := range t.Extra {
		m[k] = v
	}
	return m
}

// TransactionSpec describes a sale to ring up. Zero values take
// defaults: store "1", terminal "1", division "1" (通常), At = now, paid in
// cash (Total + Change) unless Cash, Credit or Others say otherwise.
type TransactionSpec struct {
	StoreID    string
	TerminalID string
	StaffID    string
	StaffName  string
	Division   string // transactionHeadDivision
	Total      int64
	Change     int64
	Cash       int64
	Credit     int64
	Others     []DepositOther
	At         time.Time // terminalTranDateTime; default now
	ServerAt   time.Time // transactionDateTime; default now
	EnteredAt  time.Time
	Items      []Detail
	Memo       string
	Guests     int
}

// Store is a shop of a contract.
type Store struct {
	ID   string
	Name string
	Code string
}

// ManualClock is a clock tests move by hand.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock starts at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

// Now is the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *Contract) build(spec TransactionSpec, now time.Time) *Transaction {
	c.seq++
	id := strconv.Itoa(c.seq)
	store, term := orDefault(spec.StoreID, "1"), orDefault(spec.TerminalID, "1")
	c.termSeq[term]++
	at, server := c.clocks.times(term, spec.At, spec.ServerAt, now) // clock.go
	cash, credit := spec.Cash, spec.Credit
	var others int64
	for _, o := range spec.Others {
		others += o.Amount
	}
	if cash == 0 && credit == 0 && len(spec.Others) == 0 {
		cash = spec.Total + spec.Change
	}
	var subtotal int64
	for _, d := range spec.Items {
		subtotal += d.SalesPrice * int64(d.Quantity)
	}
	if len(spec.Items) == 0 {
		subtotal = spec.Total
	}
	return &Transaction{
		TransactionHeadID:       id,
		TransactionDateTime:     server.Truncate(time.Second),
		TerminalTranDateTime:    at.Truncate(time.Second),
		TransactionHeadDivision: orDefault(spec.Division, "1"),
		CancelDivision:          "0",
		DisposeDivision:         "0",
		ReturnSales:             "0",
		UpdDateTime:             server.Truncate(time.Second),
		StoreID:                 store,
		TerminalID:              term,
		TerminalTranID:          strconv.Itoa(c.termSeq[term]),
		TransactionUUID:         fmt.Sprintf("%05s%08d", term, c.seq),
		StaffID:                 spec.StaffID,
		StaffName:               spec.StaffName,
		Subtotal:                subtotal,
		Total:                   spec.Total,
		Deposit:                 cash + credit + others,
		DepositCash:             cash,
		DepositCredit:           credit,
		Change:                  spec.Change,
		CashTotal:               cash - spec.Change,
		CreditTotal:             credit,
		EnterDateTime:           spec.EnteredAt.Truncate(time.Second),
		GuestNumbers:            spec.Guests,
		Memo:                    spec.Memo,
		DepositOthers:           append([]DepositOther(nil), spec.Others...),
		Details:                 append([]Detail(nil), spec.Items...),
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
