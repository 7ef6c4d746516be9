package dashboard_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/throughline/throughline/services/console"
)

// TestBIPanelShowsTheSignedInTenantsUser: GET /v1/dashboard/bi answers a
// tenant's read token with that tenant's read-only ClickHouse user and
// nothing of another tenant's, the admin token with the admin user, and
// no token, or a token asking for another tenant, with nothing.
func TestBIPanelShowsTheSignedInTenantsUser(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name, path, token string
		want              console.BIConnection
		notIn             []string // secrets the answer must not hold
	}{
		{"net's read token", "/v1/dashboard/bi", netToken,
			console.BIConnection{URL: biURL, Database: e.world.DB, Scope: "tenant", Tenant: "net", User: netCHUser, Password: netCHPass, Docs: "docs/bi.md"},
			[]string{otherCHUser, otherCHPass, adminCHUser, adminCHPass}},
		{"other's read token", "/v1/dashboard/bi?tenant=other", otherToken,
			console.BIConnection{URL: biURL, Database: e.world.DB, Scope: "tenant", Tenant: "other", User: otherCHUser, Password: otherCHPass, Docs: "docs/bi.md"},
			[]string{netCHUser, netCHPass, adminCHUser, adminCHPass}},
		{"the admin token", "/v1/dashboard/bi?tenant=net", sqlToken,
			console.BIConnection{URL: biURL, Database: e.world.DB, Scope: "admin", User: adminCHUser, Password: adminCHPass, Docs: "docs/bi.md"},
			[]string{netCHUser, netCHPass, otherCHUser, otherCHPass}},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.get(c.path, c.token)
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, body)
			}
			var got console.BIConnection
			e.getJSON(c.path, c.token, &got)
			if got != c.want {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
			for _, s := range c.notIn {
				if strings.Contains(string(body), s) {
					t.Errorf("the answer holds %q: %s", s, body)
				}
			}
		})
	}
	for _, c := range []struct{ name, path, token string }{
		{"no token", "/v1/dashboard/bi", ""},
		{"a wrong token", "/v1/dashboard/bi", "not-a-token-of-anyone"},
		{"net's token asking for other", "/v1/dashboard/bi?tenant=other", netToken},
	} {
		status, body := e.get(c.path, c.token)
		if status == http.StatusOK || strings.Contains(string(body), "password") {
			t.Errorf("%s: %d %s", c.name, status, body)
		}
	}
	// The secret is for the person signed in, not for caches.
	req, _ := http.NewRequest("GET", e.url+"/v1/dashboard/bi", nil)
	req.Header.Set("Authorization", "Bearer "+netToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
}
