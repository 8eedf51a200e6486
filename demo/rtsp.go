package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/privacy"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pulid"
)

// The demo's RTSP camera (--demo-rtsp): an ffmpeg H.264 camera on this
// machine, filming a register of its own so its receipts have clips.
const (
	RTSPDeviceID     = "demo-rtsp-ffmpeg"
	rtspCameraName   = "RTSPカメラ (ffmpeg)"
	rtspTerminalID   = "4"
	rtspTerminalName = "レジ4"
)

// SeedRTSP makes the demo tenant's RTSP camera read from url (a new port
// every start) and links register レジ4 to it; with url empty it retires
// the camera and ends the link, so a run without --demo-rtsp leaves no
// camera that can never connect. It returns the camera's id ("" when
// retired or never made).
func SeedRTSP(ctx context.Context, client *ent.Client, accountID pulid.ID, url string) (pulid.ID, error) {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	now := time.Now().UTC()
	cam, err := client.Camera.Query().Where(camera.AccountID(accountID), camera.DeviceID(RTSPDeviceID)).Only(ctx)
	if ent.IsNotFound(err) {
		if url == "" {
			return "", nil
		}
		cam, err = client.Camera.Create().SetAccountID(accountID).SetName(rtspCameraName).SetModel("ffmpeg").
			SetDeviceID(RTSPDeviceID).SetPosOption(true).SetSourceKind(camera.SourceKindRTSP).SetSourceURL(url).Save(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("demo rtsp camera: %w", err)
	}
	if url == "" {
		if cam.RetiredAt == nil {
			if err := client.Camera.UpdateOneID(cam.ID).SetRetiredAt(now).Exec(ctx); err != nil {
				return "", fmt.Errorf("retire demo rtsp camera: %w", err)
			}
		}
		if _, err := client.Link.Update().Where(link.CameraID(cam.ID), link.EndedAtIsNil()).SetEndedAt(now).Save(ctx); err != nil {
			return "", fmt.Errorf("end demo rtsp link: %w", err)
		}
		return "", nil
	}
	if err := client.Camera.UpdateOneID(cam.ID).SetSourceURL(url).ClearRetiredAt().Exec(ctx); err != nil {
		return "", fmt.Errorf("demo rtsp camera url: %w", err)
	}
	conn, err := client.PosConnection.Query().Where(posconnection.AccountID(accountID),
		posconnection.ProviderEQ(posconnection.ProviderPARTNER), posconnection.ContractID(ContractID)).Only(ctx)
	if err != nil {
		return "", fmt.Errorf("demo connection: %w", err)
	}
	term, err := client.Terminal.Query().Where(terminal.ConnectionID(conn.ID), terminal.ExternalID(rtspTerminalID)).Only(ctx)
	if ent.IsNotFound(err) {
		sh, serr := client.Shop.Query().Where(shop.AccountID(accountID), shop.Name(ShopName)).First(ctx)
		if serr != nil {
			return "", fmt.Errorf("demo shop: %w", serr)
		}
		term, err = client.Terminal.Create().SetAccountID(accountID).SetConnectionID(conn.ID).SetShopID(sh.ID).
			SetExternalID(rtspTerminalID).SetName(rtspTerminalName).Save(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("demo rtsp register: %w", err)
	}
	active, err := client.Link.Query().Where(link.TerminalID(term.ID), link.EndedAtIsNil()).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		_, err = client.Link.Create().SetAccountID(accountID).SetTerminalID(term.ID).SetCameraID(cam.ID).SetCreatedAt(now).Save(ctx)
	case err == nil && active.CameraID != cam.ID:
		// The user linked レジ4 elsewhere: theirs to keep.
	}
	if err != nil {
		return "", fmt.Errorf("link demo rtsp register: %w", err)
	}
	return cam.ID, nil
}
