package loader

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
)

func TestLoadsEventsWithColumns(t *testing.T) {
	e := newEnv(t)
	ev := e.envelope("msk-1", 0)
	ev.Name, ev.Referrer, ev.UserAgent, ev.IP = "form_submit", "https://ya.ru/", "Mozilla/5.0", "203.0.113.7"
	ev.UTM = event.UTM{Source: "yandex", Medium: "cpc", Campaign: "spring", Content: "ad1", Term: "пицца"}
	ev.ClickIDs = map[string]string{"yclid": "123", "gclid": "g-1", "ttclid": "tt"}
	ev.Props = map[string]string{"plan": "pro", "tab": "a\tb\nc"}
	v, _ := json.Marshal(ev)
	rec := &kgo.Record{Topic: kafka.TopicRaw, Key: ev.Key(), Value: v}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	kafka.InjectTrace(trace.ContextWithSpanContext(context.Background(), sc), rec)
	e.produce(rec)
	e.produceEvents(50, []string{"a", "b", "c"}, 1)

	tel, err := telemetry.New(zerolog.Nop(), "loader")
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(e.config(), Deps{Tel: tel, Store: e.store, Kafka: e.kcfg})
	if err != nil {
		t.Fatal(err)
	}
	r := start(l)
	e.waitEvents(51)
	e.waitCommitted("loader", kafka.TopicRaw, 51)
	metrics := scrape(t, tel)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(51)
	for _, want := range []string{`loader_rows_inserted_total{table="events"} 51`, `loader_batch_rows_bucket{`,
		`loader_insert_duration_seconds_bucket{`, `loader_freshness_seconds_bucket{`,
		`loader_consumer_lag{partition=`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, metrics)
		}
	}

	res, err := e.store.Query(context.Background(), `SELECT tenant, account, type, name, source,
		toUnixTimestamp64Milli(ts), toUnixTimestamp64Milli(received_at), client_id, url, referrer,
		utm_source, utm_medium, utm_campaign, utm_content, utm_term, yclid, gclid, fbclid, vkclid,
		toJSONString(mapSort(click_ids)), user_agent, ip, toJSONString(mapSort(props)), _topic, _partition, _offset
		FROM `+e.db+`.events WHERE event_id = {id:String}`, chstore.Params{"id": ev.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 {
		t.Fatalf("want 1 row for %s, got %d", ev.ID, len(res.Rows))
	}
	want := []any{"t1", "msk-1", "pageview", "form_submit", "api", ev.TS, ev.ReceivedAt, ev.ClientID, ev.URL,
		"https://ya.ru/", "yandex", "cpc", "spring", "ad1", "пицца", "123", "g-1", "", "",
		`{"gclid":"g-1","ttclid":"tt","yclid":"123"}`, "Mozilla/5.0", "203.0.113.7", `{"plan":"pro","tab":"a\tb\nc"}`,
		kafka.TopicRaw, 0, 0} // the first record of its partition
	for i, w := range want {
		if i == 24 {
			continue // the partition depends on the key's hash
		}
		if g := fmt.Sprint(res.Rows[0][i]); g != fmt.Sprint(w) {
			t.Errorf("column %s: got %q want %q", res.Columns[i].Name, g, fmt.Sprint(w))
		}
	}
}

// TestCommitOnlyAfterInsert fails the events inserts for a while: nothing may
// be committed until ClickHouse accepts, and the retries duplicate nothing.
func TestCommitOnlyAfterInsert(t *testing.T) {
	e := newEnv(t)
	fs := &faultyStore{Store: e.store, table: "`" + e.db + "`.`events`", fail: true, failures: make(chan struct{}, 1)}
	e.produceEvents(200, []string{"a", "b", "c", "d", "e"}, 3)
	r := start(e.newLoader(e.config(), fs))
	for i := 0; i < 5; i++ {
		select {
		case <-fs.failures:
		case <-time.After(30 * time.Second):
			t.Fatal("no insert attempted")
		}
	}
	if c := e.cluster.Committed("loader", kafka.TopicRaw); c != 0 {
		t.Fatalf("committed %d offsets while every insert failed", c)
	}
	if n := e.count("SELECT count() FROM " + e.db + ".events"); n != 0 {
		t.Fatalf("%d rows in events while every insert failed", n)
	}
	fs.setFail(false)
	e.waitEvents(200)
	e.waitCommitted("loader", kafka.TopicRaw, 200)
	e.produceEvents(30, []string{"a"}, 1)
	e.waitEvents(230)
	e.waitCommitted("loader", kafka.TopicRaw, 230)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(230)
}

// TestBadRecordsAreDeadLettered sends undecodable and wrong-version records
// to the raw topic and a bad record to the dead-letter topic itself.
func TestBadRecordsAreDeadLettered(t *testing.T) {
	e := newEnv(t)
	e.produceEvents(10, []string{"a"}, 1)
	wrongVersion := e.envelope("a", 0)
	wrongVersion.V = 99
	wv, _ := json.Marshal(wrongVersion)
	e.produce(
		&kgo.Record{Topic: kafka.TopicRaw, Key: []byte("t1/a"), Value: []byte(`{"v":1,"id":`)},
		&kgo.Record{Topic: kafka.TopicRaw, Key: []byte("t1/a"), Value: wv},
		&kgo.Record{Topic: kafka.TopicDeadLetter, Value: []byte("not json")},
	)
	e.produceEvents(10, []string{"a"}, 1)

	r := start(e.newLoader(e.config(), nil))
	e.waitEvents(20)
	q := "SELECT count() FROM " + e.db + ".dead_letters"
	eventually.True(t, 30*time.Second, "2 dead letters loaded", func() bool { return e.count(q) >= 2 })
	e.waitCommitted("loader", kafka.TopicRaw, 22)
	e.waitCommitted("loader", kafka.TopicDeadLetter, 3)
	// The loader goes on after the bad records.
	e.produceEvents(5, []string{"b"}, 1)
	e.waitEvents(25)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(25)
	if n := e.count(q); n != 2 {
		t.Fatalf("%d dead letters loaded, want 2 (the bad dead letter is skipped)", n)
	}
	res, err := e.store.Query(context.Background(), "SELECT tenant, account, source, reason, payload FROM "+e.db+
		".dead_letters ORDER BY _offset", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`{"v":1,"id":`, string(wv)} {
		row := res.Rows[i]
		if row[0] != "t1" || row[1] != "a" || row[2] != "loader" || row[4] != want {
			t.Fatalf("dead letter %d: %v", i, row)
		}
		if reason := fmt.Sprint(row[3]); !strings.Contains(reason, "decoding envelope") || !strings.Contains(reason, kafka.TopicRaw+"/") {
			t.Fatalf("dead letter %d reason %q", i, reason)
		}
	}
}

func scrape(t *testing.T, tel *telemetry.Telemetry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestConfigValidateNamesTheSetting(t *testing.T) {
	cfg := (&env{db: "x"}).config()
	cfg.MaxRows, cfg.Group = 0, ""
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "loader-max-rows") || !strings.Contains(err.Error(), "loader-group") {
		t.Fatalf("Validate: %v", err)
	}
	cfg = (&env{db: "x"}).config()
	cfg.Sinks = []Sink{{Topic: "a", Table: "t", Columns: EventsColumns, Row: eventRow, ReceivedAt: "nope"}}
	if _, err := New(cfg, Deps{Store: engine, Kafka: kafka.Config{Brokers: []string{"x:1"}, Replication: 1}}); err == nil {
		t.Fatal("New accepted a sink whose received-at column does not exist")
	}
}
