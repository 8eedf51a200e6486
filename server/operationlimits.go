package server

import (
	"github.com/99designs/gqlgen/graphql/handler"

	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/server/oplimit"
)

// useOperationLimits bounds every GraphQL request (README, Limits): the
// document's size before it is parsed, its expansion before it is
// validated (and the validator's error count), its cost with its
// variables before it runs, and the size of its response while it is
// built. It replaces gqlgen's complexity limit, which walks every
// fragment spread again and so takes time exponential in the document.
func useOperationLimits(srv *handler.Server, cfg Config) {
	srv.SetValidationRulesFn(oplimit.ValidationRules)
	srv.Use(operationLimits(cfg))
}

func operationLimits(cfg Config) *oplimit.Extension {
	return oplimit.New(oplimit.Limits{
		MaxDocumentBytes: cfg.MaxDocumentBytes,
		MaxFields:        cfg.MaxFields,
		MaxDepth:         cfg.DepthLimit,
		MaxCost:          cfg.ComplexityLimit,
		MaxResponseBytes: cfg.MaxResponseBytes,
		Costs:            operationCosts,
	})
}

// operationCosts prices fields as their resolvers page them.
var operationCosts = oplimit.Costs{
	Weights: map[string]int{
		// A whole JPEG inline (about 15–30 KB of base64 at 320 px), where
		// a scalar is tens of bytes: a page of 50 with pictures passes, a
		// page of 200 does not (use url, or the subscription).
		"Thumbnail.dataURL": 100,
	},
	Lists: map[string]int{
		// The dashboard's bar: at most 361 buckets unless bucket is given
		// (then up to 2,000 per call).
		"Query.timelineBuckets": 361,
	},
	Pages: map[string]oplimit.Page{
		"Query.journal":  {Default: journal.DefaultPageSize, Max: journal.MaxPageSize},
		"Query.alerts":   {Default: 50, Max: 200},
		"Query.auditLog": {Default: 50, Max: 500},
	},
	// entgql's connections (cameras, shops, terminals, links,
	// posConnections) return every row without first/last: priced as 100.
	DefaultPage: oplimit.Page{Default: oplimit.DefaultPageSize},
}
