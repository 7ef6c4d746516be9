// Package alert defines the alert record: one version of an alerter
// incident, the value of the alerts topic's records (kafka.TopicAlerts), the
// generic webhook's "alert" field, a row of the alerts table and an item of
// GET /v1/alerts (docs/alerts.md). The alerter writes it; the loader and the
// console read it. This is its only definition.
package alert

// Statuses of an incident.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// Record is one version of an incident: version 1 when it fires, 2 when it
// resolves.
type Record struct {
	ID        string            `json:"id"`
	Version   uint64            `json:"version"`
	Tenant    string            `json:"tenant"`
	Account   string            `json:"account,omitempty"` // "" for rules over the whole network
	Rule      string            `json:"rule"`
	Kind      string            `json:"kind"`
	Severity  string            `json:"severity"`
	Subject   string            `json:"subject,omitempty"` // channel, source or family
	Status    string            `json:"status"`
	Title     string            `json:"title"`
	Summary   string            `json:"summary"`
	Value     float64           `json:"value"`
	Threshold float64           `json:"threshold"`
	Labels    map[string]string `json:"labels,omitempty"`
	// FiredAt and ResolvedAt are in event time (Unix ms): the instant of the
	// streams at which the rule started, and stopped, breaching.
	FiredAt    int64 `json:"fired_at"`
	ResolvedAt int64 `json:"resolved_at,omitempty"`
	// RecordedAt is the wall-clock time this version was made (Unix ms).
	RecordedAt int64 `json:"recorded_at"`
}

// RecordKey is the Kafka record key of the alert: "tenant/account".
func (a *Record) RecordKey() []byte { return []byte(a.Tenant + "/" + a.Account) }
