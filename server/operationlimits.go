package server

import (
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/lru"

	"github.com/regicam/regicam/cases"

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

// persistedQueries is the cache of the persisted-query extension: 1000
// texts, none longer than the document limit, so texts that limit refuses
// are never held (oplimit.PersistedQueryCache).
func persistedQueries(cfg Config) graphql.Cache[string] {
	return oplimit.PersistedQueryCache(lru.New[string](1000), cfg.MaxDocumentBytes)
}

// operationCosts prices fields as their resolvers page them.
var operationCosts = oplimit.Costs{
	Weights: map[string]int{
		// A whole JPEG inline (about 15–30 KB of base64 at 320 px), where
		// a scalar is tens of bytes: a page of 50 with pictures passes, a
		// page of 200 does not (use url, or the subscription).
		"Thumbnail.dataURL": 200,
		// Up to four calls to the camera cloud when not cached (one per
		// UTC day touched: 72 h from 00:30 touch four days), each paced
		// behind every other call of the connection: at most 40 in one
		// request (the default limit), so aliases cannot queue thousands.
		// The viewer's own cloud budget (camcloud/pictures/budget.go)
		// bounds them across requests.
		"Camera.recordings": 500,
		// Each reads history in bulk (a preview up to 200,000 entries, the
		// outlier report one aggregate over up to 400 days): with their
		// selections at most two or three fit in one request under the
		// default limit, so aliases cannot run hundreds at once. Each is
		// also bounded in time by its package.
		"Query.previewAlertRule": 6000,
		"Query.staffOutliers":    6000,
	},
	// Lists of objects whose length no argument states; the others are
	// priced as oplimit.DefaultListLength (50), so lists nested in lists
	// (shopGroups { shops { groups { shops … } } }, links { camera {
	// links … } }, introspection) multiply.
	Lists: map[string]int{
		// The dashboard's bar: at most 361 buckets unless bucket is given
		// (then up to 2,000 per call).
		"Query.timelineBuckets": 361,
		// One span per weekday at most (a weekday twice is refused).
		"Shop.businessHours": 7,
		// The shop list's groups, their shops and members: a chain's
		// groups are regions of tens of shops.
		"Query.shopGroups":  10,
		"ShopGroup.shops":   20,
		"ShopGroup.members": 10,
		// An account has a cloud login or two, not fifty.
		"Query.cameraCloudConnections": 10,
		// One row per staff member (the report caps them) and one per metric.
		"StaffOutlierReport.staff": 200,
		"StaffOutlierReport.peers": 5,
		"StaffOutlier.rates":       5,
	},
	Pages: map[string]oplimit.Page{
		"Query.journal":     {Default: journal.DefaultPageSize, Max: journal.MaxPageSize},
		"Query.alerts":      {Default: 50, Max: 200},
		"Query.auditLog":    {Default: 50, Max: 500},
		"Query.cases":       {Default: cases.DefaultPage, Max: cases.MaxPage},
		"Query.cardMatches": {Default: 50, Max: 200},
	},
	// entgql's connections (cameras, shops, terminals, links,
	// posConnections) return every row without first/last: priced as 100.
	DefaultPage: oplimit.Page{Default: oplimit.DefaultPageSize},
}
