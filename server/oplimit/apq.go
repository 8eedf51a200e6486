package oplimit

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// PersistedQueryCache wraps the cache of gqlgen's AutomaticPersistedQuery
// extension so that it never stores a query text longer than
// maxDocumentBytes (DefaultMaxDocumentBytes when 0). That extension runs
// before Extension and stores every text it is sent, so without the
// wrapper a thousand anonymous requests of distinct 1 MiB documents —
// each then refused as DOCUMENT_TOO_LARGE — would hold a gigabyte in the
// cache; a later request with only the hash gets PERSISTED_QUERY_NOT_FOUND.
func PersistedQueryCache(c graphql.Cache[string], maxDocumentBytes int) graphql.Cache[string] {
	if maxDocumentBytes <= 0 {
		maxDocumentBytes = DefaultMaxDocumentBytes
	}
	return persistedQueryCache{c: c, max: maxDocumentBytes}
}

type persistedQueryCache struct {
	c   graphql.Cache[string]
	max int
}

func (p persistedQueryCache) Get(ctx context.Context, key string) (string, bool) {
	return p.c.Get(ctx, key)
}

func (p persistedQueryCache) Add(ctx context.Context, key string, query string) {
	if len(query) > p.max {
		return
	}
	p.c.Add(ctx, key, query)
}
