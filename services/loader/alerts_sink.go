package loader

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/contract/alert"
	"github.com/throughline/throughline/pkg/kafka"
)

// AlertsColumns are the columns of the alerts table the loader fills
// (schemas/clickhouse/0007_alerts.sql).
var AlertsColumns = []chstore.Column{
	{Name: "tenant", Type: "LowCardinality(String)"}, {Name: "account", Type: "LowCardinality(String)"},
	{Name: "id", Type: "String"}, {Name: "version", Type: "UInt64"},
	{Name: "rule", Type: "LowCardinality(String)"}, {Name: "kind", Type: "LowCardinality(String)"},
	{Name: "severity", Type: "LowCardinality(String)"}, {Name: "subject", Type: "String"},
	{Name: "status", Type: "LowCardinality(String)"}, {Name: "title", Type: "String"}, {Name: "summary", Type: "String"},
	{Name: "value", Type: "Float64"}, {Name: "threshold", Type: "Float64"}, {Name: "labels", Type: "Map(String, String)"},
	{Name: "fired_at", Type: "DateTime64(3, 'UTC')"}, {Name: "resolved_at", Type: "DateTime64(3, 'UTC')"},
	{Name: "recorded_at", Type: "DateTime64(3, 'UTC')"},
}

// AlertsSink loads the alerter's incident versions (topic
// throughline.alerts.v1) into the alerts table.
func AlertsSink() Sink {
	return Sink{
		Topic: kafka.TopicAlerts, Table: "alerts", Columns: AlertsColumns,
		Row: alertRow, DeadLetter: true, ReceivedAt: "recorded_at", Quiet: true,
	}
}

func alertRow(rec *kgo.Record) ([]any, error) {
	var a alert.Record // the alerter's record (pkg/contract/alert)
	if err := json.Unmarshal(rec.Value, &a); err != nil {
		return nil, fmt.Errorf("decoding alert: %w", err)
	}
	switch {
	case a.ID == "" || a.Tenant == "" || a.Rule == "":
		return nil, errors.New("decoding alert: id, tenant and rule are required")
	case a.Version == 0 || a.FiredAt <= 0:
		return nil, errors.New("decoding alert: version and fired_at are required")
	case a.Status != alert.Firing && a.Status != alert.Resolved:
		return nil, fmt.Errorf("decoding alert: status %q is not firing or resolved", a.Status)
	}
	if a.Labels == nil {
		a.Labels = map[string]string{}
	}
	row := make([]any, 0, len(AlertsColumns)+len(coordinates))
	return append(row,
		a.Tenant, a.Account, a.ID, a.Version, a.Rule, a.Kind, a.Severity, a.Subject, a.Status, a.Title, a.Summary,
		a.Value, a.Threshold, a.Labels, a.FiredAt, a.ResolvedAt, a.RecordedAt,
	), nil
}
