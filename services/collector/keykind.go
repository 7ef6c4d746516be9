package collector

import (
	"net/http"

	"github.com/throughline/throughline/pkg/tenants"
)

// reasonSiteKey counts requests refused because they came with a site key
// where a server key is needed.
const reasonSiteKey = "site_key"

// requireServerKey refuses a site key on a route that makes leads or
// revenue (calls, CRM, chats, costs): a site key is public — it is in every
// page of the branch's site — so anyone could forge deals with it. It
// answers 403 itself and reports whether the request may go on.
func (c *Collector) requireServerKey(w http.ResponseWriter, p tenants.Principal, source string) bool {
	if p.Server {
		return true
	}
	c.m.reject(source, reasonSiteKey, "k")
	c.warn.Warn().Str("tenant", p.Tenant).Str("account", p.Account).Str("source", source).
		Msg("site key refused on a server route")
	writeError(w, http.StatusForbidden,
		"this is the account's site key, which is public; calls, CRM, chats and costs need its server key (server_keys in the tenants file)", "k", "site key")
	return false
}
