package graph_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

const shCreateShop = `mutation($input: CreateShopInput!) {
  createShop(input: $input) { id name timezone businessHours { weekday open close } }
}`

const shUpdateShop = `mutation($id: ID!, $input: UpdateShopInput!) {
  updateShop(id: $id, input: $input) { id name timezone businessHours { weekday open close } }
}`

type shShop struct {
	ID            pulid.ID
	Name          string
	Timezone      string
	BusinessHours []struct {
		Weekday     int
		Open, Close string
	}
}

// TestCreateShop: a shop is created with the default zone or a real one,
// opening hours that cross midnight are kept, and every bad input names
// its field.
func TestCreateShop(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		var out struct{ CreateShop shShop }
		srv.MustQuery(t, shCreateShop, map[string]any{"input": map[string]any{"name": " 渋谷店 "}}, &out)
		if s := out.CreateShop; s.Name != "渋谷店" || s.Timezone != "Asia/Tokyo" || len(s.BusinessHours) != 0 {
			t.Fatalf("default shop: %+v", s)
		}
		// A bar open 18:00–02:00 on Friday, and Monday's hours given last:
		// stored by weekday.
		srv.MustQuery(t, shCreateShop, map[string]any{"input": map[string]any{
			"name": "新宿店", "timezone": "America/Los_Angeles",
			"businessHours": []map[string]any{
				{"weekday": 5, "open": "18:00", "close": "02:00"},
				{"weekday": 1, "open": "10:00", "close": "20:00"},
			}}}, &out)
		if s := out.CreateShop; s.Timezone != "America/Los_Angeles" || len(s.BusinessHours) != 2 ||
			s.BusinessHours[0].Weekday != 1 || s.BusinessHours[1].Open != "18:00" || s.BusinessHours[1].Close != "02:00" {
			t.Fatalf("shop with hours: %+v", s)
		}

		day := func(w int, open, close string) map[string]any {
			return map[string]any{"weekday": w, "open": open, "close": close}
		}
		for _, c := range []struct {
			name        string
			input       map[string]any
			code, field string
		}{
			{"empty name", map[string]any{"name": "  "}, "BAD_USER_INPUT", "input.name"},
			{"long name", map[string]any{"name": strings.Repeat("店", 100)}, "BAD_USER_INPUT", "input.name"},
			{"unknown zone", map[string]any{"name": "A", "timezone": "Asia/Atlantis"}, "BAD_USER_INPUT", "input.timezone"},
			{"server's zone", map[string]any{"name": "A", "timezone": "Local"}, "BAD_USER_INPUT", "input.timezone"},
			{"open == close", map[string]any{"name": "A", "businessHours": []any{day(1, "10:00", "20:00"), day(2, "09:00", "09:00")}}, "BAD_USER_INPUT", "input.businessHours[1].close"},
			{"weekday twice", map[string]any{"name": "A", "businessHours": []any{day(3, "10:00", "20:00"), day(3, "21:00", "23:00")}}, "BAD_USER_INPUT", "input.businessHours[1].weekday"},
			{"weekday 7", map[string]any{"name": "A", "businessHours": []any{day(7, "10:00", "20:00")}}, "BAD_USER_INPUT", "input.businessHours[0].weekday"},
			{"not HH:MM", map[string]any{"name": "A", "businessHours": []any{day(0, "9:00", "20:00")}}, "BAD_USER_INPUT", "input.businessHours[0].open"},
			{"24:00", map[string]any{"name": "A", "businessHours": []any{day(0, "10:00", "24:00")}}, "BAD_USER_INPUT", "input.businessHours[0].close"},
			{"same name", map[string]any{"name": "渋谷店"}, "CONFLICT", "input.name"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := srv.Query(t, shCreateShop, map[string]any{"input": c.input})
				tjWantError(t, r.Errors, c.code, c.field)
			})
		}
		var shops struct{ Shops struct{ TotalCount int } }
		srv.MustQuery(t, `{ shops { totalCount } }`, nil, &shops)
		if shops.Shops.TotalCount != 2 {
			t.Fatalf("%d shops after the refused inputs, want 2", shops.Shops.TotalCount)
		}
	})
}

