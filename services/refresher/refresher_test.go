package refresher

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/aggregates"
	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/kafka/kafkatest"
	"github.com/throughline/throughline/schemas/chstoretest"
)

// putSession writes one session the way the loader does (its insert leaves
// a change-log row).
func putSession(t *testing.T, db, account string, offset int) {
	t.Helper()
	err := engine.Exec(context.Background(), fmt.Sprintf(`INSERT INTO %s.sessions
    (tenant, account, session_id, version, started_at, channel, _topic, _partition, _offset)
VALUES ('net', '%s', 's%d', 1, '2026-03-02 10:00:00', 'direct', 't', 0, %d)`, db, account, offset, offset), nil)
	if err != nil {
		t.Fatal(err)
	}
}

func sessionsCounted(t *testing.T, db string) int64 {
	t.Helper()
	res, err := engine.Query(context.Background(), "SELECT sum(sessions) FROM "+db+".traffic_daily FINAL", nil)
	if err != nil {
		t.Fatal(err)
	}
	return chstore.AsInt64(res.Rows[0][0])
}

type running struct {
	r    *Refresher
	stop func() error
}

func start(t *testing.T, kcfg kafka.Config, db string) running {
	t.Helper()
	r, err := New(Config{Aggregates: aggregates.RefreshConfig{Interval: 20 * time.Millisecond, Settle: time.Millisecond, Lookback: time.Minute}},
		Deps{Store: engine, Database: db, Kafka: kcfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			runErr = <-done
		}
		return runErr
	}
	t.Cleanup(func() { stop() })
	return running{r, stop}
}

// TestOneRefresherPerDatabase: of two refreshers of one database exactly
// one works; when it stops, the other takes over and carries on.
func TestOneRefresherPerDatabase(t *testing.T) {
	kcfg := kafkatest.Start(t).Config("refresher-test")
	db := chstoretest.Database(t, engine)
	putSession(t, db, "msk", 1)
	a, b := start(t, kcfg, db), start(t, kcfg, db)
	if a.r.Group() != "throughline-refresher-"+db || b.r.Group() != a.r.Group() {
		t.Fatalf("groups %q and %q, want both %q", a.r.Group(), b.r.Group(), "throughline-refresher-"+db)
	}
	eventually.True(t, 30*time.Second, "one refresher leads", func() bool { return a.r.Leading() || b.r.Leading() })
	eventually.True(t, 30*time.Second, "the session is counted", func() bool { return sessionsCounted(t, db) == 1 })
	if a.r.Leading() == b.r.Leading() {
		t.Fatalf("leading: a %v, b %v; want exactly one", a.r.Leading(), b.r.Leading())
	}
	leader, standby := a, b
	if b.r.Leading() {
		leader, standby = b, a
	}
	if err := leader.stop(); err != nil {
		t.Fatal(err)
	}
	if leader.r.Leading() {
		t.Fatal("a stopped refresher still says it leads")
	}
	eventually.True(t, 30*time.Second, "the standby leads", standby.r.Leading)
	putSession(t, db, "spb", 2)
	eventually.True(t, 30*time.Second, "the new leader counts the new session", func() bool { return sessionsCounted(t, db) == 2 })
}

// TestAnotherDatabaseHasItsOwnRefresher: refreshers of different databases
// do not stand by for each other.
func TestAnotherDatabaseHasItsOwnRefresher(t *testing.T) {
	kcfg := kafkatest.Start(t).Config("refresher-test")
	one, two := chstoretest.Database(t, engine), chstoretest.Database(t, engine)
	a, b := start(t, kcfg, one), start(t, kcfg, two)
	eventually.True(t, 30*time.Second, "both lead", func() bool { return a.r.Leading() && b.r.Leading() })
}

func TestRunTwiceAndOff(t *testing.T) {
	r, err := New(Config{}, Deps{Store: engine, Database: "x", Kafka: kafka.Config{Brokers: []string{"127.0.0.1:1"}, Replication: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("interval 0: %v, want an immediate nil", err)
	}
	if err := r.Run(context.Background()); err == nil {
		t.Fatal("a second Run was accepted")
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	for name, c := range map[string]Config{
		"analytics-refresh-interval": {Aggregates: aggregates.RefreshConfig{Interval: -1}},
		"refresher-group":            {Group: " g"},
	} {
		before := c
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
		if c != before {
			t.Errorf("%s: Validate changed the config", name)
		}
	}
}
