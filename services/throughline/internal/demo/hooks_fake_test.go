package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/pkg/vendorsign"
)

// hookCounts is what the fake collector saw of the integrations.
type hookCounts struct {
	calls  map[string]int // by vendor
	crm    map[string]int // by vendor
	pulled map[string]int // entities pulled back from the simulated CRMs, by vendor
	closed int            // deals won or lost
	costs  map[string]int // by format
	leases int            // pool numbers leased
	chats  int            // Jivo chats
}

// serveHook stands in for the collector's webhook and cost routes the way
// they authenticate: call and CRM webhooks by the account's key and the
// vendor's credentials (Mango's signature, Bitrix24's application token),
// with the entity pulled back from the CRM as the collector does; cost
// uploads by a tenant key or an account key. It reports whether it took
// the request. f.mu is held.
func (f *fakeCollector) serveHook(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/v1/hooks/") && p != "/v1/costs" && p != "/v1/numbers" {
		return false
	}
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	account := func(key string) *tenants.Account {
		pr, ok := f.keys.Lookup(key)
		if !ok {
			return nil
		}
		_, a := f.tc.Find(pr.Tenant, pr.Account)
		return a
	}
	switch {
	case p == "/v1/numbers":
		a := account(r.URL.Query().Get("k"))
		if a == nil || r.URL.Query().Get("cid") == "" {
			f.problem("number lease for %v without a client id", a)
			break
		}
		pool, _ := a.NumberPool()
		if pool == nil {
			f.problem("number lease for %s, which has no pool", a.ID)
			break
		}
		f.hooks.leases++
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"number":"` + pool.Numbers[f.hooks.leases%len(pool.Numbers)] + `"}`))
		return true
	case p == "/v1/hooks/calls/calltouch":
		a := account(r.URL.Query().Get("k"))
		if a == nil || a.CallTracking[0].Provider != vendorCalltouch || form.Get("callId") == "" {
			f.problem("calltouch call %s for %v", body, a)
			break
		}
		f.hooks.calls[vendorCalltouch]++
	case p == "/v1/hooks/calls/generic":
		a := account(r.Header.Get("X-Write-Key"))
		var c struct {
			CallID   string `json:"call_id"`
			Tracking string `json:"tracking_number"`
			ClientID string `json:"client_id"`
		}
		var pool *tenants.NumberPool
		if a != nil {
			pool, _ = a.NumberPool()
		}
		if pool == nil || json.Unmarshal(body, &c) != nil || c.CallID == "" || c.ClientID != "" ||
			!slices.Contains(pool.Numbers, c.Tracking) {
			f.problem("generic call %s for %v", body, a)
			break
		}
		f.hooks.calls[vendorGeneric]++
	case strings.HasPrefix(p, "/v1/hooks/calls/mango/k/") && strings.HasSuffix(p, "/events/summary"):
		a := account(strings.TrimSuffix(strings.TrimPrefix(p, "/v1/hooks/calls/mango/k/"), "/events/summary"))
		if a == nil || form.Get("sign") != vendorsign.Mango(form.Get("vpbx_api_key"), form.Get("json"), a.CallTracking[0].Secret) {
			f.problem("mango call with a bad key or signature: %s", body)
			break
		}
		f.hooks.calls[vendorMango]++
	case p == "/v1/hooks/crm/amocrm":
		a := account(r.URL.Query().Get("k"))
		if a == nil || a.CRM.Provider != crmAmoCRM {
			f.problem("amocrm change for %v", a)
			break
		}
		f.hooks.crm[crmAmoCRM]++
		status := form.Get("leads[status][0][status_id]")
		if status == amoWon || status == amoLost {
			f.hooks.closed++
		}
		if id := form.Get("leads[status][0][id]"); id != "" && form.Get("leads[status][0][price]") == "" {
			var lead struct {
				StatusID json.Number `json:"status_id"`
			}
			if f.pull(a.CRM.BaseURL+"/api/v4/leads/"+id, a.CRM.AppToken, &lead) && lead.StatusID.String() != status {
				f.problem("amocrm lead %s pulled in status %s, the webhook said %s", id, lead.StatusID, status)
			}
			f.hooks.pulled[crmAmoCRM]++
		}
	case p == "/v1/hooks/crm/bitrix24":
		a := account(r.URL.Query().Get("k"))
		if a == nil || a.CRM.Provider != crmBitrix24 || form.Get("auth[application_token]") != a.CRM.AppToken {
			f.problem("bitrix24 event with a bad key or token")
			break
		}
		f.hooks.crm[crmBitrix24]++
		kind := strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(form.Get("event"), "ONCRM"), "ADD"), "UPDATE"))
		var answer struct {
			Result map[string]any `json:"result"`
		}
		if !f.pull(a.CRM.BaseURL+"crm."+kind+".get?id="+form.Get("data[FIELDS][ID]"), "", &answer) {
			break // the blocked portal
		}
		f.hooks.pulled[crmBitrix24]++
		ts, _ := time.Parse(time.RFC3339, answer.Result["DATE_MODIFY"].(string))
		if unix(ts) != form.Get("ts") {
			f.problem("%s pulled as of %v, the event is of %s: the CRM state is not the change's", form.Get("event"), ts, form.Get("ts"))
		}
		if sem := answer.Result["STAGE_SEMANTIC_ID"]; kind == "deal" && (sem == "S" || sem == "F") {
			f.hooks.closed++
		}
	case p == "/v1/hooks/calls/alloka" || p == "/v1/hooks/calls/callibri":
		vendor := strings.TrimPrefix(p, "/v1/hooks/calls/")
		a := account(r.URL.Query().Get("k"))
		var c map[string]any
		if a == nil || a.CallTracking[0].Provider != vendor || r.URL.Query().Get("token") != a.CallTracking[0].Secret ||
			json.Unmarshal(body, &c) != nil {
			f.problem("%s call %s for %v", vendor, body, a)
			break
		}
		f.hooks.calls[vendor]++
	case p == "/v1/hooks/chats/jivo":
		a := account(r.URL.Query().Get("k"))
		var c struct {
			Event  string `json:"event_name"`
			ChatID int64  `json:"chat_id"`
			Token  string `json:"user_token"`
		}
		if a == nil || len(a.Chats) == 0 || r.URL.Query().Get("token") != a.Chats[0].Token ||
			json.Unmarshal(body, &c) != nil || c.Event != "chat_accepted" || c.ChatID == 0 || c.Token == "" {
			f.problem("jivo chat %s for %v", body, a)
			break
		}
		f.hooks.chats++
	case p == "/v1/hooks/crm/megaplan" || p == "/v1/hooks/crm/dynamics":
		vendor := strings.TrimPrefix(p, "/v1/hooks/crm/")
		a := account(r.URL.Query().Get("k"))
		token := r.URL.Query().Get("token")
		if vendor == crmDynamics {
			token = r.URL.Query().Get("code")
		}
		var c map[string]any
		if a == nil || a.CRM.Provider != vendor || token != a.CRM.AppToken || json.Unmarshal(body, &c) != nil {
			f.problem("%s change %s for %v", vendor, body, a)
			break
		}
		f.hooks.crm[vendor]++
		if d, _ := c["data"].(map[string]any); d != nil {
			if st, _ := d["state"].(map[string]any); st["type"] != "active" {
				f.hooks.closed++
			}
		} else if c["statecode"] != float64(0) {
			f.hooks.closed++
		}
	case p == "/v1/hooks/crm/generic":
		if a := account(r.Header.Get("X-Write-Key")); a == nil || a.CRM.Provider != crmGeneric {
			f.problem("generic change for %v", a)
			break
		}
		f.hooks.crm[crmGeneric]++
	case p == "/v1/costs":
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, tenantKey := f.keys.LookupTenant(key); !tenantKey && account(key) == nil {
			f.problem("cost upload with an unknown key")
			break
		}
		f.hooks.costs[r.URL.Query().Get("format")]++
	default:
		f.problem("unexpected %s %s", r.Method, p)
		w.WriteHeader(http.StatusNotFound)
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"accepted":1}`))
	return true
}

// pull GETs an entity from a simulated CRM into v; false when the CRM
// refused (the story's blocked portal), a problem when it failed otherwise.
func (f *fakeCollector) pull(u, token string, v any) bool {
	req, _ := http.NewRequest("GET", u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.problem("pull %s: %v", u, err)
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(b), "OVERLOAD_LIMIT") {
		f.blocked++
		return false
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, v) != nil {
		f.problem("pull %s: %d %s", u, resp.StatusCode, b)
		return false
	}
	return true
}
