package redrive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/kafka/kafkatest"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	writeKey = "key-acme-moscow-1"
	appToken = "b24-app-token-moscow"
	token    = "operator-redrive-token-0001"
)

// pipeline is a kfake broker and a real collector whose Bitrix24 portal (a
// local server answering like Bitrix24's REST API) can be made to fail.
type pipeline struct {
	brokers   string
	cluster   *kafkatest.Cluster
	collector *httptest.Server
	portalUp  atomic.Bool
	client    func(opts ...kgo.Opt) *kgo.Client
}

func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	cluster := kafkatest.Start(t)
	p := &pipeline{brokers: cluster.Brokers[0], cluster: cluster}
	p.client = func(opts ...kgo.Opt) *kgo.Client { return cluster.Client(t, opts...) }
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.portalUp.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}`)
			return
		}
		fmt.Fprintf(w, `{"result":{"ID":%q,"STAGE_ID":"WON","STAGE_SEMANTIC_ID":"S","OPPORTUNITY":"2500.00","CURRENCY_ID":"RUB",`+
			`"DATE_MODIFY":"2026-11-01T10:15:30+03:00"}}`, r.URL.Query().Get("id"))
	}))
	t.Cleanup(portal.Close)
	tc, err := tenants.Parse([]byte(`
tenants:
  - id: acme
    accounts:
      - id: moscow
        write_keys: [` + writeKey + `]
        crm: {provider: bitrix24, base_url: "` + portal.URL + `/rest/1/s3cr3t/", app_token: ` + appToken + `, requests_per_second: 100}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := collector.DefaultConfig()
	cfg.MaxInFlightRecords, cfg.CRM.FetchTimeout, cfg.Redrive.Token = 1000, time.Second, token
	cfg.CRM.Fetch.BackoffBase, cfg.CRM.Fetch.BackoffMax = time.Millisecond, 5*time.Millisecond
	c, err := collector.New(cfg, collector.Deps{Tel: telemetry.Nop(), Producer: p.client(kafka.ProducerOpts(1000)...),
		Keys: tenants.NewKeys(tc), Tenants: tc})
	if err != nil {
		t.Fatal(err)
	}
	p.collector = httptest.NewServer(c.Handler())
	t.Cleanup(func() {
		p.collector.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return p
}

func (p *pipeline) deliver(t *testing.T, body string) string {
	t.Helper()
	resp, err := http.Post(p.collector.URL+"/v1/hooks/crm/bitrix24?k="+writeKey, "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("delivery: %d %s", resp.StatusCode, b.String())
	}
	return b.String()
}

func (p *pipeline) records(t *testing.T, topic string) int64 {
	t.Helper()
	return p.cluster.EndOffset(t, topic)
}

func (p *pipeline) run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{"--kafka-brokers", p.brokers, "--collector", p.collector.URL}, args...)
	code := Run(args, &out, &errOut)
	return code, out.String() + errOut.String()
}

func bitrixEvent(id string) string {
	return url.Values{"event": {"ONCRMDEALUPDATE"}, "data[FIELDS][ID]": {id}, "ts": {"1793520000"},
		"auth[domain]": {"branch.bitrix24.ru"}, "auth[application_token]": {appToken}}.Encode()
}