// TestUpdateShop: each field changes alone; [] clears the hours, leaving
// them out keeps them; another account's shop is NOT_FOUND; STAFF and API
// keys may not change shops.
func TestUpdateShop(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		var out struct {
			CreateShop shShop
			UpdateShop shShop
		}
		srv.MustQuery(t, shCreateShop, map[string]any{"input": map[string]any{"name": "渋谷店",
			"businessHours": []map[string]any{{"weekday": 0, "open": "10:00", "close": "19:00"}}}}, &out)
		id := out.CreateShop.ID
		srv.MustQuery(t, shUpdateShop, map[string]any{"id": id, "input": map[string]any{"timezone": "Europe/Paris"}}, &out)
		if s := out.UpdateShop; s.Name != "渋谷店" || s.Timezone != "Europe/Paris" || len(s.BusinessHours) != 1 {
			t.Fatalf("after a zone change: %+v", s)
		}
		srv.MustQuery(t, shUpdateShop, map[string]any{"id": id, "input": map[string]any{"name": "渋谷本店", "businessHours": []any{}}}, &out)
		if s := out.UpdateShop; s.Name != "渋谷本店" || len(s.BusinessHours) != 0 {
			t.Fatalf("after clearing hours: %+v", s)
		}

		r := srv.Query(t, shUpdateShop, map[string]any{"id": id, "input": map[string]any{"timezone": "Mars/Olympus"}})
		tjWantError(t, r.Errors, "BAD_USER_INPUT", "input.timezone")

		_, otherOwner := srv.NewAccount(t, "他社")
		r = otherOwner.Query(t, shUpdateShop, map[string]any{"id": id, "input": map[string]any{"name": "乗っ取り"}})
		tjWantError(t, r.Errors, "NOT_FOUND", "id")

		_, staff := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, id)
		_, readKey := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
		_, linksKey := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeLinksWrite)
		for name, c := range map[string]*gqlEnv{"STAFF": staff, "journal:read key": readKey, "links:write key": linksKey} {
			r := c.Query(t, shUpdateShop, map[string]any{"id": id, "input": map[string]any{"name": "x"}})
			if len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
				t.Errorf("%s updateShop: %+v, want FORBIDDEN", name, r.Errors)
			}
			r = c.Query(t, shCreateShop, map[string]any{"input": map[string]any{"name": "x"}})
			if len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
				t.Errorf("%s createShop: %+v, want FORBIDDEN", name, r.Errors)
			}
		}
		var got struct{ Node struct{ Name string } }
		srv.MustQuery(t, `query($id: ID!){ node(id: $id) { ... on Shop { name } } }`, map[string]any{"id": id}, &got)
		if got.Node.Name != "渋谷本店" {
			t.Fatalf("name after refused changes: %q", got.Node.Name)
		}
	})
}

