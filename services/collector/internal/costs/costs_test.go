package costs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/event"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReports(t *testing.T) {
	cases := []struct {
		file string
		o    Options
		want []Row
	}{
		{"generic/basic.csv", Options{}, []Row{
			{Date: "2026-03-01", Channel: "yandex_direct", Campaign: "spring-sale", Amount: 123456, Clicks: 120, Impressions: 4500},
			{Date: "2026-03-01", Channel: "google_ads", Campaign: "brand", Amount: 9990, Clicks: 10, Impressions: 300},
			{Date: "2026-03-02", Channel: "yandex_direct", Campaign: "spring-sale", Amount: 100000, Clicks: 100, Impressions: 4000},
		}},
		{"generic/semicolon.csv", Options{ContentType: "text/csv"}, []Row{
			{Date: "2026-03-01", Account: "moscow", Channel: "vk_ads", Source: "vk", Medium: "cpc", Campaign: "Весна",
				Amount: 123450, Currency: "RUB", Clicks: 15, Impressions: 900},
			{Date: "2026-03-02", Account: "spb", Channel: "vk_ads", Source: "vk", Medium: "cpc", Campaign: "Весна",
				Amount: 1, Currency: "RUB"},
		}},
		{"generic/rows.json", Options{}, []Row{
			{Date: "2026-03-01", Channel: "google_ads", Campaign: "brand", CampaignID: "123456789", Amount: 1234, Clicks: 4, Impressions: 100},
			{Date: "2026-03-01", Channel: "google_ads", Campaign: "generic", Amount: 2},
		}},
		{"generic/wrapped.json", Options{ContentType: "application/json"}, []Row{
			{Date: "2026-03-01", Campaign: "brand", Amount: 1000},
		}},
		{"generic/usd.csv", Options{}, []Row{ // read; refused when enveloped for a RUB tenant
			{Date: "2026-03-01", Channel: "google_ads", Campaign: "brand", Amount: 1000, Currency: "USD"},
		}},
		{"yandex/report.tsv", Options{Format: "yandex"}, []Row{
			{Date: "2026-03-01", Source: "yandex", Medium: "cpc", Campaign: "Spring sale", CampaignID: "70001", Amount: 123456, Clicks: 120, Impressions: 4500},
			{Date: "2026-03-01", Source: "yandex", Medium: "cpc", Campaign: "Brand", CampaignID: "70002", Amount: 9991, Clicks: 10, Impressions: 300},
			{Date: "2026-03-02", Source: "yandex", Medium: "cpc", Campaign: "Spring sale", CampaignID: "70001", Amount: 100000, Clicks: 100, Impressions: 4000},
		}},
		{"yandex/no_title_crlf.tsv", Options{Format: "yandex"}, []Row{
			{Date: "2026-03-01", Source: "yandex", Medium: "cpc", Campaign: "Spring sale", CampaignID: "70001", Amount: 123456, Clicks: 120, Impressions: 4500},
		}},
		{"yandex/plain.tsv", Options{Format: "yandex", PlainMoney: true}, []Row{
			{Date: "2026-03-01", Source: "yandex", Medium: "cpc", Campaign: "Spring sale", Amount: 123456, Clicks: 120, Impressions: 4500},
		}},
		{"yandex/dashes.tsv", Options{Format: "yandex"}, []Row{
			{Date: "2026-03-01", Source: "yandex", Medium: "cpc", Campaign: "70003", CampaignID: "70003"},
		}},
		{"yandex/report.tsv", Options{Format: "yandex", Currency: "JPY"}, []Row{ // no minor unit: whole yen
			{Date: "2026-03-01", Source: "yandex", Medium: "cpc", Campaign: "Spring sale", CampaignID: "70001", Amount: 1235, Clicks: 120, Impressions: 4500},
			{Date: "2026-03-01", Source: "yandex", Medium: "cpc", Campaign: "Brand", CampaignID: "70002", Amount: 100, Clicks: 10, Impressions: 300},
			{Date: "2026-03-02", Source: "yandex", Medium: "cpc", Campaign: "Spring sale", CampaignID: "70001", Amount: 1000, Clicks: 100, Impressions: 4000},
		}},
		{"google/stream.json", Options{Format: "google"}, []Row{
			{Date: "2026-03-01", Source: "google", Medium: "cpc", Campaign: "Brand", CampaignID: "111", Amount: 9991, Clicks: 10, Impressions: 300},
			{Date: "2026-03-01", Source: "google", Medium: "cpc", Campaign: "Generic", CampaignID: "222", Impressions: 12},
			{Date: "2026-03-02", Source: "google", Medium: "cpc", Campaign: "Brand", CampaignID: "111", Amount: 15000, Clicks: 12, Impressions: 320, Currency: "RUB"},
		}},
		{"google/snake.json", Options{Format: "google"}, []Row{
			{Date: "2026-03-01", Source: "google", Medium: "cpc", Campaign: "Brand", CampaignID: "111", Amount: 9991, Clicks: 10, Impressions: 300},
		}},
		{"vk/day.json", Options{Format: "vk"}, []Row{
			{Date: "2026-03-01", Source: "vk", Medium: "cpc", Campaign: "555001", CampaignID: "555001", Amount: 123450, Clicks: 15, Impressions: 900},
			{Date: "2026-03-02", Source: "vk", Medium: "cpc", Campaign: "555001", CampaignID: "555001"},
			{Date: "2026-03-01", Source: "vk", Medium: "cpc", Campaign: "Ретаргетинг", CampaignID: "555002", Amount: 9999, Clicks: 2, Impressions: 100},
		}},
		{"meta/page.json", Options{Format: "meta"}, []Row{
			{Date: "2026-12-01", Source: "facebook", Medium: "cpc", Campaign: "Windscreens Moscow", CampaignID: "120210000000001",
				Amount: 123456, Currency: "RUB", Clicks: 40, Impressions: 5000},
			{Date: "2026-12-02", Source: "facebook", Medium: "cpc", Campaign: "Brand", CampaignID: "120210000000002",
				Amount: 50, Currency: "RUB", Impressions: 10},
		}},
		{"meta/rows.json", Options{Format: "meta"}, []Row{
			{Date: "2026-12-01", Source: "facebook", Medium: "cpc", Campaign: "A", CampaignID: "1", Amount: 1000},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			if tc.o.Currency == "" {
				tc.o.Currency = "RUB"
			}
			got, err := Parse(fixture(t, tc.file), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestRefusedReports(t *testing.T) {
	cases := []struct {
		file   string
		o      Options
		field  string
		reason string
	}{
		{"generic/bad_cost.csv", Options{}, "rows[1].cost", "twelve"},
		{"generic/no_date_column.csv", Options{}, "header", `"date" is required`},
		{"generic/negative.csv", Options{}, "rows[0].cost", "negative"},
		{"generic/bad_date.csv", Options{}, "rows[0].date", "2026-02-30"},
		{"generic/wrong_type.json", Options{}, "rows[0].cost", "string or a number"},
		{"yandex/truncated.tsv", Options{Format: "yandex"}, "total_rows", "says 5 rows, 2 arrived"},
		{"yandex/no_header.tsv", Options{Format: "yandex"}, "header", "Date is missing"},
		{"yandex/decimal_without_plain.tsv", Options{Format: "yandex"}, "rows[0].Cost", "money=plain"},
		{"google/bad_micros.json", Options{Format: "google"}, "rows[0].metrics.costMicros", "micro-units"},
		{"google/no_cost.json", Options{Format: "google"}, "rows[0].metrics.costMicros", "required"},
		{"google/wrong_type.json", Options{Format: "google"}, "body", "cannot unmarshal"},
		{"vk/bad_spent.json", Options{Format: "vk"}, "rows[0].base.spent", "decimal"},
		{"vk/bad_date.json", Options{Format: "vk"}, "items[0].rows.date", "yesterday"},
		{"meta/span.json", Options{Format: "meta"}, "rows[0].date_stop", "time_increment=1"},
		{"meta/bad_spend.json", Options{Format: "meta"}, "rows[0].spend", "decimal"},
		{"generic/basic.csv", Options{Format: "bing"}, "format", "bing"},
		{"generic/basic.csv", Options{MaxRows: 2}, "rows", "more than 2"},
	}
	for _, tc := range cases {
		t.Run(tc.file+"/"+tc.field, func(t *testing.T) {
			tc.o.Currency = "RUB"
			_, err := Parse(fixture(t, tc.file), tc.o)
			var fe *event.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reason) {
				t.Fatalf("got %v, want %s: …%s…", err, tc.field, tc.reason)
			}
		})
	}
	if _, err := Parse([]byte("date,cost\n"), Options{Currency: "RUB"}); err == nil {
		t.Fatal("a report without rows was accepted")
	}
}

func TestMoney(t *testing.T) {
	cases := []struct {
		in   string
		exp  int
		want int64
	}{
		{"1234.56", 2, 123456}, {"1 234,56", 2, 123456}, {"1,234.56", 2, 123456}, {"1.234,56", 2, 123456},
		{"0.005", 2, 1}, {"0.004", 2, 0}, {"-0.005", 2, -1}, {".5", 2, 50}, {"12", 0, 12}, {"12.5", 0, 13},
		{"1.2345", 3, 1235}, {"99", 2, 9900}, {"1\u00a0000", 2, 100000},
	}
	for _, c := range cases {
		got, err := parseMoney(c.in, c.exp)
		if err != nil || got != c.want {
			t.Errorf("parseMoney(%q, %d) = %d, %v; want %d", c.in, c.exp, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "abc", "1e5", "1,234,567", "12.3.4", ".", "NaN", "1234567890123456789", "--5"} {
		if v, err := parseMoney(bad, 2); err == nil {
			t.Errorf("parseMoney(%q) = %d, want an error", bad, v)
		}
	}
	for micros, want := range map[int64]int64{99905000: 9991, 99904999: 9990, 0: 0, -99905000: -9991, 1: 0, 5000: 1} {
		if got := microsToMinor(micros, 2); got != want {
			t.Errorf("microsToMinor(%d) = %d, want %d", micros, got, want)
		}
	}
}

func TestEnvelopesRestateAndCommit(t *testing.T) {
	moscow, _ := time.LoadLocation("Europe/Moscow")
	now := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	rows, err := Parse(fixture(t, "yandex/report.tsv"), Options{Format: "yandex", Currency: "RUB"})
	if err != nil {
		t.Fatal(err)
	}
	im := Import{ID: "imp-1", Tenant: "acme", Account: "moscow", Channel: "yandex_direct", Currency: "RUB",
		Format: "yandex", Location: moscow, ReceivedAt: now, From: "2026-03-01", To: "2026-03-04"}
	out, commits, err := Envelopes(rows, im)
	if err != nil {
		t.Fatal(err)
	}
	// 3 rows + zero rows for 03-03 and 03-04, which the report did not mention.
	if len(out) != 5 || len(commits) != 1 {
		t.Fatalf("%d rows, %d commits", len(out), len(commits))
	}
	for i, e := range out {
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
		c := e.Cost
		if e.Type != event.TypeCost || e.Account != "moscow" || c.Channel != "yandex_direct" || c.ImportID != "imp-1" ||
			c.Currency != "RUB" || c.Central || e.Source != "costs:yandex" || e.ReceivedAt != now.UnixMilli() {
			t.Fatalf("row %d: %+v %+v", i, e, c)
		}
		day, _ := time.ParseInLocation("2006-01-02", c.Date, moscow)
		if e.TS != day.UnixMilli() {
			t.Fatalf("row %d: ts %d is not the Moscow midnight of %s", i, e.TS, c.Date)
		}
	}
	if z := out[3].Cost; z.Date != "2026-03-03" || z.Amount != 0 || z.Campaign != "" {
		t.Fatalf("zero row: %+v", z)
	}
	cm := commits[0]
	if cm.Name != CommitName || !cm.Cost.Commit || cm.Cost.ImportRows != 5 || cm.Account != "moscow" || cm.Validate() != nil {
		t.Fatalf("commit: %+v %+v", cm, cm.Cost)
	}
	// The same upload again gets the same ids: a retry replaces itself.
	again, _, _ := Envelopes(rows, im)
	for i := range out {
		if again[i].ID != out[i].ID {
			t.Fatal("ids differ between identical uploads")
		}
	}
}

func TestEnvelopesAccountsAndCurrency(t *testing.T) {
	rows, err := Parse(fixture(t, "generic/semicolon.csv"), Options{Currency: "RUB"})
	if err != nil {
		t.Fatal(err)
	}
	// A central upload: rows naming an account go there, the rest are central.
	rows = append(rows, Row{Date: "2026-03-01", Channel: "vk_ads", Campaign: "Федеральная", Amount: 500})
	out, commits, err := Envelopes(rows, Import{ID: "imp-2", Tenant: "acme", Currency: "RUB", Format: "generic", ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var accounts []string
	for _, c := range commits {
		accounts = append(accounts, c.Account+":"+map[bool]string{true: "central", false: "branch"}[c.Cost.Central])
	}
	if !reflect.DeepEqual(accounts, []string{"*:central", "moscow:branch", "spb:branch"}) {
		t.Fatalf("commits for %v", accounts)
	}
	if last := out[2]; last.Account != CentralAccount || !last.Cost.Central {
		t.Fatalf("central row: %+v", last)
	}
	usd, _ := Parse(fixture(t, "generic/usd.csv"), Options{Currency: "RUB"})
	_, _, err = Envelopes(usd, Import{ID: "imp-3", Tenant: "acme", Account: "moscow", Currency: "RUB", ReceivedAt: time.Now()})
	var fe *event.FieldError
	if !errors.As(err, &fe) || fe.Field != "rows[0].currency" || !strings.Contains(fe.Reason, "never converted") {
		t.Fatalf("a USD row for a RUB tenant: %v", err)
	}
	noChannel := []Row{{Date: "2026-03-01", Amount: 1}}
	if _, _, err := Envelopes(noChannel, Import{ID: "x", Tenant: "acme", Account: "moscow", Currency: "RUB"}); err == nil {
		t.Fatal("a row without a channel was accepted")
	}
	outside := []Row{{Date: "2026-02-01", Channel: "c", Amount: 1}}
	if _, _, err := Envelopes(outside, Import{ID: "x", Tenant: "acme", Account: "m", Currency: "RUB", From: "2026-03-01", To: "2026-03-02"}); err == nil {
		t.Fatal("a row outside the restated range was accepted")
	}
	for _, r := range [][2]string{{"2026-03-02", "2026-03-01"}, {"2026-03-01", ""}, {"2025-01-01", "2026-03-01"}, {"2026-3-1", "2026-03-02"}} {
		if _, _, err := Envelopes(outside, Import{ID: "x", Tenant: "acme", Account: "m", Currency: "RUB", From: r[0], To: r[1]}); err == nil {
			t.Fatalf("range %v accepted", r)
		}
	}
}

func TestImportIDs(t *testing.T) {
	a := DefaultImportID("acme", "moscow", "format=yandex", []byte("x"))
	if a != DefaultImportID("acme", "moscow", "format=yandex", []byte("x")) || !ValidImportID(a) {
		t.Fatal("default import id not stable or not valid")
	}
	if a == DefaultImportID("acme", "spb", "format=yandex", []byte("x")) || a == DefaultImportID("acme", "moscow", "format=yandex", []byte("y")) {
		t.Fatal("different uploads share an import id")
	}
	for _, bad := range []string{"", "a b", "x/y", strings.Repeat("a", 65), "имп"} {
		if ValidImportID(bad) {
			t.Fatalf("%q accepted", bad)
		}
	}
}
