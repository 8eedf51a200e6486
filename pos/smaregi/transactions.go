package smaregi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Range fields of GET /pos/transactions that a Window may use.
const (
	// FieldUpdated selects by updDateTime: new sales and every later
	// cancel, reversal or edit of an older sale. Polling uses it.
	FieldUpdated = "upd_date_time"
	// FieldTransaction selects by transactionDateTime (server receipt
	// time). Backfills of a past range use it.
	FieldTransaction = "transaction_date_time"
	// FieldTerminal selects by terminalTranDateTime (time on the register).
	FieldTerminal = "terminal_tran_date_time"
)

// MaxWindow is the longest range Smaregi answers in one query.
const MaxWindow = 31 * 24 * time.Hour

// jst is fixed rather than loaded so the binary needs no tzdata.
var jst = time.FixedZone("JST", 9*3600)

// TimeLayout is Smaregi's YYYY-MM-DDThh:mm:ssTZD.
const TimeLayout = "2006-01-02T15:04:05-07:00"

// FormatTime renders t as Smaregi wants it in a query, in JST.
func FormatTime(t time.Time) string { return t.In(jst).Format(TimeLayout) }

// Window is a range query. From and To are inclusive and count in whole
// seconds (Smaregi's precision); To-From may be at most MaxWindow.
type Window struct {
	Field    string // FieldUpdated (default), FieldTransaction or FieldTerminal
	From, To time.Time
}

// SplitWindows cuts [from, to] into consecutive windows no longer than
// maxSpan (use MaxWindow): each starts one second after the previous one
// ends, so together they cover every second exactly once. Field is left
// empty for the caller to set.
func SplitWindows(from, to time.Time, maxSpan time.Duration) []Window {
	from, to = from.Truncate(time.Second), to.Truncate(time.Second)
	if maxSpan < time.Second {
		maxSpan = time.Second
	}
	maxSpan = maxSpan.Truncate(time.Second)
	var out []Window
	for !from.After(to) {
		end := from.Add(maxSpan - time.Second)
		if end.After(to) {
			end = to
		}
		out = append(out, Window{From: from, To: end})
		from = end.Add(time.Second)
	}
	return out
}

func (w Window) check() (field, sortKey string, from, to time.Time, err error) {
	field = w.Field
	if field == "" {
		field = FieldUpdated
	}
	switch field {
	case FieldUpdated:
		sortKey = "updDateTime"
	case FieldTransaction:
		sortKey = "transactionDateTime"
	case FieldTerminal:
		sortKey = "terminalTranDateTime"
	default:
		return "", "", from, to, fmt.Errorf("smaregi: unknown window field %q", field)
	}
	from, to = w.From.Truncate(time.Second), w.To.Truncate(time.Second)
	if from.IsZero() || to.IsZero() || to.Before(from) {
		return "", "", from, to, fmt.Errorf("smaregi: bad window %s – %s", FormatTime(from), FormatTime(to))
	}
	if to.Sub(from) > MaxWindow {
		return "", "", from, to, fmt.Errorf("smaregi: window %s – %s is longer than 31 days; split it with SplitWindows", FormatTime(from), FormatTime(to))
	}
	return field, sortKey, from, to, nil
}

// Transaction is one transaction head as Smaregi sends it: every value a
// string ("" for null or absent). Numbers and times are parsed by the
// mapping, which tolerates junk; Raw keeps the object verbatim.
type Transaction struct {
	TransactionHeadID              string
	TransactionDateTime            string
	TerminalTranDateTime           string
	TransactionHeadDivision        string
	CancelDivision                 string
	DisposeDivision                string
	DisposeServerTransactionHeadID string
	ReturnSales                    string
	CancelDateTime                 string
	UpdDateTime                    string
	StoreID                        string
	TerminalID                     string
	TerminalTranID                 string
	TransactionUUID                string
	StaffID                        string
	StaffName                      string
	Subtotal                       string
	Total                          string
	Deposit                        string
	DepositCash                    string
	DepositCredit                  string
	Change                         string
	CashTotal                      string
	CreditTotal                    string
	EnterDateTime                  string
	GuestNumbers                   string
	Memo                           string
	DepositOthers                  []DepositOther
	Details                        []Detail
	Raw                            json.RawMessage
}

