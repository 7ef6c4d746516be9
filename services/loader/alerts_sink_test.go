package loader

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
)

// TestAlertsSink: incident versions from the alerts topic land in the alerts
// table; the newest version of each incident wins, a duplicate delivery
// adds nothing, and a record that is not an alert is refused.
func TestAlertsSink(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	fired := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC).UnixMilli()
	alert := func(id string, version uint64, status string, resolved int64) *kgo.Record {
		v, _ := json.Marshal(map[string]any{
			"id": id, "version": version, "tenant": "acme", "account": "msk", "rule": "missed-calls", "kind": "missed_calls",
			"severity": "warning", "status": status, "title": "calls go unanswered", "summary": "4 of 11",
			"value": 36.4, "threshold": 30, "labels": map[string]string{"account_name": "Moscow"},
			"fired_at": fired, "resolved_at": resolved, "recorded_at": fired + 1000,
		})
		return &kgo.Record{Topic: kafka.TopicAlerts, Key: []byte("acme/msk"), Value: v}
	}
	recs := []*kgo.Record{
		alert("a1", 1, "firing", 0), alert("b1", 1, "firing", 0), alert("a1", 1, "firing", 0),
		alert("a1", 2, "resolved", fired+3600_000),
		{Topic: kafka.TopicAlerts, Key: []byte("acme/msk"), Value: []byte(`{"id":"x"}`)},
	}
	e.produce(recs...)
	cfg := e.config()
	cfg.Sinks = []Sink{AlertsSink()}
	r := start(e.newLoader(cfg, nil))
	eventually.True(t, 60*time.Second, "the alerts topic loaded and committed", func() bool {
		offs, err := e.adm.FetchOffsets(ctx, cfg.Group)
		if err != nil {
			return false // the group is not there before its first commit
		}
		o, ok := offs.Lookup(kafka.TopicAlerts, 0)
		return ok && o.Err == nil && o.At >= int64(len(recs))
	})
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	res, err := e.store.Query(ctx, fmt.Sprintf(`SELECT id, status, toUnixTimestamp64Milli(resolved_at), labels['account_name'], value
FROM %s.alerts_latest ORDER BY id`, e.db), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(res.Rows)
	want := fmt.Sprintf("[[a1 resolved %d Moscow 36.4] [b1 firing 0 Moscow 36.4]]", fired+3600_000)
	if got != want {
		t.Fatalf("alerts_latest:\n got %s\nwant %s", got, want)
	}
	if n := e.count(fmt.Sprintf("SELECT count() FROM %s.alerts FINAL", e.db)); n != 2 {
		t.Fatalf("%d incidents, want 2: a duplicate delivery and a newer version add none", n)
	}
}
