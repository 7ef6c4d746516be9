package intake

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/throughline/throughline/pkg/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Reasons a hit or batch was not accepted: the bounded label set of the
// rejected counter. The field at fault is a separate, equally bounded label.
const (
	ReasonMissingKey = "missing_key"
	ReasonUnknownKey = "unknown_key"
	ReasonInvalid    = "invalid"
	ReasonTooLarge   = "too_large"
	ReasonOverload   = "overload"
	ReasonKafka      = "kafka_unavailable"
	ReasonInternal   = "internal_error"
	ReasonRestoring  = "restoring" // number leases or event ids are being read back at start
	// ReasonRateLimited: over the key's rate limit.
	ReasonRateLimited = "rate_limited"
	// ReasonSiteKey: a site key where a server key is needed.
	ReasonSiteKey = "site_key"
	// ReasonFetchFailed: a CRM entity could not be pulled.
	ReasonFetchFailed = "fetch_failed"
)

// Prefixes of dead-letter reasons that re-drive treats specially: an
// unauthenticated delivery is never re-driven; a failed pull always may be.
const (
	ReasonPrefixUnauthenticated = "unauthenticated: "
	ReasonPrefixFetchFailed     = "fetch failed: "
)

// Outcomes of a dead letter.
const (
	dlqPublished = "published"
	dlqFailed    = "failed"
	dlqDropped   = "dropped_overload"
	// dlqRateLimited: over the account's dead-letter rate limit.
	dlqRateLimited = "rate_limited"
)

// Metrics are the counters every route shares: requests by route and
// status, events accepted and requests rejected by source, dead letters by
// outcome; and the in-flight gauges.
type Metrics struct {
	requests    metric.Int64Counter
	accepted    metric.Int64Counter
	rejected    metric.Int64Counter
	deadLetters metric.Int64Counter
	// The attribute sets of requests (route, status) and accepted events
	// (source), built once each: every hit counts both, and building a set
	// per hit was a measurable part of the pixel's cost under load.
	requestAttrs sync.Map // routeStatus → metric.AddOption
	acceptAttrs  sync.Map // source → metric.AddOption
}

type routeStatus struct {
	route  string
	status int
}

// NewMetrics registers the counters, and the gauges that read inFlight.
func NewMetrics(m metric.Meter, inFlight func() (records, bytes int64)) (*Metrics, error) {
	var (
		out  Metrics
		errs [6]error
	)
	out.requests, errs[0] = m.Int64Counter("throughline.collector.requests",
		metric.WithDescription("HTTP requests by route and status code"))
	out.accepted, errs[1] = m.Int64Counter("throughline.collector.events.accepted",
		metric.WithDescription("events acknowledged by Kafka, by source"))
	out.rejected, errs[2] = m.Int64Counter("throughline.collector.rejected",
		metric.WithDescription("pixel hits and event batches not accepted, by source, reason and field"))
	out.deadLetters, errs[3] = m.Int64Counter("throughline.collector.dead_letters",
		metric.WithDescription("dead-letter records by source and outcome"))
	recs, err := m.Int64ObservableGauge("throughline.collector.inflight.records",
		metric.WithDescription("records produced and not yet acknowledged by Kafka"))
	errs[4] = err
	byts, err := m.Int64ObservableGauge("throughline.collector.inflight.bytes",
		metric.WithDescription("bytes of request bodies and unacknowledged records held"), metric.WithUnit("By"))
	errs[5] = err
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("creating collector metrics: %w", err)
		}
	}
	out.DeclareSources(SourcePixel, SourceAPI)
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		r, b := inFlight()
		o.ObserveInt64(recs, r)
		o.ObserveInt64(byts, b)
		return nil
	}, recs, byts)
	if err != nil {
		return nil, fmt.Errorf("registering in-flight gauges: %w", err)
	}
	return &out, nil
}

// Request counts one answered request.
func (m *Metrics) Request(route string, status int) {
	k := routeStatus{route, status}
	opt, ok := m.requestAttrs.Load(k)
	if !ok {
		opt, _ = m.requestAttrs.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("route", route), attribute.String("status", strconv.Itoa(status)))))
	}
	m.requests.Add(context.Background(), 1, opt.(metric.AddOption))
}

// Accept counts n events of source acknowledged by Kafka.
func (m *Metrics) Accept(source string, n int) {
	opt, ok := m.acceptAttrs.Load(source)
	if !ok {
		opt, _ = m.acceptAttrs.LoadOrStore(source, metric.WithAttributeSet(attribute.NewSet(attribute.String("source", source))))
	}
	m.accepted.Add(context.Background(), int64(n), opt.(metric.AddOption))
}

// Reject counts one request of source not accepted, by reason and field.
func (m *Metrics) Reject(source, reason, field string) {
	m.rejected.Add(context.Background(), 1, metric.WithAttributes(attribute.String("source", source),
		attribute.String("reason", reason), attribute.String("field", fieldLabel(field))))
}

// DeclareSources starts the dead-letter and accepted counts of sources at
// zero, so /metrics shows every source before its first dead letter.
func (m *Metrics) DeclareSources(sources ...string) {
	for _, s := range sources {
		m.deadLetters.Add(context.Background(), 0, metric.WithAttributes(
			attribute.String("source", s), attribute.String("outcome", dlqPublished)))
		m.accepted.Add(context.Background(), 0, metric.WithAttributes(attribute.String("source", s)))
	}
}

// DeadLetter counts one dead letter of source by outcome.
func (m *Metrics) DeadLetter(source, outcome string) {
	m.deadLetters.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("source", source), attribute.String("outcome", outcome)))
}

// knownFields are the field labels worth their own series; anything else
// (property names, unknown fields a sender made up) is "other".
var knownFields = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range []string{"body", "events", "id", "type", "name", "ts", "client_id", "url", "referrer",
		"utm", "click_ids", "props", "user_agent", "ip", "tenant", "account", "query",
		"k", "t", "n", "cid", "u", "r", "eid", "p", "User-Agent",
		"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
		"provider", "auth", "crm", "changes", "leads", "contacts", "data", "event", "entity", "action",
		"lead_id", "deal_id", "contact_id", "stage", "outcome", "amount", "amount_minor", "currency", "updated_at",
		"chat_id", "event_name", "offline_message_id", "token"} {
		m[f] = true
	}
	for _, p := range event.ClickIDParams {
		m[p] = true
	}
	return m
}()

// fieldLabel reduces a field path ("events[3].props.color") to a bounded
// label ("props").
func fieldLabel(field string) string {
	if field == "" {
		return ""
	}
	if i := strings.Index(field, "]."); strings.HasPrefix(field, "events[") && i > 0 {
		field = field[i+2:]
	}
	if i := strings.IndexAny(field, ".["); i > 0 {
		field = field[:i]
	}
	if knownFields[field] {
		return field
	}
	return "other"
}
