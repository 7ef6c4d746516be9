package kafka

import (
	"context"
	"fmt"
	"sync"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Leadership runs work in one member of a consumer group at a time, by the
// LeaderBalancer: the group consumes Topic with fetching paused — it reads
// nothing, the assignment is the lease. The member that leads gets every
// partition and runs the work; the others stand by and one of them takes
// over when the leader leaves (at once when it leaves the group cleanly,
// after the session timeout when it dies). The refresher and the
// collectors' cost pulls (services/collector/costleader.go) run under it.
type Leadership struct {
	// Opts connect to the cluster (BaseOpts); the group's own options are
	// added.
	Opts []kgo.Opt
	// Group is the consumer group: one active member per group.
	Group string
	// Topic is any existing topic; its partitions are the lease.
	Topic string
	Log   zerolog.Logger
	// OnChange, when set, is told when this member starts and stops leading.
	OnChange func(leading bool)
}

// Run joins the group and runs work while this member leads it, until ctx
// ends. work gets a context that ends when the lead is lost or ctx ends, and
// must return then; Run waits for it, leaves the group (the others take
// over without waiting for a session timeout) and returns.
func (l Leadership) Run(ctx context.Context, work func(context.Context)) error {
	var (
		mu   sync.Mutex
		stop func() // the running work's; nil when standing by
	)
	start := func(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
		if len(parts[l.Topic]) == 0 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if stop != nil || ctx.Err() != nil {
			return
		}
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			work(wctx)
		}()
		stop = func() { cancel(); <-done }
		l.Log.Info().Str("group", l.Group).Msg("leading")
		if l.OnChange != nil {
			l.OnChange(true)
		}
	}
	end := func(context.Context, *kgo.Client, map[string][]int32) {
		mu.Lock()
		defer mu.Unlock()
		if stop == nil {
			return
		}
		stop()
		stop = nil
		l.Log.Info().Str("group", l.Group).Msg("lead handed over")
		if l.OnChange != nil {
			l.OnChange(false)
		}
	}
	opts := append(append([]kgo.Opt(nil), l.Opts...),
		kgo.ConsumerGroup(l.Group),
		kgo.ConsumeTopics(l.Topic),
		kgo.Balancers(LeaderBalancer{}),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(start),
		kgo.OnPartitionsRevoked(end),
		kgo.OnPartitionsLost(end),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("joining group %s: %w", l.Group, err)
	}
	cl.PauseFetchTopics(l.Topic)
	l.Log.Info().Str("group", l.Group).Msg("waiting for group leadership")
	// The group is managed while the client polls; polls return nothing
	// (fetching is paused) until ctx ends.
	for ctx.Err() == nil {
		cl.PollFetches(ctx)
	}
	end(ctx, cl, nil)
	cl.LeaveGroup()
	cl.Close()
	return nil
}
