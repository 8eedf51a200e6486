package ubiregi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Account is the Ubiregi account a token belongs to: one register.
type Account struct {
	ID       string
	Name     string
	Timezone string
	// PaymentTypes and Cashiers map ids to display names.
	PaymentTypes map[string]string
	Cashiers     map[string]string
}

// Names are the display names Records uses for this account.
func (a Account) Names() Names {
	return Names{AccountName: a.Name, PaymentTypes: a.PaymentTypes, Cashiers: a.Cashiers}
}

// Account fetches GET /accounts/current.
func (c *Client) Account(ctx context.Context, tok Token) (Account, error) {
	body, err := c.get(ctx, tok, c.apiURL("/accounts/current", nil))
	if err != nil {
		return Account{}, err
	}
	return ParseAccount(body)
}

type named struct {
	ID   flexID `json:"id"`
	Name string `json:"name"`
}

// ParseAccount reads an /accounts/current body.
func ParseAccount(body []byte) (Account, error) {
	var w struct {
		Account *struct {
			ID           flexID  `json:"id"`
			Name         string  `json:"name"`
			Timezone     string  `json:"timezone"`
			PaymentTypes []named `json:"payment_types"`
			Cashiers     []named `json:"cashiers"`
		} `json:"account"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return Account{}, fmt.Errorf("%w: account: %v", ErrMalformed, err)
	}
	if w.Account == nil || w.Account.ID == "" {
		return Account{}, fmt.Errorf("%w: account without id", ErrMalformed)
	}
	a := Account{ID: string(w.Account.ID), Name: w.Account.Name, Timezone: w.Account.Timezone,
		PaymentTypes: map[string]string{}, Cashiers: map[string]string{}}
	for _, p := range w.Account.PaymentTypes {
		a.PaymentTypes[string(p.ID)] = p.Name
	}
	for _, p := range w.Account.Cashiers {
		a.Cashiers[string(p.ID)] = p.Name
	}
	return a, nil
}

func (c *Client) apiURL(path string, q url.Values) string {
	u := *c.apiBase
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return u.String()
}

// Checkouts fetches one page of checkouts updated since the cursor (an
// earlier Page.Timestamp; empty: from the beginning). Config.Overlap is
// subtracted from since before asking.
func (c *Client) Checkouts(ctx context.Context, tok Token, since string) (Page, error) {
	q := url.Values{}
	if since = strings.TrimSpace(since); since != "" {
		if t, err := ParseTime(since); err == nil && c.cfg.Overlap > 0 {
			since = FormatTime(t.Add(-c.cfg.Overlap))
		}
		q.Set("since", since)
	}
	return c.page(ctx, tok, c.apiURL("/accounts/current/checkouts", q))
}

// NextPage follows a Page.NextURL.
func (c *Client) NextPage(ctx context.Context, tok Token, next string) (Page, error) {
	u, err := c.sameOrigin(next)
	if err != nil {
		return Page{}, err
	}
	return c.page(ctx, tok, u)
}

func (c *Client) page(ctx context.Context, tok Token, u string) (Page, error) {
	body, err := c.get(ctx, tok, u)
	if err != nil {
		return Page{}, err
	}
	return ParseCheckouts(body)
}

// sameOrigin resolves a next-url and refuses one that leaves the API: we
// would be sending the shop's token to whoever it names.
func (c *Client) sameOrigin(next string) (string, error) {
	ref, err := url.Parse(next)
	if err != nil {
		return "", fmt.Errorf("%w: next-url: %v", ErrMalformed, err)
	}
	u := c.apiBase.ResolveReference(ref)
	if u.Scheme != c.apiBase.Scheme || u.Host != c.apiBase.Host ||
		!strings.HasPrefix(u.Path, strings.TrimRight(c.apiBase.Path, "/")+"/") {
		return "", fmt.Errorf("%w: next-url %q leaves %s", ErrMalformed, next, c.apiBase)
	}
	return u.String(), nil
}

// Batch is the outcome of one complete poll.
type Batch struct {
	Checkouts []Checkout
	Invalid   []Invalid
	// Since is the cursor for the next poll: the timestamp of the last
	// page. Empty when the poll did not finish: keep the old cursor.
	Since string
	// Token is the token in use after the poll; Sync may have refreshed it.
	Token Token
}

// All polls every checkout updated since the cursor, following next-url
// until it is absent. On error it returns what it fetched so far with an
// empty Since: those checkouts may be ingested (ingest is idempotent), but
// the cursor must not move.
func (c *Client) All(ctx context.Context, tok Token, since string) (Batch, error) {
	b := Batch{Token: tok}
	p, err := c.Checkouts(ctx, tok, since)
	seen := map[string]bool{}
	for pages := 1; ; pages++ {
		if err != nil {
			return b, err
		}
		b.Checkouts = append(b.Checkouts, p.Checkouts...)
		b.Invalid = append(b.Invalid, p.Invalid...)
		if p.NextURL == "" {
			break
		}
		if seen[p.NextURL] || pages >= c.cfg.MaxPages {
			return b, fmt.Errorf("%w: next-url does not end (%d pages)", ErrMalformed, pages)
		}
		seen[p.NextURL] = true
		p, err = c.NextPage(ctx, tok, p.NextURL)
	}
	// A cursor we cannot read back would be stored and then poison every
	// later poll, so it is checked here, before anyone stores it.
	if _, err := ParseTime(p.Timestamp); err != nil {
		return b, fmt.Errorf("%w: checkouts timestamp: %v", ErrMalformed, err)
	}
	b.Since = p.Timestamp
	return b, nil
}

// Sync is All with token upkeep: it refreshes a token that is about to
// expire or that the API rejects (once), and hands every new token to save
// before using it, because a rotated refresh token exists nowhere else. A
// refused refresh returns an error wrapping pos.ErrAuth (NEEDS_REAUTH).
func (c *Client) Sync(ctx context.Context, tok Token, since string, save func(Token) error) (Batch, error) {
	refreshed := false
	refresh := func() error {
		t, err := c.Refresh(ctx, tok.RefreshToken)
		if err != nil {
			return err
		}
		if err := save(t); err != nil {
			return fmt.Errorf("ubiregi: store refreshed token: %w", err)
		}
		tok, refreshed = t, true
		return nil
	}
	if tok.NeedsRefresh(c.cfg.Now()) {
		if err := refresh(); err != nil {
			return Batch{Token: tok}, err
		}
	}
	b, err := c.All(ctx, tok, since)
	if errors.Is(err, ErrTokenExpired) && !refreshed {
		if err := refresh(); err != nil {
			return Batch{Token: tok}, err
		}
		b, err = c.All(ctx, tok, since)
	}
	if errors.Is(err, ErrTokenExpired) {
		// A token fresh from the token endpoint that the API still refuses:
		// the app was uninstalled or the account locked.
		err = &AuthError{Code: "unauthorized", Description: err.Error()}
	}
	b.Token = tok
	return b, err
}
