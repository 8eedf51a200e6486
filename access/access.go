// Package access is the permission table of the GraphQL API: for every
// root field (query, mutation, subscription), which dashboard roles and
// which API key scopes may call it. Gate enforces it before any resolver
// runs; an operation that is not in the table is refused, so a new
// mutation cannot ship open by forgetting a check. Resolvers keep their
// finer rules (STAFF limited to their shops, only an OWNER hands out
// OWNER); the table is the coarse gate in front of them.
package access

import (
	"slices"
	"strings"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/viewer"
)

// Rule says who may call one operation.
type Rule struct {
	// Op is the root field, "Mutation.createAlertRule".
	Op string
	// Public operations need no credential (login, logout).
	Public bool
	// Roles are the dashboard sessions that may call it.
	Roles []viewer.Role
	// Scopes are the API key scopes that may call it: a key holding any
	// one of them passes.
	Scopes []viewer.Scope
	// Why is shown in the README next to the row.
	Why string
}

// Guard limits what a caller may read back below one field of a result:
// without Scope only the Free fields may be selected.
type Guard struct {
	Field string // "IngestResult.entry"
	Scope viewer.Scope
	Free  []string
	Why   string
}

// Roles and KeyScopes are the table's columns, in README order. KeyScopes
// must equal auth.KeyScopes (a test checks).
var (
	Roles     = []viewer.Role{viewer.RoleOwner, viewer.RoleAdmin, viewer.RoleStaff}
	KeyScopes = []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeJournalWrite, viewer.ScopeLinksWrite}
)

var (
	managers = []viewer.Role{viewer.RoleOwner, viewer.RoleAdmin}
	everyone = []viewer.Role{viewer.RoleOwner, viewer.RoleAdmin, viewer.RoleStaff}

	read     = []viewer.Scope{viewer.ScopeJournalRead}
	write    = []viewer.Scope{viewer.ScopeJournalWrite}
	links    = []viewer.Scope{viewer.ScopeLinksWrite}
	readers  = []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeLinksWrite}
	anyScope = KeyScopes
)

