package demo

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/pkg/vendorsign"
)

// simulate runs the network through days of history, one hit per spacing,
// and returns every request the calls, CRMs and cost uploads made, with
// the world that made them. CRM states are applied as the sender would.
func simulate(t *testing.T, branches int, days int, spacing time.Duration) ([]*hookReq, *world) {
	t.Helper()
	return simulateWith(t, Tenants(1, branches), days, spacing)
}

// simulateWith is simulate of the network tc (whose secrets a test checks).
func simulateWith(t *testing.T, tc *tenants.Config, days int, spacing time.Duration) ([]*hookReq, *world) {
	t.Helper()
	s, err := newSim(5, tc, "story")
	if err != nil {
		t.Fatal(err)
	}
	s.w.store = newCRMStore()
	var out []*hookReq
	collect := func(acts []*action) {
		for _, a := range acts {
			for _, h := range a.make(a.due) {
				if h.before != nil {
					h.before()
				}
				out = append(out, h)
			}
		}
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, msk)
	end := t0.AddDate(0, 0, days)
	for now := t0; now.Before(end); now = now.Add(spacing) {
		s.next(now)
		collect(s.w.due(now))
	}
	collect(s.w.due(end))
	return out, s.w
}

func form(t *testing.T, h *hookReq) url.Values {
	t.Helper()
	v, err := url.ParseQuery(string(h.body))
	if err != nil {
		t.Fatalf("%s: %v", h.target, err)
	}
	return v
}

// The story the reports are meant to tell: Yandex Direct pays for itself
// several times over, VK Ads loses money, one branch forgets deal amounts.
func TestStory(t *testing.T) {
	reqs, w := simulate(t, 20, 30, 17*time.Second) // ~5000 hits a day
	tally := w.tally.snapshot()
	roi := func(ch string) float64 {
		c := tally[ch]
		if c.Cost == 0 {
			t.Fatalf("%s has no cost: %+v", ch, c)
		}
		return float64(c.Revenue-c.Cost) / float64(c.Cost)
	}
	t.Logf("ROI over 30 days: yandex_direct %+.0f%%, google_ads %+.0f%%, vk_ads %+.0f%%, telegram %+.0f%%, offline %+.0f%%",
		100*roi("yandex_direct"), 100*roi("google_ads"), 100*roi("vk_ads"), 100*roi("telegram"), 100*roi("offline"))
	if r := roi("yandex_direct"); r < 1 {
		t.Errorf("yandex_direct ROI %.2f, want clearly profitable (> 1): %+v", r, tally["yandex_direct"])
	}
	if r := roi("vk_ads"); r > -0.2 {
		t.Errorf("vk_ads ROI %.2f, want clearly losing (< -0.2): %+v", r, tally["vk_ads"])
	}
	for _, ch := range []string{"yandex_direct", "google_ads", "vk_ads", "organic", "offline"} {
		if c := tally[ch]; c.Leads < 20 || c.Won == 0 || c.Lost == 0 {
			t.Errorf("%s: %+v", ch, c)
		}
	}

	// Won deals without an amount: many in the sloppy branch, none elsewhere.
	wonZero, wonTotal := map[string]int{}, map[string]int{}
	for _, h := range reqs {
		if !strings.Contains(h.target, "/crm/amocrm") {
			continue
		}
		f := form(t, h)
		if f.Get("leads[status][0][status_id]") != amoWon {
			continue
		}
		acc := strings.TrimPrefix(f.Get("account[subdomain]"), "demo-")
		wonTotal[acc]++
		if f.Get("leads[status][0][price]") == "0" {
			wonZero[acc]++
		}
	}
	if wonTotal[sloppyBranch] < 4 || wonZero[sloppyBranch]*4 < wonTotal[sloppyBranch] {
		t.Errorf("%s: %d of %d won deals without amount", sloppyBranch, wonZero[sloppyBranch], wonTotal[sloppyBranch])
	}
	for acc, n := range wonZero {
		if acc != sloppyBranch {
			t.Errorf("%s: %d won deals without amount", acc, n)
		}
	}
}

