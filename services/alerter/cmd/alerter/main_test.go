package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/kafka/kafkatest"
	"github.com/throughline/throughline/services/alerter"
)

// run runs the binary as main does, to its error.
func run(ctx context.Context, args []string, ready func(addr string)) error {
	return cli.Run(ctx, service(ready), args, os.Stderr)
}

func TestRunServesAlertsAndStops(t *testing.T) {
	cluster := kafkatest.StartEmpty(t)
	dir := t.TempDir()
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(tenantsFile, []byte("tenants:\n  - id: acme\n    accounts: [{id: msk}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-kafka-brokers", strings.Join(cluster.Brokers, ","), "-tenants-file", tenantsFile,
			"-alerter-http-addr", "127.0.0.1:0", "-alerter-tick", "50ms"}, func(a string) { addr <- a })
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("run returned early: %v", err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(20 * time.Second)
	var view alerter.AlertsView
	for view.State != alerter.StateLive {
		if time.Now().After(deadline) {
			t.Fatalf("never live: %+v", view)
		}
		resp, err := client.Get(base + "/v1/alerts?tenant=acme")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/alerts: %d", resp.StatusCode)
		}
		json.NewDecoder(resp.Body).Decode(&view)
		resp.Body.Close()
	}
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz when live: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestBadSettingsAreNamed(t *testing.T) {
	dir := t.TempDir()
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	os.WriteFile(tenantsFile, []byte("tenants:\n  - id: acme\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-alerter-tick", "0s", "-tenants-file", tenantsFile}, "alerter-tick"},
		{[]string{"-alerter-rules-dir", filepath.Join(dir, "nope"), "-tenants-file", tenantsFile}, "alerter-rules-dir"},
		{[]string{"-tenants-file", filepath.Join(dir, "missing.yaml")}, "tenants-file"},
	} {
		err := run(context.Background(), tc.args, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to name %s", tc.args, err, tc.want)
		}
	}
	if err := run(context.Background(), []string{"-h"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp (cli.Main exits 0 on it)", err)
	}
}
