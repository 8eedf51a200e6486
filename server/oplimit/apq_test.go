package oplimit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"

	"github.com/regicam/regicam/server/oplimit"
)

// TestPersistedQueryOverLimitNotCached: a persisted query longer than the
// document limit is refused and not stored, so the hash alone is not
// found afterwards; one within the limit is stored as before.
func TestPersistedQueryOverLimitNotCached(t *testing.T) {
	store := lru.New[string](100)
	e := executor.New(schema)
	e.SetDefaultRulesFn(oplimit.ValidationRules)
	e.Use(extension.AutomaticPersistedQuery{Cache: oplimit.PersistedQueryCache(store, 0)})
	e.Use(oplimit.New(oplimit.Limits{Costs: testCosts}))
	send := func(query, hash string) string {
		t.Helper()
		p := &graphql.RawParams{Query: query, Extensions: map[string]any{
			"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash},
		}}
		_, errs := e.CreateOperationContext(graphql.StartOperationTrace(context.Background()), p)
		if len(errs) == 0 {
			return ""
		}
		c, _ := errs[0].Extensions["code"].(string)
		return c
	}
	hashOf := func(q string) string {
		sum := sha256.Sum256([]byte(q))
		return hex.EncodeToString(sum[:])
	}

	big := "{ me { id } }" + strings.Repeat(" ", oplimit.DefaultMaxDocumentBytes)
	if c := send(big, hashOf(big)); c != oplimit.CodeDocumentTooLarge {
		t.Fatalf("persisted query of %d bytes: %q", len(big), c)
	}
	if _, ok := store.Get(context.Background(), hashOf(big)); ok {
		t.Fatal("the query over the limit was cached")
	}
	if c := send("", hashOf(big)); c != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("hash of the refused query: %q", c)
	}

	small := "{ me { id } }"
	if c := send(small, hashOf(small)); c != "" {
		t.Fatalf("small persisted query: %q", c)
	}
	if c := send("", hashOf(small)); c != "" {
		t.Fatalf("hash of the small query: %q", c)
	}
}
