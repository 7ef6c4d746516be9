package collector

import (
	"net/http"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/collector/internal/intake"
)

const allokaToken = "alloka-token-0123456789"

// TestAllokaCallibriEndToEnd: an Alloka call with the account's token and
// a Callibri GET become call events; a wrong token is refused with 403 and
// dead-lettered as unauthenticated, without key or token.
func TestAllokaCallibriEndToEnd(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	ok := []struct{ method, path, ctype, file, callID string }{
		{"POST", "/v1/hooks/calls/alloka?k=" + keyMoscow + "&token=" + allokaToken, "application/json", "alloka/call_end.json", "alk-90211"},
		{"GET", "/v1/hooks/calls/callibri?k=" + keyMoscow + "&" + string(hookFixture(t, callFixtures, "callibri/missed.query")), "", "", "3341908"},
	}
	for _, d := range ok {
		var body []byte
		if d.file != "" {
			body = hookFixture(t, callFixtures, d.file)
		}
		r := s.send(t, d.method, strings.TrimSpace(d.path), d.ctype, body, nil)
		if r.status != http.StatusOK || !strings.Contains(r.body, `"accepted":1`) {
			t.Fatalf("%s: %d %s", d.path, r.status, r.body)
		}
	}
	envs := decodeAll(t, k.consume(t, kafka.TopicRaw, len(ok)))
	got := map[string]event.Envelope{}
	for _, e := range envs {
		got[e.Call.CallID] = e
	}
	a, c := got["alk-90211"], got["3341908"]
	if a.Source != "hook:alloka" || a.Call.TalkSec != 95 || a.ClientID != "tl.8f14e45fceea167a" || a.Call.CallerPhone != "+79161234567" {
		t.Fatalf("alloka %+v %+v", a, a.Call)
	}
	if c.Source != "hook:callibri" || c.Call.Answered || c.Call.TrackingNumber != "+74951230000" {
		t.Fatalf("callibri %+v %+v", c, c.Call)
	}
	r := s.send(t, "POST", "/v1/hooks/calls/alloka?k="+keyMoscow+"&token=wrong", "application/json",
		hookFixture(t, callFixtures, "alloka/call_end.json"), nil)
	if r.status != http.StatusForbidden {
		t.Fatalf("wrong token: %d %s", r.status, r.body)
	}
	dl := deadLetters(t, k, 1)[0]
	if dl.Source != "hook:alloka" || !strings.HasPrefix(dl.Reason, intake.ReasonPrefixUnauthenticated) ||
		strings.Contains(dl.Payload, "wrong") || strings.Contains(dl.Payload, keyMoscow) {
		t.Fatalf("dead letter %+v", dl)
	}
}
