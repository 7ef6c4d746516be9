package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/kafka"
)

// PipelineBehind reads how many records the pipeline's consumers (the
// stitcher, the loader, the alerter: every consumer group that commits)
// have still to take from the broker at kcfg. The demo waits for it to
// reach zero after sending its history, so that it goes live on a month
// the dashboard already shows and the alerter has judged. close releases
// the client.
func PipelineBehind(kcfg kafka.Config, log zerolog.Logger) (behind func(context.Context) (int64, error), close func(), err error) {
	cl, err := kgo.NewClient(kafka.BaseOpts(kcfg, log)...)
	if err != nil {
		return nil, nil, fmt.Errorf("demo: kafka client for the pipeline's lag: %w", err)
	}
	adm := kadm.NewClient(cl)
	return func(ctx context.Context) (int64, error) {
		lags, err := adm.Lag(ctx)
		if err != nil {
			return 0, err
		}
		var n int64
		for _, g := range lags {
			if g.Error() != nil {
				return 0, g.Error()
			}
			for _, ps := range g.Lag {
				for _, p := range ps {
					// A transaction's commit marker ends a transactional
					// topic's partition: one offset no consumer reads.
					if p.Commit.At >= 0 && p.Lag > 1 {
						n += p.Lag - 1
					}
				}
			}
		}
		return n, nil
	}, cl.Close, nil
}

// reportsWait bounds the wait for the reports: rounds are paced at most a
// minute apart; a refresher that fails keeps logging why.
const reportsWait = 3 * time.Minute

// settle waits until the pipeline has taken everything sent so far (see
// PipelineBehind): behind is zero twice in a row; then for the reports
// (ReportsAsOf). Errors reading it end
// the wait with a warning: the demo goes on regardless.
func (r *runner) settle(ctx context.Context, prog *progress) bool {
	if r.cfg.Behind == nil {
		return ctx.Err() == nil
	}
	zero := 0
	for zero < 2 {
		n, err := r.cfg.Behind(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			r.log.Warn().Err(err).Msg("demo cannot read the pipeline's lag: going live without waiting for it")
			return true
		}
		prog.behind(n)
		if n == 0 {
			zero++
		} else {
			zero = 0
		}
		if !sleep(ctx, 500*time.Millisecond) {
			return false
		}
	}
	// The reports read aggregates a refresher brings up to date in rounds,
	// paced by how long they take: wait for one that started after the
	// pipeline took everything.
	if r.cfg.ReportsAsOf != nil {
		taken := time.Now()
		for !r.cfg.ReportsAsOf().After(taken) {
			if time.Since(taken) > reportsWait {
				r.log.Warn().Dur("waited", reportsWait).Msg("demo: the report aggregates were not brought up to date: going live without them")
				break
			}
			if !sleep(ctx, 200*time.Millisecond) {
				return false
			}
		}
	}
	return true
}
