package chats

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/event"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJivoFixtures(t *testing.T) {
	cases := []struct {
		file string
		want Chat
	}{
		{"chat_accepted.json", Chat{ID: "4398", Event: "chat_accepted", ClientID: "tl.8f14e45fceea167a",
			URL: "https://dealer.example.ru/zamena-lobovogo?utm_source=yandex", Props: map[string]string{
				"jivo_widget_id": "2853", "chat_utm_source": "yandex", "chat_utm_medium": "cpc",
				"chat_utm_campaign": "glass_msk", "chat_utm_term": "замена стекла"}}},
		// user_token set by jivo_api.setUserToken; the UTM only as Jivo's
		// pipe-separated string; a javascript: page is no URL.
		{"chat_finished_user_token.json", Chat{ID: "4399", Event: "chat_finished", ClientID: "tl.c9f0f895fb98ab91",
			Phone: "+79167654321", Email: "petr@example.ru", Props: map[string]string{
				"jivo_widget_id": "2853", "chat_utm_source": "google", "chat_utm_medium": "cpc", "chat_utm_campaign": "brand"}}},
		// No client id: the phone (with an extension dropped) links it.
		{"offline_message_phone.json", Chat{ID: "om-77120", Event: "offline_message", Phone: "+79160001122",
			URL: "https://dealer.example.ru/kontakty", Props: map[string]string{"jivo_widget_id": "2853"}}},
		{"client_updated_custom_link.json", Chat{ID: "4398", Event: "client_updated", ClientID: "tl.8f14e45fceea167a",
			Phone: "+79161234567"}},
		// Wrong types everywhere: what can be read is, the rest is dropped.
		{"ugly.json", Chat{ID: "4401", Event: "chat_accepted", ClientID: "12345",
			Props: map[string]string{"chat_utm_campaign": "a=b"}}},
	}
	for _, c := range cases {
		got, err := Parse("jivo", fixture(t, "jivo/"+c.file), "RU", now)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		c.want.TS = now
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", c.file, got, c.want)
		}
	}
}

func TestJivoRefusedAndIgnored(t *testing.T) {
	for file, field := range map[string]string{
		"broken.json": "body", "no_chat_id.json": "chat_id", "no_event.json": "event_name",
	} {
		_, err := Parse("jivo", fixture(t, "jivo/"+file), "RU", now)
		var fe *event.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Fatalf("%s: %v, want a field error on %s", file, err, field)
		}
	}
	for _, file := range []string{"call_event.json", "no_contact.json", "unknown_event.json"} {
		_, err := Parse("jivo", fixture(t, "jivo/"+file), "RU", now)
		if _, ok := IsIgnored(err); !ok {
			t.Fatalf("%s: %v, want ignored", file, err)
		}
	}
	if _, err := Parse("jivo", []byte(`[1,2]`), "RU", now); err == nil {
		t.Fatal("an array was accepted")
	}
}

func TestGeneric(t *testing.T) {
	got, err := Parse("generic", fixture(t, "generic/chat.json"), "RU", now)
	want := Chat{ID: "w-1", Event: "started", ClientID: "tl.8f14e45fceea167a", URL: "https://dealer.example.ru/",
		TS: time.Unix(1772000000, 0).UTC()}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v %v", got, err)
	}
	got, err = Parse("generic", fixture(t, "generic/phone_only.json"), "RU", now)
	if err != nil || got.ID != "17" || got.Phone != "+79161234567" || got.Event != "chat" || !got.TS.Equal(time.Unix(1772000000, 0)) {
		t.Fatalf("got %+v %v", got, err)
	}
	_, err = Parse("generic", fixture(t, "generic/bad_ts.json"), "RU", now)
	var fe *event.FieldError
	if !errors.As(err, &fe) || fe.Field != "ts" {
		t.Fatalf("bad ts: %v", err)
	}
}

// TestEnvelope: a chat is a goal the stitcher counts as a chat; the same
// delivery is the same id, a later event of the chat another.
func TestEnvelope(t *testing.T) {
	m := Meta{Tenant: "acme", Account: "moscow", Provider: "jivo", ReceivedAt: now}
	c, err := Parse("jivo", fixture(t, "jivo/chat_accepted.json"), "RU", now)
	if err != nil {
		t.Fatal(err)
	}
	e := Envelope(c, m)
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if e.Type != event.TypeGoal || e.Name != "chat" || e.Source != "chat:jivo" || e.ClientID != "tl.8f14e45fceea167a" ||
		e.TS != now.UnixMilli() || e.Props["chat_id"] != "4398" || e.Props["chat_event"] != "chat_accepted" || e.UTM != (event.UTM{}) {
		t.Fatalf("envelope %+v", e)
	}
	if again := Envelope(c, m); again.ID != e.ID {
		t.Fatal("a repeated delivery must keep its id")
	}
	c2, _ := Parse("jivo", fixture(t, "jivo/client_updated_custom_link.json"), "RU", now)
	if Envelope(c2, m).ID == e.ID {
		t.Fatal("a later event of the chat must be another event")
	}
	if other := Envelope(c, Meta{Tenant: "acme", Account: "spb", Provider: "jivo"}); other.ID == e.ID {
		t.Fatal("another account's chat 4398 is another chat")
	}
}
