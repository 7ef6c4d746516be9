package chstore

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkInsertBesideUserQuery measures what a user's heavy SQL costs the
// pipeline: the latency of a small insert (as the loader makes) while a
// statement that runs to its time limit is running — on the same engine
// connection (how /v1/sql ran before issue 9) and on a Session of its own
// (how it runs now) — against the same insert on an idle engine, in the
// same run. Run it alone:
//
//	go test -run '^$' -bench InsertBesideUserQuery -benchtime 5x ./pkg/chstore
func BenchmarkInsertBesideUserQuery(b *testing.B) {
	s := testStore(b)
	table := freshTable(b, s, "a UInt64, s String")
	session, err := s.Session()
	if err != nil {
		b.Fatal(err)
	}
	// The heaviest statement /v1/sql lets run, cut to 1 s of engine time;
	// the console also gives it half the cores (max_threads).
	const heavy = "SELECT count() FROM numbers(1000000000000) WHERE number % 7 = 3 " +
		"SETTINGS max_execution_time = 1, timeout_overflow_mode = 'break'"
	halfCores := ", max_threads = " + strconv.Itoa(max(1, runtime.NumCPU()/2))
	cases := []struct {
		name  string
		user  Store // where the heavy statement runs; nil: none
		heavy string
	}{
		{"idle", nil, ""},
		{"same-connection", s, heavy},
		{"own-session", session, heavy},
		{"own-session-half-cores", session, heavy + halfCores},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if tc.user != nil {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := tc.user.Query(ctx, tc.heavy, nil); err != nil {
							b.Error(err)
							return
						}
					}
				})
				time.Sleep(100 * time.Millisecond) // the first heavy statement is running
			}
			var worst time.Duration
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				batch, err := s.PrepareInsert(ctx, table, []Column{{Name: "a", Type: "UInt64"}, {Name: "s", Type: "String"}}, "")
				if err != nil {
					b.Fatal(err)
				}
				for j := range 100 {
					batch.Append(uint64(i*100+j), "row "+strconv.Itoa(j))
				}
				if err := batch.Send(ctx); err != nil {
					b.Fatal(err)
				}
				worst = max(worst, time.Since(start))
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
		})
	}
}
