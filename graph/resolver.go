// Package graph holds the GraphQL resolvers. They stay thin: business rules
// live in ingest, journal and feed.
package graph

import (
	"context"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/connector"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/portal"
	smaregiconnect "github.com/regicam/regicam/pos/smaregi/connect"
	"github.com/regicam/regicam/reports"
	"github.com/regicam/regicam/secrets"
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
	Connectors *connector.Runtime
	// Secrets seals credentials and webhook secrets.
	Secrets *secrets.Box
	// Smaregi checks and stores Smaregi credentials.
	Smaregi *smaregiconnect.Connector
	// Portal is the link portal: cameras, connections, registers and links.
	Portal *portal.Service
	// Reports computes sales summaries; Exports tracks CSV export progress; Alerts owns exception rules.
	Reports *reports.Service
	Exports *export.Progress
	Alerts  *alerts.Service
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