// Table is every root field of the schema and who may call it. Keep it in
// the order the README shows it: by what the caller is doing.
var Table = []Rule{
	// Signing in and out.
	{Op: "Mutation.login", Public: true, Why: "anyone may try to sign in"},
	{Op: "Mutation.logout", Public: true, Why: "ends the caller's session, if any"},
	{Op: "Query.me", Roles: everyone, Scopes: anyScope, Why: "null for an API key"},
	{Op: "Mutation.changePassword", Roles: everyone, Why: "a user's own password; keys have none"},

	// Reading the journal and what it is about.
	{Op: "Query.journal", Roles: everyone, Scopes: read, Why: "STAFF: their shops"},
	{Op: "Query.timelineBuckets", Roles: everyone, Scopes: read, Why: "STAFF: their shops"},
	{Op: "Query.salesSummary", Roles: everyone, Scopes: read, Why: "STAFF: their shops"},
	{Op: "Query.journalExportProgress", Roles: everyone, Scopes: read, Why: "the CSV export itself needs journal:read too"},
	{Op: "Subscription.journal", Roles: everyone, Scopes: read, Why: "STAFF: their shops"},
	{Op: "Query.alerts", Roles: everyone, Scopes: read, Why: "STAFF: their shops"},
	{Op: "Subscription.alerts", Roles: everyone, Scopes: read, Why: "STAFF: their shops"},
	{Op: "Mutation.acknowledgeAlert", Roles: everyone, Why: "a person acknowledges; STAFF: their shops' alerts"},
	{Op: "Query.node", Roles: everyone, Scopes: readers, Why: "STAFF: their shops' rows"},
	{Op: "Query.nodes", Roles: everyone, Scopes: readers, Why: "STAFF: their shops' rows"},
	{Op: "Query.cameras", Roles: everyone, Scopes: readers, Why: "STAFF: cameras of their shops"},
	{Op: "Query.shops", Roles: everyone, Scopes: readers, Why: "STAFF: their shops"},
	{Op: "Query.terminals", Roles: everyone, Scopes: readers, Why: "STAFF: their shops"},
	{Op: "Query.links", Roles: everyone, Scopes: readers, Why: "STAFF: their shops"},
	{Op: "Query.posConnections", Roles: everyone, Scopes: readers, Why: "never the credentials"},
	{Op: "Query.linkableCameras", Roles: everyone, Scopes: read},
	{Op: "Query.ubiregiAvailable", Roles: everyone, Scopes: read},
	{Op: "Query.shopGroups", Roles: everyone, Scopes: read, Why: "STAFF: the groups they belong to"},
	{Op: "Query.setupProgress", Roles: everyone, Why: "the dashboard's setup checklist"},

	// Partner ingest.
	{Op: "Mutation.ingestJournal", Roles: managers, Scopes: write, Why: "without journal:read a result's entry shows only its id"},

	// The link portal and POS connections (links:write).
	{Op: "Query.linkSettings", Roles: managers, Scopes: links, Why: "contracts and masked secrets"},
	{Op: "Mutation.addSmaregiLink", Roles: managers, Scopes: links},
	{Op: "Mutation.linkTerminal", Roles: managers, Scopes: links},
	{Op: "Mutation.rebindTerminal", Roles: managers, Scopes: links},
	{Op: "Mutation.setTerminalCameras", Roles: managers, Scopes: links},
	{Op: "Mutation.deleteLinks", Roles: managers, Scopes: links},
	{Op: "Mutation.startUbiregiOAuth", Roles: managers, Scopes: links},
	{Op: "Mutation.connectSmaregi", Roles: managers, Scopes: links},
	{Op: "Mutation.syncConnection", Roles: managers, Scopes: links},
	{Op: "Mutation.backfillConnection", Roles: managers, Scopes: links},
	{Op: "Mutation.reconcileConnection", Roles: managers, Scopes: links},
	{Op: "Mutation.createWebhookSecret", Roles: managers, Scopes: links},
	// A partner that connects registers already creates connections with
	// connectSmaregi and rotates their webhook keys with
	// createWebhookSecret under links:write; a separate scope for these two
	// would separate nothing.
	{Op: "Mutation.createPosConnection", Roles: managers, Scopes: links, Why: "the signing key is shown once"},
	{Op: "Mutation.createTerminal", Roles: managers, Scopes: links},

	// Setting up the account: OWNER/ADMIN only, no key.
	{Op: "Mutation.createShop", Roles: managers},
	{Op: "Mutation.updateShop", Roles: managers},
	{Op: "Mutation.createShopGroup", Roles: managers},
	{Op: "Mutation.renameShopGroup", Roles: managers},
	{Op: "Mutation.setShopGroupShops", Roles: managers, Why: "decides what STAFF see"},
	{Op: "Mutation.setShopGroupMembers", Roles: managers, Why: "decides what STAFF see"},
	{Op: "Mutation.deleteShopGroup", Roles: managers},
	{Op: "Mutation.createCamera", Roles: managers, Why: "stores camera credentials"},
	{Op: "Mutation.updateCamera", Roles: managers, Why: "stores camera credentials"},
	{Op: "Mutation.retireCamera", Roles: managers},
	{Op: "Mutation.testCameraSource", Roles: managers, Why: "the server fetches a URL the caller names"},
	{Op: "Mutation.testCameraSourceOf", Roles: managers},

	// Camera clouds (Safie): an account's cloud login and the cameras it
	// brings; OWNER/ADMIN only, no key (the connection holds the cloud's
	// key, and its cameras' pictures leave the cloud through it).
	{Op: "Query.cameraCloudConnections", Roles: managers, Why: "never the key; its masked hint only"},
	{Op: "Query.cameraCloudOAuthAvailable", Roles: managers},
	{Op: "Mutation.connectCameraCloud", Roles: managers, Why: "stores the cloud's API key"},
	{Op: "Mutation.updateCameraCloud", Roles: managers, Why: "stores the cloud's API key"},
	{Op: "Mutation.syncCameraCloud", Roles: managers},
	{Op: "Mutation.disconnectCameraCloud", Roles: managers, Why: "retires its cameras (history stays)"},
	{Op: "Mutation.startCameraCloudOAuth", Roles: managers},

	// Exception rules: their webhooks post journal data to any URL.
	{Op: "Query.alertRules", Roles: managers, Why: "webhook URLs often carry a token"},
	{Op: "Mutation.createAlertRule", Roles: managers, Why: "returns a webhook secret"},
	{Op: "Mutation.updateAlertRule", Roles: managers},
	{Op: "Mutation.deleteAlertRule", Roles: managers},
	{Op: "Mutation.rotateAlertWebhookSecret", Roles: managers, Why: "returns a webhook secret"},
	{Op: "Query.alertRulePresets", Roles: managers},
	{Op: "Query.previewAlertRule", Roles: managers, Why: "bounded to 30 days of the account's history"},

	// Investigations.
	{Op: "Query.cases", Roles: everyone, Scopes: read, Why: "STAFF: cases whose receipts are all in their shops"},
	{Op: "Mutation.createCase", Roles: everyone, Why: "STAFF: of their shops' receipts only"},
	{Op: "Mutation.updateCase", Roles: everyone, Why: "STAFF: their shops' cases"},
	{Op: "Mutation.addCaseEntries", Roles: everyone, Why: "STAFF: their shops' cases and receipts"},
	{Op: "Mutation.removeCaseEntries", Roles: everyone, Why: "STAFF: their shops' cases"},
	{Op: "Mutation.addCaseNote", Roles: everyone, Why: "append-only; STAFF: their shops' cases"},
	{Op: "Query.staffOutliers", Roles: managers, Scopes: read, Why: "compares people; STAFF see no one's rates"},
	{Op: "Query.cardMatches", Roles: everyone, Scopes: read, Why: "STAFF: their shops"},

	// Recorded moments: clips, share links, recording settings.
	{Op: "Query.recordingSettings", Roles: everyone, Scopes: read},
	{Op: "Mutation.updateRecordingSettings", Roles: managers},
	{Op: "Query.shareLinks", Roles: managers, Why: "never a link's token; its URL is shown once"},
	{Op: "Mutation.createShareLink", Roles: managers, Why: "opens one receipt's clip to anyone holding the URL; audited"},
	{Op: "Mutation.revokeShareLink", Roles: managers},

	// The daily digest by email.
	{Op: "Query.mailSettings", Roles: managers, Why: "never the password"},
	{Op: "Mutation.setMailSettings", Roles: managers, Why: "stores the mail server's password"},
	{Op: "Mutation.testMailSettings", Roles: managers, Why: "one message per call, rate-limited"},
	{Op: "Query.digestRules", Roles: managers},
	{Op: "Mutation.createDigestRule", Roles: managers},
	{Op: "Mutation.updateDigestRule", Roles: managers},
	{Op: "Mutation.deleteDigestRule", Roles: managers},
	{Op: "Mutation.sendDigestNow", Roles: managers, Why: "at most once per shop-day and recipient"},

	// Users, keys and the audit log.
	{Op: "Query.users", Roles: managers},
	{Op: "Query.apiKeys", Roles: managers},
	{Op: "Query.auditLog", Roles: managers},
	{Op: "Mutation.createUser", Roles: managers, Why: "only an OWNER creates an OWNER"},
	{Op: "Mutation.updateUserRole", Roles: managers, Why: "only an OWNER hands out OWNER"},
	{Op: "Mutation.setUserShops", Roles: managers},
	{Op: "Mutation.setUserIPAllowlist", Roles: managers},
	{Op: "Mutation.unlockUser", Roles: managers},
	{Op: "Mutation.deleteUser", Roles: managers},
	{Op: "Mutation.createApiKey", Roles: managers},
	{Op: "Mutation.revokeApiKey", Roles: managers},
}

