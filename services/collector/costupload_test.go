package collector

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
)

func (s *testServer) costs(tb testing.TB, key, query, ctype string, body []byte) (response, costsReply) {
	tb.Helper()
	hdr := map[string]string{}
	if key != "" {
		hdr["Authorization"] = "Bearer " + key
	}
	r := s.send(tb, "POST", "/v1/costs?"+query, ctype, body, hdr)
	var reply costsReply
	if r.status == http.StatusOK {
		if err := json.Unmarshal([]byte(r.body), &reply); err != nil {
			tb.Fatal(err)
		}
	}
	return r, reply
}

// costRecords reads n records of the costs topic, split into rows and commits.
func costRecords(t *testing.T, k *testKafka, n int) (rows, commits []event.Envelope) {
	t.Helper()
	envs := decodeAll(t, k.consume(t, kafka.TopicCosts, n))
	if got := k.endOffset(t, kafka.TopicCosts); got != int64(n) {
		t.Fatalf("%d cost records, want %d", got, n)
	}
	for _, e := range envs {
		if e.Type != event.TypeCost || e.Cost == nil {
			t.Fatalf("not a cost envelope: %+v", e)
		}
		if e.Cost.Commit {
			commits = append(commits, e)
		} else {
			rows = append(rows, e)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	return rows, commits
}

func TestCostUploads(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	// A branch uploads its Yandex Direct report with its own write key.
	r, reply := s.costs(t, keyMoscow, "format=yandex", "text/tab-separated-values", hookFixture(t, costFixtures, "yandex/report.tsv"))
	if r.status != 200 || reply.Rows != 3 || !reflect.DeepEqual(reply.Accounts, []string{"moscow"}) || reply.ImportID == "" {
		t.Fatalf("yandex: %d %s", r.status, r.body)
	}
	rows, commits := costRecords(t, k, 4)
	if len(commits) != 1 || commits[0].Cost.ImportRows != 3 || commits[0].Cost.ImportID != reply.ImportID || commits[0].Account != "moscow" {
		t.Fatalf("commit %+v", commits)
	}
	var total int64
	for _, e := range rows {
		c := e.Cost
		if e.Tenant != "acme" || e.Account != "moscow" || c.Channel != "yandex_direct" || c.Currency != "RUB" ||
			c.ImportID != reply.ImportID || c.Central || e.Source != "costs:yandex" {
			t.Fatalf("row %+v %+v", e, c)
		}
		total += c.Amount
	}
	if total != 123456+9991+100000 {
		t.Fatalf("total %d kopecks", total)
	}
	// The same upload again (a retry) has the same import id.
	if _, again := s.costs(t, keyMoscow, "format=yandex", "", hookFixture(t, costFixtures, "yandex/report.tsv")); again.ImportID != reply.ImportID {
		t.Fatalf("a retried upload got import id %s, the first %s", again.ImportID, reply.ImportID)
	}
	// The tenant key uploads Google Ads spend for spb, and VK spend centrally.
	r, g := s.costs(t, tenantKeyAcme, "format=google&account=spb&import_id=google-2026-03-02", "application/json",
		hookFixture(t, costFixtures, "google/stream.json"))
	if r.status != 200 || g.ImportID != "google-2026-03-02" || !reflect.DeepEqual(g.Accounts, []string{"spb"}) {
		t.Fatalf("google: %d %s", r.status, r.body)
	}
	r, vk := s.costs(t, tenantKeyAcme, "format=vk&channel=vk_target", "", hookFixture(t, costFixtures, "vk/day.json"))
	if r.status != 200 || !reflect.DeepEqual(vk.Accounts, []string{"*"}) {
		t.Fatalf("vk: %d %s", r.status, r.body)
	}
	// Generic CSV naming branches, through the tenant key.
	r, gen := s.costs(t, tenantKeyAcme, "", "text/csv", hookFixture(t, costFixtures, "generic/semicolon.csv"))
	if r.status != 200 || !reflect.DeepEqual(gen.Accounts, []string{"moscow", "spb"}) {
		t.Fatalf("generic: %d %s", r.status, r.body)
	}
	// A declared range restates days the report did not mention with zero rows.
	r, rs := s.costs(t, keyMoscow, "format=yandex&from=2026-03-01&to=2026-03-05", "", hookFixture(t, costFixtures, "yandex/report.tsv"))
	if r.status != 200 || rs.Rows != 6 {
		t.Fatalf("restated range: %d %s", r.status, r.body)
	}
	// 4 + 4 (retry) + 3+1 google + 3+1 vk + 2+2 generic + 6+1 restated.
	all, commits := costRecords(t, k, 27)
	central := 0
	for _, e := range all {
		if e.Account == "*" {
			central++
			if !e.Cost.Central || e.Cost.Channel != "vk_target" || e.Cost.Source != "vk" {
				t.Fatalf("central row %+v", e.Cost)
			}
		}
	}
	if central != 3 || len(commits) != 7 {
		t.Fatalf("%d central rows, %d commits", central, len(commits))
	}
	// The other tenant's costs are in its own currency.
	r, _ = s.costs(t, tenantKeyOther, "account=main", "text/csv", []byte("date,channel,campaign,cost\n2026-03-01,google_ads,brand,10.50\n"))
	if r.status != 200 {
		t.Fatalf("other: %d %s", r.status, r.body)
	}
	for _, e := range decodeAll(t, k.consume(t, kafka.TopicCosts, 29)) {
		if e.Tenant == "other" && (e.Cost.Currency != "USD" || (!e.Cost.Commit && e.Cost.Amount != 1050)) {
			t.Fatalf("other tenant's row %+v", e.Cost)
		}
	}
}

func TestCostUploadsRefused(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	cases := []struct {
		name, key, query string
		body             []byte
		status           int
		source, reason   string // the dead letter; "" for none
	}{
		{"USD rows for a RUB tenant", keyMoscow, "", hookFixture(t, costFixtures, "generic/usd.csv"), 400,
			"costs:generic", "rows[0].currency: USD, but the tenant's currency is RUB"},
		{"declared currency", keyMoscow, "currency=EUR", hookFixture(t, costFixtures, "generic/basic.csv"), 400,
			"costs:generic", "currency: EUR"},
		{"cut-off Yandex report", keyMoscow, "format=yandex", hookFixture(t, costFixtures, "yandex/truncated.tsv"), 400,
			"costs:yandex", "total_rows:"},
		{"decimal Cost without money=plain", keyMoscow, "format=yandex", hookFixture(t, costFixtures, "yandex/decimal_without_plain.tsv"), 400,
			"costs:yandex", "rows[0].Cost:"},
		{"unknown format", keyMoscow, "format=bing", []byte("x"), 400, "costs:unknown", "format:"},
		{"bad import id", keyMoscow, "import_id=a/b", hookFixture(t, costFixtures, "generic/basic.csv"), 400, "costs:generic", "import_id:"},
		{"bad money", keyMoscow, "format=yandex&money=cents", hookFixture(t, costFixtures, "yandex/report.tsv"), 400, "costs:yandex", "money:"},
		{"no rows", keyMoscow, "", []byte("date,channel,cost\n"), 400, "costs:generic", "rows:"},
		{"no key", "", "", hookFixture(t, costFixtures, "generic/basic.csv"), 401, "", ""},
		{"unknown key", "not-a-key-at-all", "", hookFixture(t, costFixtures, "generic/basic.csv"), 401, "", ""},
	}
	want := 0
	for _, tc := range cases {
		r, _ := s.costs(t, tc.key, tc.query, "", tc.body)
		if r.status != tc.status {
			t.Fatalf("%s: %d %s", tc.name, r.status, r.body)
		}
		if tc.source != "" {
			want++
		}
	}
	if n := k.endOffset(t, kafka.TopicCosts); n != 0 {
		t.Fatalf("%d cost records from refused uploads", n)
	}
	dls := deadLetters(t, k, want)
	for _, tc := range cases {
		if tc.source == "" {
			continue
		}
		found := false
		for _, dl := range dls {
			if dl.Source == tc.source && strings.HasPrefix(dl.Reason, tc.reason) && dl.Tenant == "acme" && dl.Account == "moscow" {
				found = true
			}
		}
		if !found {
			t.Fatalf("%s: no dead letter %s %q in %+v", tc.name, tc.source, tc.reason, dls)
		}
	}
	for _, dl := range dls {
		if strings.Contains(dl.Payload, keyMoscow) || strings.Contains(dl.Reason, keyMoscow) {
			t.Fatal("write key in a dead letter")
		}
	}
}

// TestCostKeysCannotWriteElsewhere: an account key writes its own account's
// costs only; a tenant key its own tenant's accounts only.
func TestCostKeysCannotWriteElsewhere(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	csvFor := func(account string) []byte {
		return []byte("date,account,channel,campaign,cost\n2026-03-01," + account + ",google_ads,brand,1.00\n")
	}
	cases := []struct {
		name, key, query string
		body             []byte
	}{
		{"account key, other account in the URL", keyMoscow, "account=spb", hookFixture(t, costFixtures, "generic/basic.csv")},
		{"account key, other account in a row", keyMoscow, "", csvFor("spb")},
		{"account key, other tenant's account in a row", keyMoscow, "", csvFor("main")},
		{"tenant key, other tenant's account in the URL", tenantKeyOther, "account=moscow", hookFixture(t, costFixtures, "generic/basic.csv")},
		{"tenant key, other tenant's account in a row", tenantKeyOther, "", csvFor("moscow")},
		{"tenant key, unknown account", tenantKeyAcme, "account=kazan", hookFixture(t, costFixtures, "generic/basic.csv")},
	}
	for _, tc := range cases {
		if r, _ := s.costs(t, tc.key, tc.query, "text/csv", tc.body); r.status != http.StatusForbidden {
			t.Fatalf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
	if n := k.endOffset(t, kafka.TopicCosts); n != 0 {
		t.Fatalf("%d cost records written across accounts", n)
	}
	for _, dl := range deadLetters(t, k, len(cases)) {
		if dl.Account != "moscow" && dl.Account != "" {
			t.Fatalf("dead letter filed under the target, not the sender: %+v", dl)
		}
	}
	// Its own account, named or not, is fine.
	if r, _ := s.costs(t, keyMoscow, "account=moscow", "text/csv", csvFor("moscow")); r.status != 200 {
		t.Fatalf("own account: %d %s", r.status, r.body)
	}
}
