package smaregi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Webhook event and actions of Smaregi's pos:transactions notification.
const (
	EventTransactions = "pos:transactions"

	ActionCreated     = "created"
	ActionEdited      = "edited"
	ActionCanceled    = "canceled"
	ActionDisposed    = "disposed"
	ActionDeleted     = "deleted"
	ActionBulkDeleted = "bulk-deleted"
	ActionBulkUpdate  = "bulk-update"
)

// Webhook is a parsed notification. It only names ids: Smaregi signs
// nothing, so the content is always re-fetched with the connection's own
// token (Client.Get) and a forged call can at worst cause a fetch.
type Webhook struct {
	ContractID string
	Event      string
	Action     string
	IDs        []string // transactionHeadIds, deduplicated, in order
	EventID    string   // Smaregi-Event-Id; the same event may be delivered again
}

// IsDeletion reports whether the action removes the ids at Smaregi.
func (w Webhook) IsDeletion() bool {
	return w.Action == ActionDeleted || w.Action == ActionBulkDeleted
}

// maxWebhookBody bounds a notification; a bulk action lists ids only.
const maxWebhookBody = 1 << 20

// maxWebhookIDs bounds the fetches one notification can cause.
const maxWebhookIDs = 10000

// ParseWebhook reads a Smaregi webhook: headers Smaregi-Event,
// Smaregi-Contract-Id, Smaregi-Event-Id and a JSON body
// {"contractId","event","action","transactionHeadIds":[…]}. Header and body
// must agree where both are present. Actions it does not know are returned
// as they are: re-fetching the ids is right for any of them.
func ParseWebhook(header http.Header, body []byte) (Webhook, error) {
	if len(body) > maxWebhookBody {
		return Webhook{}, fmt.Errorf("smaregi webhook: body over %d bytes", maxWebhookBody)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return Webhook{}, errors.New("smaregi webhook: body is not a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return Webhook{}, fmt.Errorf("smaregi webhook: %w", err)
	}
	w := Webhook{
		ContractID: strings.TrimSpace(rawString(m["contractId"])),
		Event:      strings.TrimSpace(rawString(m["event"])),
		Action:     strings.ToLower(strings.TrimSpace(rawString(m["action"]))),
		EventID:    clip(strings.TrimSpace(header.Get("Smaregi-Event-Id")), 100),
	}
	if w.ContractID == "" {
		// Smaregi's own sample once spelled it contactId.
		w.ContractID = strings.TrimSpace(rawString(m["contactId"]))
	}
	for _, h := range []struct {
		name, header string
		field        *string
	}{
		{"contract id", "Smaregi-Contract-Id", &w.ContractID},
		{"event", "Smaregi-Event", &w.Event},
	} {
		hv := strings.TrimSpace(header.Get(h.header))
		switch {
		case *h.field == "":
			*h.field = hv
		case hv != "" && hv != *h.field:
			return Webhook{}, fmt.Errorf("smaregi webhook: %s header %q disagrees with body %q", h.name, clip(hv, 100), clip(*h.field, 100))
		}
	}
	switch {
	case w.ContractID == "":
		return Webhook{}, errors.New("smaregi webhook: no contract id")
	case w.Event == "":
		return Webhook{}, errors.New("smaregi webhook: no event")
	case w.Action == "":
		return Webhook{}, errors.New("smaregi webhook: no action")
	}
	w.ContractID, w.Event, w.Action = clip(w.ContractID, 100), clip(w.Event, 100), clip(w.Action, 50)
	if w.Event != EventTransactions {
		return w, nil // other events carry other id lists; the caller ignores them
	}
	raw, ok := m["transactionHeadIds"]
	if !ok || len(raw) == 0 || raw[0] == 'n' {
		return w, nil
	}
	var ids []json.RawMessage
	if err := json.Unmarshal(raw, &ids); err != nil {
		return Webhook{}, errors.New("smaregi webhook: transactionHeadIds is not an array")
	}
	if len(ids) > maxWebhookIDs {
		return Webhook{}, fmt.Errorf("smaregi webhook: more than %d ids", maxWebhookIDs)
	}
	seen := map[string]bool{}
	for _, r := range ids {
		id := strings.TrimSpace(rawString(r))
		if !idPattern.MatchString(id) {
			return Webhook{}, fmt.Errorf("smaregi webhook: bad transaction id %s", clip(string(r), 50))
		}
		if !seen[id] {
			seen[id] = true
			w.IDs = append(w.IDs, id)
		}
	}
	return w, nil
}
