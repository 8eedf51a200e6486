package ubiregi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Checkout statuses as Ubiregi documents them. "close" is a finished sale,
// "open" a bill still being edited, "cancel" a closed sale canceled later,
// "deleted" a bill thrown away without closing ("delete" has been seen too).
const (
	StatusClose   = "close"
	StatusOpen    = "open"
	StatusCancel  = "cancel"
	StatusDeleted = "deleted"
	StatusDelete  = "delete"
)

// Checkout is one Ubiregi bill. Times are zero when Ubiregi sent none.
type Checkout struct {
	ID             string
	GUID           string
	AccountID      string
	Status         string // lower case, as in the Status constants
	PaidAt         time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Price          Money
	Change         Money
	CashierID      string
	CustomersCount int
	Items          []Item
	Payments       []Payment
	// Raw is the checkout exactly as Ubiregi sent it.
	Raw json.RawMessage
}

// Item is one line of a checkout. Count is negative for a return.
type Item struct {
	MenuItemID    string
	Count         int
	Sales         Money
	Tax           Money
	DiscountSales Money
	DiscountTax   Money
}

// Amount is what the line costs, by Ubiregi's own formula.
func (it Item) Amount() Money { return it.Sales + it.Tax - it.DiscountSales - it.DiscountTax }

// Payment is one tender of a checkout.
type Payment struct {
	PaymentTypeID string
	Amount        Money
}

// Page is one response of GET /accounts/current/checkouts.
type Page struct {
	Checkouts []Checkout
	// Invalid holds checkouts that could not be read. They do not make the
	// page fail: one bad bill must not stop every later one from arriving.
	Invalid       []Invalid
	NextURL       string
	Timestamp     string
	LastUpdatedAt string
}

// Invalid is a checkout the client could not read, kept for the log.
type Invalid struct {
	Index int    // position in the page's checkouts array
	ID    string // when it could be read
	Raw   json.RawMessage
	Err   error
}

// ErrMalformed means a response was not the JSON Ubiregi documents.
var ErrMalformed = errors.New("ubiregi: malformed response")

type wireCheckout struct {
	ID             flexID        `json:"id"`
	GUID           flexID        `json:"guid"`
	AccountID      flexID        `json:"account_id"`
	Status         *string       `json:"status"`
	PaidAt         looseTime     `json:"paid_at"`
	CreatedAt      looseTime     `json:"created_at"`
	UpdatedAt      flexTime      `json:"updated_at"`
	Price          Money         `json:"price"`
	Change         Money         `json:"change"`
	CashierID      flexID        `json:"cashier_id"`
	CustomersCount flexInt       `json:"customers_count"`
	Items          []wireItem    `json:"items"`
	Payments       []wirePayment `json:"payments"`
}

type wireItem struct {
	MenuItemID    flexID  `json:"menu_item_id"`
	Count         flexInt `json:"count"`
	Sales         Money   `json:"sales"`
	Tax           Money   `json:"tax"`
	DiscountSales Money   `json:"discount_sales"`
	DiscountTax   Money   `json:"discount_tax"`
}

type wirePayment struct {
	PaymentTypeID flexID `json:"payment_type_id"`
	Amount        Money  `json:"amount"`
}

// A page with more lines than this is not a checkout we can store; the
// journal keeps at most 1000 lines per receipt.
const maxLines = 10000

// ParseCheckout reads one checkout object.
func ParseCheckout(raw []byte) (Checkout, error) {
	var w wireCheckout
	if err := json.Unmarshal(raw, &w); err != nil {
		return Checkout{}, err
	}
	c := Checkout{
		ID:             strings.TrimSpace(string(w.ID)),
		GUID:           string(w.GUID),
		AccountID:      string(w.AccountID),
		PaidAt:         time.Time(w.PaidAt),
		CreatedAt:      time.Time(w.CreatedAt),
		UpdatedAt:      time.Time(w.UpdatedAt),
		Price:          w.Price,
		Change:         w.Change,
		CashierID:      string(w.CashierID),
		CustomersCount: int(w.CustomersCount),
		Raw:            append(json.RawMessage(nil), raw...),
	}
	if c.ID == "" {
		return c, errors.New("checkout without id")
	}
	if w.Status == nil {
		return c, errors.New("checkout without status")
	}
	c.Status = strings.ToLower(strings.TrimSpace(*w.Status))
	if len(w.Items) > maxLines || len(w.Payments) > maxLines {
		return c, fmt.Errorf("checkout with %d items and %d payments", len(w.Items), len(w.Payments))
	}
	for _, it := range w.Items {
		c.Items = append(c.Items, Item{
			MenuItemID: string(it.MenuItemID), Count: int(it.Count),
			Sales: it.Sales, Tax: it.Tax, DiscountSales: it.DiscountSales, DiscountTax: it.DiscountTax,
		})
	}
	for _, p := range w.Payments {
		c.Payments = append(c.Payments, Payment{PaymentTypeID: string(p.PaymentTypeID), Amount: p.Amount})
	}
	return c, nil
}

// ParseCheckouts reads a checkouts response body. A body that is not the
// documented object is an error wrapping ErrMalformed; a single unreadable
// checkout only lands in Page.Invalid.
func ParseCheckouts(body []byte) (Page, error) {
	var w struct {
		Timestamp      *string           `json:"timestamp"`
		NextURL        *string           `json:"next-url"`
		LastUpdatedAt  *string           `json:"last_updated_at"`
		LastUpdatedAt2 *string           `json:"last-updated-at"`
		Checkouts      []json.RawMessage `json:"checkouts"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return Page{}, fmt.Errorf("%w: checkouts: %v", ErrMalformed, err)
	}
	p := Page{Timestamp: deref(w.Timestamp), NextURL: strings.TrimSpace(deref(w.NextURL)),
		LastUpdatedAt: deref(w.LastUpdatedAt)}
	if p.LastUpdatedAt == "" {
		p.LastUpdatedAt = deref(w.LastUpdatedAt2)
	}
	for i, raw := range w.Checkouts {
		c, err := ParseCheckout(raw)
		if err != nil {
			if c.ID == "" {
				var id struct {
					ID flexID `json:"id"`
				}
				_ = json.Unmarshal(raw, &id)
				c.ID = string(id.ID)
			}
			p.Invalid = append(p.Invalid, Invalid{Index: i, ID: c.ID,
				Raw: append(json.RawMessage(nil), raw...), Err: err})
			continue
		}
		p.Checkouts = append(p.Checkouts, c)
	}
	return p, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
