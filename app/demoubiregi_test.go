package app_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

// TestDemoUbiregi: the demo runs a Ubiregi fake beside the Smaregi one.
// Its account is the demo tenant's Ubiregi connection, whose one register
// watches a camera from before its first checkout, so every checkout it
// rings up arrives through the real connector (tokens, /checkouts) as a
// PAYMENT with that camera's picture. An owner can link the account again
// through the portal's OAuth button and the fake's consent page: back at
// regicam it is the same connection. A restart on the same data goes on
// from there: no checkout is ingested twice or turned into a MODIFY, and
// the register keeps its one link.
func TestDemoUbiregi(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		dir := t.TempDir()
		demo := func(cfg *app.Config, url string) {
			cfg.Demo, cfg.DemoPOS, cfg.DemoEvery = "true", true, 50*time.Millisecond
			cfg.Addr = strings.TrimPrefix(url, "http://")
		}
		var first []*ent.JournalEntry
		var connID string
		t.Run("first run", func(t *testing.T) {
			srv := testenv.StartWith(t, b, dir, demo)
			first = waitUbiregiPictures(t, srv, 5)
			conn := ubiregiConnection(t, srv)
			connID = string(conn.ID)
			if conn.ContractID != "1001" || conn.Memo != app.DemoUbiregiAccountName {
				t.Errorf("demo connection: contract %q memo %q", conn.ContractID, conn.Memo)
			}
			var avail struct{ UbiregiAvailable bool }
			srv.MustQuery(t, `{ ubiregiAvailable }`, nil, &avail)
			if !avail.UbiregiAvailable {
				t.Error("the demo's portal cannot link Ubiregi")
			}
			if got := linkUbiregiByOAuth(t, srv); got != connID {
				t.Errorf("linking the fake's account again made connection %s, want the demo's %s", got, connID)
			}
		})
		srv := testenv.StartWith(t, b, dir, demo)
		all := waitUbiregiPictures(t, srv, len(first)+5)
		ctx := viewer.System(t.Context())
		conn := ubiregiConnection(t, srv)
		if string(conn.ID) != connID {
			t.Errorf("restart: connection %s, before %s", conn.ID, connID)
		}
		modified, err := ubiregiEntries(t, srv).Where(journalentry.KindEQ(journalentry.KindMODIFY)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range modified {
			t.Errorf("the restart made checkout %s a MODIFY entry (revision %s)", e.ExternalID, e.Revision)
		}
		seen := map[string]bool{}
		for _, e := range all {
			if seen[e.ExternalID] {
				t.Errorf("checkout %s ingested twice", e.ExternalID)
			}
			seen[e.ExternalID] = true
		}
		terms, err := srv.DB.Client.Terminal.Query().Where(terminal.ConnectionID(conn.ID)).WithLinks().All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(terms) != 1 || len(terms[0].Edges.Links) != 1 {
			t.Errorf("restart: %d registers, links %v", len(terms), terms)
		}
	})
}

