package auth

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/regicam/regicam/ent/apikey"
	"github.com/regicam/regicam/ent/session"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// ErrRevoked ends a connection whose credential stopped being valid.
var ErrRevoked = errors.New("credential revoked")

// watcher keeps the credentials of open long-lived connections and
// cancels a connection's context when its session or key is revoked or
// expires, or its user is deleted.
type watcher struct {
	mu    sync.Mutex
	next  int
	conns map[int]watched
	kickc chan struct{}
}

type watched struct {
	session, key pulid.ID
	cancel       context.CancelCauseFunc
}

func newWatcher() *watcher {
	return &watcher{conns: map[int]watched{}, kickc: make(chan struct{}, 1)}
}

// kick asks for a check now (after a revocation in this process).
func (w *watcher) kick() {
	select {
	case w.kickc <- struct{}{}:
	default:
	}
}

// Watch returns a context that is cancelled (cause ErrRevoked) once the
// credential of v stops being valid. Contract with the websocket
// transport: the connection lives as long as this context.
func (s *Service) Watch(ctx context.Context, v viewer.Viewer) context.Context {
	if v.SessionID == "" && v.APIKeyID == "" {
		return ctx
	}
	ctx, cancel := context.WithCancelCause(ctx)
	w := s.watch
	w.mu.Lock()
	id := w.next
	w.next++
	w.conns[id] = watched{session: v.SessionID, key: v.APIKeyID, cancel: cancel}
	w.mu.Unlock()
	context.AfterFunc(ctx, func() {
		w.mu.Lock()
		delete(w.conns, id)
		w.mu.Unlock()
	})
	return ctx
}

// RunWatcher checks the watched credentials every WatchEvery (and right
// after a revocation here) until ctx ends.
func (s *Service) RunWatcher(ctx context.Context) {
	ctx = viewer.System(ctx)
	t := time.NewTicker(s.opt.WatchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.watch.kickc:
		}
		if err := s.checkWatched(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("check open connections' credentials", "err", err)
		}
	}
}

func (s *Service) checkWatched(ctx context.Context) error {
	w := s.watch
	w.mu.Lock()
	conns := make([]watched, 0, len(w.conns))
	sessions := map[pulid.ID]bool{}
	keys := map[pulid.ID]bool{}
	for _, c := range w.conns {
		conns = append(conns, c)
		if c.session != "" {
			sessions[c.session] = false
		}
		if c.key != "" {
			keys[c.key] = false
		}
	}
	w.mu.Unlock()
	if len(conns) == 0 {
		return nil
	}
	now := s.now()
	for ids := range chunks(sessions) {
		valid, err := s.client.Session.Query().Where(session.IDIn(ids...), session.RevokedAtIsNil(),
			session.ExpiresAtGT(now), session.HasUser()).
			IDs(ctx)
		if err != nil {
			return err
		}
		for _, id := range valid {
			sessions[id] = true
		}
	}
	for ids := range chunks(keys) {
		valid, err := s.client.ApiKey.Query().Where(apikey.IDIn(ids...), apikey.RevokedAtIsNil(),
			apikey.Or(apikey.ExpiresAtIsNil(), apikey.ExpiresAtGT(now))).IDs(ctx)
		if err != nil {
			return err
		}
		for _, id := range valid {
			keys[id] = true
		}
	}
	for _, c := range conns {
		if c.session != "" && !sessions[c.session] || c.key != "" && !keys[c.key] {
			c.cancel(ErrRevoked)
		}
	}
	return nil
}

// chunks yields the ids of m in slices short enough for one IN (…).
func chunks(m map[pulid.ID]bool) func(func([]pulid.ID) bool) {
	return func(yield func([]pulid.ID) bool) {
		batch := make([]pulid.ID, 0, 500)
		for id := range m {
			batch = append(batch, id)
			if len(batch) == cap(batch) {
				if !yield(batch) {
					return
				}
				batch = make([]pulid.ID, 0, 500)
			}
		}
		if len(batch) > 0 {
			yield(batch)
		}
	}
}