// DepositOther is one non-cash, non-credit payment (電子マネー, QR…),
// present with with_deposit_others=all.
type DepositOther struct {
	PaymentMethodID   string
	PaymentMethodName string
	DepositOthers     string // the amount
	PaymentDivision   string
}

// Detail is one line item, present with with_details=all.
type Detail struct {
	TransactionDetailID       string
	TransactionDetailDivision string
	ProductID                 string
	ProductName               string
	Quantity                  string
	SalesPrice                string
	UnitDiscountedSum         string
}

// ParseTransactions decodes a GET /pos/transactions body: a JSON array of
// transaction objects. Syntax errors and elements that are not objects are
// errors (the response is broken and worth a retry); odd field values are
// not (see Transaction).
func ParseTransactions(data []byte) ([]Transaction, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(data, &elems); err != nil {
		return nil, fmt.Errorf("transactions: %w", err)
	}
	out := make([]Transaction, 0, len(elems))
	for i, e := range elems {
		t, err := ParseTransaction(e)
		if err != nil {
			return nil, fmt.Errorf("transactions[%d]: %w", i, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// ParseTransaction decodes one transaction object (GET
// /pos/transactions/{id} answers with one).
func ParseTransaction(data []byte) (Transaction, error) {
	var m map[string]json.RawMessage
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return Transaction{}, errors.New("not a JSON object")
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return Transaction{}, err
	}
	s := func(k string) string { return strings.TrimSpace(rawString(m[k])) }
	t := Transaction{
		TransactionHeadID:              s("transactionHeadId"),
		TransactionDateTime:            s("transactionDateTime"),
		TerminalTranDateTime:           s("terminalTranDateTime"),
		TransactionHeadDivision:        s("transactionHeadDivision"),
		CancelDivision:                 s("cancelDivision"),
		DisposeDivision:                s("disposeDivision"),
		DisposeServerTransactionHeadID: s("disposeServerTransactionHeadId"),
		ReturnSales:                    s("returnSales"),
		CancelDateTime:                 s("cancelDateTime"),
		UpdDateTime:                    s("updDateTime"),
		StoreID:                        s("storeId"),
		TerminalID:                     s("terminalId"),
		TerminalTranID:                 s("terminalTranId"),
		TransactionUUID:                s("transactionUuid"),
		StaffID:                        s("staffId"),
		StaffName:                      s("staffName"),
		Subtotal:                       s("subtotal"),
		Total:                          s("total"),
		Deposit:                        s("deposit"),
		DepositCash:                    s("depositCash"),
		DepositCredit:                  s("depositCredit"),
		Change:                         s("change"),
		CashTotal:                      s("cashTotal"),
		CreditTotal:                    s("creditTotal"),
		EnterDateTime:                  s("enterDateTime"),
		GuestNumbers:                   s("guestNumbers"),
		Memo:                           s("memo"),
		Raw:                            json.RawMessage(append([]byte(nil), data...)),
	}
	for _, o := range objects(m["depositOthers"]) {
		t.DepositOthers = append(t.DepositOthers, DepositOther{
			PaymentMethodID:   strings.TrimSpace(rawString(o["paymentMethodId"])),
			PaymentMethodName: strings.TrimSpace(rawString(o["paymentMethodName"])),
			DepositOthers:     strings.TrimSpace(rawString(o["depositOthers"])),
			PaymentDivision:   strings.TrimSpace(rawString(o["paymentDivision"])),
		})
	}
	for _, o := range objects(m["details"]) {
		t.Details = append(t.Details, Detail{
			TransactionDetailID:       strings.TrimSpace(rawString(o["transactionDetailId"])),
			TransactionDetailDivision: strings.TrimSpace(rawString(o["transactionDetailDivision"])),
			ProductID:                 strings.TrimSpace(rawString(o["productId"])),
			ProductName:               strings.TrimSpace(rawString(o["productName"])),
			Quantity:                  strings.TrimSpace(rawString(o["quantity"])),
			SalesPrice:                strings.TrimSpace(rawString(o["salesPrice"])),
			UnitDiscountedSum:         strings.TrimSpace(rawString(o["unitDiscountedSum"])),
		})
	}
	return t, nil
}

// objects reads an array of objects, skipping anything else in it.
func objects(r json.RawMessage) []map[string]json.RawMessage {
	if len(r) == 0 || r[0] != '[' {
		return nil
	}
	var elems []json.RawMessage
	if json.Unmarshal(r, &elems) != nil {
		return nil
	}
	var out []map[string]json.RawMessage
	for _, e := range elems {
		var o map[string]json.RawMessage
		if len(e) > 0 && e[0] == '{' && json.Unmarshal(e, &o) == nil {
			out = append(out, o)
		}
	}
	return out
}

// maxPages stops a provider that keeps offering a next page.
const maxPages = 10000

// Transactions reads every transaction in w (optionally of one store),
// following pagination, deduplicated by transactionHeadId (the latest
// updDateTime wins). Smaregi has no terminal filter: filter on TerminalID.
func (c *Client) Transactions(ctx context.Context, w Window, storeID string) ([]Transaction, error) {
	field, sortKey, from, to, err := w.check()
	if err != nil {
		return nil, err
	}
	limit := 1000
	q := url.Values{}
	q.Set(field+"-from", FormatTime(from))
	q.Set(field+"-to", FormatTime(to))
	// The range field first, as Smaregi recommends; the id breaks ties so
	// pages are stable.
	q.Set("sort", sortKey+":asc,transactionHeadId:asc")
	q.Set("with_deposit_others", "all")
	if c.cfg.Items {
		limit = 100 // Smaregi's cap with details
		q.Set("with_details", "all")
	} else {
		q.Set("with_details", "none")
	}
	q.Set("limit", strconv.Itoa(limit))
	if storeID != "" {
		q.Set("store_id", storeID)
	}
	base := c.api.JoinPath(c.cfg.ContractID, "pos", "transactions")

	byID := map[string]int{}
	var out []Transaction
	visited := map[string]bool{}
	page := 1
	next := ""
	for n := 0; ; n++ {
		if n >= maxPages {
			return nil, fmt.Errorf("smaregi: more than %d pages in one window", maxPages)
		}
		target := next
		if target == "" {
			q.Set("page", strconv.Itoa(page))
			u := *base
			u.RawQuery = q.Encode()
			target = u.String()
		}
		if visited[target] {
			return nil, fmt.Errorf("smaregi: pagination loops at %s", redact(target))
		}
		visited[target] = true

		var batch []Transaction
		var link string
		var hasLink bool
		if _, err := c.get(ctx, target, false, func(h http.Header, body []byte) error {
			var err error
			batch, err = ParseTransactions(body)
			link, hasLink = nextLink(h, target)
			return err
		}); err != nil {
			return nil, err
		}
		for _, t := range batch {
			if t.TransactionHeadID == "" {
				out = append(out, t) // the mapping reports it; keep it visible
				continue
			}
			if i, ok := byID[t.TransactionHeadID]; ok {
				if !parseTime(t.UpdDateTime).Before(parseTime(out[i].UpdDateTime)) {
					out[i] = t
				}
				continue
			}
			byID[t.TransactionHeadID] = len(out)
			out = append(out, t)
		}
		switch {
		case hasLink && link != "":
			// Count pages too, in case a later page drops the Link header.
			next = link
			page++
		case hasLink:
			return out, nil // Link mode and no rel="next": the last page
		case len(batch) < limit:
			return out, nil
		default:
			next = ""
			page++
		}
	}
}

// nextLink reads rel="next" from Link headers. hasLink tells whether the
// response used Link pagination at all; a next URL is resolved against the
// request URL.
func nextLink(h http.Header, requestURL string) (next string, hasLink bool) {
	for _, v := range h.Values("Link") {
		for _, part := range splitLinks(v) {
			hasLink = true
			lt, gt := strings.IndexByte(part, '<'), strings.IndexByte(part, '>')
			if lt < 0 || gt < lt {
				continue
			}
			ref := part[lt+1 : gt]
			for _, p := range strings.Split(part[gt+1:], ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
					if strings.EqualFold(rel, "next") {
						base, err := url.Parse(requestURL)
						if err != nil {
							return "", true
						}
						u, err := base.Parse(ref)
						if err != nil {
							return "", true
						}
						return u.String(), true
					}
				}
			}
		}
	}
	return "", hasLink
}

// splitLinks splits a Link header on the commas between links, not those
// inside <…>.
func splitLinks(v string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '<':
			depth++
		case '>':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				if p := strings.TrimSpace(v[start:i]); p != "" {
					parts = append(parts, p)
				}
				start = i + 1
			}
		}
	}
	if p := strings.TrimSpace(v[start:]); p != "" {
		parts = append(parts, p)
	}
	return parts
}

