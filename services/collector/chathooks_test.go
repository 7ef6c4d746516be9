package collector

import (
	"net/http"
	"strings"
	"testing"

	"github.com/throughline/throughline/services/collector/internal/redrive"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/collector/internal/intake"
)

const (
	jivoToken    = "jivo-token-0123456789"
	chatFixtures = "internal/hooks/chats/testdata"
)

// TestChatHooksEndToEnd: Jivo's events and a generic chat become chat goals
// in the raw topic, answered the way Jivo expects; a repeated delivery keeps
// its id; what is not a chat is answered 200 and dropped; a wrong token, a
// broken body or a widget the account did not enable is refused and
// dead-lettered without key or token.
func TestChatHooksEndToEnd(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	jivo := "/v1/hooks/chats/jivo?k=" + keyMoscow + "&token=" + jivoToken
	accepted := []struct {
		path, file, clientID, phone string
	}{
		{jivo, "jivo/chat_accepted.json", "tl.8f14e45fceea167a", ""},
		{jivo, "jivo/chat_accepted.json", "tl.8f14e45fceea167a", ""}, // Jivo retried
		{jivo, "jivo/offline_message_phone.json", "", "+79160001122"},
		{"/v1/hooks/chats/generic?k=" + keyMoscow, "generic/chat.json", "tl.8f14e45fceea167a", ""},
	}
	for _, d := range accepted {
		r := s.send(t, "POST", d.path, "application/json", hookFixture(t, chatFixtures, d.file), nil)
		if r.status != http.StatusOK || !strings.Contains(r.body, `"result":"ok"`) || !strings.Contains(r.body, `"accepted":1`) {
			t.Fatalf("%s: %d %s", d.file, r.status, r.body)
		}
	}
	r := s.send(t, "POST", jivo, "application/json", hookFixture(t, chatFixtures, "jivo/call_event.json"), nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"result":"ok"`) || !strings.Contains(r.body, `"ignored"`) {
		t.Fatalf("call_event: %d %s", r.status, r.body)
	}
	recs := k.consume(t, kafka.TopicRaw, len(accepted))
	envs := decodeAll(t, recs)
	for i, e := range envs {
		d := accepted[i]
		if e.Type != event.TypeGoal || e.Name != "chat" || e.Tenant != "acme" || e.Account != "moscow" ||
			e.ClientID != d.clientID || e.Phone != d.phone || !strings.HasPrefix(e.Source, "chat:") {
			t.Fatalf("%s: envelope %+v", d.file, e)
		}
	}
	if envs[0].ID != envs[1].ID || envs[0].ID == envs[2].ID {
		t.Fatal("a repeated delivery keeps its id; another chat has another")
	}

	refused := []struct {
		path, file string
		status     int
		field      string
	}{
		{"/v1/hooks/chats/jivo?k=" + keyMoscow + "&token=wrong", "jivo/chat_accepted.json", http.StatusForbidden, "token"},
		{"/v1/hooks/chats/jivo?k=" + keyMoscow, "jivo/chat_accepted.json", http.StatusForbidden, "token"},
		{jivo, "jivo/broken.json", http.StatusBadRequest, "body"},
		{"/v1/hooks/chats/jivo?k=" + keySPb, "jivo/chat_accepted.json", http.StatusForbidden, "provider"},
	}
	for _, d := range refused {
		r := s.send(t, "POST", d.path, "application/json", hookFixture(t, chatFixtures, d.file), nil)
		if r.status != d.status || !strings.Contains(r.body, `"field":"`+d.field+`"`) {
			t.Fatalf("%s %s: %d %s", d.path, d.file, r.status, r.body)
		}
	}
	dls := deadLetters(t, k, len(refused))
	for _, dl := range dls {
		if dl.Source != "chat:jivo" || strings.Contains(dl.Payload, keyMoscow) || strings.Contains(dl.Payload, jivoToken) {
			t.Fatalf("dead letter %+v", dl)
		}
	}
	unauthenticated := 0
	for _, dl := range dls {
		if strings.HasPrefix(dl.Reason, intake.ReasonPrefixUnauthenticated) {
			unauthenticated++
		}
	}
	if unauthenticated != 2 { // a wrong and a missing token are never re-driven
		t.Fatalf("%d unauthenticated dead letters, want 2: %+v", unauthenticated, dls)
	}
	if r := s.send(t, "POST", "/v1/hooks/chats/whatsapp?k="+keyMoscow, "application/json", []byte(`{}`), nil); r.status != http.StatusNotFound {
		t.Fatalf("unknown provider: %d", r.status)
	}
	if r := s.send(t, "POST", "/v1/hooks/chats/jivo?token="+jivoToken, "application/json", []byte(`{}`), nil); r.status != http.StatusUnauthorized {
		t.Fatalf("no key: %d", r.status)
	}
	m := s.metrics(t)
	for _, want := range []string{`source="chat:jivo"`, `source="chat:generic"`} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
}

// TestRedriveChatTarget: a chat dead letter is re-driven to its own route.
func TestRedriveChatTarget(t *testing.T) {
	req, err := redrive.Request(t.Context(), &event.DeadLetter{Source: "chat:jivo", Payload: `{"event_name":"chat_accepted"}`}, "k1")
	if err != nil || req.Method != http.MethodPost || req.URL.String() != "/v1/hooks/chats/jivo?k=k1" {
		t.Fatalf("%v %v", req, err)
	}
}
