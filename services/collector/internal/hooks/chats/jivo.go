package chats

import (
	"bytes"
	"encoding/json"
	"github.com/throughline/throughline/pkg/pii"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/throughline/throughline/pkg/event"
)

// ClientIDKey is the name under which the site hands the widget
// Throughline's client id: jivo_api.setCustomData([{key: "tl_client_id",
// content: id}]), or as the user token (jivo_api.setUserToken(id)).
const ClientIDKey = "tl_client_id"

// jivoChatEvents are the Jivo webhook events that are a visitor's chat.
// call_event (a callback the widget ordered) is the call tracker's to
// report; others Jivo may add are ignored until they are understood.
var jivoChatEvents = map[string]bool{
	"chat_accepted": true, "chat_assigned": true, "chat_finished": true, "chat_updated": true,
	"client_updated": true, "offline_message": true,
}

// jivoDelivery is the part of a Jivo webhook Throughline reads
// (docs/webhooks/jivo.md). Ids arrive as numbers or strings.
type jivoDelivery struct {
	EventName      string          `json:"event_name"`
	ChatID         json.RawMessage `json:"chat_id"`
	OfflineMessage json.RawMessage `json:"offline_message_id"`
	MessageID      json.RawMessage `json:"message_id"`
	WidgetID       json.RawMessage `json:"widget_id"`
	UserToken      json.RawMessage `json:"user_token"`
	ClientID       json.RawMessage `json:"client_id"`
	Visitor        *struct {
		Email  json.RawMessage `json:"email"`
		Phone  json.RawMessage `json:"phone"`
		Number json.RawMessage `json:"number"`
	} `json:"visitor"`
	Session *struct {
		UTM     json.RawMessage `json:"utm"`
		UTMJSON map[string]any  `json:"utm_json"`
		Custom  json.RawMessage `json:"custom_data"`
	} `json:"session"`
	Page *struct {
		URL json.RawMessage `json:"url"`
	} `json:"page"`
	CustomData json.RawMessage `json:"custom_data"`
}

// parseJivo reads one Jivo webhook: a JSON object whose event_name says
// what happened. The client id is read from custom_data (top level or in
// session), from user_token, or from a client_id field, in that order.
func parseJivo(body []byte, region string) (Chat, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return Chat{}, errField("body", "not a JSON object: Jivo posts its events as JSON")
	}
	var d jivoDelivery
	if err := json.Unmarshal(b, &d); err != nil {
		return Chat{}, errField("body", "not a Jivo event: "+jsonReason(err))
	}
	ev := strings.ToLower(clean(d.EventName))
	switch {
	case ev == "":
		return Chat{}, errField("event_name", "required")
	case ev == "call_event":
		return Chat{}, &Ignored{Reason: "call_event: calls are reported by the call tracker"}
	case !jivoChatEvents[ev]:
		return Chat{}, &Ignored{Reason: "event " + short(ev) + " is not a chat"}
	}
	c := Chat{Event: ev}
	ids := []json.RawMessage{d.ChatID}
	if ev == "offline_message" {
		ids = []json.RawMessage{d.OfflineMessage, d.MessageID, d.ChatID}
	}
	for _, raw := range ids {
		if c.ID = rawString(raw); c.ID != "" {
			break
		}
	}
	if c.ID == "" {
		field := "chat_id"
		if ev == "offline_message" {
			field = "offline_message_id"
		}
		return Chat{}, errField(field, "required: Jivo's id of the chat")
	}
	if len(c.ID) > 256 {
		return Chat{}, errField("chat_id", "longer than 256 bytes")
	}
	if d.Visitor != nil {
		c.Phone, _ = pii.ParsePhone(rawString(d.Visitor.Phone), region)
		c.Email = event.NormalizeEmail(rawString(d.Visitor.Email))
	}
	c.ClientID = customClientID(d.CustomData)
	if c.ClientID == "" && d.Session != nil {
		c.ClientID = customClientID(d.Session.Custom)
	}
	for _, raw := range []json.RawMessage{d.UserToken, d.ClientID} {
		if c.ClientID == "" {
			c.ClientID = clientID(rawString(raw))
		}
	}
	if d.Page != nil {
		c.URL = httpURL(rawString(d.Page.URL))
	}
	props := map[string]string{}
	if w := rawString(d.WidgetID); w != "" {
		props["jivo_widget_id"] = short(w)
	}
	if d.Session != nil {
		utm := d.Session.UTMJSON
		if len(utm) == 0 {
			utm = jivoUTM(rawString(d.Session.UTM))
		}
		for _, k := range []string{"source", "medium", "campaign", "content", "term"} {
			if v := clean(scalar(utm[k])); v != "" {
				props["chat_utm_"+k] = short(v)
			}
		}
	}
	if len(props) > 0 {
		c.Props = props
	}
	return c, nil
}

