// Package pos is what every POS provider shares: the Record a provider
// client produces, the errors that mark a connection NEEDS_REAUTH, and the
// contracts a provider implements for the poll runtime in pos/polling
// (Source, Backfiller, Reconciler, Factory in source.go), which resolves a
// record's terminal and shop and hands it to ingest (docs/ARCHITECTURE.md).
package pos

import (
	"errors"

	"github.com/regicam/regicam/ingest"
)

// Record is one journal line read from a provider. Receipt.TerminalID is
// left empty: the runtime fills it from TerminalExternalID.
type Record struct {
	// TerminalExternalID is the provider's register id (Smaregi terminalId;
	// for Ubiregi, whose account is one register, the account id).
	TerminalExternalID string
	// StoreExternalID and StoreName name the shop the register is in, when
	// the provider says.
	StoreExternalID string
	StoreName       string
	Receipt         ingest.Receipt
}

// ErrAuth means the provider refused our credentials: the connection needs
// the owner to re-enter them (status NEEDS_REAUTH), retrying will not help.
var ErrAuth = errors.New("pos: provider rejected the credentials")

// ErrLegacyCredentials marks a Smaregi connection that still holds an
// access token of the API retired on 2026-01-24.
var ErrLegacyCredentials = errors.New("pos: legacy Smaregi access token; enter 契約ID + クライアントID + クライアントシークレット")
