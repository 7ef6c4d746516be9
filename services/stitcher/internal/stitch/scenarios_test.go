package stitch

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/event"
)

const site = "https://shop.example.ru/"

type scenario struct {
	name   string
	events []event.Envelope
	check  func(t *testing.T, tb tables)
}

// attr returns the rows of a lead under a model.
func attr(tb tables, leadID, model string) []*entity.Attribution {
	var out []*entity.Attribution
	for _, r := range tb.Attribution {
		if r.LeadID == leadID && r.Model == model {
			out = append(out, r)
		}
	}
	return out
}

// credited is the channel with weight 1 under a single-touch model.
func credited(tb tables, leadID, model string) string {
	for _, r := range attr(tb, leadID, model) {
		if r.Weight == 1 {
			return r.Channel
		}
	}
	return ""
}

var scenarios = []scenario{
	{
		name: "sessions",
		events: []event.Envelope{
			hit("s1", "A", 0, site+"?utm_source=yandex&utm_medium=cpc&utm_campaign=spring", ""),
			hit("s2", "A", 5*minute, site+"catalog", site),                                              // internal: same session
			hit("s3", "A", 20*minute, site+"?utm_source=yandex&utm_medium=cpc&utm_campaign=spring", ""), // same source carried: same session
			hit("s4", "A", 25*minute, site+"?utm_source=yandex&utm_medium=cpc&utm_campaign=autumn", ""), // new campaign: new session
			hit("s5", "A", 60*minute, site+"sale", ""),                                                  // 35 min gap: new direct session
			hit("s6", "A", 70*minute, site, "https://www.google.com/"),                                  // new external referrer: new session
			hit("s7", "A", 80*minute, site+"?gclid=abc", ""),                                            // new click id: new session
			hit("s8", "A", 85*minute, site+"cart", ""),                                                  // direct hit continues
		},
		check: func(t *testing.T, tb tables) {
			if len(tb.Sessions) != 5 {
				t.Fatalf("want 5 sessions, got %d", len(tb.Sessions))
			}
			hits := map[string]int{}
			for _, s := range tb.Sessions {
				hits[s.Channel+"/"+s.Campaign] += s.Hits
			}
			want := map[string]int{"yandex_direct/spring": 3, "yandex_direct/autumn": 1, "direct/": 1, "organic/": 1, "google_ads/": 2}
			for k, v := range want {
				if hits[k] != v {
					t.Errorf("%s: %d hits, want %d (%v)", k, hits[k], v, hits)
				}
			}
		},
	},
	{
		name: "direct_revisit_after_paid_click",
		events: []event.Envelope{
			hit("p1", "A", 0, site+"?yclid=111", ""),
			hit("p2", "A", 3*minute, site+"price", site),
			hit("p3", "A", 2*day, site, ""),
			form("p4", "A", 2*day+5*minute, "+7 916 000-00-01", ""),
		},
		check: func(t *testing.T, tb tables) {
			if len(tb.Leads) != 1 || len(tb.Sessions) != 2 {
				t.Fatalf("want 1 lead and 2 sessions: %d, %d", len(tb.Leads), len(tb.Sessions))
			}
			l := tb.Leads[0]
			if l.Channel != "yandex_direct" || l.Kind != "form" {
				t.Errorf("lead channel under last_non_direct: %s", l.Channel)
			}
			if got := credited(tb, l.LeadID, "last_click"); got != "direct" {
				t.Errorf("last_click credits the direct revisit: %s", got)
			}
			if got := credited(tb, l.LeadID, "last_non_direct"); got != "yandex_direct" {
				t.Errorf("last_non_direct keeps the paid click: %s", got)
			}
		},
	},
	{
		name: "two_devices_merged_by_phone",
		events: []event.Envelope{
			hit("d1", "phone-B", 0, site, "https://vk.com/feed"),
			hit("d2", "laptop-A", 1*day, site+"?gclid=g1", ""),
			form("d3", "laptop-A", 1*day+10*minute, "+79160000002", ""),
			hit("d4", "phone-B", 3*day, site, ""),
			form("d5", "phone-B", 3*day+2*minute, "+79160000002", ""), // the collector normalised "8 (916) 000-00-02"
		},
		check: func(t *testing.T, tb tables) {
			if len(tb.Leads) != 1 {
				t.Fatalf("the second device's form folds into the lead: %d leads", len(tb.Leads))
			}
			l := tb.Leads[0]
			if l.Contacts != 2 || l.Touches != 2 {
				t.Errorf("lead: contacts %d touches %d", l.Contacts, l.Touches)
			}
			persons := map[string]bool{}
			for _, s := range tb.Sessions {
				persons[s.PersonID] = true
			}
			if len(persons) != 1 {
				t.Errorf("both devices' sessions belong to one person: %v", persons)
			}
			if got := credited(tb, l.LeadID, "first_click"); got != "social" {
				t.Errorf("first_click credits the other device's earlier visit: %s", got)
			}
			if got := credited(tb, l.LeadID, "last_non_direct"); got != "google_ads" {
				t.Errorf("last_non_direct: %s", got)
			}
		},
	},
	{
		name: "call_before_form",
		events: []event.Envelope{
			hit("c1", "A", 0, site+"?utm_source=vk&utm_medium=paid", ""),
			call("c2", "ct-1", 10*minute, "+79160000003", 45, []string{"A"}, ""),
			form("c3", "A", 2*day, "+79160000003", "ivan@example.ru"),
			call("c4", "ct-2", 10*day, "+79160000003", 12, nil, ""),
			call("c5", "ct-3", 12*day, "+79160000003", 95, nil, ""),
			call("c6", "ct-4", 45*day, "+79160000003", 60, nil, ""),
		},
		check: func(t *testing.T, tb tables) {
			if len(tb.Calls) != 4 || len(tb.Leads) != 2 {
				t.Fatalf("want 4 calls and 2 leads: %d, %d", len(tb.Calls), len(tb.Leads))
			}
			first := tb.Leads[0]
			if tb.Leads[1].TS < first.TS {
				first = tb.Leads[1]
			}
			if first.Kind != "call" || first.Contacts != 3 || first.Channel != "vk_ads" {
				t.Errorf("first lead: kind %s contacts %d channel %s", first.Kind, first.Contacts, first.Channel)
			}
			flags := map[string]string{}
			for _, c := range tb.Calls {
				flags[c.VendorCallID] = map[bool]string{true: "T", false: "-"}[c.Target] + map[bool]string{true: "U", false: "-"}[c.Unique]
			}
			want := map[string]string{"ct-1": "TU", "ct-2": "--", "ct-3": "T-", "ct-4": "TU"}
			for k, v := range want {
				if flags[k] != v {
					t.Errorf("call %s flags %s, want %s", k, flags[k], v)
				}
			}
		},
	},
	{
		name: "deal_won_then_reopened",
		events: []event.Envelope{
			hit("w1", "A", 0, site+"?utm_source=google&utm_medium=cpc", ""),
			form("w2", "A", 5*minute, "+79160000004", ""),
			crm("w3", 1*day, event.CRM{Entity: "deal", Action: "add", DealID: "D1", ContactID: "K1", ClientID: "A", Outcome: "open", Amount: 5_000_00, Currency: "RUB", UpdatedAt: t0 + 1*day, Units: 2}),
			// the reopening arrives before the win it follows (CRM clock decides)
			crm("w5", 4*day, event.CRM{Entity: "deal", Action: "status", DealID: "D1", Stage: "reopened", Outcome: "open", UpdatedAt: t0 + 3*day}),
			crm("w4", 4*day+minute, event.CRM{Entity: "deal", Action: "status", DealID: "D1", Stage: "paid", Outcome: "won", Amount: 7_000_00, UpdatedAt: t0 + 2*day}),
			crm("w6", 4*day+2*minute, event.CRM{Entity: "deal", Action: "add", DealID: "D2", Phones: []string{"+79160000004"}, Stage: "paid", Outcome: "won", Amount: 3_000_00, UpdatedAt: t0 + 4*day, Units: 1.5}),
		},
		check: func(t *testing.T, tb tables) {
			if len(tb.Deals) != 2 || len(tb.Leads) != 1 {
				t.Fatalf("want 2 deals, 1 lead: %d, %d", len(tb.Deals), len(tb.Leads))
			}
			for _, d := range tb.Deals {
				if d.CRMDealID == "D1" && (d.Outcome != "open" || d.RevenueMinor != 0 || d.Stage != "reopened") {
					t.Errorf("D1 reopened: %+v", d)
				}
				if d.LeadID != tb.Leads[0].LeadID {
					t.Errorf("deal %s not linked to the lead", d.CRMDealID)
				}
				// units: the latest quantity a change carried, kept by changes without one
				if want := map[string]float64{"D1": 2, "D2": 1.5}[d.CRMDealID]; d.Units != want {
					t.Errorf("deal %s units %v, want %v", d.CRMDealID, d.Units, want)
				}
			}
			if tb.Leads[0].RevenueMinor != 3_000_00 || tb.Leads[0].WonDeals != 1 {
				t.Errorf("lead revenue counts only the deal still won: %d", tb.Leads[0].RevenueMinor)
			}
		},
	},
	{
		name: "static_number_call_without_visit",
		events: []event.Envelope{
			call("n1", "ct-9", 0, "+79160000005", 70, nil, "avito"),
			call("n2", "ct-10", 3*day, "+79160000006", 0, nil, "billboard"),
		},
		check: func(t *testing.T, tb tables) {
			if len(tb.Leads) != 1 || tb.Leads[0].Channel != "avito" || tb.Leads[0].Kind != "call" {
				t.Fatalf("static call lead: %+v", tb.Leads)
			}
			for _, c := range tb.Calls {
				if !c.Static {
					t.Errorf("call %s matched by static number", c.VendorCallID)
				}
			}
		},
	},
	{
		name: "lead_without_touchpoint",
		events: []event.Envelope{
			crm("z1", 0, event.CRM{Entity: "lead", Action: "add", LeadID: "L7", Phones: []string{"+79160000007"}, Outcome: "open"}),
			crm("z2", day, event.CRM{Entity: "deal", Action: "add", DealID: "D7", LeadID: "L7", Outcome: "won", Amount: 12_000_00, UpdatedAt: t0 + day}),
		},
		check: func(t *testing.T, tb tables) {
			if len(tb.Leads) != 1 || tb.Leads[0].Kind != "crm" || tb.Leads[0].Channel != "(none)" {
				t.Fatalf("crm lead: %+v", tb.Leads)
			}
			if len(tb.Attribution) != 6 {
				t.Fatalf("one (none) row per model: %d rows", len(tb.Attribution))
			}
			for _, r := range tb.Attribution {
				if r.Channel != "(none)" || r.Weight != 1 || r.RevenueMinor != 12_000_00 {
					t.Errorf("row %+v", r)
				}
			}
		},
	},
	{
		name: "repeat_contacts_and_crm_lead",
		events: []event.Envelope{
			hit("r1", "A", 0, site, "https://yandex.ru/search/?text=sofa"),
			form("r2", "A", minute, "", "Ivan@Example.ru"),
			crm("r3", 2*minute, event.CRM{Entity: "lead", Action: "add", LeadID: "L1", ClientID: "A", Emails: []string{"ivan@example.ru"}}),
			ev("r4", event.TypeGoal, 20*day, func(e *event.Envelope) { e.Name, e.ClientID = "chat", "A" }),
			ev("r5", event.TypeGoal, 31*day, func(e *event.Envelope) { e.Name, e.ClientID = "chat", "A" }),
			crm("r6", 32*day, event.CRM{Entity: "deal", Action: "add", DealID: "D9", LeadID: "L1", Outcome: "won", Amount: 1_000_00, UpdatedAt: t0 + 32*day}),
		},
		check: func(t *testing.T, tb tables) {
			if len(tb.Leads) != 2 {
				t.Fatalf("a chat after 31 days is a new lead: %d leads", len(tb.Leads))
			}
			for _, l := range tb.Leads {
				if l.Kind == "form" && (l.Contacts != 3 || l.CRMLeadID != "amocrm:L1" || l.RevenueMinor != 1_000_00) {
					t.Errorf("form lead folds the CRM lead and the chat, and gets the deal by CRM lead id: %+v", l)
				}
				if l.Kind == "chat" && l.Channel != "organic" { // direct revisits do not take credit from the search visit
					t.Errorf("chat lead channel: %s", l.Channel)
				}
			}
		},
	},
	{
		// A chat widget's offline message carries no client id, only the
		// phone the visitor left (collector: /v1/hooks/chats/jivo): it is a
		// chat lead of the person the phone is, the visitor who filled a form
		// with it earlier — and a phone nobody knows is a chat lead of its own.
		name: "anonymous_chat_by_phone",
		events: []event.Envelope{
			hit("q1", "A", 0, site+"?utm_source=yandex&utm_medium=cpc&utm_campaign=glass", ""),
			form("q2", "A", minute, "+79160001122", ""),
			ev("q3", event.TypeGoal, 40*day, func(e *event.Envelope) { e.Name, e.Phone = "chat", "+79160001122" }),
			ev("q4", event.TypeGoal, 41*day, func(e *event.Envelope) { e.Name, e.Phone = "chat", "+79169998877" }),
			ev("q5", event.TypeGoal, 42*day, func(e *event.Envelope) { e.Name, e.Phone = "signup", "+79165550000" }), // not a chat goal
			ev("q6", event.TypeGoal, 43*day, func(e *event.Envelope) { e.Name = "chat" }),                            // nothing to link
		},
		check: func(t *testing.T, tb tables) {
			kinds := map[string]int{}
			for _, l := range tb.Leads {
				kinds[l.Kind+"/"+l.Channel]++
				if l.Kind == "chat" && l.Contacts != 1 {
					t.Errorf("chat lead %+v", l)
				}
			}
			// The known phone's chat is the yandex visitor's; the unknown one has no touchpoint.
			if kinds["chat/yandex_direct"] != 1 || kinds["chat/(none)"] != 1 {
				t.Fatalf("chat leads by channel: %+v", kinds)
			}
			if len(tb.Leads) != 3 || kinds["form/yandex_direct"] != 1 {
				t.Fatalf("want a form lead and two chat leads: %+v", kinds)
			}
			if len(tb.Sessions) != 1 {
				t.Fatalf("an anonymous chat is no page view: %d sessions", len(tb.Sessions))
			}
		},
	},
	{
		name: "explicit_link_beats_phone",
		events: []event.Envelope{
			crm("x1", 0, event.CRM{Entity: "contact", Action: "add", ContactID: "K1", ClientID: "A", Phones: []string{"+79160000008"}}),
			crm("x2", minute, event.CRM{Entity: "contact", Action: "add", ContactID: "K2", ClientID: "B", Phones: []string{"+79160000008"}}),
			hit("x3", "A", 2*minute, site+"?yclid=1", ""),
			hit("x4", "B", 3*minute, site+"?vkclid=2", ""),
			crm("x5", 4*minute, event.CRM{Entity: "lead", Action: "add", LeadID: "L2", ContactID: "K2", Phones: []string{"+79160000008"}}),
		},
		check: func(t *testing.T, tb tables) {
			if len(tb.Leads) != 1 || tb.Leads[0].Channel != "vk_ads" {
				t.Fatalf("the lead goes to contact K2's person (vk), not the phone's first owner: %+v", tb.Leads)
			}
		},
	},
	{
		// Throughline's own number insertion: the visitor is leased a pool
		// number, the call tracker reports the call without a client id.
		name: "pool_number_call",
		events: []event.Envelope{
			hit("d1", "A", 0, site+"?yclid=777&utm_campaign=brand", ""),
			lease("d2", "A", 0, poolNumber, 0, 30*minute, false),
			hit("d3", "A", 5*minute, site+"price", site),
			lease("d4", "A", 5*minute, poolNumber, 0, 35*minute, false), // extended by the second page view
			poolCall("d5", "ct-21", 15*minute, "+79160000021", 90, poolNumber),
			crm("d6", day, event.CRM{Entity: "deal", Action: "add", DealID: "D21", CallID: "ct-21", Outcome: "won", Amount: 30_000_00, UpdatedAt: t0 + day}),
		},
		check: func(t *testing.T, tb tables) {
			if len(tb.Calls) != 1 || tb.Calls[0].Channel != "yandex_direct" || tb.Calls[0].SessionID == "" || tb.Calls[0].Static {
				t.Fatalf("the call joins the leaseholder's yandex_direct session: %+v", tb.Calls)
			}
			if len(tb.Leads) != 1 || tb.Leads[0].Kind != "call" || tb.Leads[0].Channel != "yandex_direct" {
				t.Fatalf("call lead: %+v", tb.Leads)
			}
			if ch := credited(tb, tb.Leads[0].LeadID, "last_non_direct"); ch != "yandex_direct" {
				t.Errorf("last_non_direct credits %q", ch)
			}
			if tb.Leads[0].RevenueMinor != 30_000_00 {
				t.Errorf("the deal's revenue reaches the lead: %d", tb.Leads[0].RevenueMinor)
			}
		},
	},
	{
		name: "pool_number_call_after_lease",
		events: []event.Envelope{
			hit("e1", "A", 0, site+"?yclid=778", ""),
			lease("e2", "A", 0, poolNumber, 0, 30*minute, false),
			poolCall("e3", "ct-22", 31*minute, "+79160000022", 90, poolNumber),
		},
		check: func(t *testing.T, tb tables) {
			if len(tb.Calls) != 1 || tb.Calls[0].SessionID != "" || tb.Calls[0].Channel != "(none)" {
				t.Fatalf("a call after the lease ended is nobody's visit: %+v", tb.Calls)
			}
			if len(tb.Leads) != 1 || tb.Leads[0].Channel != "(none)" {
				t.Fatalf("lead: %+v", tb.Leads)
			}
		},
	},
	{
		// The pool ran out: B got the number A still held; calls go to B.
		name: "pool_number_shared_lease",
		events: []event.Envelope{
			hit("f1", "A", 0, site+"?yclid=779", ""),
			lease("f2", "A", 0, poolNumber, 0, 30*minute, false),
			hit("f3", "B", 5*minute, site+"?utm_source=vk&utm_medium=paid&utm_campaign=march", ""),
			lease("f4", "B", 5*minute, poolNumber, 5*minute, 35*minute, true),
			poolCall("f5", "ct-23", 10*minute, "+79160000023", 90, poolNumber),
		},
		check: func(t *testing.T, tb tables) {
			if len(tb.Leads) != 1 || tb.Leads[0].Channel != "vk_ads" {
				t.Fatalf("the later holder of a shared number gets the call: %+v", tb.Leads)
			}
		},
	},
}

func TestScenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			recs := run(DefaultRules(), sc.events)
			tb := final(t, recs)
			sc.check(t, tb)
			checkSums(t, tb)
			b, err := json.MarshalIndent(tb, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, sc.name, append(b, '\n'))
		})
	}
}

// checkSums asserts the attribution invariants on final tables: one lead's
// weights under one model sum to 1, and revenue splits the same way.
func checkSums(t testing.TB, tb tables) {
	t.Helper()
	weights, revenue := map[string]float64{}, map[string]float64{}
	for _, r := range tb.Attribution {
		weights[r.LeadID+"/"+r.Model] += r.Weight
		revenue[r.LeadID+"/"+r.Model] += r.RevenueMinor
	}
	leads := map[string]*entity.Lead{}
	for _, l := range tb.Leads {
		leads[l.LeadID] = l
	}
	for k, w := range weights {
		if math.Abs(w-1) > 1e-9 {
			t.Errorf("%s: weights sum to %v", k, w)
		}
	}
	for _, l := range tb.Leads {
		for _, m := range []string{"first_click", "last_click", "last_non_direct", "linear", "time_decay", "position_based"} {
			k := l.LeadID + "/" + m
			if _, ok := weights[k]; !ok {
				t.Errorf("%s: no attribution rows", k)
			}
			if math.Abs(revenue[k]-float64(l.RevenueMinor)) > 1e-6 {
				t.Errorf("%s: attributed revenue %v, lead revenue %d", k, revenue[k], l.RevenueMinor)
			}
		}
	}
	for _, r := range tb.Attribution {
		if leads[r.LeadID] == nil {
			t.Errorf("attribution row of a lead that does not exist: %s", r.ID())
		}
	}
}
