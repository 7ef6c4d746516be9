package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/pkg/vendorsign"
)

// The security suite: each case is an attack that worked against an
// earlier Throughline (issue 9, docs/security.md), tried again against the
// real binary, and asserted to fail now.

// runBinary runs the binary to its end and returns its exit code and output.
func runBinary(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// Refused at start: no tenants file (nothing is made up), a tenants file
// an older demo wrote (credentials anyone can compute), a broker beyond
// loopback without SASL.
func TestSecurityRefusedAtStart(t *testing.T) {
	computed := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:12]) }
	oldDemo := "tenants:\n  - id: demo-network\n    tenant_keys: [demo_tk_" + computed("throughline-demo/1/tenant-key/demo-network") + "]\n" +
		"    accounts:\n      - id: moscow\n        write_keys: [demo_" + computed("throughline-demo/1/moscow") + "]\n"
	cases := []struct {
		name    string
		tenants string // "" no file
		extra   []string
		want    string
	}{
		{"run without a tenants file", "", nil, "deploy/tenants.example.yaml"},
		{"computed demo credentials", oldDemo, nil, "a credential of the old demo that anyone can compute"},
		{"broker beyond loopback without SASL", "tenants:\n  - id: t\n    accounts:\n      - id: a\n        site_keys: [site-key-123]\n",
			[]string{"--kafka-host", "0.0.0.0"}, "set a SASL user and password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.tenants != "" {
				if err := os.WriteFile(filepath.Join(dir, "tenants.yaml"), []byte(c.tenants), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{"run", "--data-dir", dir, "--kafka-port", fmt.Sprint(freePort(t)),
				"--collector-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--console-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t))}, c.extra...)
			code, out := runBinary(t, args...)
			if code == 0 || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d, want a refusal naming %q:\n%s", code, c.want, out)
			}
		})
	}
}

