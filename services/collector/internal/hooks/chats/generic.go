package chats

import (
	"bytes"
	"encoding/json"
	"github.com/throughline/throughline/pkg/pii"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/event"
)

// genericChat is Throughline's own chat format, for widgets without an
// adapter: POST {"chat_id", "client_id", "phone", "email", "url", "ts",
// "event"}; ts is Unix seconds or milliseconds, or RFC 3339.
type genericChat struct {
	ChatID   json.RawMessage `json:"chat_id"`
	Event    string          `json:"event"`
	ClientID json.RawMessage `json:"client_id"`
	Phone    json.RawMessage `json:"phone"`
	Email    json.RawMessage `json:"email"`
	URL      json.RawMessage `json:"url"`
	TS       json.RawMessage `json:"ts"`
}

func parseGeneric(body []byte, region string, now time.Time) (Chat, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return Chat{}, errField("body", "not a JSON object")
	}
	var g genericChat
	if err := json.Unmarshal(b, &g); err != nil {
		return Chat{}, errField("body", "not a chat: "+jsonReason(err))
	}
	c := Chat{ID: rawString(g.ChatID), Event: strings.ToLower(clean(g.Event))}
	switch {
	case c.ID == "":
		return Chat{}, errField("chat_id", "required")
	case len(c.ID) > 256:
		return Chat{}, errField("chat_id", "longer than 256 bytes")
	case len(c.Event) > 64:
		return Chat{}, errField("event", "longer than 64 bytes")
	}
	if c.Event == "" {
		c.Event = "chat"
	}
	c.ClientID = clientID(rawString(g.ClientID))
	c.Phone, _ = pii.ParsePhone(rawString(g.Phone), region)
	c.Email = event.NormalizeEmail(rawString(g.Email))
	c.URL = httpURL(rawString(g.URL))
	if ts := rawString(g.TS); ts != "" {
		t, ok := parseTime(ts)
		if !ok {
			return Chat{}, errField("ts", "not a time: Unix seconds or milliseconds, or RFC 3339")
		}
		if t.Year() < 2000 || t.After(now.Add(24*time.Hour)) {
			return Chat{}, errField("ts", t.Format(time.RFC3339)+" is before 2000 or in the future")
		}
		c.TS = t
	}
	return c, nil
}

func parseTime(v string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), true
	}
	var n json.Number = json.Number(v)
	if i, err := n.Int64(); err == nil {
		switch {
		case i >= 1e11 && i < 1e14:
			return time.UnixMilli(i).UTC(), true
		case i >= 1e8 && i < 1e11:
			return time.Unix(i, 0).UTC(), true
		}
	}
	return time.Time{}, false
}
