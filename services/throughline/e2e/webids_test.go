package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCoMagicCallByMetricaClientID: a visitor lands from Yandex Direct on a
// page running Metrica; the tracker's pixel carries the _ym_uid ClientID.
// CoMagic (UIS) reports the visitor's call with only that ClientID
// (ym_client_id) — no client id of ours, no UTMs, a number not in any pool.
// The call becomes a lead credited to the visitor's channel, the call is
// matched to the visitor's session, and the session holds ym_client_id.
func TestCoMagicCallByMetricaClientID(t *testing.T) {
	n := newNode(t)
	const key = "metrica-write-key-0001"
	tenantsYAML := `tenants:
  - id: metrica
    timezone: UTC
    read_tokens: [metrica-read-token-0001]
    accounts:
      - id: dealer
        write_keys: [` + key + `]
        call_tracking: [{provider: comagic}]
`
	if err := os.WriteFile(filepath.Join(n.dataDir, "tenants.yaml"), []byte(tenantsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	n.start()
	now := time.Now().UTC()
	const ym = "1700000000123456789"
	cid := fmt.Sprintf("%016x.%d", now.UnixNano(), now.Unix())
	q := url.Values{"k": {key}, "cid": {cid}, "ym": {ym}, "ga": {"GA1.2.1234567890.1700000000"},
		"u": {"https://dealer.example/?utm_source=yandex&utm_medium=cpc&utm_campaign=glass&yclid=5"}}
	resp, err := http.Get("http://" + n.collector + "/px.gif?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("pixel: %d", resp.StatusCode)
	}
	start := now.Add(2 * time.Minute).Format("2006-01-02 15:04:05")
	post(t, "http://"+n.collector+"/v1/hooks/calls/comagic?k="+key, "application/json", `{
  "phase": "end", "call_session_id": "2873611902", "start_time": "`+start+`", "direction": "in",
  "contact_phone_number": "79161234567", "virtual_phone_number": "74951234567",
  "wait_time_duration": "5", "talk_time_duration": "95", "is_lost": "false",
  "visitor_id": "{{visitor_id}}", "ym_client_id": "`+ym+`", "ua_client_id": "", "tl_client_id": ""}`, 200)

	n.waitCount("SELECT count() FROM throughline.calls FINAL WHERE tenant = 'metrica' AND channel = 'yandex_direct' AND session_id != ''", 1, 60*time.Second)
	n.waitCount("SELECT count() FROM throughline.sessions FINAL WHERE tenant = 'metrica' AND ym_client_id = '"+ym+"' AND ga_client_id = '1234567890.1700000000'", 1, 60*time.Second)
	leads := n.query(`SELECT kind, channel FROM throughline.leads FINAL WHERE tenant = 'metrica'`)
	if fmt.Sprint(leads) != "[[call yandex_direct]]" {
		t.Fatalf("leads: %v, want one call lead on yandex_direct", leads)
	}
	if v := n.query(`SELECT ym_client_id FROM throughline.sessions_latest WHERE tenant = 'metrica'`); fmt.Sprint(v) != "[["+ym+"]]" {
		t.Fatalf("sessions_latest: %v, want the new column through the view", v)
	}
	calls := n.query(`SELECT session_id FROM throughline.calls FINAL WHERE tenant = 'metrica'`)
	sessions := n.query(`SELECT session_id FROM throughline.sessions FINAL WHERE tenant = 'metrica' AND ym_client_id = '` + ym + `'`)
	if fmt.Sprint(calls) != fmt.Sprint(sessions) {
		t.Fatalf("the call's session %v is not the visitor's %v", calls, sessions)
	}
	var row map[string]any
	deadline := time.Now().Add(60 * time.Second)
	for row == nil || row["leads_call"] != 1.0 {
		if time.Now().After(deadline) {
			t.Fatalf("the channel report never credited the call to yandex_direct: %v", row)
		}
		time.Sleep(100 * time.Millisecond)
		row = reportRow(t, n, "metrica", "metrica-read-token-0001", "channels", "channel", "yandex_direct")
	}
}
