package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/polling"
	"github.com/regicam/regicam/pos/signedhook"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

const pcCreate = `mutation($input: CreatePosConnectionInput!) {
  createPosConnection(input: $input) {
    connection { id provider name contractID status defaultShop { id name } }
    webhook { path secret }
  }
}`

const pcCreateTerminal = `mutation($input: CreateTerminalInput!) {
  createTerminal(input: $input) { id externalID name shop { id } connection { id provider } }
}`

type pcPayload struct {
	Connection struct {
		ID          pulid.ID
		Provider    string
		Name        string
		ContractID  string
		Status      string
		DefaultShop *struct {
			ID   pulid.ID
			Name string
		}
	}
	Webhook struct{ Path, Secret string }
}

func pcShop(t *testing.T, srv gqlClient, name string) pulid.ID {
	t.Helper()
	var out struct{ CreateShop struct{ ID pulid.ID } }
	srv.MustQuery(t, `mutation($n: String!){ createShop(input: {name: $n}) { id } }`, map[string]any{"n": name}, &out)
	return out.CreateShop.ID
}

func pcCamera(t *testing.T, srv gqlClient, name, device string) pulid.ID {
	t.Helper()
	var out struct{ CreateCamera struct{ ID pulid.ID } }
	srv.MustQuery(t, `mutation($in: CreateCameraInput!){ createCamera(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": name, "deviceID": device, "posOption": true, "source": map[string]any{"kind": "SIMULATED"}}}, &out)
	return out.CreateCamera.ID
}

func pcConnection(t *testing.T, c gqlClient, provider, name string, shop pulid.ID) pcPayload {
	t.Helper()
	var out struct{ CreatePosConnection pcPayload }
	c.MustQuery(t, pcCreate, map[string]any{"input": map[string]any{"provider": provider, "name": name, "shopID": shop}}, &out)
	return out.CreatePosConnection
}

// pcPost sends a signed webhook and returns the status and decoded answer.
func pcPost(t *testing.T, srv *testenv.Server, path string, secret []byte, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	signedhook.SignRequest(req, secret, body, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func pcSale(terminalID, id string, at time.Time) []byte {
	body, _ := json.Marshal(map[string]any{"terminalId": terminalID, "storeId": "S-unknown", "storeName": "どこかの店",
		"transactions": []map[string]any{{"id": id, "status": "CAPTURE", "occurredAt": at.Format(time.RFC3339), "amount": 1200}}})
	return body
}

// TestCreatePosConnection: a card-terminal connection is created with its
// default shop and a signed-webhook endpoint whose key is shown once:
// sealed in the database, absent from every field of every query, and
// replaced by createWebhookSecret. Bad and foreign input is refused by
// field; STAFF and journal:read keys are FORBIDDEN.
func TestCreatePosConnection(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		shop := pcShop(t, srv, "渋谷店")
		p := pcConnection(t, srv, "WEBHOOK", "カード端末 1F", shop)
		secret := testenv.Secret(p.Webhook.Secret)
		c := p.Connection
		if c.Provider != "WEBHOOK" || c.Name != "カード端末 1F" || c.Status != "OK" || c.ContractID == "" ||
			c.DefaultShop == nil || c.DefaultShop.ID != shop || c.DefaultShop.Name != "渋谷店" {
			t.Fatalf("connection %+v", c)
		}
		if p.Webhook.Path != "/webhooks/signed/"+string(c.ID) || len(secret) < 32 {
			t.Fatalf("endpoint %+v", p.Webhook)
		}

		// Sealed at rest: no column of any connection row holds the key.
		rows, err := srv.DB.SQL.Query(`SELECT * FROM pos_connections`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if strings.Contains(fmt.Sprintf("%s", v), secret) {
					t.Fatalf("column %s holds the signing key in clear", cols[i])
				}
			}
		}
		rows.Close()

		// Not in any field: every scalar field of PosConnection, through
		// posConnections, node and linkSettings.
		var intro struct {
			Type struct {
				Fields []struct {
					Name string
					Args []struct{ Name string }
					Type struct {
						Kind   string
						OfType *struct{ Kind string }
					}
				}
			} `json:"__type"`
		}
		srv.MustQuery(t, `{ __type(name: "PosConnection") { fields { name args { name } type { kind ofType { kind } } } } }`, nil, &intro)
		var scalars []string
		for _, f := range intro.Type.Fields {
			k := f.Type.Kind
			if k == "NON_NULL" && f.Type.OfType != nil {
				k = f.Type.OfType.Kind
			}
			if (k == "SCALAR" || k == "ENUM") && len(f.Args) == 0 {
				scalars = append(scalars, f.Name)
			}
		}
		sel := strings.Join(scalars, " ")
		for _, q := range []string{
			`{ posConnections { edges { node { ` + sel + ` } } } }`,
			`query($id: ID!) { node(id: $id) { ... on PosConnection { ` + sel + ` } } }`,
			`{ linkSettings { id contractID secretHint connection { ` + sel + ` } } }`,
		} {
			r := srv.Query(t, q, map[string]any{"id": c.ID})
			if len(r.Errors) > 0 {
				t.Fatalf("%s: %+v", q, r.Errors)
			}
			if strings.Contains(string(r.Data), secret) {
				t.Fatalf("%s returned the signing key", q)
			}
		}

		// The key signs; rotation replaces it.
		if code, out := pcPost(t, srv, p.Webhook.Path, []byte(secret), pcSale("T-1", "tx-1", time.Now().Add(-time.Minute))); code != http.StatusOK {
			t.Fatalf("signed webhook: %d %v", code, out)
		}
		var rot struct{ CreateWebhookSecret struct{ Path, Secret string } }
		srv.MustQuery(t, `mutation($id: ID!){ createWebhookSecret(id: $id) { path secret } }`, map[string]any{"id": c.ID}, &rot)
		testenv.Secret(rot.CreateWebhookSecret.Secret)
		if code, _ := pcPost(t, srv, p.Webhook.Path, []byte(secret), pcSale("T-1", "tx-2", time.Now())); code != http.StatusUnauthorized {
			t.Fatalf("old key after rotation: %d, want 401", code)
		}
		if code, _ := pcPost(t, srv, rot.CreateWebhookSecret.Path, []byte(rot.CreateWebhookSecret.Secret), pcSale("T-1", "tx-2", time.Now())); code != http.StatusOK {
			t.Fatalf("new key after rotation: %d", code)
		}

		// A partner connection too; the same name again is CONFLICT.
		if pp := pcConnection(t, srv, "PARTNER", "POS パートナー", shop); pp.Connection.Provider != "PARTNER" || pp.Webhook.Secret == "" {
			t.Fatalf("partner connection %+v", pp.Connection)
		} else {
			testenv.Secret(pp.Webhook.Secret)
		}
		_, otherOwner := srv.NewAccount(t, "他社")
		foreignShop := pcShop(t, otherOwner, "他社の店")
		_, staff := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, shop)
		_, readKey := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
		for _, tc := range []struct {
			name        string
			as          *testenv.Server
			input       map[string]any
			code, field string
		}{
			{"same name", srv, map[string]any{"provider": "WEBHOOK", "name": "カード端末 1F", "shopID": shop}, "CONFLICT", "input.name"},
			{"empty name", srv, map[string]any{"provider": "WEBHOOK", "name": " ", "shopID": shop}, "BAD_USER_INPUT", "input.name"},
			{"Smaregi", srv, map[string]any{"provider": "SMAREGI", "name": "x", "shopID": shop}, "BAD_USER_INPUT", "input.provider"},
			{"other account's shop", srv, map[string]any{"provider": "WEBHOOK", "name": "x", "shopID": foreignShop}, "NOT_FOUND", "input.shopID"},
			{"STAFF", staff, map[string]any{"provider": "WEBHOOK", "name": "x", "shopID": shop}, "FORBIDDEN", ""},
			{"journal:read key", readKey, map[string]any{"provider": "WEBHOOK", "name": "x", "shopID": shop}, "FORBIDDEN", ""},
		} {
			r := tc.as.Query(t, pcCreate, map[string]any{"input": tc.input})
			if len(r.Errors) == 0 || r.Errors[0].Code() != tc.code || tc.field != "" && r.Errors[0].Field() != tc.field {
				t.Errorf("%s: %+v, want %s at %q", tc.name, r.Errors, tc.code, tc.field)
			}
		}
		n, _ := srv.DB.Client.PosConnection.Query().Count(sysCtx())
		if n != 2 {
			t.Fatalf("%d connections after the refused ones, want 2", n)
		}
	})
}

// TestCreateTerminal: a register is added to a WEBHOOK connection; the
// same external id again is CONFLICT; a Smaregi connection's registers come
// from Smaregi (BAD_USER_INPUT); another account's ids are NOT_FOUND.
func TestCreateTerminal(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		shop := pcShop(t, srv, "渋谷店")
		second := pcShop(t, srv, "新宿店")
		p := pcConnection(t, srv, "WEBHOOK", "カード端末", shop)
		testenv.Secret(p.Webhook.Secret)
		var out struct {
			CreateTerminal struct {
				ID         pulid.ID
				ExternalID string
				Name       string
				Shop       struct{ ID pulid.ID }
				Connection struct{ ID pulid.ID }
			}
		}
		srv.MustQuery(t, pcCreateTerminal, map[string]any{"input": map[string]any{
			"connectionID": p.Connection.ID, "externalID": "MPOS-01", "name": "2F レジ", "shopID": second}}, &out)
		if tm := out.CreateTerminal; tm.ExternalID != "MPOS-01" || tm.Name != "2F レジ" || tm.Shop.ID != second || tm.Connection.ID != p.Connection.ID {
			t.Fatalf("terminal %+v", tm)
		}
		srv.MustQuery(t, pcCreateTerminal, map[string]any{"input": map[string]any{
			"connectionID": p.Connection.ID, "externalID": "MPOS-02", "shopID": shop}}, &out)
		if out.CreateTerminal.Name != "端末 MPOS-02" {
			t.Fatalf("default name %q", out.CreateTerminal.Name)
		}

		smaregi, err := srv.DB.Client.PosConnection.Create().SetAccountID(srv.AccountID).
			SetProvider(posconnection.ProviderSMAREGI).SetContractID("sm-1").Save(sysCtx())
		if err != nil {
			t.Fatal(err)
		}
		otherAcct, otherOwner := srv.NewAccount(t, "他社")
		foreignShop := pcShop(t, otherOwner, "他社の店")
		foreign := pcConnection(t, otherOwner, "WEBHOOK", "他社の端末", foreignShop)
		testenv.Secret(foreign.Webhook.Secret)
		_, staff := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, shop)
		_, readKey := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
		in := func(conn pulid.ID, ext string, shop pulid.ID) map[string]any {
			return map[string]any{"input": map[string]any{"connectionID": conn, "externalID": ext, "shopID": shop}}
		}
		for _, tc := range []struct {
			name        string
			as          *gqlEnv
			vars        map[string]any
			code, field string
		}{
			{"external id twice", srv, in(p.Connection.ID, "MPOS-01", shop), "CONFLICT", "input.externalID"},
			{"Smaregi connection", srv, in(smaregi.ID, "9", shop), "BAD_USER_INPUT", "input.connectionID"},
			{"empty external id", srv, in(p.Connection.ID, " ", shop), "BAD_USER_INPUT", "input.externalID"},
			{"other account's connection", srv, in(foreign.Connection.ID, "X", shop), "NOT_FOUND", "input.connectionID"},
			{"other account's shop", srv, in(p.Connection.ID, "X", foreignShop), "NOT_FOUND", "input.shopID"},
			{"STAFF", staff, in(p.Connection.ID, "X", shop), "FORBIDDEN", ""},
			{"journal:read key", readKey, in(p.Connection.ID, "X", shop), "FORBIDDEN", ""},
		} {
			r := tc.as.Query(t, pcCreateTerminal, tc.vars)
			if len(r.Errors) == 0 || r.Errors[0].Code() != tc.code || tc.field != "" && r.Errors[0].Field() != tc.field {
				t.Errorf("%s: %+v, want %s at %q", tc.name, r.Errors, tc.code, tc.field)
			}
		}
		if n, _ := srv.DB.Client.Terminal.Query().Where(terminal.AccountID(srv.AccountID)).Count(sysCtx()); n != 2 {
			t.Fatalf("%d terminals, want 2", n)
		}
		if n, _ := srv.DB.Client.Terminal.Query().Where(terminal.AccountID(otherAcct)).Count(sysCtx()); n != 0 {
			t.Fatalf("other account got %d terminals", n)
		}
	})
}

// TestWebhookNamesNewTerminal: the first correctly signed webhook naming an
// unknown terminalId creates the register in the connection's default shop
// (not in a shop made from the sender's store id); it shows in the link
// portal, links to a camera, and the next sale carries that camera. A
// connection at MaxNewTerminals registers adds no more by webhook and says
// so in "rejected".
func TestWebhookNamesNewTerminal(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		pcShop(t, srv, "新宿店") // the first shop, so "any shop" would be wrong
		shop := pcShop(t, srv, "渋谷店")
		cam := pcCamera(t, srv, "レジ前カメラ", "201000192")
		p := pcConnection(t, srv, "WEBHOOK", "カード端末", shop)
		secret := []byte(testenv.Secret(p.Webhook.Secret))

		base := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
		if code, out := pcPost(t, srv, p.Webhook.Path, secret, pcSale("T-NEW", "tx-1", base)); code != http.StatusOK || out["accepted"] != 1.0 {
			t.Fatalf("first webhook: %d %v", code, out)
		}
		var settings struct {
			LinkSettings []struct {
				Provider           string
				TerminalExternalID string
				Terminal           *struct {
					ID   pulid.ID
					Shop struct{ Name string }
				}
				Camera *struct{ ID pulid.ID }
			}
		}
		const settingsQ = `{ linkSettings(provider: WEBHOOK) { provider terminalExternalID terminal { id shop { name } } camera { id } } }`
		srv.MustQuery(t, settingsQ, nil, &settings)
		if len(settings.LinkSettings) != 1 || settings.LinkSettings[0].Terminal == nil ||
			settings.LinkSettings[0].TerminalExternalID != "T-NEW" || settings.LinkSettings[0].Terminal.Shop.Name != "渋谷店" {
			t.Fatalf("link settings after the first webhook: %+v", settings.LinkSettings)
		}
		term := settings.LinkSettings[0].Terminal.ID
		var linked struct {
			LinkTerminal struct{ Link struct{ CreatedAt time.Time } }
		}
		srv.MustQuery(t, `mutation($t: ID!, $c: ID!){ linkTerminal(terminalID: $t, cameraID: $c) { link { createdAt } } }`,
			map[string]any{"t": term, "c": cam}, &linked)
		// A sale a second after the link (whole seconds on the wire) is
		// the camera's; tx-1 from before it stays without one.
		after := linked.LinkTerminal.Link.CreatedAt.Truncate(time.Second).Add(time.Second)
		if code, out := pcPost(t, srv, p.Webhook.Path, secret, pcSale("T-NEW", "tx-2", after)); code != http.StatusOK || out["accepted"] != 1.0 {
			t.Fatalf("second webhook: %d %v", code, out)
		}
		var journal struct {
			Journal struct {
				Edges []struct {
					Node struct {
						ExternalID string
						Camera     *struct{ ID pulid.ID }
					}
				}
			}
		}
		srv.MustQuery(t, `{ journal(first: 10) { edges { node { externalID camera { id } } } } }`, nil, &journal)
		if e := journal.Journal.Edges; len(e) != 2 || e[0].Node.ExternalID != "tx-2" || e[0].Node.Camera == nil || e[0].Node.Camera.ID != cam || e[1].Node.Camera != nil {
			t.Fatalf("journal: %+v", e)
		}
		if n, _ := srv.DB.Client.Shop.Query().Count(sysCtx()); n != 2 {
			t.Fatalf("%d shops: the sender's store id made a shop", n)
		}

		// Fill the connection up to the bound, then name one more.
		for i := 1; i < polling.MaxNewTerminals; i++ {
			if _, err := srv.DB.Client.Terminal.Create().SetAccountID(srv.AccountID).SetConnectionID(p.Connection.ID).
				SetShopID(shop).SetExternalID(fmt.Sprintf("FILL-%03d", i)).Save(sysCtx()); err != nil {
				t.Fatal(err)
			}
		}
		code, out := pcPost(t, srv, p.Webhook.Path, secret, pcSale("T-201", "tx-3", time.Now()))
		rejected, _ := json.Marshal(out["rejected"])
		if code != http.StatusOK || out["accepted"] != 0.0 || !strings.Contains(string(rejected), "createTerminal") {
			t.Fatalf("webhook past the bound: %d %v", code, out)
		}
		if ok, _ := srv.DB.Client.Terminal.Query().Where(terminal.ExternalID("T-201")).Exist(sysCtx()); ok {
			t.Fatal("a register past the bound was created")
		}
		// Known registers still deliver, and the owner can still add one.
		if code, out := pcPost(t, srv, p.Webhook.Path, secret, pcSale("T-NEW", "tx-4", time.Now())); code != http.StatusOK || out["accepted"] != 1.0 {
			t.Fatalf("known register past the bound: %d %v", code, out)
		}
		srv.MustQuery(t, pcCreateTerminal, map[string]any{"input": map[string]any{
			"connectionID": p.Connection.ID, "externalID": "T-201", "shopID": shop}}, nil)
	})
}

// TestPartnerSetsUpWithAPIKey: a partner holding one API key (links:write,
// journal:write, journal:read) creates its connection and a register,
// links it to the owner's camera and ingests a sale that shows with that
// camera; the key cannot create shops.
func TestPartnerSetsUpWithAPIKey(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		pcShop(t, srv, "渋谷店")
		pcCamera(t, srv, "レジ前カメラ", "CAM-1")
		_, partner := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeLinksWrite, viewer.ScopeJournalWrite, viewer.ScopeJournalRead)

		if r := partner.Query(t, `mutation { createShop(input: {name: "x"}) { id } }`, nil); len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
			t.Fatalf("partner createShop: %+v, want FORBIDDEN", r.Errors)
		}
		var found struct {
			Shops struct {
				Edges []struct{ Node struct{ ID pulid.ID } }
			}
			LinkableCameras []struct{ ID pulid.ID }
		}
		partner.MustQuery(t, `{ shops { edges { node { id } } } linkableCameras { id } }`, nil, &found)
		shop, cam := found.Shops.Edges[0].Node.ID, found.LinkableCameras[0].ID
		p := pcConnection(t, partner, "PARTNER", "POS パートナー", shop)
		testenv.Secret(p.Webhook.Secret)
		var term struct{ CreateTerminal struct{ ID pulid.ID } }
		partner.MustQuery(t, pcCreateTerminal, map[string]any{"input": map[string]any{
			"connectionID": p.Connection.ID, "externalID": "P-1", "name": "1 番レジ", "shopID": shop}}, &term)
		var linked struct {
			LinkTerminal struct{ Link struct{ CreatedAt time.Time } }
		}
		partner.MustQuery(t, `mutation($t: ID!, $c: ID!){ linkTerminal(terminalID: $t, cameraID: $c) { link { createdAt } } }`,
			map[string]any{"t": term.CreateTerminal.ID, "c": cam}, &linked)
		var res struct {
			IngestJournal []struct {
				Status string
				Entry  *struct{ ID pulid.ID }
			}
		}
		partner.MustQuery(t, `mutation($in: [JournalInput!]!){ ingestJournal(input: $in) { status entry { id } } }`,
			map[string]any{"in": []map[string]any{{"terminalID": term.CreateTerminal.ID, "externalID": "sale-1", "kind": "PAYMENT",
				"occurredAt": linked.LinkTerminal.Link.CreatedAt.Add(time.Second).UTC().Format(time.RFC3339), "total": 980}}}, &res)
		if len(res.IngestJournal) != 1 || res.IngestJournal[0].Status != "CREATED" || res.IngestJournal[0].Entry == nil {
			t.Fatalf("ingest: %+v", res)
		}
		var journal struct {
			Journal struct {
				Edges []struct {
					Node struct {
						Total    int
						Camera   *struct{ ID pulid.ID }
						Terminal struct{ Name string }
					}
				}
			}
		}
		partner.MustQuery(t, `{ journal { edges { node { total camera { id } terminal { name } } } } }`, nil, &journal)
		if e := journal.Journal.Edges; len(e) != 1 || e[0].Node.Total != 980 || e[0].Node.Camera == nil || e[0].Node.Camera.ID != cam || e[0].Node.Terminal.Name != "1 番レジ" {
			t.Fatalf("journal as the partner: %+v", e)
		}
	})
}

// TestSetupProgress: each checklist step turns on as the owner does it; a
// retired camera does not count.
func TestSetupProgress(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		type steps struct{ HasCamera, HasShop, HasConnection, HasLink, HasReceipt, Complete bool }
		progress := func() steps {
			t.Helper()
			var out struct{ SetupProgress steps }
			srv.MustQuery(t, `{ setupProgress { hasCamera hasShop hasConnection hasLink hasReceipt complete } }`, nil, &out)
			return out.SetupProgress
		}
		if p := progress(); p != (steps{}) {
			t.Fatalf("empty account: %+v", p)
		}
		old := pcCamera(t, srv, "古いカメラ", "OLD-1")
		srv.MustQuery(t, `mutation($id: ID!){ retireCamera(id: $id) { camera { id } } }`, map[string]any{"id": old}, nil)
		if p := progress(); p.HasCamera {
			t.Fatalf("a retired camera counts: %+v", p)
		}
		cam := pcCamera(t, srv, "レジ前カメラ", "CAM-1")
		shop := pcShop(t, srv, "渋谷店")
		if p := progress(); !p.HasCamera || !p.HasShop || p.HasConnection {
			t.Fatalf("after camera and shop: %+v", p)
		}
		p := pcConnection(t, srv, "PARTNER", "POS", shop)
		testenv.Secret(p.Webhook.Secret)
		var term struct{ CreateTerminal struct{ ID pulid.ID } }
		srv.MustQuery(t, pcCreateTerminal, map[string]any{"input": map[string]any{
			"connectionID": p.Connection.ID, "externalID": "1", "shopID": shop}}, &term)
		if p := progress(); !p.HasConnection || p.HasLink {
			t.Fatalf("after the connection: %+v", p)
		}
		srv.MustQuery(t, `mutation($t: ID!, $c: ID!){ linkTerminal(terminalID: $t, cameraID: $c) { id } }`,
			map[string]any{"t": term.CreateTerminal.ID, "c": cam}, nil)
		if p := progress(); !p.HasLink || p.HasReceipt || p.Complete {
			t.Fatalf("after the link: %+v", p)
		}
		srv.MustQuery(t, `mutation($in: [JournalInput!]!){ ingestJournal(input: $in) { status } }`,
			map[string]any{"in": []map[string]any{{"terminalID": term.CreateTerminal.ID, "externalID": "s1", "kind": "PAYMENT",
				"occurredAt": time.Now().UTC().Format(time.RFC3339), "total": 100}}}, nil)
		if p := progress(); !p.HasReceipt || !p.Complete {
			t.Fatalf("after the first receipt: %+v", p)
		}
	})
}

// sysCtx is test set-up and inspection with every row visible.
func sysCtx() context.Context { return viewer.System(context.Background()) }
