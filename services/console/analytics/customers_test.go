package analytics

import (
	"strings"
	"testing"

	"github.com/throughline/throughline/services/console/internal/testnet"
)

func TestCustomersByFirstChannel(t *testing.T) {
	w := testnet.New(t, engine)
	testnet.Network(t, w)
	// p1 bought twice (100 000 + 20 000) and first came from google (s1,
	// first_click of L1); p2 bought once without an amount, from yandex;
	// p7 once (30 000) from the offline number; p5's deal was lost.
	got := map[string]string{}
	for _, r := range w.Query(`SELECT first_channel, customers, repeat_customers, repeat_rate, purchases, revenue_minor, ltv_minor
FROM %s.customer_ltv WHERE tenant = 'net' ORDER BY first_channel`, w.DB) {
		got[toString(r[0])] = joined(r[1:])
	}
	want := map[string]string{
		"google_ads":    "1|1|1|2|12000000|12000000",
		"yandex_direct": "1|0|0|1|0|0",
		"offline":       "1|0|0|1|3000000|3000000",
	}
	if len(got) != len(want) {
		t.Fatalf("customer_ltv: %v", got)
	}
	for ch, w := range want {
		if got[ch] != w {
			t.Errorf("%s: %s, want %s", ch, got[ch], w)
		}
	}
	rows := w.Query(`SELECT person_id, purchases, toString(first_purchase_at), toString(last_purchase_at), first_campaign, leads
FROM %s.customers WHERE tenant = 'net' AND person_id = 'p1'`, w.DB)
	if len(rows) != 1 || joined(rows[0]) != "p1|2|2026-03-03 12:00:00.000|2026-03-10 12:00:00.000|brand|1" {
		t.Fatalf("p1: %v", rows)
	}
}

func joined(vs []any) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = toString(v)
	}
	return strings.Join(out, "|")
}