// One running process, every attack on its HTTP surface.
func TestSecurityAttacks(t *testing.T) {
	n := newNode(t)
	n.start()
	cfg, err := tenants.Load(filepath.Join(n.dataDir, "tenants.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tn := cfg.Tenants[0]
	// Branch 1 of the demo network: Mango calls, amoCRM.
	acc := tn.Accounts[1]
	if acc.CRM == nil || acc.CRM.Provider != "amocrm" || acc.CallTracking[0].Provider != "mango" {
		t.Fatalf("branch 1 is not on Mango and amoCRM: %+v", acc)
	}
	collectorURL, consoleURL := "http://"+n.collector, "http://"+n.console

	// `run` prints no secret.
	for _, secret := range []string{acc.SiteKey(), acc.ServerKey(), tn.ReadTokens[0], tn.TenantKeys[0], adminToken} {
		if strings.Contains(n.logs.String(), secret) {
			t.Errorf("the run's output holds a secret (%s…)", secret[:8])
		}
	}

	type attack struct {
		name   string
		method string
		url    string
		header map[string]string
		body   string
		want   int
	}
	now := time.Now().Unix()
	mango := func(created int64) string {
		j := fmt.Sprintf(`{"entry_id":"sec-%d","call_direction":1,"from":{"number":"79161234567"},"to":{"number":"74951234567","line_number":"74951234567"},"line_number":"74951234567","create_time":%d,"talk_time":%d,"end_time":%d,"entry_result":1}`,
			created, created, created+5, created+65)
		return url.Values{"vpbx_api_key": {"k"}, "sign": {vendorsign.Mango("k", j, acc.CallTracking[0].Secret)}, "json": {j}}.Encode()
	}
	amo := func(subdomain string) string {
		v := url.Values{"leads[add][0][id]": {"1"}, "leads[add][0][status_id]": {"142"}, "leads[add][0][price]": {"133000000"}}
		if subdomain != "" {
			v.Set("account[subdomain]", subdomain)
		}
		return v.Encode()
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	site, server := acc.SiteKey(), acc.ServerKey()
	computedKey := "demo_" + func() string {
		s := sha256.Sum256([]byte("throughline-demo/1/" + acc.ID))
		return hex.EncodeToString(s[:12])
	}()
	attacks := []attack{
		// Computed credentials of older demos.
		{"computed demo write key", "POST", collectorURL + "/v1/events", map[string]string{"Authorization": "Bearer " + computedKey, "Content-Type": "application/json"},
			`[{"type":"pageview","ts":` + fmt.Sprint(now*1000) + `,"client_id":"x","url":"https://e.x/"}]`, 401},
		// The public site key forging revenue.
		{"site key posts a call", "POST", collectorURL + "/v1/hooks/calls/generic?k=" + site, map[string]string{"Content-Type": "application/json"},
			`{"call_id":"c1","caller":"+79161234567","started_at":` + fmt.Sprint(now*1000) + `,"talk_sec":60}`, 403},
		{"site key posts a CRM deal", "POST", collectorURL + "/v1/hooks/crm/generic?k=" + site, map[string]string{"Content-Type": "application/json"},
			`{"changes":[{"entity":"deal","id":"d1","status":"won","amount":133000000}]}`, 403},
		{"site key uploads costs", "POST", collectorURL + "/v1/costs", map[string]string{"Authorization": "Bearer " + site, "Content-Type": "text/csv"},
			"date,channel,campaign,cost\n2026-01-01,yandex_direct,x,999999\n", 403},
		{"site key posts amoCRM", "POST", collectorURL + "/v1/hooks/crm/amocrm?k=" + site, form, amo(acc.CRM.AmoSubdomain()), 403},
		// amoCRM without its account's subdomain.
		{"amoCRM without subdomain", "POST", collectorURL + "/v1/hooks/crm/amocrm?k=" + server, form, amo(""), 403},
		// A signed Mango summary replayed days later.
		{"replayed signed webhook", "POST", collectorURL + "/v1/hooks/calls/mango?k=" + server, form, mango(now - 3*86400), 403},
		{"fresh signed webhook (control)", "POST", collectorURL + "/v1/hooks/calls/mango?k=" + server, form, mango(now - 120), 200},
		// The console: DNS rebinding and cross-site requests.
		{"Host of another site", "GET", consoleURL + "/v1/reports/channels", map[string]string{"Host": "attacker.example", "Authorization": "Bearer " + tn.ReadTokens[0]}, "", 421},
		{"GET /v1/sql?q=", "GET", consoleURL + "/v1/sql?q=SELECT+1", map[string]string{"Authorization": "Bearer " + adminToken}, "", 405},
		{"SQL as a simple form post", "POST", consoleURL + "/v1/sql", map[string]string{"Authorization": "Bearer " + adminToken, "Content-Type": "text/plain"}, "SELECT 1", 415},
		{"SQL with the admin token (control)", "POST", consoleURL + "/v1/sql", map[string]string{"Authorization": "Bearer " + adminToken, "Content-Type": "application/sql"}, "SELECT 1", 200},
		{"SQL with a read token", "POST", consoleURL + "/v1/sql", map[string]string{"Authorization": "Bearer " + tn.ReadTokens[0], "Content-Type": "application/sql"}, "SELECT 1", 401},
	}
	// No token on every data route of the console, on loopback.
	for _, r := range []string{"/v1/reports/channels", "/v1/reports/sources", "/v1/reports/campaigns", "/v1/reports/accounts",
		"/v1/reports/days", "/v1/reports/leadflow", "/v1/reports/markov", "/v1/dashboard/tenant", "/v1/dashboard/leads/stream",
		"/v1/dashboard/leads/recent", "/v1/dashboard/deadletters", "/v1/dashboard/restatements", "/v1/alerts"} {
		attacks = append(attacks, attack{"no token: " + r, "GET", consoleURL + r + "?tenant=" + tn.ID, nil, "", 401})
	}
	attacks = append(attacks, attack{"no token: /v1/sql", "POST", consoleURL + "/v1/sql", map[string]string{"Content-Type": "application/sql"}, "SELECT 1", 401})

	for _, a := range attacks {
		req, _ := http.NewRequest(a.method, a.url, strings.NewReader(a.body))
		for k, v := range a.header {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
		resp.Body.Close()
		if resp.StatusCode != a.want {
			t.Errorf("%s: %d %s, want %d", a.name, resp.StatusCode, body, a.want)
		}
		if strings.HasPrefix(a.url, consoleURL+"/v1/") && resp.StatusCode != 421 && resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", a.name, resp.Header.Get("Cache-Control"))
		}
	}

	// Nothing the attacks sent became revenue, calls or costs: only the
	// control call is in Kafka (the raw topic is what the loader loads).
	n.waitCount("SELECT count() FROM throughline.events WHERE type = 'call'", 1, time.Minute)
	if rows := n.query("SELECT count() FROM throughline.events WHERE type IN ('crm', 'cost')"); fmt.Sprint(rows[0][0]) != "0" {
		t.Errorf("forged CRM or cost events were loaded: %v", rows)
	}
}

// With SASL on, a client without the broker's credentials — kcat, a kgo
// producer — can neither produce nor read; the services log in and the
// pipeline runs.
func TestSecurityBrokerSASL(t *testing.T) {
	n := newNode(t)
	const user, password = "throughline", "sasl-password-0123456789"
	pwFile := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(pwFile, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	n.start("--kafka-sasl-user", user, "--kafka-sasl-password-file", pwFile)
	if strings.Contains(n.logs.String(), password) {
		t.Fatal("the SASL password is in the output")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", n.kafkaPort)
	produce := func(opts ...kgo.Opt) error {
		cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.RetryTimeout(3*time.Second))...)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Topic: kafka.TopicRaw, Key: []byte("x"), Value: []byte(`{"forged":true}`)}).FirstErr()
	}
	if err := produce(); err == nil {
		t.Fatal("a client without SASL credentials produced to the raw topic")
	}
	if err := produce(kgo.SASL(plain.Auth{User: user, Pass: "wrong-password-000000"}.AsMechanism())); err == nil {
		t.Fatal("a client with a wrong password produced to the raw topic")
	}
	if _, err := exec.LookPath("kcat"); err == nil {
		out, err := exec.Command("kcat", "-b", addr, "-L", "-m", "5").CombinedOutput()
		if err == nil && strings.Contains(string(out), kafka.TopicRaw) {
			t.Errorf("kcat without credentials listed the topics:\n%s", out)
		}
	}
	// The services log in: a hit travels through the pipeline.
	_, _, key := n.key()
	if r := n.pixel(key, "sasl-visitor", "https://example.com/"); r.StatusCode != 200 {
		t.Fatalf("pixel: %d", r.StatusCode)
	}
	n.waitCount("SELECT count() FROM throughline.events WHERE client_id = 'sasl-visitor'", 1, time.Minute)
}