// Calls come through both vendors: Calltouch with the visitor's client id
// (dynamic numbers) or none (offline numbers), Mango signed with the
// branch's salt; some are missed, some short.
func TestCalls(t *testing.T) {
	tc := Tenants(1, 6)
	reqs, _ := simulateWith(t, tc, 5, 17*time.Second)
	var calltouch, withClient, offline, mango, missed, short, others int
	for _, h := range reqs {
		if h.kind != kindCalls {
			continue
		}
		switch {
		case strings.HasPrefix(h.target, "/v1/hooks/calls/calltouch?k="):
			calltouch++
			f := form(t, h)
			for _, p := range []string{"callId", "callerphone", "phonenumber", "timestamp", "duration", "waiting_time", "successful"} {
				if f.Get(p) == "" {
					t.Fatalf("calltouch call without %s: %s", p, h.body)
				}
			}
			if f.Get("tl_client_id") != "" {
				withClient++
			} else if strings.HasPrefix(f.Get("phonenumber"), "7499") {
				offline++
			}
			if d, _ := strconv.Atoi(f.Get("duration")); f.Get("successful") == "false" {
				missed++
			} else if d < targetTalk {
				short++
			}
		case strings.HasPrefix(h.target, "/v1/hooks/calls/mango/k/"):
			mango++
			key := strings.TrimSuffix(strings.TrimPrefix(h.target, "/v1/hooks/calls/mango/k/"), "/events/summary")
			acc := ""
			for _, a := range tc.Tenants[0].Accounts {
				if a.ServerKey() == key {
					acc = a.ID
				}
			}
			a := account(t, tc, acc)
			f := form(t, h)
			if f.Get("sign") != vendorsign.Mango(f.Get("vpbx_api_key"), f.Get("json"), a.CallTracking[0].Secret) {
				t.Fatalf("mango call not signed with %s's salt", acc)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(f.Get("json")), &m); err != nil || m["entry_id"] == "" || m["create_time"] == nil {
				t.Fatalf("mango summary %s", f.Get("json"))
			}
		case strings.HasPrefix(h.target, "/v1/hooks/calls/alloka?"), strings.HasPrefix(h.target, "/v1/hooks/calls/callibri?"):
			var m map[string]any
			if err := json.Unmarshal(h.body, &m); err != nil || !strings.Contains(h.target, "&token=") {
				t.Fatalf("%s %s", h.target, h.body)
			}
			others++
		default:
			t.Fatalf("call to %s", h.target)
		}
	}
	if others == 0 {
		t.Error("no Alloka or Callibri calls")
	}
	if calltouch < 20 || withClient == 0 || offline == 0 || mango < 10 || missed == 0 || short == 0 {
		t.Errorf("calltouch %d (%d with client id, %d offline), mango %d, missed %d, short %d",
			calltouch, withClient, offline, mango, missed, short)
	}
}

// CRM changes of every vendor, in each lead's order; Bitrix24 events carry
// ids only and the simulated portal holds the entity they name.
func TestCRMChanges(t *testing.T) {
	reqs, w := simulate(t, 5, 20, 17*time.Second)
	counts := map[string]int{}
	for _, h := range reqs {
		if h.kind != kindCRM {
			continue
		}
		switch {
		case strings.Contains(h.target, "/crm/bitrix24"):
			f := form(t, h)
			ev, id := f.Get("event"), f.Get("data[FIELDS][ID]")
			counts[ev]++
			kind := strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(ev, "ONCRM"), "ADD"), "UPDATE"), "DELETE"))
			if w.store.get(strings.TrimSuffix(f.Get("auth[domain]"), ".bitrix24.ru"), "bitrix24/"+kind, id) == nil {
				t.Fatalf("%s %s: the portal does not have it", ev, id)
			}
			if f.Get("auth[application_token]") == "" {
				t.Fatal("bitrix24 event without application token")
			}
		case strings.Contains(h.target, "/crm/amocrm"):
			f := form(t, h)
			switch {
			case f.Get("leads[add][0][id]") != "":
				counts["amo add"]++
			case f.Get("leads[status][0][price]") == "":
				counts["amo pipeline (pull)"]++
			case f.Get("leads[status][0][status_id]") == amoWon:
				counts["amo won"]++
			case f.Get("leads[status][0][status_id]") == amoLost:
				counts["amo lost"]++
			}
		case strings.HasSuffix(h.target, "/crm/generic"):
			var body struct {
				Changes []map[string]any `json:"changes"`
			}
			if err := json.Unmarshal(h.body, &body); err != nil || len(body.Changes) != 1 || body.Changes[0]["updated_at"] == nil {
				t.Fatalf("generic %s", h.body)
			}
			counts["generic "+body.Changes[0]["entity"].(string)+" "+body.Changes[0]["action"].(string)]++
			if h.header["X-Write-Key"] == "" {
				t.Fatal("generic change without key")
			}
		}
	}
	for _, k := range []string{"ONCRMLEADADD", "ONCRMLEADUPDATE", "ONCRMCONTACTADD", "ONCRMDEALADD", "ONCRMDEALUPDATE",
		"amo add", "amo pipeline (pull)", "amo won", "amo lost", "generic lead add", "generic deal add", "generic deal status"} {
		if counts[k] == 0 {
			t.Errorf("no %s: %v", k, counts)
		}
	}
}

