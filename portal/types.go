package portal

import (
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/pulid"
)

// LinkSetting is one row of the portal's link tables: a register of a POS
// connection and the camera watching it now. Terminal is nil for a
// connection without registers yet.
type LinkSetting struct {
	ID                 pulid.ID
	Connection         *ent.PosConnection
	Provider           posconnection.Provider
	ContractID         string
	SecretHint         string
	Terminal           *ent.Terminal
	TerminalExternalID string
	TerminalName       string
	Link               *ent.Link
	Camera             *ent.Camera
	CameraLabel        string
	Status             posconnection.Status
	LastSyncAt         *time.Time
	LastError          string
}

// AddSmaregiLinkInput is the スマレジ連携を追加 form.
type AddSmaregiLinkInput struct {
	ContractID   string
	ClientID     string
	ClientSecret string
	TerminalID   string // 端末ID, the register's id in Smaregi
	CameraID     pulid.ID
}

// TerminalCameraInput is one register's camera choice; a nil CameraID
// ends its link.
type TerminalCameraInput struct {
	TerminalID pulid.ID
	CameraID   *pulid.ID
}

// UbiregiAuthorization is where the owner's browser goes to connect an
// Ubiregi account.
type UbiregiAuthorization struct {
	AuthorizeURL string
	ExpiresAt    time.Time
}
