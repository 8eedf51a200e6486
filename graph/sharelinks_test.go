package graph_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

const slCreateDoc = `mutation($in: CreateShareLinkInput!) { createShareLink(input: $in) { url link { id active note entry { id } } } }`

type slNode struct {
	ID     string
	Active bool
	Note   string
	Entry  *struct{ ID string }
}

// slMake makes a share link of entry as c and returns its id and URL.
func slMake(t *testing.T, c gqlClient, entry string, note string) (pulid.ID, string) {
	t.Helper()
	var out struct {
		CreateShareLink struct {
			URL  string
			Link slNode
		}
	}
	c.MustQuery(t, slCreateDoc, map[string]any{"in": map[string]any{"entryID": entry, "note": note}}, &out)
	return pulid.ID(out.CreateShareLink.Link.ID), out.CreateShareLink.URL
}

// seedForeignShareLinks gives account B a share link of one of its
// receipts, made by B's owner through GraphQL, and returns its id and the
// receipt's (for the tenant walk, TestTenantWalk).
func seedForeignShareLinks(t *testing.T, owner *gqlEnv, acct pulid.ID, fx testenv.Fixture) []pulid.ID {
	t.Helper()
	res := tjMustIngest(t, owner, tjReceipt(fx.TerminalIDs[0], fmt.Sprintf("B-SHARE-%s", acct), "CANCEL", time.Now().Add(-3*time.Hour), nil))
	id, _ := slMake(t, owner, res[0].Entry.ID, "ひみつの提出先")
	return []pulid.ID{id, pulid.ID(res[0].Entry.ID)}
}

// TestShareLinkList: the account's links newest first in pages of at most
// 100, narrowed to a receipt; a URL is a path here (no public URL), never
// readable again; the receipt reads as the viewer sees it.
func TestShareLinkList(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		at := time.Now().Add(-time.Hour)
		res := tjMustIngest(t, srv,
			tjReceipt(fx.TerminalIDs[0], "SL-1", "PAYMENT", at, nil),
			tjReceipt(fx.TerminalIDs[2], "SL-2", "CANCEL", at.Add(time.Minute), nil))
		e1, e2 := res[0].Entry.ID, res[1].Entry.ID
		var ids []pulid.ID
		for i, e := range []string{e1, e2, e1} {
			id, url := slMake(t, srv, e, fmt.Sprintf("メモ%d", i))
			if !strings.HasPrefix(url, "/share/") || len(url) != len("/share/")+43 {
				t.Errorf("url %q", url)
			}
			ids = append(ids, id)
		}
		type page struct {
			ShareLinks struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   *string
				}
				Edges []struct{ Node slNode }
			}
		}
		const list = `query($e: ID, $after: Cursor, $first: Int) { shareLinks(entryID: $e, after: $after, first: $first) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id active note entry { id } } } } }`
		var p page
		srv.MustQuery(t, list, map[string]any{"first": 2}, &p)
		if len(p.ShareLinks.Edges) != 2 || p.ShareLinks.Edges[0].Node.ID != string(ids[2]) || p.ShareLinks.Edges[1].Node.ID != string(ids[1]) ||
			!p.ShareLinks.PageInfo.HasNextPage {
			t.Fatalf("first page: %+v", p.ShareLinks)
		}
		srv.MustQuery(t, list, map[string]any{"first": 2, "after": *p.ShareLinks.PageInfo.EndCursor}, &p)
		if len(p.ShareLinks.Edges) != 1 || p.ShareLinks.Edges[0].Node.ID != string(ids[0]) || p.ShareLinks.PageInfo.HasNextPage {
			t.Errorf("second page: %+v", p.ShareLinks)
		}
		srv.MustQuery(t, list, map[string]any{"e": e1}, &p)
		if p.ShareLinks.TotalCount != 2 || p.ShareLinks.Edges[0].Node.Entry == nil || p.ShareLinks.Edges[0].Node.Entry.ID != e1 {
			t.Errorf("receipt's links: %+v", p.ShareLinks)
		}
		if r := srv.Query(t, list, map[string]any{"first": 101}); len(r.Errors) == 0 || r.Errors[0].Field() != "first" {
			t.Errorf("first 101: %+v", r.Errors)
		}
		// An ADMIN manages them too; an API key never does.
		_, admin := srv.NewUser(t, srv.AccountID, viewer.RoleAdmin)
		var rv struct{ RevokeShareLink slNode }
		admin.MustQuery(t, `mutation($id: ID!) { revokeShareLink(id: $id) { id active } }`, map[string]any{"id": ids[1]}, &rv)
		if rv.RevokeShareLink.Active {
			t.Error("revoked link still active")
		}
		_, key := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead, viewer.ScopeJournalWrite)
		if r := key.Query(t, list, nil); len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
			t.Errorf("API key lists share links: %s %+v", r.Data, r.Errors)
		}
		// STAFF do not see them as nodes.
		_, staff := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, fx.ShopID)
		r := staff.Query(t, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": ids[0]})
		if strings.Contains(string(r.Data), string(ids[0])) {
			t.Errorf("STAFF reads a share link as a node: %s", r.Data)
		}
	})
}
