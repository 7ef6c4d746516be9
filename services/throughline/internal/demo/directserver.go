package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

// The demo's Yandex Direct Reports API: the branch whose Direct spend the
// collector pulls (a cost connector, docs/costs.md) rather than the demo
// pushing it. The fake is part of the simulated CRMs' loopback server, at
// <URL>/demo-direct/<account>/json/v5/reports; it checks the connector's
// token (DirectTokenEnv, a random one the demo sets in its own process) and
// serves the spend the branch would otherwise have uploaded, day by day.
const (
	directPathPrefix = "/demo-direct/"
	// DirectTokenEnv names the environment variable holding the simulated
	// Direct account's OAuth token: the tenants file refers to it
	// (token_env), the demo sets it to a random token if unset.
	DirectTokenEnv = "THROUGHLINE_DEMO_DIRECT_TOKEN"
	// directRestateDays is the connector's window: the default 30-day
	// history and yesterday, so the first pull fetches the whole history.
	directRestateDays = 31
	// directRetryIn is the retryIn (seconds) of a report "being built":
	// the fake answers so until the history's spend is known.
	directRetryIn = 5
)

// directPulls tells the branch whose Direct spend is pulled (kazan: Moscow
// time, the demo's day, so the connector's days are the demo's days).
func directPulls(i int) bool { return i == 4 }

// directConnector is the cost connector of a pulling branch.
func directConnector(crmURL, account string) tenants.CostConnector {
	return tenants.CostConnector{Provider: tenants.CostYandexDirect,
		BaseURL:  strings.TrimRight(crmURL, "/") + directPathPrefix + account + "/json/v5/reports",
		TokenEnv: DirectTokenEnv, RestateDays: directRestateDays}
}

// ensureDirectToken sets DirectTokenEnv to a random token unless set.
func ensureDirectToken() {
	if os.Getenv(DirectTokenEnv) == "" {
		os.Setenv(DirectTokenEnv, newSecret("y0_demo_", 24))
	}
}

// configureDirect learns the Direct connectors of tc that point at this
// server, with their tokens; the world then stops pushing their spend.
func (s *CRMServer) configureDirect(tc *tenants.Config) {
	for _, t := range tc.Tenants {
		for _, a := range t.Accounts {
			for _, c := range a.CostConnectors {
				if c.Provider != tenants.CostYandexDirect || c.BaseURL != directConnector(s.URL(), a.ID).BaseURL {
					continue
				}
				token, err := c.Token()
				if err != nil {
					continue
				}
				s.creds["direct/"+a.ID] = token
				s.store.pullDirect(a.ID)
			}
		}
	}
}

// direct answers a CAMPAIGN_PERFORMANCE_REPORT request as the Reports API
// does: 202 with retryIn while the report is "being built" (until the
// history's spend is known), then the TSV of DateFrom..DateTo, money in
// micro-units, without the title line (skipReportHeader).
func (s *CRMServer) direct(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("account")
	want := s.credential("direct", account)
	got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if want == "" || !equal(got, want) {
		s.refused.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"request_id":"demo","error_code":53,"error_string":"Authorization error","error_detail":"Invalid OAuth token"}}`)
		return
	}
	var body struct {
		Params struct {
			SelectionCriteria struct{ DateFrom, DateTo string }
		} `json:"params"`
	}
	json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body)
	from, err1 := time.Parse(time.DateOnly, body.Params.SelectionCriteria.DateFrom)
	to, err2 := time.Parse(time.DateOnly, body.Params.SelectionCriteria.DateTo)
	if err1 != nil || err2 != nil || to.Before(from) || to.Sub(from) > 400*24*time.Hour {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"request_id":"demo","error_code":8000,"error_string":"Invalid request","error_detail":"SelectionCriteria"}}`)
		return
	}
	if !s.store.directReady() {
		w.Header().Set("retryIn", fmt.Sprint(directRetryIn))
		w.WriteHeader(http.StatusAccepted)
		return
	}
	var b bytes.Buffer
	b.WriteString("Date\tCampaignId\tCampaignName\tImpressions\tClicks\tCost\n")
	n := 0
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		date := d.Format(time.DateOnly)
		for _, r := range s.store.directSpend(account, date) {
			fmt.Fprintf(&b, "%s\t%d\t%s\t%d\t%d\t%d\n", date, r.campaignID, r.campaign, r.impressions, r.clicks, r.fee*10_000)
			n++
		}
	}
	fmt.Fprintf(&b, "Total rows: %d\n", n)
	s.served.Add(1)
	w.Header().Set("Content-Type", "text/tab-separated-values")
	w.Write(b.Bytes())
}

// pullDirect marks the account's Direct spend as pulled, not pushed.
func (s *crmStore) pullDirect(account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pulled == nil {
		s.pulled = map[string]bool{}
	}
	s.pulled[account] = true
}

// directPulled tells whether the account's Direct spend is pulled.
func (s *crmStore) directPulled(account string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pulled[account]
}

// putDirect keeps the account's Direct spend of a day (the day's latest).
func (s *crmStore) putDirect(account, date string, rows []costRow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spend == nil {
		s.spend = map[string][]costRow{}
	}
	s.spend[account+"/"+date] = rows
}

func (s *crmStore) directSpend(account, date string) []costRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spend[account+"/"+date]
}

// setDirectReady ends the reports' "being built": the history is known.
func (s *crmStore) setDirectReady() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready = true
}

func (s *crmStore) directReady() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready
}
