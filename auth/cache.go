package auth

import (
	"sync"
	"time"

	"github.com/regicam/regicam/viewer"
)

// viewerCache keeps the viewer of a credential for a moment, so a burst of
// requests with one cookie or key reads the database once. Revocations in
// this process clear it at once; those on other replicas are seen within
// cacheFor, well inside the watcher's bound.
type viewerCache struct {
	mu      sync.Mutex
	entries map[string]cachedViewer
}

type cachedViewer struct {
	v     viewer.Viewer
	until time.Time
}

const (
	cacheFor     = time.Second
	cacheEntries = 10_000
)

func (c *viewerCache) get(key string, now time.Time) (viewer.Viewer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.until) {
		return viewer.Viewer{}, false
	}
	return e.v, true
}

func (c *viewerCache) put(key string, v viewer.Viewer, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= cacheEntries {
		c.entries = map[string]cachedViewer{}
	}
	c.entries[key] = cachedViewer{v: v, until: now.Add(cacheFor)}
}

func (c *viewerCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
}
