package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"

	"github.com/throughline/throughline/services/alerter/internal/incident"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

// WebhookPayload is the body of a generic webhook delivery.
type WebhookPayload struct {
	V     int            `json:"v"`
	Event string         `json:"event"` // firing, resolved
	Text  string         `json:"text"`  // the notification as plain text
	Alert incident.Alert `json:"alert"`
}

// TelegramPayload is a Telegram Bot API sendMessage request.
type TelegramPayload struct {
	ChatID                string `json:"chat_id"`
	Text                  string `json:"text"`
	ParseMode             string `json:"parse_mode,omitempty"`
	DisableWebPagePreview bool   `json:"disable_web_page_preview"`
}

// SlackPayload is a Slack incoming-webhook message.
type SlackPayload struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is one Block Kit block: header, section or context.
type SlackBlock struct {
	Type     string       `json:"type"`
	Text     *SlackText   `json:"text,omitempty"`
	Elements []*SlackText `json:"elements,omitempty"`
}

// SlackText is a Block Kit text object.
type SlackText struct {
	Type string `json:"type"` // plain_text, mrkdwn
	Text string `json:"text"`
}

// Headers of webhook deliveries.
const (
	HeaderEvent     = "X-Throughline-Event"
	HeaderDelivery  = "X-Throughline-Delivery"  // alert id/version: the same on every retry
	HeaderSignature = "X-Throughline-Signature" // sha256=<hex HMAC-SHA256 of the body with the target's secret>
)

// message is what every format says, in parts.
type message struct {
	headline string // "FIRING [warning] acme / msk: no leads from yandex_direct"
	summary  string
	details  string // rule, since, resolved after
}

func compose(a *incident.Alert, loc *time.Location) message {
	where := a.Tenant
	if a.Account != "" {
		where += " / " + a.Account
		if n := a.Labels["account_name"]; n != "" {
			where += " (" + n + ")"
		}
	}
	state := "FIRING"
	if a.Status == incident.Resolved {
		state = "RESOLVED"
	}
	m := message{headline: fmt.Sprintf("%s [%s] %s: %s", state, a.Severity, where, a.Title), summary: a.Summary}
	fired := time.UnixMilli(a.FiredAt).In(loc)
	m.details = fmt.Sprintf("rule %s · since %s", a.Rule, fired.Format("Mon 02 Jan 15:04 MST"))
	if a.Status == incident.Resolved {
		d := time.Duration(a.ResolvedAt-a.FiredAt) * time.Millisecond
		m.details = fmt.Sprintf("rule %s · resolved %s after %s", a.Rule,
			time.UnixMilli(a.ResolvedAt).In(loc).Format("Mon 02 Jan 15:04 MST"), d.Round(time.Minute))
	}
	return m
}

// PlainText is the notification as plain text.
func PlainText(a *incident.Alert, loc *time.Location) string {
	m := compose(a, loc)
	return m.headline + "\n" + m.summary + "\n" + m.details
}

// request builds the HTTP request body and headers of one delivery.
func request(t *rules.Target, a *incident.Alert, loc *time.Location) ([]byte, http.Header, error) {
	m := compose(a, loc)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Throughline-Alerter/1")
	var v any
	switch t.Type {
	case rules.TargetTelegram:
		p := TelegramPayload{ChatID: t.ChatID, DisableWebPagePreview: true}
		if t.ParseMode == "HTML" {
			p.ParseMode = "HTML"
			p.Text = fmt.Sprintf("%s <b>%s</b>\n%s\n<i>%s</i>", icon(a), html.EscapeString(m.headline),
				html.EscapeString(m.summary), html.EscapeString(m.details))
		} else {
			p.Text = icon(a) + " " + m.headline + "\n" + m.summary + "\n" + m.details
		}
		v = p
	case rules.TargetSlack:
		v = SlackPayload{
			Text: icon(a) + " " + m.headline,
			Blocks: []SlackBlock{
				{Type: "header", Text: &SlackText{Type: "plain_text", Text: truncate(icon(a)+" "+m.headline, 150)}},
				{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: slackEscape(m.summary)}},
				{Type: "context", Elements: []*SlackText{{Type: "mrkdwn", Text: slackEscape(m.details)}}},
			},
		}
	default:
		v = WebhookPayload{V: 1, Event: a.Status, Text: m.headline + "\n" + m.summary + "\n" + m.details, Alert: *a}
		h.Set(HeaderEvent, a.Status)
		h.Set(HeaderDelivery, fmt.Sprintf("%s/%d", a.ID, a.Version))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding %s payload: %w", t.Type, err)
	}
	if t.Type == rules.TargetWebhook && t.Secret != "" {
		mac := hmac.New(sha256.New, []byte(t.Secret))
		mac.Write(b)
		h.Set(HeaderSignature, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	return b, h, nil
}

func icon(a *incident.Alert) string {
	if a.Status == incident.Resolved {
		return "✅"
	}
	if a.Severity == "critical" {
		return "🔴"
	}
	return "🟠"
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