// TestShopGroups: groups are created, renamed, given shops and members;
// a STAFF member sees the group's shops at once and stops seeing them when
// removed; STAFF assignment by setUserShops with shopGroupIDs still works;
// deleting a group leaves its shops.
func TestShopGroups(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		mk := func(name string) pulid.ID {
			var out struct{ CreateShop shShop }
			srv.MustQuery(t, shCreateShop, map[string]any{"input": map[string]any{"name": name}}, &out)
			return out.CreateShop.ID
		}
		shibuya, shinjuku, ikebukuro := mk("渋谷店"), mk("新宿店"), mk("池袋店")
		staffUser, staff := srv.NewUser(t, srv.AccountID, viewer.RoleStaff)
		staffShops := func() []string {
			t.Helper()
			var out struct {
				Shops struct {
					Edges []struct{ Node struct{ Name string } }
				}
			}
			staff.MustQuery(t, `{ shops(orderBy: {field: NAME}) { edges { node { name } } } }`, nil, &out)
			var names []string
			for _, e := range out.Shops.Edges {
				names = append(names, e.Node.Name)
			}
			return names
		}

		type group struct {
			ID      pulid.ID
			Name    string
			Shops   []struct{ ID pulid.ID }
			Members []struct{ ID pulid.ID }
		}
		const fields = `id name shops { id } members { id }`
		var out struct {
			CreateShopGroup, RenameShopGroup, SetShopGroupShops, SetShopGroupMembers group
			DeleteShopGroup                                                          pulid.ID
		}
		srv.MustQuery(t, `mutation($in: CreateShopGroupInput!){ createShopGroup(input: $in) { `+fields+` } }`,
			map[string]any{"in": map[string]any{"name": "東京エリア", "shopIDs": []pulid.ID{shibuya, shinjuku}}}, &out)
		g := out.CreateShopGroup
		if g.Name != "東京エリア" || len(g.Shops) != 2 || len(g.Members) != 0 {
			t.Fatalf("created group: %+v", g)
		}
		srv.MustQuery(t, `mutation($id: ID!){ renameShopGroup(id: $id, name: "首都圏") { `+fields+` } }`, map[string]any{"id": g.ID}, &out)
		if out.RenameShopGroup.Name != "首都圏" {
			t.Fatalf("renamed: %+v", out.RenameShopGroup)
		}
		if names := staffShops(); len(names) != 0 {
			t.Fatalf("STAFF outside the group sees %v", names)
		}
		srv.MustQuery(t, `mutation($id: ID!, $u: [ID!]!){ setShopGroupMembers(id: $id, userIDs: $u) { `+fields+` } }`,
			map[string]any{"id": g.ID, "u": []pulid.ID{staffUser.ID}}, &out)
		if m := out.SetShopGroupMembers.Members; len(m) != 1 || m[0].ID != staffUser.ID {
			t.Fatalf("members: %+v", m)
		}
		if names := staffShops(); strings.Join(names, ",") != "新宿店,渋谷店" && strings.Join(names, ",") != "渋谷店,新宿店" {
			t.Fatalf("STAFF member sees %v, want 渋谷店 and 新宿店", names)
		}
		srv.MustQuery(t, `mutation($id: ID!, $s: [ID!]!){ setShopGroupShops(id: $id, shopIDs: $s) { `+fields+` } }`,
			map[string]any{"id": g.ID, "s": []pulid.ID{ikebukuro}}, &out)
		if names := staffShops(); strings.Join(names, ",") != "池袋店" {
			t.Fatalf("after the group's shops changed STAFF sees %v, want 池袋店", names)
		}
		// STAFF sees its own groups, and only itself among the members.
		var mine struct {
			ShopGroups []struct {
				Name    string
				Members []struct{ ID pulid.ID }
			}
		}
		staff.MustQuery(t, `{ shopGroups { name members { id } } }`, nil, &mine)
		if len(mine.ShopGroups) != 1 || mine.ShopGroups[0].Name != "首都圏" || len(mine.ShopGroups[0].Members) != 1 {
			t.Fatalf("STAFF's shopGroups: %+v", mine)
		}
		for _, q := range []string{
			`mutation($id: ID!){ renameShopGroup(id: $id, name: "x") { id } }`,
			`mutation($id: ID!){ deleteShopGroup(id: $id) }`,
		} {
			if r := staff.Query(t, q, map[string]any{"id": g.ID}); len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
				t.Errorf("STAFF %s: %+v, want FORBIDDEN", q, r.Errors)
			}
		}

		// The existing assignment path: setUserShops with a group.
		srv.MustQuery(t, `mutation($id: ID!, $u: [ID!]!){ setShopGroupMembers(id: $id, userIDs: $u) { id } }`,
			map[string]any{"id": g.ID, "u": []pulid.ID{}}, nil)
		if names := staffShops(); len(names) != 0 {
			t.Fatalf("STAFF removed from the group still sees %v", names)
		}
		srv.MustQuery(t, `mutation($id: ID!, $g: [ID!]!){ setUserShops(id: $id, shopIDs: [], shopGroupIDs: $g) { id } }`,
			map[string]any{"id": staffUser.ID, "g": []pulid.ID{g.ID}}, nil)
		if names := staffShops(); strings.Join(names, ",") != "池袋店" {
			t.Fatalf("STAFF assigned by setUserShops sees %v, want 池袋店", names)
		}

		// Bad input names the element at fault; another account's ids are NOT_FOUND.
		otherAcct, otherOwner := srv.NewAccount(t, "他社")
		otherUser, _ := srv.NewUser(t, otherAcct, viewer.RoleStaff)
		var oshop struct{ CreateShop shShop }
		otherOwner.MustQuery(t, shCreateShop, map[string]any{"input": map[string]any{"name": "他社の店"}}, &oshop)
		r := srv.Query(t, `mutation($id: ID!, $s: [ID!]!){ setShopGroupShops(id: $id, shopIDs: $s) { id } }`,
			map[string]any{"id": g.ID, "s": []pulid.ID{shibuya, oshop.CreateShop.ID}})
		tjWantError(t, r.Errors, "NOT_FOUND", "shopIDs[1]")
		r = srv.Query(t, `mutation($id: ID!, $u: [ID!]!){ setShopGroupMembers(id: $id, userIDs: $u) { id } }`,
			map[string]any{"id": g.ID, "u": []pulid.ID{otherUser.ID}})
		tjWantError(t, r.Errors, "NOT_FOUND", "userIDs[0]")
		r = otherOwner.Query(t, `mutation($id: ID!){ deleteShopGroup(id: $id) }`, map[string]any{"id": g.ID})
		tjWantError(t, r.Errors, "NOT_FOUND", "id")
		r = srv.Query(t, `mutation($in: CreateShopGroupInput!){ createShopGroup(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"name": "首都圏"}})
		tjWantError(t, r.Errors, "CONFLICT", "input.name")
		r = srv.Query(t, `mutation($in: CreateShopGroupInput!){ createShopGroup(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"name": "", "shopIDs": []pulid.ID{shibuya}}})
		tjWantError(t, r.Errors, "BAD_USER_INPUT", "input.name")

		srv.MustQuery(t, `mutation($id: ID!){ deleteShopGroup(id: $id) }`, map[string]any{"id": g.ID}, &out)
		if out.DeleteShopGroup != g.ID {
			t.Fatalf("deleteShopGroup answered %q", out.DeleteShopGroup)
		}
		if names := staffShops(); len(names) != 0 {
			t.Fatalf("after the group was deleted STAFF sees %v", names)
		}
		var all struct {
			ShopGroups []json.RawMessage
			Shops      struct{ TotalCount int }
		}
		srv.MustQuery(t, `{ shopGroups { id } shops { totalCount } }`, nil, &all)
		if len(all.ShopGroups) != 0 || all.Shops.TotalCount != 3 {
			t.Fatalf("after delete: %d groups, %d shops", len(all.ShopGroups), all.Shops.TotalCount)
		}
	})
}
