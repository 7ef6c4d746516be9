package console

import (
	"encoding/json"
	"net/http"

	"github.com/throughline/throughline/pkg/tenants"
)

// BIConnection is what the dashboard's "Connect your BI" panel shows: where
// ClickHouse's HTTP interface is and which user to connect as. A tenant's
// read token gets the tenant's own read-only user (row policies keep it to
// the tenant's rows); the admin token gets the admin user. No answer ever
// holds another tenant's user.
type BIConnection struct {
	// URL of ClickHouse's HTTP interface ("" when the console was not told,
	// --console-clickhouse-url).
	URL      string `json:"url"`
	Database string `json:"database"`
	// Scope is "tenant" (a read-only user of the tenant) or "admin".
	Scope  string `json:"scope"`
	Tenant string `json:"tenant,omitempty"`
	// User and Password are empty when the tenants file names none for the
	// scope (the panel then says how to add one).
	User     string `json:"user"`
	Password string `json:"password,omitempty"`
	Docs     string `json:"docs"`
}

// serveBI is GET /v1/dashboard/bi.
func (c *Console) serveBI(w http.ResponseWriter, r *http.Request) {
	bound, rerr := c.reader(r)
	if rerr != nil {
		c.reportFailed(w, r, "bi", rerr)
		return
	}
	ans := BIConnection{URL: c.cfg.ClickHouseURL, Database: c.db, Docs: "docs/bi.md"}
	var user *tenants.ClickHouseUser
	if bound == "" {
		// The admin token: the admin's own user, never a tenant's.
		ans.Scope = "admin"
		user = c.tenants.ClickHouse.Admin
	} else {
		// A read token: its own tenant's first user; ?tenant= may only
		// repeat the token's tenant, as on every report.
		t, id, rerr := c.tenantOf(r)
		if rerr != nil {
			c.reportFailed(w, r, "bi", rerr)
			return
		}
		ans.Scope, ans.Tenant = "tenant", id
		if t != nil && len(t.ClickHouseUsers) > 0 {
			user = &t.ClickHouseUsers[0]
		}
	}
	if user != nil {
		ans.User, ans.Password = user.User, user.Password
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // a password: not for caches
	json.NewEncoder(w).Encode(ans)
}
