package digest

import (
	"sync"

	"github.com/regicam/regicam/ent"
)

// The running service of each database client, so the GraphQL resolvers
// reach the process's scheduler (its kick, its test-mail budget, its
// RootCAs) without a field of their own in graph.Resolver.
var running sync.Map // *ent.Client → *Service

// Register makes s the service of its client until Unregister.
func Register(s *Service) { running.Store(s.Client, s) }

// Unregister forgets s (its scheduler stopped).
func Unregister(s *Service) { running.CompareAndDelete(s.Client, s) }

// Of is the service registered for client, nil when none runs.
func Of(client *ent.Client) *Service {
	if v, ok := running.Load(client); ok {
		return v.(*Service)
	}
	return nil
}
