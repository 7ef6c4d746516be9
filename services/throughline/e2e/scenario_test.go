package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The windscreen dealer of issue 13's scenario: one branch with Alloka
// calls, Jivo chats, Megaplan deals and a Yandex Direct connector.
const (
	dealerSiteKey   = "dealer-site-key-0001"
	dealerServerKey = "dealer-server-key-0001"
	dealerRead      = "dealer-read-token-0001"
	dealerAlloka    = "dealer-alloka-secret-01"
	dealerJivo      = "dealer-jivo-token-0001"
	dealerMegaplan  = "dealer-megaplan-token-1"
)

// channelRow is the part of a channel report row the scenario checks.
type channelRow struct {
	Channel     string   `json:"channel"`
	Cost        float64  `json:"cost"`
	Leads       float64  `json:"leads"`
	LeadsCall   float64  `json:"leads_call"`
	LeadsChat   float64  `json:"leads_chat"`
	WonDeals    float64  `json:"won_deals"`
	Units       float64  `json:"units"`
	Revenue     float64  `json:"revenue"`
	CPLCall     *float64 `json:"cpl_call"`
	CPLChat     *float64 `json:"cpl_chat"`
	CostPerUnit *float64 `json:"cost_per_unit"`
}

// TestScenarioDealerCostPerCallChatUnit is issue 13's scenario through the
// all-in-one binary: two visitors come from a Yandex Direct ad click; one
// calls (Alloka), the other chats (Jivo), each carrying the tracker's client
// id; the caller's deal is won in Megaplan with 2 windscreens; Yandex Direct
// spend is pulled by the cost connector from a server answering as the
// Reports API does. The channel report's cost per call, per chat and per
// windscreen equal the figures computed by hand — and again after Direct
// restates a day and the next pull (a restart pulls at once) brings it.
func TestScenarioDealerCostPerCallChatUnit(t *testing.T) {
	t.Setenv("E2E_DIRECT_TOKEN", "y0_e2e-direct-token")
	// Yesterday 1,500.00 RUB, the day before 2,000.00 (micro-units).
	direct := &fakeDirect{spend: [2]int64{1_500_000_000, 2_000_000_000}}
	srv := httptest.NewServer(direct)
	defer srv.Close()
	n := newNode(t)
	tenantsYAML := `tenants:
  - id: glass
    timezone: UTC
    currency: RUB
    read_tokens: [` + dealerRead + `]
    accounts:
      - id: dealer
        site_keys: [` + dealerSiteKey + `]
        server_keys: [` + dealerServerKey + `]
        call_tracking: [{provider: alloka, secret: ` + dealerAlloka + `}]
        chats: [{provider: jivo, token: ` + dealerJivo + `}]
        crm: {provider: megaplan, app_token: ` + dealerMegaplan + `}
        cost_connectors:
          - {provider: yandex_direct, base_url: "` + srv.URL + `", token_env: E2E_DIRECT_TOKEN, restate_days: 3}
`
	if err := os.WriteFile(filepath.Join(n.dataDir, "tenants.yaml"), []byte(tenantsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	n.start("--collector-cost-pull-spread", "0s")

	// Two visits from a Direct ad click, then a 95 s answered call from
	// the first visitor and a chat from the second.
	run := time.Now().UnixNano()
	caller, chatter := fmt.Sprintf("tl.caller%d", run), fmt.Sprintf("tl.chatter%d", run)
	for _, cid := range []string{caller, chatter} {
		page := "https://dealer.example.ru/zamena-lobovogo?utm_source=yandex&utm_medium=cpc&utm_campaign=windscreens&yclid=" + cid
		if r := n.pixel(dealerSiteKey, cid, page); r.StatusCode/100 != 2 {
			t.Fatalf("pixel of %s: %d", cid, r.StatusCode)
		}
	}
	now := time.Now().UTC()
	hooks := "http://" + n.collector + "/v1/hooks/"
	n.hook(t, hooks+"calls/alloka?k="+dealerServerKey+"&token="+dealerAlloka, map[string]any{
		"call_id": fmt.Sprintf("alk-%d", run), "event": "call_end", "caller_number": "8 (916) 123-45-67",
		"virtual_number": "+7 495 777-00-11", "start_time": now.Add(5 * time.Second).Unix(), "wait_time": "7",
		"talk_time": "95", "status": "ANSWERED", "tl_client_id": caller,
	})
	n.hook(t, hooks+"chats/jivo?k="+dealerServerKey+"&token="+dealerJivo, map[string]any{
		"event_name": "chat_accepted", "chat_id": run % 1_000_000, "widget_id": "2853",
		"visitor":     map[string]any{"name": "Пётр", "number": "2747"},
		"custom_data": []map[string]any{{"title": "tl_client_id", "content": chatter}},
	})
	// The caller buys two windscreens: the deal is won in Megaplan.
	n.hook(t, hooks+"crm/megaplan?k="+dealerServerKey+"&token="+dealerMegaplan, map[string]any{
		"event": "on_deal_updated", "model": "Deal",
		"data": map[string]any{
			"contentType": "Deal", "id": fmt.Sprint(run % 1_000_000),
			"state": map[string]any{"contentType": "ProgramState", "id": "41", "type": "positive"},
			"price": map[string]any{"contentType": "Money", "value": 30000, "currency": "RUB"},
			"positions": []map[string]any{
				{"contentType": "DealPosition", "name": "Лобовое стекло", "quantity": 2},
			},
			"contractor":                           map[string]any{"contentType": "ContractorHuman", "id": "77", "phones": []string{"+7 916 123-45-67"}},
			"Category1000047CustomFieldTlClientId": caller,
			"timeUpdated":                          map[string]any{"contentType": "DateTime", "value": now.Add(time.Minute).Format(time.RFC3339)},
		},
	})

	// By hand: the report spans the pulled days and today; Direct's cost is
	// the sum of its two days; one call lead, one chat lead, two units.
	check := func(yesterday, before float64) {
		t.Helper()
		cost := yesterday + before
		want := channelRow{Channel: "yandex_direct", Cost: cost, Leads: 2, LeadsCall: 1, LeadsChat: 1, WonDeals: 1,
			Units: 2, Revenue: 30000}
		row := n.waitChannelRow(t, "yandex_direct", func(r channelRow) bool {
			return r.Cost == cost && r.Units == 2 && r.LeadsCall == 1 && r.LeadsChat == 1
		})
		if row.Leads != want.Leads || row.WonDeals != want.WonDeals || row.Revenue != want.Revenue {
			t.Fatalf("yandex_direct row %+v, want %+v", row, want)
		}
		for name, c := range map[string]struct {
			got  *float64
			want float64
		}{
			"cpl_call":      {row.CPLCall, cost / 1},
			"cpl_chat":      {row.CPLChat, cost / 1},
			"cost_per_unit": {row.CostPerUnit, cost / 2},
		} {
			if c.got == nil || *c.got != c.want {
				t.Fatalf("%s = %v, want %v (cost %v)", name, deref(c.got), c.want, cost)
			}
		}
	}
	check(1500, 2000)
	// The dashboard shows the connector: pulling, its last pull of the
	// three days and its next run.
	var conns struct {
		State      string `json:"state"`
		Connectors []struct {
			Account, Connector, From, To string
			Rows                         int
			LastSuccess                  int64  `json:"last_success"`
			NextRun                      int64  `json:"next_run"`
			LastError                    string `json:"last_error"`
		} `json:"connectors"`
	}
	// Dated by the pull (yesterday on the collector's clock), not by ours:
	// the two may stand on either side of midnight.
	to, _ := direct.waitPull(t, 0)
	day := func(back int) string { return to.AddDate(0, 0, 1-back).Format(time.DateOnly) }
	n.getJSON(t, "/v1/dashboard/costs/connectors", dealerRead, &conns)
	if c := conns.Connectors; conns.State != "pulling" || len(c) != 1 || c[0].Account != "dealer" || c[0].Connector != "yandex_direct" ||
		c[0].From != day(3) || c[0].To != day(1) || c[0].Rows != 3 || c[0].LastSuccess == 0 || c[0].NextRun <= c[0].LastSuccess ||
		c[0].LastError != "" {
		t.Fatalf("the dashboard's cost connectors: %+v", conns)
	}
	n.stop()

	// Direct revises the day before yesterday; the next pull restates it.
	direct.mu.Lock()
	direct.spend[1] = 1_750_500_000
	direct.mu.Unlock()
	n.start("--collector-cost-pull-spread", "0s")
	check(1500, 1750.5)
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// getJSON reads a console route with token into v.
func (n *node) getJSON(t testing.TB, path, token string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.console+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, v) != nil {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
}

// hook POSTs a vendor's JSON delivery and fails unless it was accepted.
func (n *node) hook(t testing.TB, u string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(out, []byte(`"accepted":1`)) {
		t.Fatalf("%s: %d %s", u, resp.StatusCode, out)
	}
}

// waitChannelRow polls the channel report of tenant glass (last_non_direct,
// the last four days to tomorrow: the pulled days and the call and deal
// sent a minute ahead, on whichever side of midnight the test runs) until
// channel ch's row satisfies ok.
func (n *node) waitChannelRow(t testing.TB, ch string, ok func(channelRow) bool) channelRow {
	t.Helper()
	now := time.Now().UTC()
	q := url.Values{"tenant": {"glass"}, "from": {now.AddDate(0, 0, -4).Format(time.DateOnly)},
		"to": {now.AddDate(0, 0, 1).Format(time.DateOnly)}, "model": {"last_non_direct"}}
	var last []byte
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", "http://"+n.console+"/v1/reports/channels?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+dealerRead)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		last, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		var rep struct{ Rows []channelRow }
		if resp.StatusCode == 200 && json.Unmarshal(last, &rep) == nil {
			for _, r := range rep.Rows {
				if r.Channel == ch && ok(r) {
					return r
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("channel %s never as expected; last report:\n%s\nlogs:\n%s", ch, last, tail(n.logs.String(), 4000))
	return channelRow{}
}