// Cost reports: Yandex per branch with the branch's key, the others
// centrally with the tenant key; restating today only ever adds.
func TestCostReports(t *testing.T) {
	tc := Tenants(1, 3)
	reqs, w := simulateWith(t, tc, 2, 10*time.Second)
	tn := tc.Tenants[0]
	formats := map[string]int{}
	for _, h := range reqs {
		if h.kind != kindCosts {
			continue
		}
		q, _ := url.ParseQuery(h.target[strings.IndexByte(h.target, '?')+1:])
		formats[q.Get("format")]++
		if q.Get("from") == "" || q.Get("from") != q.Get("to") {
			t.Errorf("%s does not declare its day", h.target)
		}
		key := strings.TrimPrefix(h.header["Authorization"], "Bearer ")
		switch q.Get("format") {
		case "yandex":
			lines := strings.Split(strings.TrimSpace(string(h.body)), "\n")
			if key == tn.TenantKeys[0] || !strings.HasPrefix(lines[1], "Date\tCampaignId") ||
				lines[len(lines)-1] != "Total rows: "+strconv.Itoa(len(lines)-3) {
				t.Errorf("yandex report:\n%s", h.body)
			}
		default:
			if key != tn.TenantKeys[0] {
				t.Errorf("%s uploaded with an account key", q.Get("format"))
			}
		}
	}
	for _, f := range []string{"yandex", "google", "vk", "generic"} {
		if formats[f] == 0 {
			t.Errorf("no %s upload: %v", f, formats)
		}
	}

	// Today's spend, uploaded twice: the second upload has at least as much.
	day := w.day
	total := func() int64 {
		var sum int64
		for _, r := range w.costRows(day, day.Format("2006-01-02"), day.AddDate(0, 0, 1)) {
			sum += r.fee
		}
		return sum
	}
	before := total()
	w.landed(0, "yandex_direct", "search-brand", day.Add(time.Hour))
	if after := total(); after < before {
		t.Errorf("today's spend went from %d to %d with one more click", before, after)
	}
	if n := len(w.costUploads(day, true, day.AddDate(0, 0, 1))); n == 0 || w.book[day] != nil {
		t.Errorf("final upload: %d requests, book kept %v", n, w.book[day] != nil)
	}
}

// Live, the branches with Throughline's own number pool lease a number for
// each visitor who clicks the phone, and the call the PBX then reports
// through the generic webhook is to that number and carries no client id:
// the stitcher links it through the lease.
func TestPoolNumberCalls(t *testing.T) {
	tc := Tenants(1, 3)
	pool, provider := account(t, tc, tc.Tenants[0].Accounts[2].ID).NumberPool()
	if pool == nil || provider != vendorGeneric {
		t.Fatalf("branch 2 has no number pool on the generic webhook: %v %s", pool, provider)
	}
	s, err := newSim(5, tc, "pool")
	if err != nil {
		t.Fatal(err)
	}
	s.w.store = newCRMStore()
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, msk)
	s.w.goLive(t0, time.Minute)
	answered := map[string]bool{} // numbers the fake collector leased
	leases, poolCalls := 0, 0
	for now := t0; now.Before(t0.Add(12 * time.Hour)); now = now.Add(2 * time.Second) {
		s.next(now)
		for _, a := range s.w.due(now) {
			for _, h := range a.make(a.due) {
				switch {
				case h.kind == kindNumbers:
					u, err := url.Parse(h.target)
					if err != nil || u.Path != "/v1/numbers" || u.Query().Get("cid") == "" || h.answered == nil {
						t.Fatalf("lease request %s", h.target)
					}
					n := pool.Numbers[leases%len(pool.Numbers)]
					leases++
					answered[n] = true
					h.answered([]byte(`{"number":"` + n + `","display":"x","expires_at":1}`))
				case h.target == "/v1/hooks/calls/generic":
					var c map[string]any
					if err := json.Unmarshal(h.body, &c); err != nil || h.header["X-Write-Key"] != s.w.branches[2].server {
						t.Fatalf("generic call %s: %v", h.body, err)
					}
					if _, ok := c["client_id"]; ok || !answered[fmt.Sprint(c["tracking_number"])] {
						t.Fatalf("a pool call must be to a leased number, without a client id: %s", h.body)
					}
					poolCalls++
				}
			}
		}
	}
	if leases == 0 || poolCalls == 0 {
		t.Fatalf("%d leases, %d calls to leased numbers", leases, poolCalls)
	}
	t.Logf("%d leases, %d calls to leased numbers", leases, poolCalls)
}
