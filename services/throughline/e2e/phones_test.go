package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

const phonesKey = "phones-branch-key-1"

// A Moscow landline reported by a call tracker as bare digits and the same
// number written "8 (495) …" in an amoCRM contact are one person with one
// lead; and the number never appears in clear on the raw topic, the dead
// letters, the stitcher's changelog or the entity topics — only its hash,
// salted with the tenant's pii_salt, which calls.caller_phone holds. The
// data files that hold them are readable by their owner only.
func TestLandlineFromCallTrackerMeetsAmoCRMContact(t *testing.T) {
	n := newNode(t)
	salt := make([]byte, 32)
	rand.Read(salt)
	tenantsYAML := `tenants:
  - id: net
    timezone: UTC
    pii_salt: ` + hex.EncodeToString(salt) + `
    accounts:
      - id: msk
        write_keys: [` + phonesKey + `]
        call_tracking: [{provider: generic}]
        crm: {provider: amocrm, subdomain: acme}
`
	if err := os.WriteFile(filepath.Join(n.dataDir, "tenants.yaml"), []byte(tenantsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	n.start()

	now := time.Now().UTC()
	post(t, "http://"+n.collector+"/v1/hooks/calls/generic?k="+phonesKey, "application/json",
		fmt.Sprintf(`{"call_id":"ct-1","started_at":%q,"caller":"74951234567","tracking_number":"+74950000000","talk_sec":42}`,
			now.Add(-time.Minute).Format(time.RFC3339)), 200)
	form := url.Values{
		"account[subdomain]":                                   {"acme"},
		"leads[add][0][id]":                                    {"777"},
		"leads[add][0][name]":                                  {"Заявка"},
		"leads[add][0][status_id]":                             {"10216995"},
		"leads[add][0][created_at]":                            {fmt.Sprint(now.Unix())},
		"contacts[add][0][id]":                                 {"4401"},
		"contacts[add][0][last_modified]":                      {fmt.Sprint(now.Unix())},
		"contacts[add][0][custom_fields][0][id]":               {"501"},
		"contacts[add][0][custom_fields][0][code]":             {"PHONE"},
		"contacts[add][0][custom_fields][0][values][0][value]": {"8 (495) 123-45-67"},
		"contacts[add][0][custom_fields][1][id]":               {"502"},
		"contacts[add][0][custom_fields][1][code]":             {"EMAIL"},
		"contacts[add][0][custom_fields][1][values][0][value]": {"Ivan.Petrov@Example.RU"},
		"contacts[add][0][linked_leads_id][777]":               {"777"},
	}
	post(t, "http://"+n.collector+"/v1/hooks/crm/amocrm?k="+phonesKey, "application/x-www-form-urlencoded", form.Encode(), 200)
	// refused (no start time), so dead-lettered with the caller in its payload
	post(t, "http://"+n.collector+"/v1/hooks/calls/generic?k="+phonesKey, "application/json",
		`{"call_id":"ct-2","caller":"+7 (495) 123-45-67"}`, 400)

	n.waitCount("SELECT count() FROM throughline.calls FINAL WHERE tenant = 'net'", 1, 60*time.Second)
	n.waitCount("SELECT count() FROM throughline.leads FINAL WHERE tenant = 'net' AND crm_lead_id != ''", 1, 60*time.Second)
	n.waitCount("SELECT count() FROM throughline.dead_letters WHERE tenant = 'net'", 1, 60*time.Second)
	rows := n.query(`SELECT count(), uniqExact(person_id), any(person_id) FROM throughline.leads FINAL WHERE tenant = 'net'`)
	if fmt.Sprintf("%v %v", rows[0][0], rows[0][1]) != "1 1" {
		t.Fatalf("leads of the call and the CRM contact: %v, want one lead of one person", rows)
	}
	calls := n.query(`SELECT person_id, caller_phone, lead_id FROM throughline.calls FINAL WHERE tenant = 'net'`)
	if calls[0][0] != rows[0][2] {
		t.Errorf("the call's person %v is not the lead's %v", calls[0][0], rows[0][2])
	}
	if cp := fmt.Sprint(calls[0][1]); !strings.HasPrefix(cp, "h1:") || len(cp) != 35 {
		t.Errorf("calls.caller_phone = %q, want the tenant's hash of the number", cp)
	}

	clear := []string{"4951234567", "495) 123", "123-45-67", "ivan.petrov", "Ivan.Petrov"}
	for _, topic := range []string{kafka.TopicRaw, kafka.TopicDeadLetter, kafka.TopicStitcherState, kafka.TopicCalls, kafka.TopicLeads} {
		recs := n.readAll(topic)
		if len(recs) == 0 && topic != kafka.TopicLeads {
			t.Errorf("%s: no records read back", topic)
		}
		for _, r := range recs {
			for _, c := range clear {
				if bytes.Contains(r.Value, []byte(c)) || bytes.Contains(r.Key, []byte(c)) {
					t.Errorf("%s holds %q in clear: %s", topic, c, r.Value)
				}
			}
		}
	}
	// the embedded Kafka's segments (the changelog among them) and the
	// engine's parts are the owner's only
	for _, dir := range []string{"kafka", "clickhouse"} {
		checked := 0
		filepath.WalkDir(filepath.Join(n.dataDir, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return nil // a part merged away while we walk
			}
			if d.Type()&os.ModeSymlink != 0 {
				return nil // the engine links tables to their store; a link has no mode of its own
			}
			if info, err := d.Info(); err == nil && info.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s is %v: readable beyond its owner", path, info.Mode().Perm())
			}
			checked++
			return nil
		})
		if checked < 2 {
			t.Errorf("%s: %d files checked, the data dir is not where the test looks", dir, checked)
		}
	}
	for _, topic := range []string{kafka.TopicRaw, kafka.TopicDeadLetter} {
		hashed := false
		for _, r := range n.readAll(topic) {
			hashed = hashed || bytes.Contains(r.Value, []byte(`"h1:`)) || bytes.Contains(r.Value, []byte(`:\"h1:`))
		}
		if !hashed {
			t.Errorf("%s: no hashed phone found, the records do not carry the number at all", topic)
		}
	}
}

// readAll reads a topic from its start until a fetch brings nothing new.
// Unlike records it does not count offsets, which on the stitcher's
// transactional topics include the commit markers no consumer sees.
func (n *node) readAll(topic string) []*kgo.Record {
	n.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(fmt.Sprintf("127.0.0.1:%d", n.kafkaPort)),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		n.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		got := fs.Records()
		if len(got) == 0 && len(out) > 0 {
			break
		}
		out = append(out, got...)
	}
	return out
}

func post(t *testing.T, u, contentType, body string, want int) {
	t.Helper()
	resp, err := http.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d %s, want %d", u, resp.StatusCode, b, want)
	}
}