// Guards are the fields whose contents need more than the operation that
// returned them.
var Guards = []Guard{
	// A partner that only writes must not read the journal back: a
	// DUPLICATE result names an entry someone else may have stored, and
	// every entry leads to its camera, picture and related sale.
	{Field: "IngestResult.entry", Scope: viewer.ScopeJournalRead, Free: []string{"id", "__typename"},
		Why: "a DUPLICATE result may name an entry another sender stored, and every entry leads to its camera, picture and related sale"},
}

var (
	rules  = map[string]*Rule{}
	guards = map[string]map[string]*Guard{} // object → field → guard
)

func init() {
	for i := range Table {
		r := &Table[i]
		if rules[r.Op] != nil {
			panic("access: " + r.Op + " is in the table twice")
		}
		rules[r.Op] = r
	}
	for i := range Guards {
		g := &Guards[i]
		object, field, _ := strings.Cut(g.Field, ".")
		if guards[object] == nil {
			guards[object] = map[string]*Guard{}
		}
		guards[object][field] = g
	}
}

// Lookup returns the rule of op ("Mutation.login").
func Lookup(op string) (Rule, bool) {
	r, ok := rules[op]
	if !ok {
		return Rule{}, false
	}
	return *r, true
}

// Allows reports whether v may call the operation. A session is judged by
// its role, an API key by its scopes.
func (r Rule) Allows(v viewer.Viewer) bool {
	if r.Public {
		return true
	}
	if v.APIKeyID == "" && v.Role != "" {
		return slices.Contains(r.Roles, v.Role)
	}
	return slices.ContainsFunc(r.Scopes, v.Allows)
}

// Check decides whether v (ok false: nobody signed in) may call op:
// nil, UNAUTHENTICATED or FORBIDDEN. An operation missing from the table
// is FORBIDDEN for everyone.
func Check(v viewer.Viewer, ok bool, op string) error {
	r, known := rules[op]
	switch {
	case !known:
		return apperr.Forbiddenf(
			"この操作は許可されていません (%s is not in the permission table)", name(op)).Because(apperr.FORBIDDEN)
	case r.Public:
		return nil
	case !ok:
		return apperr.Unauthenticatedf("ログインしてください (not signed in)").Because(apperr.NOT_SIGNED_IN)
	case !r.Allows(v):
		return apperr.Forbiddenf(
			"この操作の権限がありません (%s needs %s)", name(op), r.who()).Because(apperr.FORBIDDEN)
	}
	return nil
}

// name is the field as a client wrote it: "createAlertRule".
func name(op string) string {
	_, f, _ := strings.Cut(op, ".")
	return f
}

// who describes the callers r admits, for the FORBIDDEN message.
func (r Rule) who() string {
	var parts []string
	if len(r.Roles) > 0 {
		roles := make([]string, len(r.Roles))
		for i, x := range r.Roles {
			roles[i] = string(x)
		}
		parts = append(parts, "a signed-in "+strings.Join(roles, " or "))
	}
	if len(r.Scopes) > 0 {
		scopes := make([]string, len(r.Scopes))
		for i, x := range r.Scopes {
			scopes[i] = string(x)
		}
		parts = append(parts, "an API key with "+strings.Join(scopes, " or "))
	}
	if len(parts) == 0 {
		return "nobody"
	}
	return strings.Join(parts, ", or ")
}
