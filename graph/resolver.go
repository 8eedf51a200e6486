// Package graph holds the GraphQL resolvers. They stay thin: each calls a
// service (ingest, journal, feed, auth, portal, alerts …) where the business
// rules live (docs/ARCHITECTURE.md); errors leave through one presenter
// (errors.go).
package graph

import (
	"context"
	"time"

	"github.com/regicam/regicam/sharelink"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pagecache"
	"github.com/regicam/regicam/portal"
	"github.com/regicam/regicam/pos/polling"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/reports"
)

// Resolver is the resolver root.
type Resolver struct {
	Client *ent.Client
	// Auth signs viewers in and out (login, users, API keys).
	Auth      *auth.Service
	Ingester  *ingest.Ingester
	Hub       *feed.Hub
	Recorders RecorderStatus // nil: no camera is recorded
	Thumbs    BlobReader     // nil: thumbnails are off
	// Cameras adds, changes, retires and tests the account's cameras.
	Cameras *registry.Service
	// Connectors polls POS providers; nil when disabled.
	Connectors *polling.Runtime
	// Portal is the link portal: cameras, connections, registers and links.
	Portal *portal.Service
	// Reports computes sales summaries; Exports tracks CSV export progress; Alerts owns exception rules.
	Reports *reports.Service
	Exports *export.Progress
	Alerts  *alerts.Service
	// CameraCloud keeps the camera-cloud connections (Safie); nil: their
	// fields answer UNAVAILABLE.
	CameraCloud *camcloud.Service
	// CloudRecordings answers Camera.recordings (camcloud/pictures); nil:
	// every camera answers source NONE.
	CloudRecordings CloudRecordings
	// Footage is regicam's own recording (footage/playback.Player over
	// footage.Service): LOCAL clips, spans, status and settings; nil: no
	// recording on this server (graph/footage.go).
	Footage Footage
	// JournalPages serves the journal's first pages from memory; nil: every
	// page reads the database.
	JournalPages *pagecache.Cache
	// ShareLinks makes, lists and revokes share links; nil: a service over
	// Client whose URLs are paths.
	ShareLinks *sharelink.Service
}

// CloudRecordings is what a camera recorded in a window, from the camera
// cloud for a CLOUD camera (*pictures.Service).
type CloudRecordings interface {
	Recordings(ctx context.Context, cameraID pulid.ID, from, to time.Time) (pictures.Recordings, error)
}

// RecorderStatus reports what this process's recorders see.
type RecorderStatus interface {
	Status(id pulid.ID) (camera.Status, bool)
}

// BlobReader reads stored thumbnails.
type BlobReader interface {
	Blob(ctx context.Context, key string) ([]byte, error)
}

// ThumbnailPath is where the HTTP server serves a thumbnail.
func ThumbnailPath(t *ent.Thumbnail) string { return "/thumbnails/" + string(t.ID) }