func TestRedriveFetchFailures(t *testing.T) {
	p := startPipeline(t)
	if got := p.deliver(t, bitrixEvent("1234")); !strings.Contains(got, `"dead_lettered":true`) {
		t.Fatalf("delivery while the portal is down: %s", got)
	}
	// Other dead letters: another source, and one received long ago.
	old := event.DeadLetter{V: 1, Tenant: "acme", Account: "moscow", Source: "crm:bitrix24", Reason: "fetch failed: old",
		ReceivedAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), Payload: bitrixEvent("1")}
	other := event.DeadLetter{V: 1, Tenant: "acme", Account: "moscow", Source: "crm:generic", Reason: "entity: required",
		ReceivedAt: time.Now().UnixMilli(), Payload: `{}`}
	for _, dl := range []event.DeadLetter{old, other} {
		v, _ := json.Marshal(dl)
		rec := &kgo.Record{Topic: kafka.TopicDeadLetter, Value: v, Timestamp: time.UnixMilli(dl.ReceivedAt)}
		if err := p.client().ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.records(t, kafka.TopicDeadLetter); n != 3 {
		t.Fatalf("%d dead letters", n)
	}

	code, out := p.run(t, "--source", "crm:bitrix24", "--since", "1h", "--reason-like", "fetch failed%", "--dry-run")
	if code != 0 || strings.Count(out, "would re-drive "+kafka.TopicDeadLetter) != 1 || !strings.Contains(out, "matched 1, would re-drive 1") {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	if n := p.records(t, kafka.TopicRaw); n != 0 {
		t.Fatalf("a dry run wrote %d records", n)
	}

	p.portalUp.Store(true)
	code, out = p.run(t, "--source", "crm:*", "--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		"--reason-like", "%QUERY\\_LIMIT%", "--collector-redrive-token", token)
	if code != 0 || !strings.Contains(out, "matched 1, re-driven 1, failed 0") || !strings.Contains(out, `-> 200 {"accepted":1}`) {
		t.Fatalf("redrive: %d\n%s", code, out)
	}
	recs := p.client(kgo.ConsumeTopics(kafka.TopicRaw), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs := recs.PollFetches(ctx)
	if len(fs.Records()) != 1 {
		t.Fatalf("%d raw records", len(fs.Records()))
	}
	e, err := event.Decode(fs.Records()[0].Value)
	if err != nil || e.CRM == nil || e.CRM.DealID != "1234" || e.CRM.Outcome != "won" || e.CRM.Amount != 250_000 || e.Account != "moscow" {
		t.Fatalf("re-driven envelope %+v %v", e, err)
	}

	// The generic dead letter is not valid JSON for the generic hook either:
	// re-driving it fails again, is reported, and is dead-lettered anew.
	code, out = p.run(t, "--source", "crm:generic", "--since", "1h", "--collector-redrive-token", token)
	if code != 1 || !strings.Contains(out, "-> 400") || !strings.Contains(out, "failed 1") {
		t.Fatalf("failing redrive: %d\n%s", code, out)
	}
	if n := p.records(t, kafka.TopicDeadLetter); n != 4 {
		t.Fatalf("%d dead letters after a failed re-drive", n)
	}
	if code, out := p.run(t, "--source", "crm:bitrix24", "--since", "1h", "--collector-redrive-token", "wrong-token-00000000"); code != 1 ||
		!strings.Contains(out, "refused the re-drive: 401") {
		t.Fatalf("wrong token: %d\n%s", code, out)
	}
	if code, out := p.run(t, "--source", "crm:bitrix24", "--since", "1h"); code != 2 || !strings.Contains(out, "redrive-token") {
		t.Fatalf("no token: %d\n%s", code, out)
	}
	if code, _ := p.run(t, "--since", "1h", "--dry-run"); code != 2 {
		t.Fatal("no source accepted")
	}
}

func TestLike(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"%fetch%", "fetch failed: x", true}, {"fetch%", "a fetch", false}, {"_etch%", "fetch", true},
		{"100\\%", "100%", true}, {"100\\%", "1000", false}, {"a.b", "aXb", false}, {"%", "", true},
	} {
		re, err := like(tc.pattern)
		if err != nil || re.MatchString(tc.s) != tc.want {
			t.Errorf("%q LIKE %q: %v %v", tc.s, tc.pattern, !tc.want, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-11-01": time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), "2026-11-01T03:00:00+03:00": time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"24h": now.Add(-24 * time.Hour), "7d": now.Add(-7 * 24 * time.Hour),
	} {
		if got, err := ParseTime(in, now); err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"yesterday", "-5h", "2026-13-01"} {
		if _, err := ParseTime(bad, now); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