// jivoUTM reads Jivo's "source=google|medium=cpc|campaign=x" form.
func jivoUTM(v string) map[string]any {
	out := map[string]any{}
	for _, part := range strings.Split(v, "|") {
		if k, val, ok := strings.Cut(part, "="); ok {
			out[strings.ToLower(strings.TrimSpace(k))] = val
		}
	}
	return out
}

// customClientID finds the client id in Jivo's custom data: an array of
// {title, content, link, key} objects the site set with
// jivo_api.setCustomData. The entry is the one whose key or title is
// tl_client_id; its content (or link, whose tl_client_id parameter is read)
// holds the id. Jivo documents the array's title/content/link fields; "key"
// is accepted as well.
func customClientID(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var items []map[string]any
	if json.Unmarshal(raw, &items) != nil {
		var one map[string]any // an object keyed by name, as some proxies send
		if json.Unmarshal(raw, &one) != nil {
			return ""
		}
		return clientID(scalar(one[ClientIDKey]))
	}
	for _, it := range items {
		name := strings.ToLower(clean(scalar(it["key"])))
		if name == "" {
			name = strings.ToLower(clean(scalar(it["title"])))
		}
		if name != ClientIDKey {
			continue
		}
		if id := clientID(scalar(it["content"])); id != "" {
			return id
		}
		if u, err := url.Parse(clean(scalar(it["link"]))); err == nil {
			if id := clientID(u.Query().Get(ClientIDKey)); id != "" {
				return id
			}
		}
	}
	return ""
}

// clientID accepts a client id the way the tracker writes it: printable,
// without spaces, at most 128 bytes.
func clientID(v string) string {
	v = clean(v)
	if v == "" || len(v) > 128 || strings.IndexFunc(v, unicode.IsSpace) >= 0 {
		return ""
	}
	return v
}

// rawString reads a JSON string or number as text; anything else is "".
func rawString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	switch v.(type) {
	case string, float64:
		return clean(scalar(v))
	}
	return ""
}

// scalar renders a decoded JSON value as text.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// placeholders are what senders put where they have no value.
var placeholders = map[string]bool{
	"undefined": true, "null": true, "nil": true, "none": true, "(none)": true, "(not set)": true,
	"не указано": true, "<не указано>": true, "-": true, "n/a": true,
}

// clean trims a value; placeholders, unfilled templates ("{{id}}"), invalid
// UTF-8 and control characters are "".
func clean(v string) string {
	v = strings.TrimSpace(v)
	if v == "" || placeholders[strings.ToLower(v)] ||
		(strings.HasPrefix(v, "{{") && strings.HasSuffix(v, "}}")) ||
		!utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return ""
	}
	return v
}

func httpURL(v string) string {
	if len(v) > event.MaxURL {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return v
}

// short keeps values and reasons readable when a sender put a book in them.
func short(v string) string {
	if len(v) > 200 {
		for i := 200; i > 0; i-- {
			if utf8.RuneStart(v[i]) {
				return v[:i] + "…"
			}
		}
	}
	return v
}

func jsonReason(err error) string {
	if e, ok := err.(*json.SyntaxError); ok {
		return "syntax error at byte " + strconv.FormatInt(e.Offset, 10)
	}
	if e, ok := err.(*json.UnmarshalTypeError); ok {
		return e.Field + ": wrong type " + e.Value
	}
	return err.Error()
}