var idPattern = regexp.MustCompile(`^[0-9A-Za-z_-]{1,40}$`)

// Get fetches transactions by transactionHeadId (GET
// /pos/transactions/{id}), as a webhook asks. missing lists the ids Smaregi
// no longer has (404): deleted, or never this contract's.
func (c *Client) Get(ctx context.Context, ids []string) (found []Transaction, missing []string, err error) {
	seen := map[string]bool{}
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if seen[id] {
			continue
		}
		seen[id] = true
		if !idPattern.MatchString(id) {
			return found, missing, fmt.Errorf("smaregi: bad transaction id %q", clip(id, 50))
		}
		u := c.api.JoinPath(c.cfg.ContractID, "pos", "transactions", id)
		q := url.Values{"with_deposit_others": {"all"}}
		if c.cfg.Items {
			q.Set("with_details", "all")
		} else {
			q.Set("with_details", "none")
		}
		u.RawQuery = q.Encode()
		var t Transaction
		status, err := c.get(ctx, u.String(), true, func(_ http.Header, body []byte) error {
			var err error
			t, err = ParseTransaction(body)
			return err
		})
		if err != nil {
			return found, missing, err
		}
		if status == http.StatusNotFound {
			missing = append(missing, id)
			continue
		}
		if t.TransactionHeadID == "" {
			t.TransactionHeadID = id
		}
		found = append(found, t)
	}
	return found, missing, nil
}

