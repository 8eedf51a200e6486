// Package graph holds the GraphQL resolvers. They stay thin: business rules
// live in ingest, journal and feed.
package graph

import (
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/ingest"
)

// Resolver is the resolver root.
type Resolver struct {
	Client   *ent.Client
	Ingester *ingest.Ingester
	Hub      *feed.Hub
}