// ubiregiConnection is the demo tenant's one Ubiregi connection.
func ubiregiConnection(t *testing.T, srv *testenv.Server) *ent.PosConnection {
	t.Helper()
	conn, err := srv.DB.Client.PosConnection.Query().Where(posconnection.AccountID(srv.AccountID),
		posconnection.ProviderEQ(posconnection.ProviderUBIREGI)).Only(viewer.System(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// ubiregiEntries are the journal entries of the demo's Ubiregi connection.
func ubiregiEntries(t *testing.T, srv *testenv.Server) *ent.JournalEntryQuery {
	t.Helper()
	return srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(ubiregiConnection(t, srv).ID))
}

// waitUbiregiPictures waits until at least n of the Ubiregi connection's
// sales (PAYMENT entries) are in and every one of them has its camera and
// thumbnail, and returns them.
func waitUbiregiPictures(t *testing.T, srv *testenv.Server, n int) []*ent.JournalEntry {
	t.Helper()
	ctx := viewer.System(t.Context())
	deadline := time.Now().Add(time.Minute)
	for {
		sales, err := ubiregiEntries(t, srv).Where(journalentry.KindEQ(journalentry.KindPAYMENT)).
			WithThumbnail().All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var bare []string
		for _, e := range sales {
			if e.CameraID == nil || e.Edges.Thumbnail == nil {
				bare = append(bare, e.ExternalID+" ("+e.ThumbnailReason+")")
			}
		}
		// A picture may follow its entry by the thumbnail wait; only the
		// last few may still be without one.
		if len(sales) >= n && len(bare) == 0 {
			return sales
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute on: %d Ubiregi sales (want %d), without camera or picture: %v", len(sales), n, bare)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// linkUbiregiByOAuth links the fake's account as an owner does in the
// portal: startUbiregiOAuth, the fake's consent page, 許可する, the
// callback with the owner's session. It returns ?connected= of the way
// back.
func linkUbiregiByOAuth(t *testing.T, srv *testenv.Server) string {
	t.Helper()
	var start struct {
		StartUbiregiOAuth struct{ AuthorizeURL string }
	}
	srv.MustQuery(t, `mutation { startUbiregiOAuth(returnTo: "/#/portal") { authorizeURL } }`, nil, &start)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string, withSession bool) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if withSession {
			srv.Credential().Apply(req.Header)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get(start.StartUbiregiOAuth.AuthorizeURL, false)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "許可する") || !strings.Contains(string(page), app.DemoUbiregiAccountName) {
		t.Fatalf("consent page: %d\n%s", resp.StatusCode, page)
	}
	allow, _ := url.Parse(start.StartUbiregiOAuth.AuthorizeURL)
	q := allow.Query()
	q.Set("decision", "allow")
	allow.RawQuery = q.Encode()
	resp = get(allow.String(), false)
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(callback, srv.URL+"/oauth/ubiregi/callback?") {
		t.Fatalf("許可する: %d → %q", resp.StatusCode, callback)
	}
	resp = get(callback, true)
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || back.Query().Get("error") != "" {
		t.Fatalf("callback: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return back.Query().Get("connected")
}

// TestDemoUbiregiCameraRetired: a demo whose owner retired the camera the
// Ubiregi register would watch still starts; the register's sales come in
// without a camera, each saying why it has no picture.
func TestDemoUbiregiCameraRetired(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		dir := t.TempDir()
		t.Run("seed without the POS fakes", func(t *testing.T) {
			srv := testenv.StartWith(t, b, dir, func(cfg *app.Config, _ string) { cfg.Demo, cfg.DemoPOS = "true", false })
			n, err := srv.DB.Client.Camera.Update().Where(entcamera.AccountID(srv.AccountID), entcamera.DeviceID("201000192")).
				SetRetiredAt(time.Now().UTC()).Save(viewer.System(t.Context()))
			if err != nil || n != 1 {
				t.Fatalf("retire the demo camera: %d, %v", n, err)
			}
		})
		srv := testenv.StartWith(t, b, dir, func(cfg *app.Config, url string) {
			cfg.Demo, cfg.DemoPOS, cfg.DemoEvery = "true", true, 50*time.Millisecond
			cfg.Addr = strings.TrimPrefix(url, "http://")
		})
		ctx := viewer.System(t.Context())
		deadline := time.Now().Add(time.Minute)
		for {
			sales, err := ubiregiEntries(t, srv).Where(journalentry.KindEQ(journalentry.KindPAYMENT)).All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(sales) >= 2 {
				for _, e := range sales {
					if e.CameraID != nil || e.ThumbnailReason == "" {
						t.Errorf("checkout %s: camera %v, reason %q; want no camera and a reason", e.ExternalID, e.CameraID, e.ThumbnailReason)
					}
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d Ubiregi sales in a minute, want 2", len(sales))
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
