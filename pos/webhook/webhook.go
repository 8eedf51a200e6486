// Package webhook receives pushed POS data: Smaregi's pos:transactions
// notifications (authenticated by a per-connection secret in the URL, then
// re-fetched with the connection's own token) and signed webhooks from card
// terminals and partners (HMAC of the body). Nothing is stored from a
// request that fails authentication.
package webhook

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/polling"
	"github.com/regicam/regicam/pos/signedhook"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
)

// PushFetcher turns a provider notification into records; Smaregi's
// webhooks carry only ids, so it fetches them with the connection's token.
type PushFetcher interface {
	FetchPushed(ctx context.Context, c *ent.PosConnection, header http.Header, body []byte) ([]pos.Record, error)
}

// Handler serves the webhook endpoints.
type Handler struct {
	Client  *ent.Client
	Box     *secrets.Box
	Runtime *polling.Runtime
	Smaregi PushFetcher // nil: Smaregi webhooks are refused
	Log     *slog.Logger
	Now     func() time.Time
}

// NewSecret creates and seals a new webhook secret for c and returns the
// endpoint path and the secret in clear (shown to the owner once).
func NewSecret(ctx context.Context, client *ent.Client, box *secrets.Box, c *ent.PosConnection) (path, secret string, err error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", "", err
	}
	secret = base64.RawURLEncoding.EncodeToString(raw)
	sealed, err := box.Seal([]byte(secret), secrets.POSWebhookSecretAAD(c.ID))
	if err != nil {
		return "", "", err
	}
	if err := client.PosConnection.UpdateOneID(c.ID).SetWebhookSecret(sealed).Exec(ctx); err != nil {
		return "", "", fmt.Errorf("save webhook secret: %w", err)
	}
	if c.Provider == posconnection.ProviderSMAREGI {
		return "/webhooks/smaregi/" + string(c.ID) + "/" + secret, secret, nil
	}
	return "/webhooks/signed/" + string(c.ID), secret, nil
}

// Register adds the endpoints to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /webhooks/smaregi/{id}/{secret}", h.smaregi)
	mux.HandleFunc("POST /webhooks/signed/{id}", h.signed)
}

func (h *Handler) connection(ctx context.Context, id string, providers ...posconnection.Provider) (*ent.PosConnection, []byte, bool) {
	if !pulid.Valid(id, "PC") {
		return nil, nil, false
	}
	c, err := h.Client.PosConnection.Query().Where(posconnection.ID(pulid.ID(id)), posconnection.ProviderIn(providers...)).Only(ctx)
	if err != nil || len(c.WebhookSecret) == 0 {
		return nil, nil, false
	}
	secret, err := h.Box.Open(c.WebhookSecret, secrets.POSWebhookSecretAAD(c.ID))
	if err != nil {
		h.Log.Error("webhook secret does not open", "connection", c.ID, "err", err)
		return nil, nil, false
	}
	return c, secret, true
}

// smaregi: the secret in the path is the only authentication Smaregi
// offers; the ids are then fetched with our own token, so a forged body can
// at most make us re-read real transactions.
func (h *Handler) smaregi(w http.ResponseWriter, r *http.Request) {
	const provider = "smaregi"
	c, secret, ok := h.connection(r.Context(), r.PathValue("id"), posconnection.ProviderSMAREGI)
	if !ok || h.Smaregi == nil {
		metrics.WebhookRejected(provider, metrics.RejectUnknownConnection)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if subtle.ConstantTimeCompare(secret, []byte(r.PathValue("secret"))) != 1 {
		metrics.WebhookRejected(provider, metrics.RejectSecret)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := readBody(r)
	if err != nil {
		metrics.WebhookRejected(provider, metrics.RejectBody)
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	recs, err := h.Smaregi.FetchPushed(r.Context(), c, r.Header, body)
	if err != nil {
		metrics.WebhookRejected(provider, metrics.RejectFetch)
		h.Log.Warn("smaregi webhook", "connection", c.ID, "err", err)
		// 5xx makes Smaregi deliver again; duplicates are harmless.
		http.Error(w, "could not fetch the notified transactions", http.StatusBadGateway)
		return
	}
	h.ingest(w, r, c, recs, nil)
}

func (h *Handler) signed(w http.ResponseWriter, r *http.Request) {
	c, secret, ok := h.connection(r.Context(), r.PathValue("id"), posconnection.ProviderWEBHOOK, posconnection.ProviderPARTNER)
	if !ok {
		metrics.WebhookRejected("signed", metrics.RejectUnknownConnection)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := signedhook.VerifyRequest(r, secret, h.now())
	if err != nil {
		metrics.WebhookRejected(providerOf(c), metrics.RejectSignature)
		http.Error(w, "unauthorized: "+err.Error(), http.StatusUnauthorized)
		return
	}
	recs, err := signedhook.Parse(body)
	signedhook.Arrived(recs, h.now()) // a clock sample per record (regclock)
	var items signedhook.ItemErrors
	if err != nil && !errors.As(err, &items) {
		metrics.WebhookRejected(providerOf(c), metrics.RejectPayload)
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	h.ingest(w, r, c, recs, items)
}

func (h *Handler) ingest(w http.ResponseWriter, r *http.Request, c *ent.PosConnection, recs []pos.Record, rejected signedhook.ItemErrors) {
	// Records refused past parsing (a register over the connection's
	// limit, a value ingest refuses) are reported too: a sender retrying
	// them would be refused again.
	refused, err := h.Runtime.Deliver(r.Context(), c, recs)
	if err != nil {
		metrics.WebhookRejected(providerOf(c), metrics.RejectStore)
		h.Log.Error("webhook ingest", "connection", c.ID, "err", err)
		http.Error(w, "could not store the transactions; deliver again", http.StatusServiceUnavailable)
		return
	}
	out := map[string]any{"accepted": len(recs) - len(refused)}
	for range len(rejected) + len(refused) {
		metrics.WebhookRejected(providerOf(c), metrics.RejectItem)
	}
	if len(rejected)+len(refused) > 0 {
		msgs := make([]string, 0, len(rejected)+len(refused))
		for _, e := range rejected {
			msgs = append(msgs, e.Error())
		}
		for _, e := range refused {
			msgs = append(msgs, e.Error())
		}
		out["rejected"] = msgs
	}
	writeJSON(w, http.StatusOK, out)
}

// providerOf is the provider label of c's metrics (smaregi, webhook,
// partner): a bounded set, the connection's own kind.
func providerOf(c *ent.PosConnection) string { return strings.ToLower(string(c.Provider)) }

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

const maxBody = 1 << 20

func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, maxBody))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
