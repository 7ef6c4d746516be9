package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/console/dashboard"
)

// Issue 9, item 9: live streams were capped over every tenant only, so one
// tenant could hold them all. Now a tenant past its share gets 429 while
// another tenant still gets a stream; past the overall cap, 503.
func TestLiveStreamsCappedPerTenant(t *testing.T) {
	d, err := dashboard.New(dashboard.Config{MaxSubscribers: 3, MaxSubscribersPerTenant: 2}, dashboard.Deps{
		Store: engine,
		// The tenant is the token, for this test.
		Authorize: func(r *http.Request) (string, error) {
			return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), nil
		},
		// The feed is never started: streams open, nothing flows.
		Kafka: &kafka.Config{Brokers: []string{"127.0.0.1:1"}, ClientID: "streamcap-test", Replication: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	d.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close) // after the streams' bodies are closed (cleanups run last first)
	open := func(tenant string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/dashboard/leads/stream", nil)
		req.Header.Set("Authorization", "Bearer "+tenant)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode == http.StatusOK {
			return resp.StatusCode, "" // held open until the test ends
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	steps := []struct {
		tenant string
		want   int
		msg    string
	}{
		{"greedy", http.StatusOK, ""},
		{"greedy", http.StatusOK, ""},
		{"greedy", http.StatusTooManyRequests, "this tenant has as many live streams open as it may"},
		{"other", http.StatusOK, ""},
		{"third", http.StatusServiceUnavailable, "too many live streams are open"},
	}
	for i, st := range steps {
		status, body := open(st.tenant)
		if status != st.want || !strings.Contains(body, st.msg) {
			t.Fatalf("step %d (%s): %d %s, want %d %q", i, st.tenant, status, body, st.want, st.msg)
		}
	}
}
