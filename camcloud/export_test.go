package camcloud

import "context"

// SyncDue is one round of Run, for tests that drive the clock.
func (s *Service) SyncDue(ctx context.Context) { s.syncDue(ctx) }