// Store is a shop of the contract.
type Store struct {
	ID   string // storeId
	Name string // storeName
	Code string // storeCode
}

// Stores lists the contract's stores (scope pos.stores:read).
func (c *Client) Stores(ctx context.Context) ([]Store, error) {
	const limit = 1000
	base := c.api.JoinPath(c.cfg.ContractID, "pos", "stores")
	var out []Store
	page := 1
	next := ""
	visited := map[string]bool{}
	for n := 0; n < maxPages; n++ {
		target := next
		if target == "" {
			u := *base
			u.RawQuery = url.Values{"limit": {strconv.Itoa(limit)}, "page": {strconv.Itoa(page)}}.Encode()
			target = u.String()
		}
		if visited[target] {
			return nil, fmt.Errorf("smaregi: pagination loops at %s", redact(target))
		}
		visited[target] = true
		var batch []Store
		var link string
		var hasLink bool
		var got int
		if _, err := c.get(ctx, target, false, func(h http.Header, body []byte) error {
			var elems []map[string]json.RawMessage
			if err := json.Unmarshal(body, &elems); err != nil {
				return fmt.Errorf("stores: %w", err)
			}
			batch, got = batch[:0], len(elems)
			for _, e := range elems {
				if s := (Store{ID: strings.TrimSpace(rawString(e["storeId"])), Name: clip(strings.TrimSpace(rawString(e["storeName"])), 200),
					Code: strings.TrimSpace(rawString(e["storeCode"]))}); s.ID != "" {
					batch = append(batch, s)
				}
			}
			link, hasLink = nextLink(h, target)
			return nil
		}); err != nil {
			return nil, err
		}
		out = append(out, batch...)
		switch {
		case hasLink && link != "":
			// Count pages too, in case a later page drops the Link header.
			next = link
			page++
		case hasLink:
			return out, nil
		case got < limit:
			return out, nil
		default:
			next = ""
			page++
		}
	}
	return nil, fmt.Errorf("smaregi: more than %d pages of stores", maxPages)
}
